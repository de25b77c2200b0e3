// Optimizers (AdamW, SGD with momentum), learning-rate schedules and gradient clipping, with
// PyTorch's update rules. Parameters are updated in place (Tensor::copy_), so tied weights and
// module slots keep pointing at the same storage.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lazarus/tensor/tensor.h"

namespace lazarus::training {

/// Parameters that share hyper-parameters (e.g. "decay" and "no_decay").
struct ParamGroup {
  std::vector<Tensor> params;
  double weight_decay = 0.0;
  double lr_scale = 1.0;  // multiplies the schedule's learning rate
};

/// Splits named parameters the usual way for LLMs: no weight decay on biases and norm weights
/// (1-D tensors), decay on everything else.
std::vector<ParamGroup> decay_groups(const std::vector<std::pair<std::string, Tensor*>>& named,
                                     double weight_decay);

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  /// Applies one update from the parameters' current .grad (parameters without grad are skipped).
  virtual void step() = 0;
  void zero_grad();
  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }
  int64_t step_count() const { return step_; }
  /// Optimizer state by name ("<group>.<param>.exp_avg", ...) for checkpoints, and its inverse.
  virtual std::map<std::string, Tensor> state_dict() const = 0;
  virtual void load_state_dict(const std::map<std::string, Tensor>& state) = 0;

 protected:
  Optimizer(std::vector<ParamGroup> groups, double lr);
  std::vector<ParamGroup> groups_;
  double lr_;
  int64_t step_ = 0;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

/// torch.optim.AdamW: p -= lr * wd * p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps), t counted per parameter (a
/// parameter that had no gradient at some step is not advanced, as torch). State kept in f32 for
/// f32 and for bf16/f16 params.
class AdamW : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamWOptions opts = {});
  void step() override;
  std::map<std::string, Tensor> state_dict() const override;
  void load_state_dict(const std::map<std::string, Tensor>& state) override;

 private:
  AdamWOptions opts_;
  std::vector<std::vector<Tensor>> m_, v_;
  std::vector<std::vector<int64_t>> t_;  // per-parameter step, advanced only when it has a gradient
};

struct SGDOptions {
  double lr = 1e-2;
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
};

/// torch.optim.SGD: g += wd * p; buf = momentum * buf + (1 - dampening) * g (buf = g at the first
/// step); g = nesterov ? g + momentum * buf : buf; p -= lr * g.
class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, SGDOptions opts = {});
  void step() override;
  std::map<std::string, Tensor> state_dict() const override;
  void load_state_dict(const std::map<std::string, Tensor>& state) override;

 private:
  SGDOptions opts_;
  std::vector<std::vector<Tensor>> buf_;
};

/// Scales every gradient so their global L2 norm is at most max_norm (torch's
/// clip_grad_norm_: coefficient max_norm / (norm + 1e-6), applied only when below 1). Returns the
/// norm before clipping; non-finite norms are returned unchanged for the caller to act on.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

enum class ScheduleType : uint8_t { Constant, Linear, Cosine };

/// Learning rate at `step` (0-based) for a schedule with linear warm-up from 0 over
/// `warmup_steps`, then constant, linear decay to 0, or cosine decay to `min_lr_ratio` * base
/// (Hugging Face's get_*_schedule_with_warmup).
double schedule_lr(ScheduleType type, double base_lr, int64_t step, int64_t warmup_steps,
                   int64_t total_steps, double min_lr_ratio = 0.0);

}  // namespace lazarus::training
