// Mixture-of-experts FFNs: names and parameter counts from the config (experts and router), a
// one-expert mixture equals the dense FFN with the same weights, top-k selection, the
// load-balancing loss on hand-made routings, the training loss = next-token loss + coef * aux loss
// and every parameter trained, cache consistency (decode / chunked prefill = full forward), a
// left-padded row equals the row alone, MoE in a hybrid block, and a JSON config file alone runs.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "lazarus/components/ffn.h"
#include "lazarus/core/error.h"
#include "lazarus/losses/losses.h"
#include "lazarus/models/causal_lm.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

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
  models::GenerateOptions o;
  o.max_new_tokens = 3;
  EXPECT_EQ(m->generate(ids, o).size(1), 13);
}

TEST(MoEPadding, LeftPaddedRowEqualsRowAlone) {
  auto m = model(6);
  NoGradGuard ng;
  Generator gen(8);
  Tensor a = randint(0, 57, {1, 7}, &gen), b = randint(0, 57, {1, 4}, &gen);
  Tensor alone_a = m->forward(a).logits, alone_b = m->forward(b).logits;
  Tensor ids = cat({a, cat({zeros({1, 3}, DType::I64), b}, 1)}, 0);
  Tensor mask = from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1}, {2, 7},
                            DType::I64);
  auto out = m->forward(ids, mask);
  expect_close(out.logits.narrow(0, 0, 1), alone_a);
  expect_close(out.logits.narrow(0, 1, 1).narrow(1, 3, 4), alone_b);
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
