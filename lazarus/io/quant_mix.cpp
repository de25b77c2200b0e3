// Quantization recipes (see quant_mix.h); the rule follows llama.cpp's llama_tensor_get_type and
// tensor_type_fallback (src/llama-quant.cpp), read to learn.
#include "lazarus/io/quant_mix.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus::io {

QuantMix::QuantMix(DType dt) : name(dtype_name(dt)), base(dt) {
  if (!is_quantized(dt)) {
    throw DTypeError(fmt::format("[quantize] {} is not a block-quantized type", dtype_name(dt)));
  }
}

namespace {

struct MixName {
  const char* name;
  DType base;
  bool llama_rules;
  char size;
};
const MixName kMixes[] = {
    {"q8_0", DType::Q8_0, false, 0},  {"q4_0", DType::Q4_0, false, 0},
    {"q4_1", DType::Q4_1, false, 0},  {"q4_K", DType::Q4_K, false, 0},
    {"q5_K", DType::Q5_K, false, 0},  {"q6_K", DType::Q6_K, false, 0},
    {"q4_K_M", DType::Q4_K, true, 'M'}, {"q4_K_S", DType::Q4_K, true, 'S'},
    {"q5_K_M", DType::Q5_K, true, 'M'}, {"q5_K_S", DType::Q5_K, true, 'S'},
};

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::optional<QuantMix> quant_mix_from_string(std::string_view s) {
  for (const MixName& m : kMixes) {
    if (!iequal(s, m.name)) continue;
    QuantMix q(m.base);
    q.name = m.name, q.llama_rules = m.llama_rules, q.size = m.size;
    return q;
  }
  return std::nullopt;
}

std::vector<std::string> quant_mix_names() {
  std::vector<std::string> out;
  for (const MixName& m : kMixes) out.emplace_back(m.name);
  return out;
}

MatrixRole matrix_role(std::string_view hf_name, int& layer) {
  layer = -1;
  static const std::regex layer_re(R"((?:^|\.)layers\.(\d+)\.)");
  std::match_results<std::string_view::const_iterator> m;
  if (std::regex_search(hf_name.begin(), hf_name.end(), m, layer_re)) {
    layer = std::stoi(m[1].str());
  }
  auto has = [&](std::string_view part) { return hf_name.find(part) != std::string_view::npos; };
  if (has("embed_tokens")) return MatrixRole::TokenEmbedding;
  if (hf_name == "lm_head.weight" || hf_name == "lm_head") return MatrixRole::Output;
  if (has("self_attn.v_proj")) return MatrixRole::AttnV;
  if (has("mlp.down_proj")) return MatrixRole::FfnDown;
  return MatrixRole::Other;
}

bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

std::optional<DType> quant_mix_type(const QuantMix& mix, MatrixRole role, int layer, int n_layers,
                                    int64_t ncols, bool tied) {
  DType t = mix.base;
  if (mix.llama_rules) {
    const bool output = role == MatrixRole::Output || (tied && role == MatrixRole::TokenEmbedding);
    const bool k4 = mix.base == DType::Q4_K;
    if (output) {
      if (ncols % 256 != 0) {
        t = DType::Q8_0;
      } else if (t != DType::Q8_0) {
        t = DType::Q6_K;
      }
    } else if (role == MatrixRole::AttnV && layer >= 0) {
      if (mix.size == 'M' && use_more_bits(layer, n_layers)) t = DType::Q6_K;
      else if (mix.size == 'S' && k4 && layer < 4) t = DType::Q5_K;
    } else if (role == MatrixRole::FfnDown && layer >= 0) {
      if (mix.size == 'M' && use_more_bits(layer, n_layers)) t = DType::Q6_K;
      else if (mix.size == 'S' && k4 && layer < n_layers / 8) t = DType::Q5_K;
    }
  }
  if (ncols % dtype_block_size(t) != 0) t = DType::Q8_0;  // the K-quants' fallback
  if (ncols % dtype_block_size(t) != 0) return std::nullopt;
  return t;
}

}  // namespace lazarus::io
