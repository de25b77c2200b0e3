// Typed configs for every level of the model hierarchy: RoPE -> attention / FFN / norm -> block ->
// backbone -> head -> model. Each is a plain value with declared defaults, `validate()` (messages
// name the field path and the value), strict JSON round-trip (unknown keys and wrong types are a
// ConfigError naming the field), equality, and `with(f)` for a validated modified copy.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lazarus/config/enums.h"
#include "lazarus/config/json_reader.h"
#include "lazarus/core/checked_math.h"

namespace lazarus::config {

/// Makes a modified copy: `auto c2 = with(c, [](auto& c) { c.factor = 8; });` validates c2.
template <class C, class F>
C with(const C& c, F&& f) {
  C out = c;
  f(out);
  out.validate();
  return out;
}

/// Rotary position embedding and its frequency scaling (Hugging Face `rope_theta` +
/// `rope_scaling`). Fields unused by the chosen scaling keep their defaults.
struct RoPEConfig {
  double theta = 10000.0;
  RoPEScalingType scaling = RoPEScalingType::None;
  /// linear / dynamic / llama3 / yarn: context extension factor.
  double factor = 1.0;
  /// llama3 / yarn / dynamic: the pre-extension context; nullopt = the backbone's
  /// max_position_embeddings.
  std::optional<int64_t> original_max_position_embeddings;
  double low_freq_factor = 1.0;            // llama3
  double high_freq_factor = 4.0;           // llama3
  double beta_fast = 32.0;                 // yarn
  double beta_slow = 1.0;                  // yarn
  std::optional<double> mscale;            // yarn
  std::optional<double> mscale_all_dim;    // yarn
  std::optional<double> attention_factor;  // yarn: nullopt = derived from factor / mscale
  /// Rotate adjacent pairs (GPT-J) instead of halves (Llama).
  bool interleaved = false;

  void validate(const std::string& path = "rope") const;
  Json to_json() const;
  static RoPEConfig from_json(const Json& j, const std::string& path = "rope");
  bool operator==(const RoPEConfig&) const = default;
};

/// How attention sees token positions. `rope` (with `rope`'s frequencies and scaling) and
/// `alibi` act inside attention; `learned` / `sinusoidal` tables are added to the token
/// embeddings at the backbone's input, so every attention layer of a backbone must then name the
/// same one; `none` = no positions. The JSON form is {"type": ..., "rope": {...}}; "rope" is
/// written, and accepted, only for type rope (a rope section under another type is an error).
struct PositionConfig {
  PositionEmbeddingType type = PositionEmbeddingType::RoPE;
  RoPEConfig rope;

  bool is_rope() const { return type == PositionEmbeddingType::RoPE; }
  /// Added once at the backbone's input (learned / sinusoidal) rather than inside attention.
  bool is_absolute() const {
    return type == PositionEmbeddingType::Learned || type == PositionEmbeddingType::Sinusoidal;
  }
  /// Checks rope (type rope), or that rope is left at its defaults (other types: it would be
  /// silently unused, and the JSON form would drop it).
  void validate(const std::string& path = "position") const;
  Json to_json() const;
  static PositionConfig from_json(const Json& j, const std::string& path = "position");
  bool operator==(const PositionConfig&) const = default;
};

struct NormConfig {
  NormType type = NormType::RMSNorm;
  double eps = 1e-6;
  /// LayerNorm only: learned shift.
  bool bias = true;

  int64_t num_parameters(int64_t dim) const {
    return type == NormType::LayerNorm && bias ? checked_mul(2, dim, "norm parameters") : dim;
  }
  void validate(const std::string& path = "norm") const;
  Json to_json() const;
  static NormConfig from_json(const Json& j, const std::string& path = "norm");
  bool operator==(const NormConfig&) const = default;
};

struct AttentionConfig {
  AttentionType type = AttentionType::MultiHead;
  int64_t num_attention_heads = 8;
  int64_t num_key_value_heads = 8;
  /// nullopt = hidden_size / num_attention_heads.
  std::optional<int64_t> head_dim;
  /// Bias on q/k/v projections, and on the output projection.
  bool bias = false;
  bool output_bias = false;
  bool causal = true;
  /// Keys older than `sliding_window` positions are not attended; nullopt = unlimited.
  std::optional<int64_t> sliding_window;
  /// Dropout on the attention probabilities in training mode (HF `attention_dropout`), [0, 1].
  double dropout = 0.0;
  /// How this layer sees token positions (rope by default).
  PositionConfig position;
  /// A norm over head_dim applied to every query and key head before positions (HF Qwen3 /
  /// Gemma 3 `q_norm` / `k_norm`); nullopt = none.
  std::optional<NormConfig> qk_norm;

  int64_t resolved_head_dim(int64_t hidden_size) const {
    return head_dim ? *head_dim : hidden_size / num_attention_heads;
  }
  /// Sets the head counts and the type they make (multi-head when equal, multi-query with one KV
  /// head, grouped-query otherwise): what an HF config's num_attention_heads /
  /// num_key_value_heads say.
  void set_heads(int64_t heads, int64_t kv_heads) {
    num_attention_heads = heads;
    num_key_value_heads = kv_heads;
    type = kv_heads == heads ? AttentionType::MultiHead
           : kv_heads == 1   ? AttentionType::MultiQuery
                             : AttentionType::GroupedQuery;
  }
  /// Checks ranges and the head counts against `type` and `hidden_size`.
  void validate(int64_t hidden_size, const std::string& path = "attention") const;
  Json to_json() const;
  static AttentionConfig from_json(const Json& j, const std::string& path = "attention");
  bool operator==(const AttentionConfig&) const = default;
};

/// A feed-forward network: one dense FFN of `type`, or with num_experts > 0 a sparse
/// mixture of experts (Mixtral semantics): a router `gate` (Linear D -> E, no bias), softmax over
/// all experts, the top num_experts_per_tok kept and (norm_topk_prob) renormalised to sum to 1,
/// each expert a dense FFN of `type` / `activation` / `intermediate_size` / `bias`. The model adds
/// router_aux_loss_coef * the Switch/Mixtral load-balancing loss to its training loss.
struct FFNConfig {
  FFNType type = FFNType::SwiGLU;
  ActivationType activation = ActivationType::SiLU;
  int64_t intermediate_size = 0;
  bool bias = false;
  /// 0 = dense FFN; > 0 = mixture of this many experts.
  int64_t num_experts = 0;
  /// Mixture of experts only: experts per token (top-k), renormalisation, aux loss weight.
  int64_t num_experts_per_tok = 2;
  bool norm_topk_prob = true;
  double router_aux_loss_coef = 0.01;

  bool gated() const { return type != FFNType::MLP; }
  bool is_moe() const { return num_experts > 0; }
  /// Parameters of one FFN (all experts and the router) of width `hidden_size`.
  int64_t num_parameters(int64_t hidden_size) const;
  void validate(const std::string& path = "ffn") const;
  Json to_json() const;
  static FFNConfig from_json(const Json& j, const std::string& path = "ffn");
  bool operator==(const FFNConfig&) const = default;
};

/// The selective state-space mixer of a Mamba block (Hugging Face MambaMixer): in_proj to
/// 2 * intermediate, causal depthwise conv1d, x_proj to (time_step_rank, B, C), dt_proj + softplus,
/// the selective scan with A = -exp(A_log) and the D skip, gating by act(z), out_proj.
struct SSMConfig {
  SSMType type = SSMType::Mamba;
  /// N: state dimensions per channel.
  int64_t state_size = 16;
  /// Width of the causal depthwise convolution.
  int64_t conv_kernel = 4;
  /// intermediate_size = expand * hidden_size unless given.
  int64_t expand = 2;
  std::optional<int64_t> intermediate_size;
  /// Rank of the dt projection; nullopt = "auto" = ceil(hidden_size / 16).
  std::optional<int64_t> time_step_rank;
  /// Bias on in_proj and out_proj.
  bool use_bias = false;
  bool use_conv_bias = true;
  /// Applied after the conv and to the gate.
  ActivationType activation = ActivationType::SiLU;

  int64_t resolved_intermediate_size(int64_t hidden_size) const {
    return intermediate_size ? *intermediate_size
                             : checked_mul(expand, hidden_size, "ssm.expand x hidden_size");
  }
  int64_t resolved_time_step_rank(int64_t hidden_size) const {
    return time_step_rank ? *time_step_rank : hidden_size / 16 + (hidden_size % 16 != 0);
  }
  void validate(int64_t hidden_size, const std::string& path = "ssm") const;
  /// Parameters of one mixer of width `hidden_size`.
  int64_t num_parameters(int64_t hidden_size) const;
  Json to_json() const;
  static SSMConfig from_json(const Json& j, const std::string& path = "ssm");
  bool operator==(const SSMConfig&) const = default;
};

/// The recurrent layer of a recurrent block, over inputs of width D and a state of width H
/// (hidden_size, default D; when H != D an out_proj Linear(H, D) maps back). `lstm` / `gru`:
/// PyTorch's nn.LSTM / nn.GRU cell math and parameter layout (weight_ih (4H|3H, D), weight_hh
/// (4H|3H, H), bias_ih, bias_hh). `mingru`: h_t = (1 - z_t) * h_{t-1} + z_t * h~_t with
/// z_t = sigmoid(linear_z(x_t)), h~_t = linear_h(x_t) (Feng et al. 2024).
struct RecurrentConfig {
  RecurrentType type = RecurrentType::LSTM;
  std::optional<int64_t> hidden_size;
  bool bias = true;

  int64_t resolved_hidden_size(int64_t model_hidden_size) const {
    return hidden_size ? *hidden_size : model_hidden_size;
  }
  void validate(int64_t model_hidden_size, const std::string& path = "recurrent") const;
  /// Parameters of one recurrent layer of input width `model_hidden_size`.
  int64_t num_parameters(int64_t model_hidden_size) const;
  Json to_json() const;
  static RecurrentConfig from_json(const Json& j, const std::string& path = "recurrent");
  bool operator==(const RecurrentConfig&) const = default;
};

/// One block. `transformer`: pre-norm attention + FFN (uses attention, ffn, norm). `mamba`:
/// pre-norm SSM mixer with a residual (uses ssm, norm, residual_in_fp32). `hybrid`: attention and
/// SSM side by side on one normed input, merged by `combine`, then a pre-norm FFN (uses
/// attention, ssm, ffn, norm, combine). `recurrent`: pre-norm recurrent layer with a residual
/// (uses recurrent, norm). The JSON form carries only the sections its type uses; a
/// section of another type is an error.
struct BlockConfig {
  BlockType type = BlockType::Transformer;
  AttentionConfig attention;
  FFNConfig ffn;
  NormConfig norm;
  SSMConfig ssm;
  RecurrentConfig recurrent;
  /// Mamba: keep the residual stream in f32 when the model runs in bf16/f16 (HF's flag).
  bool residual_in_fp32 = false;
  /// Hybrid: how attention and SSM outputs merge.
  HybridCombine combine = HybridCombine::Add;

  /// Checks the sections this block type uses.
  void validate(int64_t hidden_size, const std::string& path = "block") const;
  /// Parameters of one block of width `hidden_size`.
  int64_t num_parameters(int64_t hidden_size) const;
  Json to_json() const;
  static BlockConfig from_json(const Json& j, const std::string& path = "block");
  bool operator==(const BlockConfig&) const = default;
};

/// The token embedding at a backbone's input: a (vocab_size, hidden_size) table (HF
/// `embed_tokens` / `embeddings`), plus the position table when the attention layers use learned
/// positions. `max_position_embeddings` is the longest sequence the model is built for: the size
/// of a learned or sinusoidal table, the base of rope scaling without an
/// original_max_position_embeddings, the default KV-cache length and the context generation
/// stops at.
struct EmbeddingConfig {
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 2048;
  /// torch's / HF's padding_idx (Llama: pad_token_id): that token's row starts at zero and gets no
  /// gradient in training; its forward is unchanged. nullopt = none. In [0, vocab_size).
  std::optional<int64_t> padding_idx;

  void validate(const std::string& path = "embedding") const;
  /// Token table (+ the learned position table when `position` is learned) of width `hidden_size`.
  int64_t num_parameters(int64_t hidden_size, PositionEmbeddingType position) const;
  Json to_json() const;
  static EmbeddingConfig from_json(const Json& j, const std::string& path = "embedding");
  bool operator==(const EmbeddingConfig&) const = default;
};

/// A stack of blocks between a token embedding and a final norm. `transformer`: every block is a
/// transformer block (HF Llama names: model.embed_tokens, model.layers.N, model.norm). `mamba`:
/// every block is a mamba block (HF Mamba names: backbone.embeddings, backbone.layers.N,
/// backbone.norm_f). `hybrid`: any mix of transformer, mamba, hybrid and recurrent blocks laid out
/// by `layout` (+ overrides), with transformer names (model.embed_tokens, model.layers.N,
/// model.norm). `recurrent`: every block is a recurrent block (model.embed_tokens, model.layers.N,
/// model.norm). Mixture-of-experts FFNs in one backbone must agree on num_experts,
/// num_experts_per_tok and router_aux_loss_coef (the load-balancing loss spans every layer).
struct BackboneConfig {
  BackboneType type = BackboneType::Transformer;
  /// Vocabulary size and maximum sequence length (JSON: "embedding": {...}; the flat
  /// "vocab_size" / "max_position_embeddings" keys of earlier versions are read too).
  EmbeddingConfig embedding;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  /// The block every layer uses unless overridden.
  BlockConfig block;
  /// Per-layer replacements: layer index -> block config (JSON: {"3": {...}}).
  std::map<int64_t, BlockConfig> block_overrides;
  NormConfig final_norm;
  /// Hybrid backbones only: the layer pattern, the interleave ratio (interleaved: `ratio` layers
  /// of `block`, then one of `secondary_block`), and the second block kind.
  HybridLayout layout = HybridLayout::None;
  int64_t layout_ratio = 1;
  std::optional<BlockConfig> secondary_block;

  /// The position embedding added to the token embeddings at the input: learned or sinusoidal
  /// when the attention layers name one (validate() makes them agree), else None.
  PositionEmbeddingType input_position() const;
  /// The block of layer `layer`: its override, else what the layout gives it.
  const BlockConfig& block_for(int64_t layer) const {
    auto it = block_overrides.find(layer);
    if (it != block_overrides.end()) return it->second;
    return secondary_by_layout(layer) ? *secondary_block : block;
  }
  void validate(const std::string& path = "backbone") const;
  /// The FFN config of the first mixture-of-experts layer, or null when there is none.
  const FFNConfig* moe_ffn() const;
  /// Embedding (+ learned positions) + every block + final norm.
  /// Parameters of the whole stack, computed from the distinct blocks and how many layers use
  /// each (no loop over the layers); ConfigError naming the field when the count overflows.
  int64_t num_parameters() const;
  /// Whether layer `layer` takes secondary_block by the layout (overrides aside).
  bool secondary_by_layout(int64_t layer) const {
    if (!secondary_block) return false;
    if (layout == HybridLayout::Alternating) return layer % 2 == 1;
    return layout == HybridLayout::Interleaved && layout_ratio >= 1 && layer >= 0 &&
           uint64_t(layer) % (uint64_t(layout_ratio) + 1) == uint64_t(layout_ratio);
  }
  /// Layer indices that between them use every distinct block of the stack (every override and
  /// the first plain layer of each kind), ascending: at most overrides + 2 entries, whatever
  /// num_layers is. The first layer using any given block is among them.
  std::vector<int64_t> representative_layers() const;
  Json to_json() const;
  static BackboneConfig from_json(const Json& j, const std::string& path = "backbone");
  bool operator==(const BackboneConfig&) const = default;
};

/// The head on top of the backbone. `lm`: vocabulary logits (tie_word_embeddings, bias).
/// `classifier`: num_labels logits from a linear "score" layer over pooled hidden states.
/// `regression`: num_outputs values, the same way. Classifier and regression heads pool by
/// `pooling` (none = one output per token) and apply `dropout` before the score layer. The JSON
/// form carries only the fields its type uses; others are an error.
struct HeadConfig {
  HeadType type = HeadType::LM;
  /// LM head reuses the token embedding matrix.
  bool tie_word_embeddings = false;
  bool bias = false;
  /// Classifier: number of classes.
  int64_t num_labels = 2;
  /// Regression: number of predicted values.
  int64_t num_outputs = 1;
  PoolingType pooling = PoolingType::Last;
  /// Classifier / regression: dropout on the pooled features (training mode only).
  double dropout = 0.0;

  /// Width of the head's output: vocab_size (lm), num_labels, or num_outputs.
  int64_t output_size(int64_t vocab_size) const {
    return type == HeadType::LM           ? vocab_size
           : type == HeadType::Classifier ? num_labels
                                          : num_outputs;
  }

  void validate(const std::string& path = "head") const;
  Json to_json() const;
  static HeadConfig from_json(const Json& j, const std::string& path = "head");
  bool operator==(const HeadConfig&) const = default;
};

/// A whole model: backbone + head. The JSON form is {"backbone": {...}, "head": {...}}.
struct ModelConfig {
  BackboneConfig backbone;
  HeadConfig head;

  void validate() const;
  /// Parameter count of the model this config builds, computed without allocating it (a tied
  /// head adds nothing).
  int64_t num_parameters() const;
  Json to_json() const;
  static ModelConfig from_json(const Json& j, const std::string& path = "");
  /// Parses JSON text (syntax errors become ConfigError).
  static ModelConfig from_json_string(const std::string& text);
  bool operator==(const ModelConfig&) const = default;
};

}  // namespace lazarus::config
