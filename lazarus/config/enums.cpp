// String forms of the config enums.
#include "lazarus/config/enums.h"

#include <array>
#include <utility>

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus::config {

namespace {

template <class E, size_t N>
using Table = std::array<std::pair<E, std::string_view>, N>;

constexpr Table<AttentionType, 3> kAttention{{{AttentionType::MultiHead, "multi_head"},
                                              {AttentionType::GroupedQuery, "grouped_query"},
                                              {AttentionType::MultiQuery, "multi_query"}}};
constexpr Table<FFNType, 4> kFFN{{{FFNType::MLP, "mlp"},
                                  {FFNType::SwiGLU, "swiglu"},
                                  {FFNType::GeGLU, "geglu"},
                                  {FFNType::Gated, "gated"}}};
constexpr Table<NormType, 3> kNorm{{{NormType::RMSNorm, "rms_norm"},
                                    {NormType::LayerNorm, "layer_norm"},
                                    {NormType::GemmaRMSNorm, "gemma_rms_norm"}}};
constexpr Table<ActivationType, 7> kActivation{{{ActivationType::ReLU, "relu"},
                                                {ActivationType::GELU, "gelu"},
                                                {ActivationType::GELUTanh, "gelu_tanh"},
                                                {ActivationType::SiLU, "silu"},
                                                {ActivationType::Tanh, "tanh"},
                                                {ActivationType::Sigmoid, "sigmoid"},
                                                {ActivationType::Identity, "identity"}}};
constexpr Table<PositionEmbeddingType, 5> kPosition{
    {{PositionEmbeddingType::None, "none"},
     {PositionEmbeddingType::RoPE, "rope"},
     {PositionEmbeddingType::Learned, "learned"},
     {PositionEmbeddingType::Sinusoidal, "sinusoidal"},
     {PositionEmbeddingType::ALiBi, "alibi"}}};
constexpr Table<RoPEScalingType, 5> kRoPE{{{RoPEScalingType::None, "none"},
                                           {RoPEScalingType::Linear, "linear"},
                                           {RoPEScalingType::Dynamic, "dynamic"},
                                           {RoPEScalingType::Llama3, "llama3"},
                                           {RoPEScalingType::Yarn, "yarn"}}};
constexpr Table<BlockType, 4> kBlock{{{BlockType::Transformer, "transformer"},
                                      {BlockType::Mamba, "mamba"},
                                      {BlockType::Hybrid, "hybrid"},
                                      {BlockType::Recurrent, "recurrent"}}};
constexpr Table<BackboneType, 4> kBackbone{{{BackboneType::Transformer, "transformer"},
                                            {BackboneType::Mamba, "mamba"},
                                            {BackboneType::Hybrid, "hybrid"},
                                            {BackboneType::Recurrent, "recurrent"}}};
constexpr Table<HeadType, 3> kHead{{{HeadType::LM, "lm"},
                                    {HeadType::Classifier, "classifier"},
                                    {HeadType::Regression, "regression"}}};
constexpr Table<PoolingType, 5> kPooling{{{PoolingType::Last, "last"},
                                          {PoolingType::First, "first"},
                                          {PoolingType::Mean, "mean"},
                                          {PoolingType::Max, "max"},
                                          {PoolingType::None, "none"}}};
constexpr Table<SSMType, 1> kSSM{{{SSMType::Mamba, "mamba"}}};
constexpr Table<RecurrentType, 3> kRecurrent{{{RecurrentType::LSTM, "lstm"},
                                              {RecurrentType::GRU, "gru"},
                                              {RecurrentType::MinGRU, "mingru"}}};
constexpr Table<HybridCombine, 3> kCombine{{{HybridCombine::Add, "add"},
                                            {HybridCombine::Concat, "concat"},
                                            {HybridCombine::Gate, "gate"}}};
constexpr Table<HybridLayout, 4> kLayout{{{HybridLayout::None, "none"},
                                          {HybridLayout::Alternating, "alternating"},
                                          {HybridLayout::Interleaved, "interleaved"},
                                          {HybridLayout::Parallel, "parallel"}}};

template <class E, size_t N>
std::string_view name_of(const Table<E, N>& t, E v) {
  for (auto& [e, s] : t)
    if (e == v) return s;
  return "?";
}

template <class E, size_t N>
E parse(const Table<E, N>& t, std::string_view s, const std::string& path) {
  for (auto& [e, n] : t)
    if (n == s) return e;
  std::string names;
  for (auto& [e, n] : t) names += (names.empty() ? "" : ", ") + std::string(n);
  throw ConfigError(fmt::format("{}: unknown value '{}' (expected one of {})", path, s, names));
}

}  // namespace

std::string_view to_string(AttentionType v) { return name_of(kAttention, v); }
std::string_view to_string(FFNType v) { return name_of(kFFN, v); }
std::string_view to_string(NormType v) { return name_of(kNorm, v); }
std::string_view to_string(ActivationType v) { return name_of(kActivation, v); }
std::string_view to_string(PositionEmbeddingType v) { return name_of(kPosition, v); }
std::string_view to_string(RoPEScalingType v) { return name_of(kRoPE, v); }
std::string_view to_string(BlockType v) { return name_of(kBlock, v); }
std::string_view to_string(BackboneType v) { return name_of(kBackbone, v); }
std::string_view to_string(HeadType v) { return name_of(kHead, v); }
std::string_view to_string(PoolingType v) { return name_of(kPooling, v); }
std::string_view to_string(SSMType v) { return name_of(kSSM, v); }
std::string_view to_string(RecurrentType v) { return name_of(kRecurrent, v); }
std::string_view to_string(HybridCombine v) { return name_of(kCombine, v); }
std::string_view to_string(HybridLayout v) { return name_of(kLayout, v); }

template <>
AttentionType enum_from_string<AttentionType>(std::string_view s, const std::string& p) {
  return parse(kAttention, s, p);
}
template <>
FFNType enum_from_string<FFNType>(std::string_view s, const std::string& p) {
  return parse(kFFN, s, p);
}
template <>
NormType enum_from_string<NormType>(std::string_view s, const std::string& p) {
  return parse(kNorm, s, p);
}
template <>
ActivationType enum_from_string<ActivationType>(std::string_view s, const std::string& p) {
  if (s == "swish") return ActivationType::SiLU;
  if (s == "gelu_new" || s == "gelu_pytorch_tanh") return ActivationType::GELUTanh;
  return parse(kActivation, s, p);
}
template <>
PositionEmbeddingType enum_from_string<PositionEmbeddingType>(std::string_view s,
                                                              const std::string& p) {
  return parse(kPosition, s, p);
}
template <>
RoPEScalingType enum_from_string<RoPEScalingType>(std::string_view s, const std::string& p) {
  if (s == "default") return RoPEScalingType::None;
  return parse(kRoPE, s, p);
}
template <>
BlockType enum_from_string<BlockType>(std::string_view s, const std::string& p) {
  return parse(kBlock, s, p);
}
template <>
BackboneType enum_from_string<BackboneType>(std::string_view s, const std::string& p) {
  return parse(kBackbone, s, p);
}
template <>
HeadType enum_from_string<HeadType>(std::string_view s, const std::string& p) {
  return parse(kHead, s, p);
}
template <>
PoolingType enum_from_string<PoolingType>(std::string_view s, const std::string& p) {
  return parse(kPooling, s, p);
}
template <>
SSMType enum_from_string<SSMType>(std::string_view s, const std::string& p) {
  return parse(kSSM, s, p);
}
template <>
RecurrentType enum_from_string<RecurrentType>(std::string_view s, const std::string& p) {
  return parse(kRecurrent, s, p);
}
template <>
HybridCombine enum_from_string<HybridCombine>(std::string_view s, const std::string& p) {
  return parse(kCombine, s, p);
}
template <>
HybridLayout enum_from_string<HybridLayout>(std::string_view s, const std::string& p) {
  return parse(kLayout, s, p);
}

}  // namespace lazarus::config
