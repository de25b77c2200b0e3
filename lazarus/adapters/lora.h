// LoRA (Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large Language Models") with PEFT's
// semantics: y = W x + b + scale * B(A(dropout(x))), A (r, in) kaiming-uniform, B (out, r) zeros,
// scale = alpha / r (alpha / sqrt(r) with rsLoRA). Attached to any nn::Linear chosen by name; the
// base model is frozen so only A and B train. Saves and loads PEFT's adapter folders and reads
// mlx-lm's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lazarus/nn/layers.h"

namespace lazarus::adapters {

struct LoraConfig {
  int64_t r = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  bool use_rslora = false;
  /// PEFT's matching: a module is targeted when its dotted name equals an entry or ends with
  /// "." + entry. With `target_regex` set instead, the whole name must match that regex.
  std::vector<std::string> target_modules = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};
  std::string target_regex;
  /// Multiplier of the low-rank path: alpha / r, or alpha / sqrt(r) with use_rslora.
  double scale() const;
  /// Throws ConfigError naming the field and value.
  void validate() const;
  /// PEFT's adapter_config.json ("peft_type": "LORA", "r", "lora_alpha", ...).
  nlohmann::ordered_json to_peft_json(const std::string& base_model_name_or_path = "") const;
  /// Reads PEFT's adapter_config.json; ConfigError naming `where` and the field for anything we
  /// cannot honour exactly (another peft_type, DoRA, biases, fan_in_fan_out, rank/alpha patterns).
  static LoraConfig from_peft_json(const nlohmann::json& j, const std::string& where);
};

/// The low-rank path attached to one Linear (child "lora": parameters lora.A (r, in) and
/// lora.B (out, r)).
class LoraAdapter : public nn::LinearAdapter {
 public:
  LoraAdapter(int64_t in_features, int64_t out_features, int64_t r, double scale, double dropout,
              DType dtype = DType::F32, Generator* gen = nullptr);
  Tensor adapt(const Tensor& x, const Tensor& base_output) const override;
  /// scale * B A, (out, in) f32: what merging adds to the base weight.
  Tensor delta_weight() const;
  double scale() const { return scale_; }
  int64_t rank() const { return A.size(0); }
  bool merged() const { return merged_; }
  Tensor A;
  Tensor B;

 private:
  friend void merge_lora(nn::Module&);
  friend void unmerge_lora(nn::Module&);
  double scale_;
  std::shared_ptr<nn::Dropout> dropout_;
  bool merged_ = false;
};

/// Every Linear carrying a LoRA adapter, by dotted module name.
std::vector<std::pair<std::string, nn::Linear*>> lora_layers(nn::Module& model);

/// Freezes every parameter of `model`, then attaches a fresh adapter to each Linear whose name
/// matches `cfg` (A drawn from `seed`). Returns the wrapped module names. Throws ConfigError when
/// nothing matches (listing the Linear layers there are) or when adapters are already attached.
std::vector<std::string> apply_lora(nn::Module& model, const LoraConfig& cfg, uint64_t seed = 0);

/// Adds scale * B A into each adapted base weight (computed in f32, stored in the weight's dtype);
/// the adapters then add nothing until unmerged. Layers already merged are left alone.
void merge_lora(nn::Module& model);
/// Subtracts what merge_lora added (equal to the original weight up to float rounding).
void unmerge_lora(nn::Module& model);
/// Merges and then detaches every adapter: a plain model (e.g. for saving a full checkpoint).
void merge_and_unload(nn::Module& model);

/// Writes dir/adapter_config.json and dir/adapter_model.safetensors in PEFT's format: keys
/// "base_model.model.<module>.lora_A.weight" (r, in) and ".lora_B.weight" (out, r).
void save_peft_adapter(nn::Module& model, const LoraConfig& cfg, const std::string& dir,
                       const std::string& base_model_name_or_path = "");

/// Reads a PEFT adapter folder, attaches adapters to the layers it names (freezing the model) and
/// loads A and B. LoadError naming the file and tensor for a missing/unreadable file, a key that
/// is not PEFT's LoRA form, a module that is not a Linear in `model`, a wrong shape or rank.
/// Returns the adapter's config.
LoraConfig load_peft_adapter(nn::Module& model, const std::string& dir);

/// Reads an mlx-lm adapter folder (adapter_config.json with "lora_parameters": rank, scale,
/// dropout; adapters.safetensors with "<module>.lora_a" (in, r) and "<module>.lora_b" (r, out),
/// y = W x + scale * (x lora_a) lora_b) into LoRA adapters on `model`. Same errors as above;
/// DoRA and full fine-tunes are refused. Returns the equivalent config (alpha = scale * r).
LoraConfig load_mlx_adapter(nn::Module& model, const std::string& dir);

}  // namespace lazarus::adapters
