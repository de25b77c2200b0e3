// MixtralConfig: the published Mixtral-8x7B config.json, its parameter count, what its keys map
// to in the generic mixture-of-experts config, and the checkpoint-name map both ways.
#include <gtest/gtest.h>

#include <fstream>

#include "lazarus/core/error.h"
#include "lazarus/families/mixtral/mixtral.h"
#include "lazarus/tensor/ops.h"

using namespace lazarus;
using lazarus::config::Json;
using lazarus::families::MixtralConfig;

namespace {
Json published() {
  std::ifstream f(std::string(LAZARUS_TEST_DATA) + "/hf_configs/mistralai--Mixtral-8x7B-v0.1.json");
  return Json::parse(f);
}
}  // namespace

TEST(MixtralConfig, PublishedFileAndPreset) {
  MixtralConfig c = MixtralConfig::from_json(published());
  EXPECT_EQ(c, MixtralConfig::preset("mixtral-8x7b"));
  EXPECT_EQ(c.to_model_config().num_parameters(), 46'702'792'704);
  EXPECT_EQ(families::family_for(published()).name, "mixtral");
  const auto& ffn = c.to_model_config().backbone.block.ffn;
  EXPECT_EQ(ffn.num_experts, 8);
  EXPECT_EQ(ffn.num_experts_per_tok, 2);
  EXPECT_TRUE(ffn.norm_topk_prob);
  EXPECT_EQ(ffn.type, config::FFNType::SwiGLU);
  // MixtralForCausalLM adds the load-balancing loss only with output_router_logits.
  EXPECT_EQ(ffn.router_aux_loss_coef, 0.0);
  Json j = published();
  j["output_router_logits"] = true;
  EXPECT_EQ(MixtralConfig::from_json(j).to_model_config().backbone.block.ffn.router_aux_loss_coef,
            0.02);
  EXPECT_EQ(MixtralConfig::from_json(c.to_json()), c);  // round trip
}

TEST(MixtralConfig, KeysThatWouldChangeTheMathAreRefused) {
  Json j = published();
  j["router_jitter_noise"] = 0.1;
  try {
    MixtralConfig::from_json(j, "config.json");
    FAIL() << "router_jitter_noise 0.1 accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("router_jitter_noise"), std::string::npos) << e.what();
  }
  j = published();
  j["num_experts_per_tok"] = 9;
  EXPECT_THROW(MixtralConfig::from_json(j), ConfigError);
}

TEST(MixtralConfig, CheckpointNamesMapBothWays) {
  const families::FamilyInfo& f = families::family_for(published());
  nn::StateDict w;
  for (const char* n : {"model.layers.0.block_sparse_moe.gate.weight",
                        "model.layers.0.block_sparse_moe.experts.3.w1.weight",
                        "model.layers.0.block_sparse_moe.experts.3.w2.weight",
                        "model.layers.0.block_sparse_moe.experts.3.w3.weight",
                        "model.layers.0.self_attn.q_proj.weight",
                        "model.layers.0.self_attn.rotary_emb.inv_freq"})
    w[n] = zeros({1});
  nn::StateDict m = w;
  f.from_checkpoint(m);
  std::vector<std::string> names;
  for (auto& [k, t] : m) names.push_back(k);
  EXPECT_EQ(names, (std::vector<std::string>{"model.layers.0.mlp.experts.3.down_proj.weight",
                                             "model.layers.0.mlp.experts.3.gate_proj.weight",
                                             "model.layers.0.mlp.experts.3.up_proj.weight",
                                             "model.layers.0.mlp.gate.weight",
                                             "model.layers.0.self_attn.q_proj.weight"}));
  f.to_checkpoint(m);
  w.erase("model.layers.0.self_attn.rotary_emb.inv_freq");
  std::vector<std::string> back, orig;
  for (auto& [k, t] : m) back.push_back(k);
  for (auto& [k, t] : w) orig.push_back(k);
  EXPECT_EQ(back, orig);
  // Two checkpoint names for one module name are refused, not silently dropped.
  nn::StateDict both = {{"model.layers.0.block_sparse_moe.gate.weight", zeros({1})},
                        {"model.layers.0.mlp.gate.weight", zeros({1})}};
  EXPECT_THROW(f.from_checkpoint(both), ConfigError);
}
