// Module: a named tree of parameters, buffers and child modules. Names are Hugging Face checkpoint
// names ("model.layers.0.self_attn.q_proj.weight"), so loading goes by path.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lazarus/tensor/tensor.h"

namespace lazarus::nn {

/// Name -> tensor, ordered by name (the form checkpoints are read into and written from).
using StateDict = std::map<std::string, Tensor>;

/// Base of every layer. A Module owns its parameters as Tensor members and registers them by name;
/// registration keeps a pointer to the member, so modules are neither copyable nor movable (hold
/// them by shared_ptr).
class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// Every parameter with its dotted name, depth first in registration order.
  std::vector<std::pair<std::string, Tensor*>> named_parameters();
  std::vector<Tensor*> parameters();
  /// Parameters and persistent buffers by dotted name.
  StateDict state_dict();
  /// Loads parameters and buffers by name. With `strict`, every expected name must be present
  /// and no name may be left over; shapes must match exactly (dtype is converted to the
  /// parameter's). Throws LoadError listing every missing, unexpected and mis-shaped name, before
  /// changing anything. By default values are copied into the existing tensors (as PyTorch does),
  /// so optimizers and tied weights keep seeing them; `assign` instead makes the slots share the
  /// given tensors (zero-copy, e.g. straight from a memory-mapped checkpoint); block-quantized
  /// tensors are always assigned as they are, and `keep_dtype` keeps every assigned tensor's
  /// dtype (a GGUF file's f16 weights beside f32 norms).
  void load_state_dict(const StateDict& sd, bool strict = true, bool assign = false,
                       bool keep_dtype = false);

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// requires_grad off (freeze) or on (unfreeze) for every floating parameter below this module.
  void freeze();
  void unfreeze();
  void zero_grad();
  /// Number of parameter elements (only those requiring grad if `trainable_only`).
  int64_t num_parameters(bool trainable_only = false);
  /// Child modules with dotted names ("" is this module).
  std::vector<std::pair<std::string, Module*>> named_modules();
  /// Casts every floating parameter and buffer to `dt` (keeps requires_grad).
  void to(DType dt);

 protected:
  /// Registers a member tensor as a parameter (requires_grad on when floating and `trainable`).
  void register_parameter(const std::string& name, Tensor* slot, bool trainable = true);
  /// Registers a member tensor as a buffer (never trained; in state_dict when `persistent`).
  void register_buffer(const std::string& name, Tensor* slot, bool persistent = true);
  /// Registers a child; returns it for assignment to a typed member.
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    add_child(name, child);
    return child;
  }
  /// Removes the child `name` (its parameters leave named_parameters / state_dict); ConfigError
  /// when there is none.
  void unregister_module(const std::string& name);

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> child);
  void check_name(const std::string& name) const;
  struct Slot {
    std::string name;
    Tensor* tensor;
    bool persistent;
  };
  std::vector<Slot> params_;
  std::vector<Slot> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace lazarus::nn
