// Recurrent backbones (LSTM, GRU, minGRU): names and parameter counts from the config, the config
// rules name the field, the fused minGRU scan's gradient equals the composed per-step graph, the
// fused LSTM / GRU training path equals the composed per-step graph (loss, logits, every gradient,
// with padding), cache consistency (prompt then decode, chunked prefill = one full forward),
// padding (a left- or right-padded row equals the row alone, and decoding continues past right
// padding as if the row had none), recurrent blocks inside a hybrid stack, and a JSON config file
// alone runs.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "lazarus/blocks/recurrent_block.h"
#include "lazarus/components/recurrent.h"
#include "lazarus/core/error.h"
#include "lazarus/generation/generate.h"
#include "lazarus/models/causal_lm.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"
#include "tests/tensor/test_helpers.h"

using namespace lazarus;

namespace {

std::string json_for(const std::string& kind, const std::string& extra = "") {
  return R"({"backbone": {"type": "recurrent", "vocab_size": 53, "hidden_size": 24,
    "num_layers": 2, "block": {"type": "recurrent", "recurrent": {"type": ")" +
         kind + "\"" + extra + R"(}}}, "head": {"tie_word_embeddings": false}})";
}

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

std::unique_ptr<models::CausalLM> model(const std::string& kind, uint64_t seed,
                                        const std::string& extra = "") {
  auto m = std::make_unique<models::CausalLM>(
      config::ModelConfig::from_json_string(json_for(kind, extra)));
  m->init_weights(0.3, seed);
  return m;
}

const std::vector<std::string> kKinds = {"lstm", "gru", "mingru"};

}  // namespace

TEST(RecurrentConfig, NamesAndCountsFromConfig) {
  for (auto& kind : kKinds) {
    for (std::string extra :
         {std::string(""), std::string(R"(, "hidden_size": 40, "bias": false)")}) {
      auto cfg = config::ModelConfig::from_json_string(json_for(kind, extra));
      EXPECT_EQ(config::ModelConfig::from_json(cfg.to_json()), cfg);
      models::CausalLM m(cfg);
      EXPECT_EQ(m.num_parameters(), cfg.num_parameters()) << kind << extra;
      auto sd = m.state_dict();
      EXPECT_EQ(sd.count("model.embed_tokens.weight"), 1u);
      EXPECT_EQ(sd.count("model.layers.1.norm.weight"), 1u);
      EXPECT_EQ(sd.count("model.norm.weight"), 1u);
      const int64_t H = extra.empty() ? 24 : 40;
      if (kind == "mingru") {
        EXPECT_EQ(sd.at("model.layers.0.rnn.linear_z.weight").shape(), (Shape{H, 24}));
        EXPECT_EQ(sd.count("model.layers.0.rnn.linear_h.bias"), extra.empty() ? 1u : 0u);
      } else {
        int64_t G = (kind == "lstm" ? 4 : 3) * H;
        EXPECT_EQ(sd.at("model.layers.0.rnn.weight_ih").shape(), (Shape{G, 24}));
        EXPECT_EQ(sd.at("model.layers.0.rnn.weight_hh").shape(), (Shape{G, H}));
        EXPECT_EQ(sd.count("model.layers.0.rnn.bias_hh"), extra.empty() ? 1u : 0u);
      }
      EXPECT_EQ(sd.count("model.layers.0.rnn.out_proj.weight"), extra.empty() ? 0u : 1u);
    }
  }
  // PyTorch's nn.LSTM(24, 24) has 4*24*(24+24) + 8*24 parameters.
  auto c = config::ModelConfig::from_json_string(json_for("lstm"));
  EXPECT_EQ(c.backbone.block.num_parameters(24), 4 * 24 * 48 + 8 * 24 + 24);
}

TEST(RecurrentConfig, RulesNameTheField) {
  expect_error([] { config::ModelConfig::from_json_string(json_for("rnn")); },
               {"backbone.block.recurrent.type", "rnn", "lstm, gru, mingru"});
  expect_error([] { config::ModelConfig::from_json_string(json_for("gru", R"(, "width": 3)")); },
               {"backbone.block.recurrent", "width"});
  expect_error(
      [] {
        config::ModelConfig::from_json_string(json_for("gru", R"(, "hidden_size": -2)")).validate();
      },
      {"backbone.block.recurrent.hidden_size", "-2"});
  expect_error(
      [] {
        auto c = config::ModelConfig::from_json_string(json_for("gru"));
        c.backbone.block_overrides[1] = config::BlockConfig{};  // a transformer block
        c.backbone.block_overrides[1].ffn.intermediate_size = 8;
        c.validate();
      },
      {"backbone.block_overrides.1.type", "'transformer' blocks need a transformer backbone"});
  // A recurrent block carries no attention / ffn section.
  expect_error(
      [] {
        config::BlockConfig::from_json(
            config::Json::parse(R"({"type": "recurrent", "ffn": {"intermediate_size": 4}})"),
            "block");
      },
      {"block", "ffn"});
}

TEST(LinearRecurrence, MatchesComposedStepsAndGradients) {
  Generator gen(11);
  const int64_t B = 2, T = 6, H = 3;
  Tensor a = rand({B, T, H}, DType::F32, 0.1, 0.9, &gen),
         b = randn({B, T, H}, DType::F32, 0, 1, &gen);
  Tensor h0 = randn({B, H}, DType::F32, 0, 1, &gen), w = randn({B, T, H}, DType::F32, 0, 1, &gen);
  auto fused = value_and_grad(
      [&](const std::vector<Tensor>& p) {
        return sum(components::linear_recurrence(p[0], p[1], p[2]) * w);
      },
      {a, b, h0});
  auto composed = value_and_grad(
      [&](const std::vector<Tensor>& p) {
        Tensor h = p[2];
        std::vector<Tensor> hs;
        for (int64_t t = 0; t < T; ++t) {
          h = p[0].select(1, t) * h + p[1].select(1, t);
          hs.push_back(h);
        }
        return sum(stack(hs, 1) * w);
      },
      {a, b, h0});
  expect_close(fused.first, composed.first, 1e-5);
  for (int i = 0; i < 3; ++i) expect_close(fused.second[i], composed.second[i], 1e-5);
  EXPECT_THROW(components::linear_recurrence(a, b.narrow(1, 0, 2)), ShapeError);
}

TEST(RecurrentCache, DecodeAndChunkedPrefillMatchFullForward) {
  for (auto& kind : kKinds) {
    for (std::string extra : {std::string(""), std::string(R"(, "hidden_size": 16)")}) {
      SCOPED_TRACE(kind + extra);
      auto m = model(kind, 5, extra);
      NoGradGuard ng;
      Generator gen(3);
      Tensor ids = randint(0, 53, {2, 10}, &gen);
      Tensor full = m->forward(ids).logits;
      for (std::vector<int64_t> chunks :
           {std::vector<int64_t>{4, 1, 1, 1, 1, 1, 1}, std::vector<int64_t>{3, 5, 2},
            std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}) {
        auto cache = m->make_cache(2);
        int64_t at = 0;
        for (int64_t n : chunks) {
          expect_close(m->forward(ids.narrow(1, at, n), Tensor(), Tensor(), cache).logits,
                       full.narrow(1, at, n));
          at += n;
        }
        auto* rc = dynamic_cast<components::RecurrentCache*>(&cache->layer(1));
        ASSERT_NE(rc, nullptr);
        EXPECT_EQ(rc->length(), 10);
        // O(1) per token: the state is (B, H) whatever the length.
        EXPECT_EQ(rc->h().shape(), (Shape{2, extra.empty() ? 24 : 16}));
        EXPECT_EQ(rc->c().defined(), kind == "lstm");
      }
    }
  }
}

TEST(RecurrentPadding, PaddedRowsEqualRowsAlone) {
  for (auto& kind : kKinds) {
    SCOPED_TRACE(kind);
    auto m = model(kind, 6);
    NoGradGuard ng;
    Generator gen(8);
    Tensor a = randint(1, 53, {1, 7}, &gen), b = randint(1, 53, {1, 4}, &gen);
    Tensor alone_a = m->forward(a).logits, alone_b = m->forward(b).logits;
    Tensor next = from_vector(std::vector<int64_t>{5, 6}, {2, 1}, DType::I64);
    Tensor b_next = m->forward(cat({b, next.narrow(0, 1, 1)}, 1)).logits.narrow(1, 4, 1);
    Tensor pad = zeros({1, 3}, DType::I64);
    // Left padding: the padded steps leave the zero state unchanged.
    {
      Tensor ids = cat({a, cat({pad, b}, 1)}, 0);
      Tensor mask = from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1},
                                {2, 7}, DType::I64);
      auto cache = m->make_cache(2);
      Tensor batch = m->forward(ids, mask, Tensor(), cache).logits;
      expect_close(batch.narrow(0, 0, 1), alone_a);
      expect_close(batch.narrow(0, 1, 1).narrow(1, 3, 4), alone_b);
      expect_close(m->forward(next, Tensor(), Tensor(), cache).logits.narrow(0, 1, 1), b_next);
    }
    // Right padding: the state is not advanced past the last kept token, so decoding continues
    // the row as if it had no padding.
    {
      Tensor ids = cat({a, cat({b, pad}, 1)}, 0);
      Tensor mask = from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
                                {2, 7}, DType::I64);
      auto cache = m->make_cache(2);
      Tensor batch = m->forward(ids, mask, Tensor(), cache).logits;
      expect_close(batch.narrow(0, 0, 1), alone_a);
      expect_close(batch.narrow(0, 1, 1).narrow(1, 0, 4), alone_b);
      expect_close(m->forward(next, Tensor(), Tensor(), cache).logits.narrow(0, 1, 1), b_next);
    }
  }
}

TEST(RecurrentModel, ForwardBackwardAndGenerate) {
  for (auto& kind : kKinds) {
    SCOPED_TRACE(kind);
    auto m = model(kind, 7);
    Tensor ids = from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {1, 6}, DType::I64);
    auto out = m->forward(ids, Tensor(), ids, nullptr, true);
    EXPECT_EQ(out.hidden_states.size(), 3u);
    EXPECT_TRUE(std::isfinite(out.loss.item()));
    out.loss.backward();
    for (auto& [n, p] : m->named_parameters()) EXPECT_TRUE(p->grad().defined()) << n;
    NoGradGuard ng;
    generation::GenerationParams o;
    o.max_new_tokens = 4;
    o.include_prompt = true;
    std::vector<int64_t> got = generation::generate(*m, etest::rows(ids), o).tokens[0];
    ASSERT_EQ(got.size(), 10u);
    // Greedy decode with the state cache = argmax of full forwards over the growing sequence,
    // tie-aware: the cached path's logits are within 1e-4 of the full forward's (the bound the
    // cache tests above hold them to), so where the full forward's top two are within 2e-4 either
    // may be picked.
    std::vector<int64_t> prompt = ids.to_vector<int64_t>();
    EXPECT_EQ(std::vector<int64_t>(got.begin(), got.begin() + 6), prompt);
    auto full_next = [&](const std::vector<int64_t>& s) {
      Tensor l = m->forward(from_vector(s, {1, int64_t(s.size())}, DType::I64)).logits;
      return etest::values(l.narrow(1, l.size(1) - 1, 1).reshape({-1}));
    };
    EXPECT_TRUE(etest::greedy_within(full_next, prompt,
                                     std::vector<int64_t>(got.begin() + 6, got.end()), 2 * 1e-4));
  }
}

TEST(RecurrentModel, FusedTrainingPathEqualsComposedPerStepGraph) {
  // The fused LSTM / GRU sequence op against the per-step composed graph it replaced, through a
  // whole model with padding: loss, logits and every parameter's gradient.
  for (std::string kind : {"lstm", "gru"}) {
    for (std::string extra : {std::string(""), std::string(R"(, "hidden_size": 16)"),
                              std::string(R"(, "bias": false)")}) {
      SCOPED_TRACE(kind + extra);
      Generator gen(11);
      Tensor ids = randint(1, 53, {3, 23}, &gen);
      std::vector<int64_t> mv(3 * 23, 1);
      for (int64_t t = 0; t < 5; ++t) mv[t] = 0;         // row 0 left-padded
      for (int64_t t = 17; t < 23; ++t) mv[23 + t] = 0;  // row 1 right-padded
      Tensor mask = from_vector(mv, {3, 23}, DType::I64);
      Tensor labels = where(mask.to(DType::Bool), ids, full({3, 23}, -100.0, DType::I64));
      std::vector<Tensor> losses, logits;
      std::vector<std::vector<Tensor>> grads;
      for (bool composed : {false, true}) {
        auto m = model(kind, 13, extra);
        for (size_t l = 0; l < m->backbone->layers->size(); ++l)
          m->backbone->layer<blocks::RecurrentBlock>(l).rnn->use_composed_reference = composed;
        auto out = m->forward(ids, mask, labels);
        out.loss.backward();
        losses.push_back(out.loss.detach());
        logits.push_back(out.logits.detach());
        std::vector<Tensor> g;
        for (auto& [n, p] : m->named_parameters()) g.push_back(p->grad());
        grads.push_back(g);
      }
      // Bounds from the arithmetic (etest::gamma_n; the recurrence's chain as derived in
      // tests/tensor/test_recurrent_sequence.cpp: T (H + 75) roundings, carried errors adding up).
      // Per layer: the norm (D), the input projection (D + 1), the recurrence, the output
      // projection (H); then the final norm and the head (2 D). Logits: twice gamma(chain) of
      // max(1, max|logit|). The mean cross-entropy moves by at most 2 max|d logit| (its log-sum-exp
      // by the max, the target's logit by as much), plus its own sum and exp/log roundings
      // (V + 2 EXP + B T, EXP = 7 as in tests/reference/tolerances.py) per path. Gradients: the
      // backward runs the chain again, through time every step carries all later ones (another
      // factor T on the recurrence), and a weight's gradient sums over the B T tokens.
      const auto bb = config::ModelConfig::from_json_string(json_for(kind, extra)).backbone;
      const double D = double(bb.hidden_size), L = double(bb.num_layers);
      const double H = double(bb.block.recurrent.resolved_hidden_size(bb.hidden_size));
      const double V = double(bb.embedding.vocab_size), T = 23, B = 3, rec = T * (H + 75);
      const double chain = L * (2 * D + 1 + rec + H) + 2 * D;
      const double grad_chain = 2 * chain + L * T * rec + B * T;
      auto scale = [](const Tensor& t) {
        double m = 1;
        for (double v : etest::values(t)) m = std::max(m, std::fabs(v));
        return m;
      };
      const double logit_tol = 2 * etest::gamma_n(chain) * scale(logits[1]);
      EXPECT_NEAR(losses[0].item(), losses[1].item(),
                  2 * logit_tol + 2 * etest::gamma_n(V + 2 * 7 + B * T) * scale(losses[1]));
      expect_close(logits[0], logits[1], logit_tol);
      ASSERT_EQ(grads[0].size(), grads[1].size());
      for (size_t i = 0; i < grads[0].size(); ++i) {
        ASSERT_TRUE(grads[0][i].defined() && grads[1][i].defined()) << i;
        expect_close(grads[0][i], grads[1][i], 2 * etest::gamma_n(grad_chain) * scale(grads[1][i]));
      }
    }
  }
}

TEST(RecurrentModel, RecurrentBlocksInAHybridStack) {
  auto cfg = config::ModelConfig::from_json_string(R"({"backbone": {"type": "hybrid",
    "vocab_size": 40, "hidden_size": 16, "num_layers": 3, "layout": "alternating",
    "block": {"type": "recurrent", "recurrent": {"type": "gru"}},
    "secondary_block": {"type": "transformer",
      "attention": {"num_attention_heads": 2, "num_key_value_heads": 2},
      "ffn": {"intermediate_size": 24}}}})");
  models::CausalLM m(cfg);
  m.init_weights(0.3, 2);
  EXPECT_EQ(m.num_parameters(), cfg.num_parameters());
  NoGradGuard ng;
  Generator gen(4);
  Tensor ids = randint(0, 40, {2, 8}, &gen);
  Tensor full = m.forward(ids).logits;
  auto cache = m.make_cache(2);
  expect_close(m.forward(ids.narrow(1, 0, 5), Tensor(), Tensor(), cache).logits,
               full.narrow(1, 0, 5));
  for (int64_t t = 5; t < 8; ++t)
    expect_close(m.forward(ids.narrow(1, t, 1), Tensor(), Tensor(), cache).logits,
                 full.narrow(1, t, 1));
}

TEST(RecurrentModel, JsonConfigFileAloneRuns) {
  // The example config shipped for `lazarus info --config` (docs/models.md).
  std::ifstream in(std::string(LAZARUS_SOURCE_DIR) + "/examples/configs/recurrent_tiny.json");
  ASSERT_TRUE(in.good());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto cfg = config::ModelConfig::from_json_string(text);
  models::CausalLM m(cfg);
  EXPECT_EQ(m.num_parameters(), cfg.num_parameters());
  Tensor ids = from_vector(std::vector<int64_t>{3, 1, 4, 1, 5}, {1, 5}, DType::I64);
  auto out = m.forward(ids, Tensor(), ids);
  EXPECT_TRUE(std::isfinite(out.loss.item()));
  NoGradGuard ng;
  generation::GenerationParams o;
  o.max_new_tokens = 3;
  EXPECT_EQ(generation::generate(m, etest::rows(ids), o).tokens[0].size(), 3u);
}
