// Hybrid backbones: the layout (alternating / interleaved at a ratio / parallel + overrides) is
// data that resolves to the expected block per layer; names and parameter counts; the config
// rules name the field; cache consistency (prompt then decode, chunked prefill = full forward) with
// attention, mamba and hybrid layers in one stack; a left-padded row equals the row alone.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "lazarus/blocks/hybrid_block.h"
#include "lazarus/core/error.h"
#include "lazarus/generation/generate.h"
#include "lazarus/models/causal_lm.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"
#include "tests/tensor/test_helpers.h"

using namespace lazarus;

namespace {

const char* kJson = R"({
  "backbone": {"type": "hybrid", "vocab_size": 61, "hidden_size": 32, "num_layers": 5,
    "max_position_embeddings": 64, "layout": "interleaved", "layout_ratio": 1,
    "block": {"type": "mamba", "ssm": {"state_size": 4, "conv_kernel": 3}},
    "secondary_block": {"type": "transformer",
      "attention": {"type": "grouped_query", "num_attention_heads": 4, "num_key_value_heads": 2},
      "ffn": {"intermediate_size": 40}},
    "block_overrides": {"4": {"type": "hybrid", "combine": "concat",
      "attention": {"num_attention_heads": 2, "num_key_value_heads": 2},
      "ssm": {"state_size": 4}, "ffn": {"type": "mlp", "activation": "gelu", "intermediate_size": 24}}}},
  "head": {"tie_word_embeddings": true}})";

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

std::unique_ptr<models::CausalLM> model(uint64_t seed) {
  auto m = std::make_unique<models::CausalLM>(config::ModelConfig::from_json_string(kJson));
  m->init_weights(0.2, seed);
  return m;
}

}  // namespace

TEST(HybridConfig, LayoutIsDataResolvedPerLayer) {
  auto cfg = config::ModelConfig::from_json_string(kJson);
  using config::BlockType;
  std::vector<BlockType> want = {BlockType::Mamba, BlockType::Transformer, BlockType::Mamba,
                                 BlockType::Transformer, BlockType::Hybrid};
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(cfg.backbone.block_for(i).type, want[i]) << i;
  auto alt =
      config::with(cfg, [](auto& c) { c.backbone.layout = config::HybridLayout::Alternating; });
  EXPECT_EQ(alt.backbone.block_for(3).type, BlockType::Transformer);
  EXPECT_EQ(alt.backbone.block_for(2).type, BlockType::Mamba);
  auto r3 = config::with(cfg, [](auto& c) { c.backbone.layout_ratio = 3; });
  EXPECT_EQ(r3.backbone.block_for(1).type, BlockType::Mamba);
  EXPECT_EQ(r3.backbone.block_for(3).type, BlockType::Transformer);
  EXPECT_EQ(config::ModelConfig::from_json(cfg.to_json()), cfg);  // round trip

  models::CausalLM m(cfg);
  EXPECT_EQ(m.num_parameters(), cfg.num_parameters());
  auto sd = m.state_dict();
  EXPECT_EQ(sd.count("model.layers.0.mixer.A_log"), 1u);
  EXPECT_EQ(sd.count("model.layers.1.self_attn.k_proj.weight"), 1u);
  EXPECT_EQ(sd.count("model.layers.4.mix_proj.weight"), 1u);
  EXPECT_EQ(sd.count("model.layers.4.mixer.D"), 1u);
  EXPECT_EQ(sd.count("model.layers.4.mlp.gate_proj.weight"), 0u);  // mlp ffn
  EXPECT_EQ(m.backbone->layer<blocks::HybridBlock>(4).mix_proj->weight.shape(), (Shape{32, 64}));
  EXPECT_THROW(m.backbone->layer<blocks::HybridBlock>(0), Error);  // layer 0 is a mamba block
}

TEST(HybridConfig, RulesNameTheField) {
  auto cfg = config::ModelConfig::from_json_string(kJson);
  auto bad = [&](const std::function<void(config::ModelConfig&)>& edit,
                 std::vector<std::string> needles) {
    config::ModelConfig c = cfg;
    edit(c);
    expect_error([&] { c.validate(); }, needles);
  };
  bad([](auto& c) { c.backbone.secondary_block.reset(); },
      {"backbone.secondary_block", "interleaved"});
  bad([](auto& c) { c.backbone.layout_ratio = 0; }, {"backbone.layout_ratio", "0"});
  bad([](auto& c) { c.backbone.layout = config::HybridLayout::Parallel; },
      {"backbone.block.type", "mamba", "parallel"});
  bad([](auto& c) { c.backbone.block_overrides[4].ssm.state_size = -1; },
      {"backbone.block_overrides.4.ssm.state_size", "-1"});
  bad([](auto& c) { c.backbone.block_overrides[4].ffn.intermediate_size = 0; },
      {"backbone.block_overrides.4.ffn.intermediate_size", "0"});
  bad(
      [](auto& c) {
        c.backbone.type = config::BackboneType::Transformer;
        c.backbone.layout = config::HybridLayout::None;
        c.backbone.secondary_block.reset();
        c.backbone.block = *config::ModelConfig::from_json_string(kJson).backbone.secondary_block;
      },
      {"backbone.block_overrides.4.type", "'hybrid' blocks need a hybrid backbone"});
  bad([](auto& c) { c.backbone.type = config::BackboneType::Transformer; },
      {"backbone.layout", "interleaved", "needs a hybrid backbone"});
  expect_error(
      [] {
        config::BlockConfig::from_json(
            config::Json::parse(R"({"type": "hybrid", "ssm": {}, "combine": "multiply",
                                    "ffn": {"intermediate_size": 4}})"),
            "block");
      },
      {"block.combine", "multiply", "add, concat, gate"});
  expect_error(
      [] { config::BlockConfig::from_json(config::Json::parse(R"({"type": "hybrid"})"), "block"); },
      {"block.ffn", "missing"});
}

TEST(HybridCache, DecodeAndChunkedPrefillMatchFullForward) {
  auto m = model(5);
  NoGradGuard ng;
  Generator gen(3);
  Tensor ids = randint(0, 61, {2, 10}, &gen);
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
    EXPECT_NE(dynamic_cast<blocks::HybridCache*>(&cache->layer(4)), nullptr);
    EXPECT_NE(dynamic_cast<components::SSMCache*>(&cache->layer(0)), nullptr);
    EXPECT_NE(dynamic_cast<components::KVCache*>(&cache->layer(1)), nullptr);
  }
}

TEST(HybridPadding, LeftPaddedRowEqualsRowAlone) {
  auto m = model(6);
  NoGradGuard ng;
  Generator gen(8);
  Tensor a = randint(0, 61, {1, 7}, &gen), b = randint(0, 61, {1, 4}, &gen);
  Tensor alone_a = m->forward(a).logits, alone_b = m->forward(b).logits;
  Tensor ids = cat({a, cat({zeros({1, 3}, DType::I64), b}, 1)}, 0);
  Tensor mask = from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1}, {2, 7},
                            DType::I64);
  auto cache = m->make_cache(2);
  Tensor batch = m->forward(ids, mask, Tensor(), cache).logits;
  expect_close(batch.narrow(0, 0, 1), alone_a);
  expect_close(batch.narrow(0, 1, 1).narrow(1, 3, 4), alone_b);
  Tensor next = from_vector(std::vector<int64_t>{5, 6}, {2, 1}, DType::I64);
  Tensor step = m->forward(next, Tensor(), Tensor(), cache).logits;
  expect_close(step.narrow(0, 1, 1),
               m->forward(cat({b, next.narrow(0, 1, 1)}, 1)).logits.narrow(1, 4, 1));
}

TEST(HybridModel, ForwardBackwardTrainsEveryParameter) {
  auto m = model(7);
  Tensor ids = from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {1, 6}, DType::I64);
  auto out = m->forward(ids, Tensor(), ids, nullptr, true);
  EXPECT_EQ(out.hidden_states.size(), 6u);
  out.loss.backward();
  for (auto& [n, p] : m->named_parameters()) EXPECT_TRUE(p->grad().defined()) << n;
}

TEST(HybridModel, JsonConfigFileAloneRuns) {
  // The example config shipped for `lazarus info --config` (docs/models.md).
  std::ifstream in(std::string(LAZARUS_SOURCE_DIR) + "/examples/configs/hybrid_tiny.json");
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
