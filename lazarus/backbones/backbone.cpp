// The one backbone (see backbone.h).
#include "lazarus/backbones/backbone.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "lazarus/blocks/hybrid_block.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::backbones {

BackboneDescription BackboneDescription::for_type(config::BackboneType type) {
  BackboneDescription d;
  if (type == config::BackboneType::Mamba) {
    d.prefix = "backbone";
    d.embed_tokens = "embeddings";
    d.norm = "norm_f";
    d.hidden_states = HiddenStatesConvention::LayerOutputs;
  }
  return d;
}

void BackboneDescription::validate(const std::string& path) const {
  std::set<std::string> seen;
  for (auto [field, name] : {std::pair<const char*, const std::string*>{"prefix", &prefix},
                             {"embed_tokens", &embed_tokens},
                             {"embed_positions", &embed_positions},
                             {"layers", &layers},
                             {"norm", &norm}}) {
    if (name->empty() || name->find('.') != std::string::npos)
      throw ConfigError(fmt::format("{}.{}: '{}' must be one non-empty module name without '.'",
                                    path, field, *name));
    if (field != std::string("prefix") && !seen.insert(*name).second)
      throw ConfigError(
          fmt::format("{}.{}: '{}' is already the name of another part", path, field, *name));
  }
  if (!(std::isfinite(embedding_scale) && embedding_scale > 0))
    throw ConfigError(
        fmt::format("{}.embedding_scale: {} must be finite and > 0", path, embedding_scale));
}

Backbone::Backbone(const config::BackboneConfig& cfg, DType dtype)
    : Backbone(cfg, BackboneDescription::for_type(cfg.type), dtype) {}

Backbone::Backbone(const config::BackboneConfig& cfg, const BackboneDescription& description,
                   DType dtype)
    : cfg_(cfg), desc_(description) {
  cfg.validate("backbone");
  description.validate();
  const int64_t D = cfg.hidden_size, max_pos = cfg.embedding.max_position_embeddings;
  embed_tokens = register_module(
      desc_.embed_tokens, std::make_shared<nn::Embedding>(cfg.embedding.vocab_size, D, dtype,
                                                          cfg.embedding.padding_idx));
  if (cfg.input_position() != config::PositionEmbeddingType::None) {
    embed_positions = register_module(desc_.embed_positions,
                                      std::make_shared<components::AbsolutePositionEmbedding>(
                                          cfg.input_position(), max_pos, D, dtype));
  }
  layers = register_module(desc_.layers, std::make_shared<nn::ModuleList<blocks::Block>>());
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    layers->push_back(blocks::make_block(D, cfg.block_for(i), max_pos, dtype));
    const config::BlockType t = (*layers)[size_t(i)].type();
    attends_ |= t == config::BlockType::Transformer || t == config::BlockType::Hybrid;
  }
  norm = register_module(desc_.norm, std::make_shared<components::Norm>(D, cfg.final_norm, dtype));
}

std::shared_ptr<components::Cache> Backbone::make_cache(int64_t batch, int64_t max_length) const {
  if (batch <= 0) throw ShapeError(fmt::format("[make_cache] batch must be > 0, got {}", batch));
  // An attention layer's KV cache is bounded by the positions; SSM and recurrent states do not
  // grow, so without attention max_length only bounds what Cache reports.
  if (max_length <= 0)
    max_length =
        attends_ ? cfg_.embedding.max_position_embeddings : std::numeric_limits<int64_t>::max();
  std::vector<std::shared_ptr<components::LayerCache>> per_layer;
  for (auto& l : *layers) per_layer.push_back(l->make_cache(max_length));
  return std::make_shared<components::Cache>(batch, max_length, std::move(per_layer));
}

BackboneOutput Backbone::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                 components::Cache* cache, bool output_hidden_states) const {
  Masks masks = resolve_masks(input_ids, attention_mask, cache);
  const int64_t T = input_ids.size(1);
  Tensor embeds = embed_tokens->forward(input_ids);  // (B, T, D)
  if (desc_.embedding_scale != 1.0) {
    // HF rounds the scale to the embeddings' dtype before multiplying (Gemma's normalizer).
    const double s = full({1}, desc_.embedding_scale, embeds.dtype()).item();
    embeds = embeds * s;
  }
  blocks::BlockContext ctx = make_context(masks, input_ids, cache, embeds.dtype());
  if (embed_positions)
    embeds = embeds + embed_positions->forward(ctx.attention.positions, T, embeds.dtype());

  const bool inputs = desc_.hidden_states == HiddenStatesConvention::LayerInputs;
  BackboneOutput out;
  Tensor h = embeds;
  for (size_t i = 0; i < layers->size(); ++i) {
    if (output_hidden_states && inputs) out.hidden_states.push_back(h);
    blocks::BlockOutput bo = (*layers)[i].forward(h, ctx, cache ? &cache->layer(i) : nullptr);
    h = bo.hidden_states;
    if (bo.router_logits.defined()) out.router_logits.push_back(bo.router_logits);
    if (output_hidden_states && !inputs) out.hidden_states.push_back(h);
  }
  h = norm->forward(h);
  if (output_hidden_states) out.hidden_states.push_back(h);
  out.last_hidden_state = h;
  if (cache) cache->advance(T, masks.fresh);
  return out;
}

Backbone::Masks Backbone::resolve_masks(const Tensor& input_ids, const Tensor& attention_mask,
                                        const components::Cache* cache) const {
  if (input_ids.dim() != 2) {
    throw ShapeError(
        fmt::format("[Backbone] input_ids must be (B, T), got {}", shape_str(input_ids.shape())));
  }
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  const int64_t past = cache ? cache->length() : 0, Tk = past + T;
  if (cache && cache->batch() != B) {
    throw ShapeError(
        fmt::format("[Backbone] cache holds batch {}, input_ids has {}", cache->batch(), B));
  }
  if (cache && cache->num_layers() != layers->size()) {
    throw ShapeError(fmt::format("[Backbone] cache has {} layers, model {}", cache->num_layers(),
                                 layers->size()));
  }
  Masks m;
  if (attention_mask.defined()) {
    if (attention_mask.dim() != 2 || attention_mask.size(0) != B ||
        (attention_mask.size(1) != T && attention_mask.size(1) != Tk)) {
      throw ShapeError(fmt::format(
          "[Backbone] attention_mask {} must be (B, T) = ({}, {}) or (B, past + T) = ({}, {})",
          shape_str(attention_mask.shape()), B, T, B, Tk));
    }
    Tensor a = attention_mask.to(DType::I64);
    if (a.size(1) == Tk) {
      m.full = a;
      m.fresh = a.narrow(1, past, T);
    } else {
      m.fresh = a;
      Tensor prev = cache && cache->attention_mask().defined() ? cache->attention_mask()
                                                               : ones({B, past}, DType::I64);
      m.full = past ? cat({prev, a}, 1) : a;
    }
  } else if (cache && cache->attention_mask().defined()) {
    m.full = cat({cache->attention_mask(), ones({B, T}, DType::I64)}, 1);
  }
  return m;
}

blocks::BlockContext Backbone::make_context(const Masks& masks, const Tensor& input_ids,
                                            const components::Cache* cache, DType dtype) const {
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  const int64_t past = cache ? cache->length() : 0, Tk = past + T;
  blocks::BlockContext bctx;
  components::AttentionContext& ctx = bctx.attention;
  ctx.positions.offset = past;
  ctx.positions.max_position_plus_one = Tk;
  std::vector<int64_t> km =
      masks.full.defined() ? masks.full.contiguous().to_vector<int64_t>() : std::vector<int64_t>{};
  bool padded = std::any_of(km.begin(), km.end(), [](int64_t v) { return v == 0; });
  if (!padded) return bctx;
  // Position of a token = number of kept tokens before it in its row (HF generate's rule).
  std::vector<int64_t> pos(B * T), kpos(B * Tk);
  int64_t max_pos = 0;
  bool fresh_padded = false;
  for (int64_t b = 0; b < B; ++b) {
    int64_t seen = 0;
    for (int64_t j = 0; j < Tk; ++j) {
      int64_t keep = km[b * Tk + j] != 0;
      kpos[b * Tk + j] = std::max<int64_t>(seen + keep - 1, 0);
      if (j >= past) {
        pos[b * T + (j - past)] = kpos[b * Tk + j];
        fresh_padded |= !keep;
      }
      seen += keep;
    }
    max_pos = std::max(max_pos, seen);
  }
  ctx.positions.position_ids = from_vector(pos, {B, T}, DType::I64);
  ctx.key_positions = from_vector(kpos, {B, Tk}, DType::I64);
  ctx.positions.max_position_plus_one = std::max<int64_t>(max_pos, 1);
  // A finite large negative (not -inf) keeps fully padded query rows free of NaN.
  const double neg = dtype == DType::F16 ? -65504.0 : -1e30;
  std::vector<float> add(B * Tk);
  for (int64_t i = 0; i < B * Tk; ++i) add[i] = km[i] ? 0.0f : static_cast<float>(neg);
  ctx.key_padding_mask = from_vector(add, {B, 1, 1, Tk});  // broadcast over heads and queries
  // Only padding among the new tokens changes an SSM / recurrent layer (an all-ones mask is the
  // same as none, and costs a multiply per layer).
  if (fresh_padded) bctx.token_mask = masks.fresh;
  return bctx;
}

}  // namespace lazarus::backbones
