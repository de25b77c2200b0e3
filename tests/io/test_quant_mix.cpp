// Quantization recipes: llama-quantize's per-tensor rule (use_more_bits, the _M / _S bumps, the
// output matrix, fallbacks) on a hand-worked layer table, and quantize_weights applying it to a
// model by its module names.
#include <gtest/gtest.h>

#include "lazarus/families/llama/llama.h"
#include "lazarus/io/model_folder.h"
#include "lazarus/io/quant_mix.h"
#include "lazarus/tensor/autograd.h"

using namespace lazarus;
using namespace lazarus::io;

namespace {

QuantMix mix(const char* name) {
  auto m = quant_mix_from_string(name);
  EXPECT_TRUE(m.has_value()) << name;
  return m.value_or(QuantMix(DType::Q8_0));
}

}  // namespace

// use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2, worked by hand.
TEST(QuantMix, UseMoreBitsPicksLlamaCppsLayers) {
  auto layers = [](int n) {
    std::vector<int> out;
    for (int i = 0; i < n; ++i)
      if (use_more_bits(i, n)) out.push_back(i);
    return out;
  };
  EXPECT_EQ(layers(16), (std::vector<int>{0, 1, 4, 7, 10, 13, 14, 15}));  // n/8 = 2, 7n/8 = 14
  EXPECT_EQ(layers(8), (std::vector<int>{0, 3, 6, 7}));                  // n/8 = 1, 7n/8 = 7
  EXPECT_EQ(layers(2), (std::vector<int>{1}));  // n/8 = 0, 7n/8 = 1: (0 - 0) % 3 != 2
  EXPECT_EQ(layers(22).size(), 10u);            // TinyLlama: 0,1,4,7,10,13,16,19,20,21
}

TEST(QuantMix, NamesRolesAndTypes) {
  EXPECT_FALSE(quant_mix_from_string("q3_K_M").has_value());
  EXPECT_FALSE(quant_mix_from_string("f16").has_value());
  EXPECT_EQ(mix("Q4_K_M").name, "q4_K_M");
  EXPECT_TRUE(mix("q4_k_m").llama_rules);
  EXPECT_FALSE(mix("q4_K").llama_rules);
  int layer = 0;
  EXPECT_EQ(matrix_role("model.layers.12.self_attn.v_proj.weight", layer), MatrixRole::AttnV);
  EXPECT_EQ(layer, 12);
  EXPECT_EQ(matrix_role("model.layers.3.mlp.down_proj", layer), MatrixRole::FfnDown);
  EXPECT_EQ(layer, 3);
  EXPECT_EQ(matrix_role("lm_head.weight", layer), MatrixRole::Output);
  EXPECT_EQ(layer, -1);
  EXPECT_EQ(matrix_role("model.embed_tokens", layer), MatrixRole::TokenEmbedding);
  EXPECT_EQ(matrix_role("model.layers.0.self_attn.q_proj", layer), MatrixRole::Other);

  const auto V = MatrixRole::AttnV, D = MatrixRole::FfnDown, O = MatrixRole::Output,
             E = MatrixRole::TokenEmbedding, X = MatrixRole::Other;
  // q4_K_M, 8 layers: output q6_K; attn_v / ffn_down of layers 0, 3, 6, 7 q6_K; the rest q4_K.
  EXPECT_EQ(quant_mix_type(mix("q4_K_M"), O, -1, 8, 256, false), DType::Q6_K);
  EXPECT_EQ(quant_mix_type(mix("q4_K_M"), E, -1, 8, 256, false), DType::Q4_K);
  EXPECT_EQ(quant_mix_type(mix("q4_K_M"), E, -1, 8, 256, true), DType::Q6_K);  // tied: output
  for (int i = 0; i < 8; ++i) {
    const DType want = (i == 0 || i == 3 || i == 6 || i == 7) ? DType::Q6_K : DType::Q4_K;
    EXPECT_EQ(quant_mix_type(mix("q4_K_M"), V, i, 8, 256, false), want) << i;
    EXPECT_EQ(quant_mix_type(mix("q4_K_M"), D, i, 8, 512, false), want) << i;
    EXPECT_EQ(quant_mix_type(mix("q4_K_M"), X, i, 8, 256, false), DType::Q4_K) << i;
    EXPECT_EQ(quant_mix_type(mix("q5_K_M"), V, i, 8, 256, false),
              want == DType::Q6_K ? DType::Q6_K : DType::Q5_K) << i;
    // q4_K_S: attn_v of layers < 4 and ffn_down of layers < 8/8 in q5_K; q5_K_S: no bumps.
    EXPECT_EQ(quant_mix_type(mix("q4_K_S"), V, i, 8, 256, false), i < 4 ? DType::Q5_K : DType::Q4_K);
    EXPECT_EQ(quant_mix_type(mix("q4_K_S"), D, i, 8, 256, false), i < 1 ? DType::Q5_K : DType::Q4_K);
    EXPECT_EQ(quant_mix_type(mix("q5_K_S"), V, i, 8, 256, false), DType::Q5_K);
    // Pure types ignore roles.
    EXPECT_EQ(quant_mix_type(mix("q4_K"), V, i, 8, 256, false), DType::Q4_K);
  }
  EXPECT_EQ(quant_mix_type(mix("q4_0"), O, -1, 8, 256, false), DType::Q4_0);
  // Fallbacks: rows not a multiple of 256 -> q8_0 (output and K types alike); of 32 -> none.
  EXPECT_EQ(quant_mix_type(mix("q4_K_M"), O, -1, 8, 96, false), DType::Q8_0);
  EXPECT_EQ(quant_mix_type(mix("q4_K_M"), X, 0, 8, 96, false), DType::Q8_0);
  EXPECT_EQ(quant_mix_type(mix("q6_K"), X, 0, 8, 288, false), DType::Q8_0);
  EXPECT_EQ(quant_mix_type(mix("q4_K_M"), X, 0, 8, 100, false), std::nullopt);
  EXPECT_EQ(quant_mix_type(mix("q4_0"), X, 0, 8, 100, false), std::nullopt);
  EXPECT_THROW(QuantMix(DType::F16), DTypeError);
}

// quantize_weights on a Llama of 8 layers whose matrices are multiples of 256 wide (hidden 256,
// intermediate 512), untied and tied.
TEST(QuantMix, QuantizeWeightsFollowsTheMix) {
  for (bool tied : {false, true}) {
    families::LlamaConfig c = families::LlamaConfig::tiny();
    c.vocab_size = 40, c.hidden_size = 256, c.intermediate_size = 512, c.num_hidden_layers = 8;
    c.num_attention_heads = 4, c.num_key_value_heads = 2, c.tie_word_embeddings = tied;
    families::LlamaForCausalLM m(c);
    const int n = quantize_weights(m, mix("q4_K_M"));
    EXPECT_EQ(n, 8 * 7 + 1 + (tied ? 0 : 1));
    for (const auto& [name, t] : m.state_dict()) {
      int layer = -1;
      const MatrixRole role = matrix_role(name, layer);
      DType want = DType::Q4_K;
      if (name.find("norm") != std::string::npos) want = DType::F32;
      else if (role == MatrixRole::Output || (tied && role == MatrixRole::TokenEmbedding)) want = DType::Q6_K;
      else if ((role == MatrixRole::AttnV || role == MatrixRole::FfnDown) &&
               (layer == 0 || layer == 3 || layer == 6 || layer == 7))
        want = DType::Q6_K;
      EXPECT_EQ(t.dtype(), want) << name << (tied ? " (tied)" : "");
    }
    NoGradGuard ng;
    Tensor ids = from_vector<int64_t>({1, 5, 9}, {1, 3}, DType::I64);
    Tensor logits = m.forward(ids).logits;
    EXPECT_EQ(logits.shape(), (Shape{1, 3, 40}));
  }
}
