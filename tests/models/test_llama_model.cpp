// LlamaForCausalLM and the generic hierarchy: HF parameter names, parameter counts vs config,
// strict state dicts, forward/backward of the tiny preset, a model from a JSON config with
// per-layer overrides, RoPE scaling frequencies.
#include <gtest/gtest.h>

#include <set>

#include "lazarus/blocks/transformer_block.h"
#include "lazarus/components/rope.h"
#include "lazarus/core/error.h"
#include "lazarus/families/llama/llama.h"
#include "lazarus/families/registry.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

using namespace lazarus;
using lazarus::families::LlamaConfig;
using lazarus::families::LlamaForCausalLM;

TEST(LlamaModel, ParameterNamesAreHuggingFaces) {
  LlamaConfig cfg = LlamaConfig::tiny();
  LlamaForCausalLM m(cfg);
  std::set<std::string> names;
  for (auto& [n, p] : m.named_parameters()) names.insert(n);
  std::set<std::string> want = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"};
  for (int l = 0; l < 2; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* s :
         {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
          "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
          "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight"}) {
      want.insert(p + s);
    }
  }
  EXPECT_EQ(names, want);
  EXPECT_EQ(m.num_parameters(), cfg.num_parameters());
  EXPECT_EQ(m.backbone->layers->size(), 2u);
  EXPECT_EQ(m.backbone->layer<blocks::TransformerBlock>(0).self_attn->k_proj->weight.shape(),
            (Shape{32, 64}));  // 2 kv heads x 16

  cfg.tie_word_embeddings = true;
  cfg.attention_bias = true;
  LlamaForCausalLM tied(cfg);
  auto sd = tied.state_dict();
  EXPECT_EQ(sd.count("lm_head.weight"), 0u);
  EXPECT_EQ(sd.count("model.layers.1.self_attn.o_proj.bias"), 1u);
  EXPECT_EQ(tied.num_parameters(), cfg.num_parameters());
  EXPECT_TRUE(tied.lm_head->tied());
}

TEST(LlamaModel, StrictLoadListsNames) {
  LlamaForCausalLM m(LlamaConfig::tiny());
  auto sd = m.state_dict();
  sd.erase("model.layers.1.mlp.up_proj.weight");
  sd["model.layers.9.mlp.up_proj.weight"] = zeros({4});
  sd["model.norm.weight"] = zeros({3});
  try {
    m.load_state_dict(sd);
    FAIL() << "no LoadError";
  } catch (const LoadError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.layers.9.mlp.up_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.norm.weight"), std::string::npos) << msg;
  }
}

TEST(LlamaModel, TinyPresetForwardBackward) {
  LlamaForCausalLM m(LlamaConfig::tiny());
  Generator gen(3);
  Tensor ids = randint(0, 256, {2, 7}, &gen);
  auto out = m.forward(ids, Tensor(), ids, nullptr, true);
  EXPECT_EQ(out.logits.shape(), (Shape{2, 7, 256}));
  EXPECT_EQ(out.hidden_states.size(), 3u);
  ASSERT_TRUE(out.loss.defined());
  EXPECT_NEAR(out.loss.item(), std::log(256.0), 0.5);  // near-uniform at init
  out.loss.backward();
  for (auto& [n, p] : m.named_parameters()) {
    ASSERT_TRUE(p->grad().defined()) << n;
  }
  // Every label ignored: no token to learn from is an error, not a silent 0 or NaN.
  EXPECT_THROW(m.forward(ids, Tensor(), full({2, 7}, -100, DType::I64)), Error);
  EXPECT_THROW(m.forward(ids, Tensor(), full({2, 7}, 999, DType::I64)), IndexError);
  EXPECT_THROW(m.forward(ids.reshape({14})), ShapeError);
  EXPECT_THROW(m.forward(ids, ones({2, 5}, DType::I64)), ShapeError);
}

// pad_token_id is embed_tokens' padding_idx (HF LlamaModel): its row starts at zero and gets no
// gradient from the embedding; with a tied head the head's part of that row's gradient remains.
TEST(LlamaModel, PadTokenRowStartsAtZeroAndIsNotTrainedByTheEmbedding) {
  for (bool tied : {false, true}) {
    LlamaConfig cfg = LlamaConfig::tiny();
    cfg.pad_token_id = 3;
    cfg.tie_word_embeddings = tied;
    LlamaForCausalLM m(cfg);
    Tensor& w = m.backbone->embed_tokens->weight;
    EXPECT_TRUE(allclose(w.select(0, 3), zeros({cfg.hidden_size}), 0, 0));
    m.init_weights(0.5, 11);
    EXPECT_TRUE(allclose(w.select(0, 3), zeros({cfg.hidden_size}), 0, 0));
    Tensor ids = from_vector(std::vector<int64_t>{3, 3, 5, 3, 9, 12}, {1, 6}, DType::I64);
    m.forward(ids, Tensor(), ids).loss.backward();
    Tensor g = w.grad().select(0, 3);
    if (tied)
      EXPECT_GT(amax(abs(g)).item(), 0.0);  // the LM head's gradient for token 3
    else
      EXPECT_TRUE(allclose(g, zeros({cfg.hidden_size}), 0, 0));
    EXPECT_GT(amax(abs(w.grad().select(0, 5))).item(), 0.0);
  }
}

TEST(ModelFromJson, PerLayerOverridesRun) {
  auto cfg = config::ModelConfig::from_json_string(R"({
    "backbone": {"vocab_size": 50, "hidden_size": 32, "num_layers": 3, "max_position_embeddings": 64,
      "block": {"attention": {"type": "grouped_query", "num_attention_heads": 4, "num_key_value_heads": 2},
                "ffn": {"type": "swiglu", "intermediate_size": 48}},
      "block_overrides": {
        "1": {"attention": {"type": "multi_query", "num_attention_heads": 4, "num_key_value_heads": 1,
                            "sliding_window": 3, "bias": true},
              "ffn": {"type": "mlp", "activation": "gelu_tanh", "intermediate_size": 40, "bias": true},
              "norm": {"type": "layer_norm", "eps": 1e-5}}},
      "final_norm": {"type": "rms_norm", "eps": 1e-5}},
    "head": {"tie_word_embeddings": true}})");
  models::CausalLM m(cfg);
  EXPECT_EQ(m.num_parameters(), cfg.num_parameters());
  auto sd = m.state_dict();
  EXPECT_EQ(sd.count("model.layers.1.mlp.gate_proj.weight"), 0u);
  EXPECT_EQ(sd.count("model.layers.1.mlp.up_proj.bias"), 1u);
  EXPECT_EQ(sd.count("model.layers.1.input_layernorm.bias"), 1u);
  EXPECT_EQ(sd.at("model.layers.1.self_attn.k_proj.weight").shape(), (Shape{8, 32}));
  m.init_weights(0.05);
  auto inited = m.state_dict();
  EXPECT_EQ(sum(abs(inited.at("model.layers.1.input_layernorm.bias"))).item(), 0.0);
  EXPECT_EQ(sum(inited.at("model.layers.1.input_layernorm.weight")).item(), 32.0);
  EXPECT_EQ(sum(abs(inited.at("model.layers.1.mlp.up_proj.bias"))).item(), 0.0);
  Generator gen(5);
  Tensor ids = randint(0, 50, {1, 9}, &gen);
  auto out = m.forward(ids, Tensor(), ids);
  EXPECT_EQ(out.logits.shape(), (Shape{1, 9, 50}));
  out.loss.backward();
  EXPECT_TRUE(m.backbone->embed_tokens->weight.grad().defined());
}

TEST(RoPE, ScalingFrequencies) {
  using components::RotaryEmbedding;
  config::RoPEConfig base;
  base.theta = 500000;
  auto plain = RotaryEmbedding(64, base, 8192).inv_freq(1);
  config::RoPEConfig l3 = base;
  l3.scaling = config::RoPEScalingType::Llama3;
  l3.factor = 8;
  l3.original_max_position_embeddings = 8192;
  auto scaled = RotaryEmbedding(64, l3, 131072).inv_freq(1);
  EXPECT_FLOAT_EQ(scaled[0], plain[0]);        // high frequency: kept
  EXPECT_FLOAT_EQ(scaled[31], plain[31] / 8);  // low frequency: interpolated
  config::RoPEConfig lin = base;
  lin.scaling = config::RoPEScalingType::Linear;
  lin.factor = 4;
  EXPECT_FLOAT_EQ(RotaryEmbedding(64, lin, 2048).inv_freq(1)[5], plain[5] / 4);
  config::RoPEConfig dyn = base;
  dyn.scaling = config::RoPEScalingType::Dynamic;
  dyn.factor = 2;
  RotaryEmbedding d(64, dyn, 100);
  EXPECT_EQ(d.inv_freq(50), d.inv_freq(100));  // inside the trained context: unchanged
  EXPECT_LT(d.inv_freq(400)[10], d.inv_freq(100)[10]);
  config::RoPEConfig yarn = base;
  yarn.scaling = config::RoPEScalingType::Yarn;
  yarn.factor = 4;
  EXPECT_NEAR(RotaryEmbedding(64, yarn, 4096).attention_scaling(), 0.1 * std::log(4.0) + 1, 1e-12);
  EXPECT_THROW(RotaryEmbedding(63, base, 10), ConfigError);
}

TEST(Registry, BuildsLlamaFamilyFromHfConfig) {
  config::Json j = LlamaConfig::tiny().to_json();
  EXPECT_EQ(families::family_for(j).name, "llama");
  auto m = families::build_causal_lm(j);
  EXPECT_EQ(m->num_parameters(), LlamaConfig::tiny().num_parameters());
  j["model_type"] = "mistral";
  EXPECT_EQ(families::family_for(j).name, "llama");
  config::Json other = {{"model_type", "gpt2"}, {"architectures", {"GPT2LMHeadModel"}}};
  try {
    families::family_for(other);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'gpt2'"), std::string::npos) << e.what();
  }
  config::Json by_arch = {{"architectures", {"MistralForCausalLM"}}};
  EXPECT_EQ(families::family_for(by_arch).name, "llama");
}

TEST(LlamaModel, Bf16ForwardAndCacheTrackF32) {
  LlamaForCausalLM m32(LlamaConfig::tiny(), DType::F32, 5);
  LlamaForCausalLM m16(LlamaConfig::tiny(), DType::BF16, 5);
  m16.load_state_dict(m32.state_dict());  // converted to bf16 on load
  EXPECT_EQ(m16.backbone->embed_tokens->weight.dtype(), DType::BF16);
  NoGradGuard ng;
  Generator gen(8);
  Tensor ids = randint(0, 256, {2, 6}, &gen);
  Tensor mask =
      from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1}, {2, 6}, DType::I64);
  Tensor a = m32.forward(ids, mask).logits;
  Tensor b = m16.forward(ids, mask).logits;
  EXPECT_EQ(b.dtype(), DType::BF16);
  EXPECT_TRUE(allclose(b.to(DType::F32), a, 0.05, 0.05));
  auto cache = m16.make_cache(2);
  m16.forward(ids.narrow(1, 0, 4), mask.narrow(1, 0, 4), Tensor(), cache);
  Tensor tail = m16.forward(ids.narrow(1, 4, 2), mask, Tensor(), cache).logits;
  EXPECT_TRUE(allclose(tail.to(DType::F32), b.narrow(1, 4, 2).to(DType::F32), 0.05, 0.05));
}
