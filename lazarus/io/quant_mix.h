// Which block type each matrix of a model gets when Lazarus quantizes it (at load time with
// --dtype, or when writing a GGUF with `lazarus convert`): one type for every matrix ("pure"), or
// llama.cpp's llama-quantize recipes (Q4_K_M, ...), whose per-tensor rule is reproduced here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lazarus/tensor/dtype.h"

namespace lazarus::io {

/// A quantization recipe.
///
/// Pure (names q8_0, q4_0, q4_1, q4_K, q5_K, q6_K): every matrix `base`.
///
/// llama-quantize (names q4_K_M, q4_K_S, q5_K_M, q5_K_S; and, for `lazarus convert` only, the
/// ftypes q4_0, q4_1, q6_K, see gguf_export.h), after llama.cpp's llama_tensor_get_type
/// (src/llama-quant.cpp, the llama.cpp that node-llama-cpp 3.21.1 bundles), without importance
/// matrix, for dense Llama-shaped models:
///  - the output matrix (lm_head; the token embedding when the head is tied to it): q6_K, or
///    q8_0 when its rows are not a multiple of 256 (and q8_0 stays q8_0);
///  - `_M`: attn_v (self_attn.v_proj) and ffn_down (mlp.down_proj) of layer i in q6_K when
///    use_more_bits(i, L): i < L/8, i >= 7L/8, or (i - L/8) % 3 == 2 (integer division);
///  - q4_K_S: attn_v of layers 0..3 and ffn_down of layers i < L/8 in q5_K;
///  - everything else (the untied token embedding included) `base`.
///    Not reproduced: llama.cpp's rules for 70B-shaped models (attn_v q5_K when 8 heads share
///    it), Falcon and mixture-of-experts models.
/// Either way a matrix whose rows are not a multiple of the chosen type's block falls back:
/// q4_K / q5_K / q6_K to q8_0 (llama.cpp picks q5_0 / q5_1 for q4_K / q5_K, which Lazarus does
/// not have; q8_0 for q6_K as here), and rows that are not a multiple of 32 are not quantized.
struct QuantMix {
  std::string name;  // as the user spells it: "q4_K_M", "q8_0"
  DType base = DType::Q8_0;
  bool llama_rules = false;  // llama-quantize's per-tensor rule (else pure)
  char size = 0;             // 'M', 'S' or 0: the _M / _S variant
  QuantMix() = default;
  /// The pure recipe of a quantized dtype (DTypeError for another dtype).
  QuantMix(DType dt);  // NOLINT(google-explicit-constructor): a dtype is a recipe
};

/// Parses a --dtype quantization name: q8_0, q4_0, q4_1, q4_K, q5_K, q6_K (pure) or q4_K_M,
/// q4_K_S, q5_K_M, q5_K_S (llama-quantize's), case-insensitively; nullopt for anything else.
std::optional<QuantMix> quant_mix_from_string(std::string_view s);
/// The names quant_mix_from_string accepts, for help and error messages.
std::vector<std::string> quant_mix_names();

/// What a matrix is, for the llama-quantize rules.
enum class MatrixRole : uint8_t { TokenEmbedding, Output, AttnV, FfnDown, Other };
/// The role and layer index (-1 when none) of a weight by its Hugging Face name
/// ("model.layers.3.self_attn.v_proj.weight" -> AttnV, 3; "lm_head.weight" -> Output;
/// "model.embed_tokens.weight" -> TokenEmbedding).
MatrixRole matrix_role(std::string_view hf_name, int& layer);

/// llama.cpp's use_more_bits(i, n): the layers whose attn_v / ffn_down the _M mixes widen.
bool use_more_bits(int i, int n);

/// The block type of one matrix with rows of `ncols` values under `mix` (see QuantMix), in a model
/// of `n_layers` layers; `tied` says the token embedding also serves as the output matrix.
/// nullopt: leave it unquantized (rows not a multiple of 32).
std::optional<DType> quant_mix_type(const QuantMix& mix, MatrixRole role, int layer, int n_layers,
                                    int64_t ncols, bool tied);

}  // namespace lazarus::io
