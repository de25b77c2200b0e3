// The enums that replace magic strings in configs, each with its JSON string form. Parsing an
// unknown string is a ConfigError naming the field path, the value and the accepted strings.
#pragma once

#include <string>
#include <string_view>

namespace lazarus::config {

/// How query heads share key/value heads (checked against the head counts in validate()).
enum class AttentionType { MultiHead, GroupedQuery, MultiQuery };
/// Feed-forward flavour. SwiGLU / GeGLU are gated with SiLU / GELU; Gated takes any activation.
enum class FFNType { MLP, SwiGLU, GeGLU, Gated };
/// RMSNorm (x / rms(x) * w), LayerNorm, and Gemma's RMSNorm (weight stored as an offset:
/// x / rms(x) * (1 + w), computed in f32).
enum class NormType { RMSNorm, LayerNorm, GemmaRMSNorm };
enum class ActivationType { ReLU, GELU, GELUTanh, SiLU, Tanh, Sigmoid, Identity };
/// RoPE and ALiBi act inside attention (per layer); Learned (an embedding table) and Sinusoidal
/// (the fixed table of "Attention Is All You Need") are added to the token embeddings once, at
/// the backbone's input.
enum class PositionEmbeddingType { None, RoPE, Learned, Sinusoidal, ALiBi };
/// RoPE frequency scaling (Hugging Face `rope_type`).
enum class RoPEScalingType { None, Linear, Dynamic, Llama3, Yarn };
/// Every block and backbone type is built.
enum class BlockType { Transformer, Mamba, Hybrid, Recurrent };
enum class BackboneType { Transformer, Mamba, Hybrid, Recurrent };
/// The state-space layer of an SSM block (Mamba's selective scan).
enum class SSMType { Mamba };
/// The recurrent cell of a recurrent block: LSTM and GRU (PyTorch's gate orders), minGRU (Feng et
/// al. 2024, "Were RNNs All We Needed?").
enum class RecurrentType { LSTM, GRU, MinGRU };
/// How a hybrid block merges its attention and SSM outputs.
enum class HybridCombine { Add, Concat, Gate };
/// How a hybrid backbone lays out its blocks: None (block + overrides only), Alternating (odd
/// layers use secondary_block), Interleaved (every (ratio + 1)-th layer uses secondary_block),
/// Parallel (every layer is a hybrid block: attention and SSM side by side).
enum class HybridLayout { None, Alternating, Interleaved, Parallel };
/// LM (vocabulary logits), Classifier (num_labels logits), Regression (num_outputs values).
enum class HeadType { LM, Classifier, Regression };
/// How a classifier / regression head reduces (B, T, D) hidden states: the last or first
/// non-padding token, the mean or max over non-padding tokens, or None (one output per token,
/// as a TokenClassifier needs).
enum class PoolingType { Last, First, Mean, Max, None };

// String forms ("grouped_query", "swiglu", "rms_norm", "silu", "rope", "llama3", ...).
std::string_view to_string(AttentionType v);
std::string_view to_string(FFNType v);
std::string_view to_string(NormType v);
std::string_view to_string(ActivationType v);
std::string_view to_string(PositionEmbeddingType v);
std::string_view to_string(RoPEScalingType v);
std::string_view to_string(BlockType v);
std::string_view to_string(BackboneType v);
std::string_view to_string(HeadType v);
std::string_view to_string(PoolingType v);
std::string_view to_string(SSMType v);
std::string_view to_string(RecurrentType v);
std::string_view to_string(HybridCombine v);
std::string_view to_string(HybridLayout v);

/// Parses the string form; throws ConfigError "<path>: unknown value 'x' (expected one of ...)".
/// Specialised for every enum above. ActivationType also accepts the Hugging Face aliases
/// "swish", "gelu_new", "gelu_pytorch_tanh"; RoPEScalingType accepts "default" for None.
template <class E>
E enum_from_string(std::string_view s, const std::string& path);

}  // namespace lazarus::config
