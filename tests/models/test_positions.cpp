// Position embeddings beyond RoPE (learned, sinusoidal, ALiBi) and Gemma's RMSNorm: config rules
// name the field; names and parameter counts; cache consistency (prompt then decode, chunked
// prefill = full forward); left- and right-padded rows equal the row alone; ALiBi's key-only bias
// keeps the fused attention path and agrees with the composed one. PyTorch parity of the same
// models is models.positions_torch_parity.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "lazarus/components/positions.h"
#include "lazarus/core/error.h"
#include "lazarus/models/causal_lm.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

using namespace lazarus;

namespace {

void expect_close(const Tensor& a, const Tensor& b, double tol = 1e-4) {
  ASSERT_EQ(a.shape(), b.shape());
  auto x = a.contiguous().to_vector<float>(), y = b.contiguous().to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, double(std::abs(x[i] - y[i])));
  EXPECT_LE(worst, tol);
}

void expect_error(const std::function<void()>& fn, std::vector<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    std::string w = e.what();
    for (auto& n : needles) EXPECT_NE(w.find(n), std::string::npos) << "'" << w << "' lacks " << n;
  }
}

// A tiny transformer with the given position type and norm; 6 heads (not a power of two) over 3
// KV heads so ALiBi exercises the non-power-of-two slopes.
std::string json(const std::string& position, const std::string& norm = "rms_norm",
                 const std::string& extra_attn = "") {
  return fmt::format(R"({{"backbone": {{"embedding": {{"vocab_size": 53,
      "max_position_embeddings": 32}}, "hidden_size": 24, "num_layers": 2,
      "block": {{"attention": {{"type": "grouped_query", "num_attention_heads": 6,
                               "num_key_value_heads": 3, "position": {{"type": "{}"}} {}}},
                "ffn": {{"intermediate_size": 40}}, "norm": {{"type": "{}"}}}},
      "final_norm": {{"type": "{}"}}}},
    "head": {{"tie_word_embeddings": false}}}})",
                     position, extra_attn, norm, norm);
}

std::unique_ptr<models::CausalLM> model(const std::string& text, uint64_t seed) {
  auto m = std::make_unique<models::CausalLM>(config::ModelConfig::from_json_string(text));
  m->init_weights(0.3, seed);
  return m;
}

struct Variant {
  std::string name, text;
};

std::vector<Variant> variants() {
  return {{"learned", json("learned")},
          {"sinusoidal", json("sinusoidal", "gemma_rms_norm")},
          {"alibi", json("alibi")},
          {"alibi_window", json("alibi", "gemma_rms_norm", R"(, "sliding_window": 3)")}};
}

}  // namespace

TEST(Positions, AlibiSlopesFollowThePaper) {
  // n a power of two: the geometric sequence 2^(-8/n), 2^(-16/n), ...
  auto s8 = components::alibi_slopes(8);
  ASSERT_EQ(s8.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_DOUBLE_EQ(s8[i], std::pow(2.0, -(i + 1)));
  // Otherwise: the closest lower power of two's slopes, then every other slope of twice as many.
  auto s6 = components::alibi_slopes(6), s4 = components::alibi_slopes(4);
  ASSERT_EQ(s6.size(), 6u);
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(s6[i], s4[i]);
  EXPECT_DOUBLE_EQ(s6[4], s8[0]);
  EXPECT_DOUBLE_EQ(s6[5], s8[2]);
  EXPECT_EQ(components::alibi_slopes(1), std::vector<double>{std::pow(2.0, -8.0)});
  EXPECT_THROW(components::alibi_slopes(0), ConfigError);
}

TEST(Positions, AlibiBiasIsKeyOnlyAndStandardSign) {
  auto slopes = components::alibi_slopes(4);
  // No padding: (1, H, 1, Tk), 0 for the newest key, -slope * distance for older ones.
  Tensor b = components::alibi_bias(slopes, Tensor(), 5, DType::F32);
  ASSERT_EQ(b.shape(), (Shape{1, 4, 1, 5}));
  auto v = b.to_vector<float>();
  for (int h = 0; h < 4; ++h)
    for (int j = 0; j < 5; ++j) EXPECT_FLOAT_EQ(v[h * 5 + j], float(-slopes[h] * (4 - j)));
  // Padding: distances count kept tokens (positions given per key).
  Tensor kp = from_vector(std::vector<int64_t>{0, 0, 0, 1, 2}, {1, 5}, DType::I64);
  auto w = components::alibi_bias(slopes, kp, 5, DType::F32).to_vector<float>();
  EXPECT_FLOAT_EQ(w[3], float(-slopes[0]));
  EXPECT_FLOAT_EQ(w[4], 0.0f);
}

TEST(Positions, SinusoidalTableIsTheTransformerPaper) {
  Tensor pos = from_vector(std::vector<int64_t>{0, 3, 17}, {3}, DType::I64);
  auto t = components::sinusoidal_embedding(pos, 6).to_vector<float>();
  for (int p = 0; p < 3; ++p) {
    double P = std::vector<double>{0, 3, 17}[p];
    for (int i = 0; i < 3; ++i) {
      double a = P / std::pow(10000.0, 2.0 * i / 6.0);
      EXPECT_NEAR(t[p * 6 + 2 * i], std::sin(a), 1e-6);
      EXPECT_NEAR(t[p * 6 + 2 * i + 1], std::cos(a), 1e-6);
    }
  }
}

TEST(Positions, NamesCountsAndConfigRules) {
  auto learned = config::ModelConfig::from_json_string(json("learned"));
  models::CausalLM m(learned);
  EXPECT_EQ(m.num_parameters(), learned.num_parameters());
  auto sd = m.state_dict();
  ASSERT_EQ(sd.count("model.embed_positions.weight"), 1u);
  EXPECT_EQ(sd["model.embed_positions.weight"].shape(), (Shape{32, 24}));
  // Sinusoidal and ALiBi add no parameters.
  for (const char* p : {"sinusoidal", "alibi"}) {
    auto c = config::ModelConfig::from_json_string(json(p));
    models::CausalLM mm(c);
    EXPECT_EQ(mm.num_parameters(), c.num_parameters());
    EXPECT_EQ(c.num_parameters(), learned.num_parameters() - 32 * 24) << p;
  }
  EXPECT_EQ(config::ModelConfig::from_json(learned.to_json()), learned);
  auto gemma = config::ModelConfig::from_json_string(json("alibi", "gemma_rms_norm"));
  EXPECT_EQ(config::ModelConfig::from_json(gemma.to_json()), gemma);
  EXPECT_EQ(gemma.backbone.final_norm.type, config::NormType::GemmaRMSNorm);
  expect_error([] { config::ModelConfig::from_json_string(json("alibi", "gemma")); },
               {"backbone.block.norm.type", "gemma", "gemma_rms_norm"});
  expect_error(
      [] { config::ModelConfig::from_json_string(json("absolute")); },
      {"backbone.block.attention.position.type", "absolute", "learned, sinusoidal, alibi"});
  // An absolute table is added once at the input: every attention layer must name it.
  auto mixed = learned;
  mixed.backbone.block_overrides[1] = mixed.backbone.block;
  mixed.backbone.block_overrides[1].attention.position.type = config::PositionEmbeddingType::RoPE;
  expect_error([&] { mixed.validate(); },
               {"backbone.block_overrides.1.attention.position.type", "'rope'", "learned"});
  mixed.backbone.block_overrides[1].attention.position.type = config::PositionEmbeddingType::ALiBi;
  expect_error([&] { mixed.validate(); }, {"backbone.block_overrides.1.attention.position.type"});
  // RoPE and ALiBi per layer may mix (both act inside attention).
  mixed.backbone.block.attention.position.type = config::PositionEmbeddingType::RoPE;
  EXPECT_NO_THROW(mixed.validate());
  EXPECT_EQ(mixed.backbone.input_position(), config::PositionEmbeddingType::None);
}

TEST(Positions, LearnedTableBoundIsAnError) {
  auto m = model(json("learned"), 1);
  NoGradGuard ng;
  Tensor ids = zeros({1, 33}, DType::I64);
  try {
    m->forward(ids);
    ADD_FAILURE() << "no error";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("max_position_embeddings 32"), std::string::npos)
        << e.what();
  }
  // Sinusoidal has no table bound (the cache still bounds a decode).
  auto s = model(json("sinusoidal"), 1);
  EXPECT_EQ(s->forward(ids).logits.size(1), 33);
}

TEST(Positions, GemmaNormScalesByOnePlusWeight) {
  config::NormConfig c{config::NormType::GemmaRMSNorm, 1e-6, false};
  components::Norm n(4, c);
  EXPECT_EQ(n.weight.to_vector<float>(), std::vector<float>(4, 0.0f));  // identity at 0
  n.weight = from_vector(std::vector<float>{0.5f, -1.0f, 0.0f, 2.0f}, {4});
  Tensor x = from_vector(std::vector<float>{1, 2, 3, 4}, {1, 4});
  auto y = n.forward(x).to_vector<float>();
  double rms = std::sqrt((1 + 4 + 9 + 16) / 4.0 + 1e-6);
  std::vector<double> w = {1.5, 0.0, 1.0, 3.0};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[i], (i + 1) / rms * w[i], 1e-5);
  // bf16 input: computed in f32, rounded once to bf16.
  Tensor yb = n.forward(x.to(DType::BF16));
  EXPECT_EQ(yb.dtype(), DType::BF16);
  expect_close(yb.to(DType::F32), n.forward(x), 2e-2);
  // init_weights puts Gemma norms at their identity (0), others at 1.
  auto m = model(json("alibi", "gemma_rms_norm"), 2);
  EXPECT_EQ(m->state_dict()["model.norm.weight"].to_vector<float>(), std::vector<float>(24, 0.0f));
}

TEST(Positions, DecodeAndChunkedPrefillMatchFullForward) {
  for (auto& v : variants()) {
    SCOPED_TRACE(v.name);
    auto m = model(v.text, 5);
    NoGradGuard ng;
    Generator gen(3);
    Tensor ids = randint(0, 53, {2, 10}, &gen);
    Tensor full = m->forward(ids).logits;
    for (std::vector<int64_t> chunks :
         {std::vector<int64_t>{4, 1, 1, 1, 1, 1, 1}, std::vector<int64_t>{3, 5, 2}}) {
      auto cache = m->make_cache(2);
      int64_t at = 0;
      for (int64_t n : chunks) {
        expect_close(m->forward(ids.narrow(1, at, n), Tensor(), Tensor(), cache).logits,
                     full.narrow(1, at, n));
        at += n;
      }
    }
  }
}

TEST(Positions, PaddedRowsEqualRowAlone) {
  for (auto& v : variants()) {
    SCOPED_TRACE(v.name);
    auto m = model(v.text, 6);
    NoGradGuard ng;
    Generator gen(8);
    Tensor a = randint(0, 53, {1, 7}, &gen), b = randint(0, 53, {1, 4}, &gen);
    Tensor alone_a = m->forward(a).logits, alone_b = m->forward(b).logits;
    Tensor pad = zeros({1, 3}, DType::I64);
    // Left padding, then decoding one more token per row.
    Tensor ids = cat({a, cat({pad, b}, 1)}, 0);
    Tensor mask = from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1},
                              {2, 7}, DType::I64);
    auto cache = m->make_cache(2);
    Tensor batch = m->forward(ids, mask, Tensor(), cache).logits;
    expect_close(batch.narrow(0, 0, 1), alone_a);
    expect_close(batch.narrow(0, 1, 1).narrow(1, 3, 4), alone_b);
    Tensor next = from_vector(std::vector<int64_t>{5, 6}, {2, 1}, DType::I64);
    Tensor step = m->forward(next, Tensor(), Tensor(), cache).logits;
    expect_close(step.narrow(0, 1, 1),
                 m->forward(cat({b, next.narrow(0, 1, 1)}, 1)).logits.narrow(1, 4, 1));
    expect_close(step.narrow(0, 0, 1),
                 m->forward(cat({a, next.narrow(0, 0, 1)}, 1)).logits.narrow(1, 7, 1));
    // Right padding.
    Tensor rids = cat({a, cat({b, pad}, 1)}, 0);
    Tensor rmask = from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
                               {2, 7}, DType::I64);
    Tensor rb = m->forward(rids, rmask).logits;
    expect_close(rb.narrow(0, 0, 1), alone_a);
    expect_close(rb.narrow(0, 1, 1).narrow(1, 0, 4), alone_b);
  }
}

TEST(Positions, AlibiFusedPathMatchesComposedAndGradientsFlow) {
  // Without gradients attention runs the fused kernel with the (B, H, 1, Tk) bias; with
  // gradients the composed reference (which forms Tq x Tk). Both must agree.
  auto m = model(json("alibi", "gemma_rms_norm"), 9);
  Generator gen(4);
  Tensor ids = randint(0, 53, {2, 9}, &gen);
  Tensor mask =
      from_vector(std::vector<int64_t>{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                  {2, 9}, DType::I64);
  Tensor fused;
  {
    NoGradGuard ng;
    fused = m->forward(ids, mask).logits;
  }
  auto out = m->forward(ids, mask, ids);
  expect_close(out.logits.detach(), fused, 1e-4);
  out.loss.backward();
  for (auto& [n, p] : m->named_parameters()) EXPECT_TRUE(p->grad().defined()) << n;
}
