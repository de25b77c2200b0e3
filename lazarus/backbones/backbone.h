// The one backbone: token embedding (+ absolute positions), a stack of any blocks laid out by the
// config, final norm — token ids -> hidden states, with per-layer caches. What differs between
// families (the names their checkpoints use, an embedding scale, which hidden states they return)
// is data: a BackboneDescription.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lazarus/blocks/block.h"
#include "lazarus/components/ffn.h"
#include "lazarus/components/kv_cache.h"
#include "lazarus/components/positions.h"
#include "lazarus/config/model_config.h"
#include "lazarus/core/error.h"
#include "lazarus/nn/layers.h"
#include "lazarus/nn/module.h"
#include "lazarus/nn/module_list.h"

namespace lazarus::backbones {

/// Which tensors BackboneOutput::hidden_states holds (L + 1 entries either way).
enum class HiddenStatesConvention {
  /// The input of every layer (entry 0 the embedding output), then the final normed output
  /// (HF LlamaModel and every transformer model).
  LayerInputs,
  /// The output of every layer, then the final normed output (HF MambaModel).
  LayerOutputs,
};

/// How a family's checkpoints name and treat the parts around the blocks. Module names are
/// checkpoint names, so these strings are the checkpoint's: a model registers the backbone as
/// `prefix`, and the backbone registers `prefix.<embed_tokens>`, `prefix.<embed_positions>`
/// (learned / sinusoidal positions only), `prefix.<layers>.N` and `prefix.<norm>`. Each block names
/// its own children (self_attn.q_proj, mixer.in_proj, ...); a family whose checkpoints name those
/// differently (GPT-2's attn.c_attn, fused and transposed) maps them in its registry entry's
/// weight-name map, which this description does not cover.
struct BackboneDescription {
  std::string prefix = "model";  // the module name a model gives the backbone
  std::string embed_tokens = "embed_tokens";
  std::string embed_positions = "embed_positions";
  std::string layers = "layers";
  std::string norm = "norm";  // the final norm
  /// The token embeddings are multiplied by this before anything else (Gemma: sqrt(hidden_size),
  /// rounded to the embeddings' dtype first as HF does). 1 = no scaling.
  double embedding_scale = 1.0;
  HiddenStatesConvention hidden_states = HiddenStatesConvention::LayerInputs;

  /// The description the names of existing configs and checkpoints imply: `transformer`,
  /// `hybrid` and `recurrent` -> model.{embed_tokens, embed_positions, layers, norm}, layer
  /// inputs; `mamba` -> backbone.{embeddings, layers, norm_f}, layer outputs (HF MambaModel).
  static BackboneDescription for_type(config::BackboneType type);
  /// Every name non-empty, without '.', and distinct; embedding_scale finite and > 0 (ConfigError
  /// naming the field and the value).
  void validate(const std::string& path = "backbone_description") const;
  bool operator==(const BackboneDescription&) const = default;
};

struct BackboneOutput {
  /// (B, T, D), after the final norm.
  Tensor last_hidden_state;
  /// With output_hidden_states, L + 1 entries in the order of the description's
  /// HiddenStatesConvention (the order the family's HF model returns them). Empty otherwise.
  std::vector<Tensor> hidden_states;
  /// The router logits (B * T, E) of every mixture-of-experts layer, in layer order.
  std::vector<Tensor> router_logits;
};

class Backbone : public nn::Module {
 public:
  /// Validates `cfg` and `description` (ConfigError naming the field) and allocates every
  /// parameter: one block per layer of the kind cfg.block_for(layer) names.
  explicit Backbone(const config::BackboneConfig& cfg, DType dtype = DType::F32);
  Backbone(const config::BackboneConfig& cfg, const BackboneDescription& description,
           DType dtype = DType::F32);

  /// input_ids (B, T) integer. attention_mask (B, T) or, with a cache, (B, past + T): 1 = keep,
  /// 0 = padding; undefined = all kept. With `cache` the call continues the cached sequence.
  /// Padding becomes positions (kept tokens counted, HF generate's rule) and an additive key mask
  /// for attention layers, and a token mask for SSM / recurrent layers, so each padded row
  /// computes what it would alone. Throws ShapeError on mismatched shapes or a cache of another
  /// batch size / layer count, Error when a layer's cache is of another kind.
  BackboneOutput forward(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                         components::Cache* cache = nullptr,
                         bool output_hidden_states = false) const;
  /// One state slot per layer, of the kind its block needs (KV for attention, conv + SSM state
  /// for Mamba, both for hybrid blocks, the recurrent state), for `batch` rows. max_length 0 =
  /// max_position_embeddings when any layer attends, else unbounded (the state has a fixed size).
  /// ShapeError when batch <= 0.
  std::shared_ptr<components::Cache> make_cache(int64_t batch, int64_t max_length = 0) const;

  /// The token embedding matrix slot (V, D) (an LM head may tie to it).
  Tensor* input_embedding_weight() { return &embed_tokens->weight; }
  const config::BackboneConfig& config() const { return cfg_; }
  const BackboneDescription& description() const { return desc_; }
  /// Layer `i` as its block type (e.g. blocks::MambaBlock); Error naming the layer and both types
  /// when it is another kind, IndexError past the last layer.
  template <class BlockT>
  BlockT& layer(size_t i) const {
    if (i >= layers->size())
      throw IndexError(fmt::format("[Backbone] layer {} of {}", i, layers->size()));
    auto* b = dynamic_cast<BlockT*>(&(*layers)[i]);
    if (!b)
      throw Error(fmt::format("[Backbone] layer {} is a '{}' block, not the type asked for", i,
                              config::to_string((*layers)[i].type())));
    return *b;
  }

  /// Registered under the description's names (model.embed_tokens, backbone.embeddings, ...).
  std::shared_ptr<nn::Embedding> embed_tokens;
  /// Learned or sinusoidal positions added to the token embeddings (null for rope / alibi / none).
  std::shared_ptr<components::AbsolutePositionEmbedding> embed_positions;
  std::shared_ptr<nn::ModuleList<blocks::Block>> layers;
  std::shared_ptr<components::Norm> norm;

 private:
  struct Masks {
    Tensor full, fresh;
  };
  /// Validates a call's shapes against `cache` (batch, layer count) and splits the mask into the
  /// part over every key position (B, past + T) and the part for the new tokens (B, T); both
  /// undefined when no mask was ever given.
  Masks resolve_masks(const Tensor& input_ids, const Tensor& attention_mask,
                      const components::Cache* cache) const;
  /// What every layer of the call shares: positions (kept tokens counted, HF generate's rule),
  /// the additive key-padding mask (B, 1, 1, past + T) when some key is padding, and the token
  /// mask (B, T) when some new token is padding.
  blocks::BlockContext make_context(const Masks& masks, const Tensor& input_ids,
                                    const components::Cache* cache, DType dtype) const;

  config::BackboneConfig cfg_;
  BackboneDescription desc_;
  bool attends_ = false;  // some layer keeps a KV cache (bounds the context)
};

}  // namespace lazarus::backbones
