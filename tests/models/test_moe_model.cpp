// Mixture-of-experts FFNs: names and parameter counts from the config (experts and router), a
// one-expert mixture equals the dense FFN with the same weights, top-k selection, the
// load-balancing loss on hand-made routings, the training loss = next-token loss + coef * aux loss
// and every parameter trained, cache consistency (decode / chunked prefill = full forward), a
// left-padded row equals the row alone, MoE in a hybrid block, and a JSON config file alone runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "lazarus/components/ffn.h"
#include "lazarus/core/error.h"
#include "lazarus/generation/generate.h"
#include "lazarus/losses/losses.h"
#include "lazarus/models/causal_lm.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"
#include "tests/tensor/test_helpers.h"

using namespace lazarus;

namespace {

const char* kJson = R"({"backbone": {"type": "transformer", "vocab_size": 57, "hidden_size": 16,
  "num_layers": 2, "max_position_embeddings": 64,
  "block": {"attention": {"type": "grouped_query", "num_attention_heads": 4, "num_key_value_heads": 2},
            "ffn": {"type": "swiglu", "intermediate_size": 12, "num_experts": 4,
                    "num_experts_per_tok": 2, "router_aux_loss_coef": 0.05}}},
  "head": {"tie_word_embeddings": false}})";

void expect_close(const Tensor& a, const Tensor& b, double tol = 1e-4) {
  ASSERT_EQ(a.shape(), b.shape());
  auto x = a.contiguous().to_vector<float>(), y = b.contiguous().to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, double(std::abs(x[i] - y[i])));
  EXPECT_LE(worst, tol);
}

// The bound expect_close holds two paths' logits to (cached vs full forward, padded row vs the row
// alone); the router logits lie earlier along the same chain of roundings, at the same scale (the
// router weights are drawn as the head's), so the paths' router logits are within it too.
constexpr double kTol = 1e-4;

// Top-k routing is discontinuous: where a token's k-th and (k+1)-th router logits are within
// 2 kTol, two paths whose router logits differ by up to kTol may pick different experts, and then
// that position legitimately differs from that layer on, and so does every later position of its
// row from the next layer on (through attention). Per row and position of `ref` (the router logits
// (B * T, E) of each MoE layer, in layer order, on the reference path; every layer is MoE here):
// whether it is compared, i.e. not downstream of such a near-tie. Where routing is decided by more
// than 2 kTol both paths must route alike, so everything else is held to kTol.
std::vector<std::vector<bool>> compared(const std::vector<Tensor>& ref, int64_t B, int64_t T,
                                        int64_t k) {
  std::vector<std::vector<bool>> keep(size_t(B), std::vector<bool>(size_t(T), true));
  for (size_t l = 0; l < ref.size(); ++l) {
    const int64_t E = ref[l].size(1);
    std::vector<float> v = ref[l].contiguous().to_vector<float>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) {
        std::vector<float> row(v.begin() + (b * T + t) * E, v.begin() + (b * T + t + 1) * E);
        std::sort(row.rbegin(), row.rend());
        if (row[size_t(k - 1)] - row[size_t(k)] > 2 * kTol) continue;
        const bool last_layer = l + 1 == ref.size();  // later positions never see its output
        for (int64_t u = t; u < (last_layer ? t + 1 : T); ++u) keep[size_t(b)][size_t(u)] = false;
      }
  }
  // The data must leave most of the test standing (a near-tie early in a row would not).
  int64_t kept = 0;
  for (auto& row : keep) kept += std::count(row.begin(), row.end(), true);
  EXPECT_GT(2 * kept, B * T) << "near-ties in routing leave too little to compare: another seed";
  return keep;
}

// expect_close over the positions `keep` marks: x and y are (B, n, X) for positions [at, at + n)
// of rows `rows` (keep's row index of each of x's rows).
void expect_close_kept(const Tensor& x, const Tensor& y, const std::vector<std::vector<bool>>& keep,
                       std::vector<size_t> rows, int64_t at) {
  ASSERT_EQ(x.shape(), y.shape());
  const int64_t n = x.size(1), X = x.size(2);
  auto a = x.contiguous().to_vector<float>(), b = y.contiguous().to_vector<float>();
  double worst = 0;
  for (size_t r = 0; r < rows.size(); ++r)
    for (int64_t t = 0; t < n; ++t) {
      if (!keep[rows[r]][size_t(at + t)]) continue;
      for (int64_t j = 0; j < X; ++j) {
        const size_t i = (r * size_t(n) + size_t(t)) * size_t(X) + size_t(j);
        worst = std::max(worst, double(std::abs(a[i] - b[i])));
      }
    }
  EXPECT_LE(worst, kTol);
}

// (B * n, E) router logits of one call as (B, n, E).
Tensor by_row(const Tensor& r, int64_t B) { return r.reshape({B, -1, r.size(1)}); }

std::unique_ptr<models::CausalLM> model(uint64_t seed) {
  auto m = std::make_unique<models::CausalLM>(config::ModelConfig::from_json_string(kJson));
  m->init_weights(0.3, seed);
  return m;
}

}  // namespace

TEST(MoEConfig, NamesAndCountsIncludeExperts) {
  auto cfg = config::ModelConfig::from_json_string(kJson);
  EXPECT_EQ(config::ModelConfig::from_json(cfg.to_json()), cfg);
  models::CausalLM m(cfg);
  EXPECT_EQ(m.num_parameters(), cfg.num_parameters());
  const int64_t D = 16, I = 12, E = 4;
  EXPECT_EQ(cfg.backbone.block.ffn.num_parameters(D), E * 3 * D * I + D * E);
  auto sd = m.state_dict();
  EXPECT_EQ(sd.at("model.layers.0.mlp.gate.weight").shape(), (Shape{E, D}));
  EXPECT_EQ(sd.at("model.layers.1.mlp.experts.3.down_proj.weight").shape(), (Shape{D, I}));
  EXPECT_EQ(sd.count("model.layers.0.mlp.up_proj.weight"), 0u);  // no dense FFN beside them
  // A dense config keeps its JSON form (no MoE keys) and its count.
  auto dense = config::with(cfg, [](auto& c) { c.backbone.block.ffn.num_experts = 0; });
  EXPECT_FALSE(dense.to_json()["backbone"]["block"]["ffn"].contains("num_experts"));
  EXPECT_EQ(dense.backbone.block.ffn.num_parameters(D), 3 * D * I);
}

TEST(MoEFFN, OneExpertEqualsTheDenseFFN) {
  config::FFNConfig dense_cfg{config::FFNType::SwiGLU, config::ActivationType::SiLU, 10, true};
  config::FFNConfig moe_cfg = dense_cfg;
  moe_cfg.num_experts = 1;
  moe_cfg.num_experts_per_tok = 1;
  components::FeedForward dense(8, dense_cfg), moe(8, moe_cfg);
  auto sd = moe.state_dict();
  for (auto& [n, t] : dense.state_dict()) sd.at("experts.0." + n) = t;
  moe.load_state_dict(sd);
  Generator gen(1);
  Tensor x = randn({2, 5, 8}, DType::F32, 0, 1, &gen);
  Tensor logits;
  expect_close(moe.forward(x, &logits), dense.forward(x), 1e-5);
  EXPECT_EQ(logits.shape(), (Shape{10, 1}));
}

TEST(MoEFFN, TopKAndLoadBalancingLoss) {
  Tensor p = from_vector(std::vector<float>{0.1f, 0.5f, 0.4f, 0.3f, 0.3f, 0.4f}, {2, 3});
  EXPECT_EQ(components::top_k_indices(p, 2).to_vector<int64_t>(),
            (std::vector<int64_t>{1, 2, 2, 0}));  // ties: the lower index first
  EXPECT_THROW(components::top_k_indices(p, 4), ShapeError);
  // Uniform routers: P_e = 1/E, top-2 picks experts 0 and 1 for every token: E * (1/E) * 2 = 2.
  Tensor uniform = zeros({6, 4});
  EXPECT_NEAR(components::load_balancing_loss({uniform, uniform}, 4, 2).item(), 2.0, 1e-6);
  // One-hot routing of 2 tokens to experts 0 and 1 (E = 2, k = 1) with p ~ (1, 0) and (0, 1):
  // f = (1/2, 1/2), P = (1/2, 1/2) -> 2 * (1/4 + 1/4) = 1 (perfect balance).
  Tensor l = from_vector(std::vector<float>{30, 0, 0, 30}, {2, 2});
  EXPECT_NEAR(components::load_balancing_loss({l}, 2, 1).item(), 1.0, 1e-6);
  // Masking the second token leaves only the first: f = (1, 0), P = (1, 0) -> 2.
  Tensor mask = from_vector(std::vector<int64_t>{1, 0}, {1, 2}, DType::I64);
  EXPECT_NEAR(components::load_balancing_loss({l}, 2, 1, mask).item(), 2.0, 1e-6);
}

TEST(MoEModel, LossAddsCoefTimesAuxAndTrainsEveryParameter) {
  auto m = model(3);
  Generator gen(5);
  Tensor ids = randint(0, 57, {2, 24}, &gen);
  auto out = m->forward(ids, Tensor(), ids, nullptr, true);
  ASSERT_TRUE(out.aux_loss.defined());
  EXPECT_GE(out.aux_loss.item(), 1.0 - 1e-5);  // the loss is >= 1 (perfect balance = 1)
  Tensor ce = losses::causal_lm_loss(out.logits, ids);
  EXPECT_NEAR(out.loss.item(), ce.item() + 0.05 * out.aux_loss.item(), 1e-5);
  out.loss.backward();
  for (auto& [n, p] : m->named_parameters()) EXPECT_TRUE(p->grad().defined()) << n;
  // The trainers' fused-head loss includes the same auxiliary term.
  EXPECT_NEAR(m->loss(ids, ids).item(), out.loss.item(), 1e-5);
  // A dense model has no aux loss.
  auto dense = config::with(config::ModelConfig::from_json_string(kJson),
                            [](auto& c) { c.backbone.block.ffn.num_experts = 0; });
  models::CausalLM dm(dense);
  EXPECT_FALSE(dm.forward(ids, Tensor(), ids).aux_loss.defined());
}

TEST(MoECache, DecodeAndChunkedPrefillMatchFullForward) {
  auto m = model(4);
  NoGradGuard ng;
  Generator gen(6);
  Tensor ids = randint(0, 57, {2, 10}, &gen);
  Tensor full = m->forward(ids).logits;
  auto full_router = m->backbone->forward(ids).router_logits;
  ASSERT_EQ(full_router.size(), 2u);
  const auto keep = compared(full_router, 2, 10, 2);  // top 2 of 4
  for (std::vector<int64_t> chunks :
       {std::vector<int64_t>{4, 1, 1, 1, 1, 1, 1}, std::vector<int64_t>{3, 5, 2}}) {
    // The model's cached calls, and the same calls on the backbone alone (a second cache) for
    // their router logits.
    auto cache = m->make_cache(2), cache2 = m->make_cache(2);
    int64_t at = 0;
    for (int64_t n : chunks) {
      SCOPED_TRACE("from " + std::to_string(at));
      Tensor step = m->forward(ids.narrow(1, at, n), Tensor(), Tensor(), cache).logits;
      expect_close_kept(step, full.narrow(1, at, n), keep, {0, 1}, at);
      auto router =
          m->backbone->forward(ids.narrow(1, at, n), Tensor(), cache2.get()).router_logits;
      ASSERT_EQ(router.size(), 2u);
      for (size_t l = 0; l < router.size(); ++l)
        expect_close_kept(by_row(router[l], 2), by_row(full_router[l], 2).narrow(1, at, n), keep,
                          {0, 1}, at);
      at += n;
    }
  }
  generation::GenerationParams o;
  o.max_new_tokens = 3;
  auto res = generation::generate(*m, etest::rows(ids), o);
  ASSERT_EQ(res.tokens.size(), 2u);
  for (auto& row : res.tokens) EXPECT_EQ(row.size(), 3u);
}

TEST(MoEPadding, LeftPaddedRowEqualsRowAlone) {
  auto m = model(6);
  NoGradGuard ng;
  Generator gen(8);
  Tensor a = randint(0, 57, {1, 7}, &gen), b = randint(0, 57, {1, 4}, &gen);
  Tensor alone_a = m->forward(a).logits, alone_b = m->forward(b).logits;
  // Compared where no near-tie in routing (compared(); the rows alone are the reference) can
  // make them differ.
  const auto keep_a = compared(m->backbone->forward(a).router_logits, 1, 7, 2);
  const auto keep_b = compared(m->backbone->forward(b).router_logits, 1, 4, 2);
  Tensor ids = cat({a, cat({zeros({1, 3}, DType::I64), b}, 1)}, 0);
  Tensor mask = from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1}, {2, 7},
                            DType::I64);
  auto out = m->forward(ids, mask);
  expect_close_kept(out.logits.narrow(0, 0, 1), alone_a, keep_a, {0}, 0);
  expect_close_kept(out.logits.narrow(0, 1, 1).narrow(1, 3, 4), alone_b, keep_b, {0}, 0);
  // The aux loss over the padded batch counts only the 11 real tokens: it equals the unmasked
  // loss over the router logits of those tokens alone.
  ASSERT_TRUE(out.aux_loss.defined());
  auto bo = m->backbone->forward(ids, mask);
  ASSERT_EQ(bo.router_logits.size(), 2u);
  std::vector<int64_t> kept = {0, 1, 2, 3, 4, 5, 6, 10, 11, 12, 13};
  std::vector<Tensor> real;
  for (auto& t : bo.router_logits)
    real.push_back(index_select(t, 0, from_vector(kept, {11}, DType::I64)));
  EXPECT_NEAR(out.aux_loss.item(), components::load_balancing_loss(real, 4, 2).item(), 1e-6);
  EXPECT_GT(std::abs(out.aux_loss.item() -
                     components::load_balancing_loss(bo.router_logits, 4, 2).item()),
            1e-7);  // the padded tokens would change it
}

TEST(MoEModel, MixtureInAHybridBlockAndJsonFileRuns) {
  auto cfg = config::ModelConfig::from_json_string(R"({"backbone": {"type": "hybrid",
    "vocab_size": 40, "hidden_size": 16, "num_layers": 2,
    "block": {"type": "hybrid", "attention": {"num_attention_heads": 2, "num_key_value_heads": 2},
              "ssm": {"state_size": 4}, "ffn": {"intermediate_size": 8, "num_experts": 3,
              "num_experts_per_tok": 2}}}})");
  models::CausalLM hm(cfg);
  EXPECT_EQ(hm.num_parameters(), cfg.num_parameters());
  Tensor ids = from_vector(std::vector<int64_t>{3, 1, 4, 1, 5, 9, 2, 6}, {1, 8}, DType::I64);
  auto out = hm.forward(ids, Tensor(), ids);
  EXPECT_TRUE(out.aux_loss.defined());
  EXPECT_TRUE(std::isfinite(out.loss.item()));

  std::ifstream in(std::string(LAZARUS_SOURCE_DIR) + "/examples/configs/moe_tiny.json");
  ASSERT_TRUE(in.good());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto c2 = config::ModelConfig::from_json_string(text);
  models::CausalLM m(c2);
  EXPECT_EQ(m.num_parameters(), c2.num_parameters());
  auto o2 = m.forward(ids, Tensor(), ids);
  EXPECT_TRUE(std::isfinite(o2.loss.item()));
}
