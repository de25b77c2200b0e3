// The backbone interface (token ids -> hidden states, with per-layer caches) shared by every
// backbone type, so models and heads work over any of them; and the factory that builds the one a
// config names.
#pragma once

#include <memory>
#include <vector>

#include "lazarus/blocks/block.h"
#include "lazarus/components/kv_cache.h"
#include "lazarus/config/model_config.h"
#include "lazarus/nn/module.h"

namespace lazarus::backbones {

struct BackboneOutput {
  /// (B, T, D), after the final norm.
  Tensor last_hidden_state;
  /// With output_hidden_states, L + 1 entries in the order the family's HF model returns them
  /// (transformer: the input of every layer, entry 0 being the embedding output, then the final
  /// normed output; mamba: the output of every layer, then the final normed output). Empty
  /// otherwise.
  std::vector<Tensor> hidden_states;
  /// The router logits (B * T, E) of every mixture-of-experts layer, in layer order.
  std::vector<Tensor> router_logits;
};

class Backbone : public nn::Module {
 public:
  /// input_ids (B, T) integer. attention_mask (B, T) or, with a cache, (B, past + T): 1 = keep,
  /// 0 = padding; undefined = all kept. With `cache` the call continues the cached sequence.
  /// Throws ShapeError on mismatched shapes or a cache of another batch size / layer count.
  virtual BackboneOutput forward(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                                 components::Cache* cache = nullptr,
                                 bool output_hidden_states = false) const = 0;
  /// One state slot per layer, of the kind its block needs, for `batch` rows; max_length 0 =
  /// max_position_embeddings (attention layers; SSM state has a fixed size).
  virtual std::shared_ptr<components::Cache> make_cache(int64_t batch,
                                                        int64_t max_length = 0) const = 0;
  /// The token embedding matrix slot (V, D) (an LM head may tie to it).
  virtual Tensor* input_embedding_weight() = 0;
  const config::BackboneConfig& config() const { return cfg_; }

 protected:
  explicit Backbone(const config::BackboneConfig& cfg) : cfg_(cfg) {}
  /// Validates a call's shapes against `cache` (batch, layer count) and splits the mask into the
  /// part over every key position (B, past + T) and the part for the new tokens (B, T); both
  /// undefined when no mask was ever given.
  struct Masks {
    Tensor full, fresh;
  };
  Masks resolve_masks(const char* who, const Tensor& input_ids, const Tensor& attention_mask,
                      const components::Cache* cache, size_t num_layers) const;
  /// What every layer of the call shares: positions (kept tokens counted, HF generate's rule),
  /// the additive key-padding mask (B, 1, 1, past + T) and the token mask (B, T) — the last two
  /// only when some position is padding.
  blocks::BlockContext make_context(const Masks& masks, const Tensor& input_ids,
                                    const components::Cache* cache, DType dtype) const;

  config::BackboneConfig cfg_;
};

/// The backbone `cfg.type` names (validated; ConfigError naming the field).
std::shared_ptr<Backbone> make_backbone(const config::BackboneConfig& cfg,
                                        DType dtype = DType::F32);

/// The module name a causal LM gives its backbone in HF checkpoints: "model" (transformer) or
/// "backbone" (mamba); hybrid and recurrent backbones use "model" as HF's hybrid models (Jamba) do.
const char* checkpoint_prefix(config::BackboneType type);

}  // namespace lazarus::backbones
