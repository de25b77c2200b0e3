// TransformerBackbone: token embedding, a stack of Transformer blocks, final norm. Names follow HF
// (embed_tokens, layers.N, norm). Turns the attention mask (1 keep / 0 pad) into positions and an
// additive key mask, so each padded row computes what it would alone.
#pragma once

#include <memory>
#include <vector>

#include "lazarus/blocks/transformer_block.h"
#include "lazarus/nn/module_list.h"

namespace lazarus::backbones {

struct BackboneOutput {
  /// (B, T, D), after the final norm.
  Tensor last_hidden_state;
  /// With output_hidden_states, L + 1 entries as HF: the input of every layer (entry 0 is the
  /// embedding output), then the final normed output. Empty otherwise.
  std::vector<Tensor> hidden_states;
};

class TransformerBackbone : public nn::Module {
 public:
  /// Validates `cfg` (ConfigError naming the field).
  explicit TransformerBackbone(const config::BackboneConfig& cfg, DType dtype = DType::F32);

  /// input_ids (B, T) integer. attention_mask (B, T) or, with a cache, (B, past + T): 1 = keep,
  /// 0 = padding; undefined = all kept. With `cache` the call continues the cached sequence.
  /// Throws ShapeError on mismatched shapes or a cache of another batch size.
  BackboneOutput forward(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                         components::Cache* cache = nullptr,
                         bool output_hidden_states = false) const;

  /// One cache slot per layer for `batch` rows; max_length 0 = max_position_embeddings.
  std::shared_ptr<components::Cache> make_cache(int64_t batch, int64_t max_length = 0) const;
  const config::BackboneConfig& config() const { return cfg_; }

  std::shared_ptr<nn::Embedding> embed_tokens;
  std::shared_ptr<nn::ModuleList<blocks::TransformerBlock>> layers;
  std::shared_ptr<components::Norm> norm;

 private:
  config::BackboneConfig cfg_;
};

}  // namespace lazarus::backbones
