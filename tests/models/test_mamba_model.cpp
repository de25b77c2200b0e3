// MambaForCausalLM: HF parameter names and shapes, parameter counts vs config, strict loading,
// tiny preset forward/backward, O(1) decode state: prompt then token-by-token decode and chunked
// prefill equal one full forward, a left-padded row equals the row alone (also while decoding),
// generate = greedy loop, the registry builds it from an HF config.json, a generic JSON config with
// mamba blocks runs.
#include <gtest/gtest.h>

#include <set>

#include "lazarus/backbones/backbone.h"
#include "lazarus/components/ssm.h"
#include "lazarus/core/error.h"
#include "lazarus/families/mamba/mamba.h"
#include "lazarus/families/registry.h"
#include "lazarus/generation/generate.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"
#include "tests/tensor/test_helpers.h"

using namespace lazarus;
using lazarus::families::MambaConfig;
using lazarus::families::MambaForCausalLM;

namespace {

MambaConfig small() {
  MambaConfig c = MambaConfig::tiny();
  c.vocab_size = 97;
  c.initializer_range = 0.3;  // larger weights: differences would show
  return c;
}

void expect_close(const Tensor& a, const Tensor& b, double tol = 1e-4) {
  ASSERT_EQ(a.shape(), b.shape());
  auto x = a.contiguous().to_vector<float>(), y = b.contiguous().to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, double(std::abs(x[i] - y[i])));
  EXPECT_LE(worst, tol);
}

void check_chunks(MambaForCausalLM& m, const Tensor& ids, const std::vector<int64_t>& chunks) {
  NoGradGuard ng;
  const int64_t B = ids.size(0), T = ids.size(1);
  Tensor full = m.forward(ids).logits;  // (B, T, V)
  auto cache = m.make_cache(B);
  int64_t at = 0;
  for (int64_t n : chunks) {
    auto out = m.forward(ids.narrow(1, at, n), Tensor(), Tensor(), cache);
    expect_close(out.logits, full.narrow(1, at, n));
    at += n;
  }
  EXPECT_EQ(at, T);
  EXPECT_EQ(cache->length(), T);
  // The state has a fixed size whatever the length: conv (B, K - 1, I), SSM (B, I, N).
  auto& s = dynamic_cast<components::SSMCache&>(cache->layer(0));
  const auto& c = m.mamba_config();
  EXPECT_EQ(s.conv_state().shape(), (Shape{B, c.conv_kernel - 1, c.intermediate_size()}));
  EXPECT_EQ(s.ssm_state().shape(), (Shape{B, c.intermediate_size(), c.state_size}));
}

}  // namespace

TEST(MambaModel, ParameterNamesAndShapesAreHuggingFaces) {
  MambaConfig cfg = MambaConfig::tiny();  // D 64, I 128, N 8, R 4, K 4, no bias, tied
  MambaForCausalLM m(cfg);
  std::map<std::string, Shape> got;
  for (auto& [n, p] : m.named_parameters()) got[n] = p->shape();
  std::map<std::string, Shape> want = {{"backbone.embeddings.weight", {256, 64}},
                                       {"backbone.norm_f.weight", {64}}};
  for (int l = 0; l < 2; ++l) {
    std::string p = "backbone.layers." + std::to_string(l) + ".";
    want[p + "norm.weight"] = {64};
    want[p + "mixer.in_proj.weight"] = {256, 64};
    want[p + "mixer.conv1d.weight"] = {128, 1, 4};
    want[p + "mixer.conv1d.bias"] = {128};
    want[p + "mixer.x_proj.weight"] = {4 + 16, 128};
    want[p + "mixer.dt_proj.weight"] = {128, 4};
    want[p + "mixer.dt_proj.bias"] = {128};
    want[p + "mixer.A_log"] = {128, 8};
    want[p + "mixer.D"] = {128};
    want[p + "mixer.out_proj.weight"] = {64, 128};
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(m.num_parameters(), cfg.num_parameters());
  EXPECT_EQ(cfg.num_parameters(), 75712);
  EXPECT_TRUE(m.lm_head->tied());
  // HF MambaModel's names and hidden-state convention.
  const auto& d = m.backbone->description();
  EXPECT_EQ(d, backbones::BackboneDescription::for_type(config::BackboneType::Mamba));
  EXPECT_EQ(d.prefix + "." + d.embed_tokens + "/" + d.norm, "backbone.embeddings/norm_f");
  EXPECT_EQ(d.hidden_states, backbones::HiddenStatesConvention::LayerOutputs);
  // HF init: A_log = log(1..N) in every channel, D = 1.
  auto a = got.count("backbone.layers.0.mixer.A_log");
  ASSERT_EQ(a, 1u);
  auto sd = m.state_dict();
  auto alog = sd["backbone.layers.0.mixer.A_log"].to_vector<float>();
  EXPECT_NEAR(alog[3], std::log(4.0), 1e-6);
  EXPECT_NEAR(alog[8 + 7], std::log(8.0), 1e-6);

  cfg.use_bias = true;
  cfg.use_conv_bias = false;
  cfg.tie_word_embeddings = false;
  MambaForCausalLM untied(cfg);
  auto sd2 = untied.state_dict();
  EXPECT_EQ(sd2.count("lm_head.weight"), 1u);
  EXPECT_EQ(sd2.count("backbone.layers.1.mixer.in_proj.bias"), 1u);
  EXPECT_EQ(sd2.count("backbone.layers.1.mixer.out_proj.bias"), 1u);
  EXPECT_EQ(sd2.count("backbone.layers.1.mixer.conv1d.bias"), 0u);
  EXPECT_EQ(untied.num_parameters(), cfg.num_parameters());
}

TEST(MambaModel, PresetCountsArePublishedWithoutAllocating) {
  // state-spaces/mamba-*-hf safetensors totals (tied head counted once).
  EXPECT_EQ(MambaConfig::mamba_130m().num_parameters(), 129'135'360);
  EXPECT_EQ(MambaConfig::mamba_370m().num_parameters(), 371'516'416);
  EXPECT_EQ(MambaConfig::mamba_790m().num_parameters(), 793'204'224);
  EXPECT_EQ(MambaConfig::mamba_1_4b().num_parameters(), 1'372'178'432);
  EXPECT_EQ(MambaConfig::mamba_2_8b().num_parameters(), 2'768'345'600);
  for (auto& n : MambaConfig::preset_names()) EXPECT_NO_THROW(MambaConfig::preset(n).validate());
  EXPECT_THROW(MambaConfig::preset("mamba_7b"), ConfigError);
}

TEST(MambaModel, StrictLoadListsNames) {
  MambaForCausalLM m(MambaConfig::tiny());
  auto sd = m.state_dict();
  sd.erase("backbone.layers.1.mixer.A_log");
  sd["backbone.layers.1.mixer.conv1d.weight"] = zeros({128, 4});
  sd["backbone.layers.0.mixer.B"] = zeros({1});
  try {
    m.load_state_dict(sd);
    FAIL() << "no LoadError";
  } catch (const LoadError& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("backbone.layers.1.mixer.A_log"), std::string::npos) << w;
    EXPECT_NE(w.find("backbone.layers.1.mixer.conv1d.weight"), std::string::npos) << w;
    EXPECT_NE(w.find("backbone.layers.0.mixer.B"), std::string::npos) << w;
  }
}

TEST(MambaModel, TinyForwardBackward) {
  MambaForCausalLM m(MambaConfig::tiny(), DType::F32, 3);
  Generator gen(5);
  Tensor ids = randint(0, 256, {2, 9}, &gen);
  auto out = m.forward(ids, Tensor(), ids, nullptr, true);
  EXPECT_EQ(out.logits.shape(), (Shape{2, 9, 256}));
  EXPECT_EQ(out.hidden_states.size(), 3u);  // each layer's output, then norm_f's
  double loss = out.loss.item();
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_NEAR(loss, std::log(256.0), 1.0);  // near uniform at init
  out.loss.backward();
  for (auto& [n, p] : m.named_parameters()) {
    ASSERT_TRUE(p->grad().defined()) << n;
    auto g = p->grad().to_vector<float>();
    double s = 0;
    for (float v : g) s += std::abs(v);
    EXPECT_GT(s, 0) << n;
    EXPECT_TRUE(std::isfinite(s)) << n;
  }
  // bf16 weights run too (residual stream in f32 as HF's residual_in_fp32).
  MambaForCausalLM m16(MambaConfig::tiny(), DType::BF16, 3);
  NoGradGuard ng;
  Tensor l16 = m16.forward(ids).logits;
  EXPECT_EQ(l16.shape(), (Shape{2, 9, 256}));
}

TEST(MambaCache, DecodeAndChunkedPrefillMatchFullForward) {
  MambaForCausalLM m(small(), DType::F32, 7);
  Generator gen(11);
  Tensor ids = randint(0, 97, {2, 10}, &gen);
  check_chunks(m, ids, {4, 1, 1, 1, 1, 1, 1});  // prompt, then token by token
  check_chunks(m, ids, {3, 4, 3});              // chunked prefill
  check_chunks(m, ids, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  check_chunks(m, ids, {2, 8});  // a first chunk shorter than the conv kernel
  MambaConfig k1 = small();
  k1.conv_kernel = 1;  // no conv state at all
  MambaForCausalLM m1(k1, DType::F32, 8);
  NoGradGuard ng;
  Tensor full = m1.forward(ids).logits;
  auto cache = m1.make_cache(2);
  expect_close(m1.forward(ids.narrow(1, 0, 6), Tensor(), Tensor(), cache).logits,
               full.narrow(1, 0, 6));
  expect_close(m1.forward(ids.narrow(1, 6, 4), Tensor(), Tensor(), cache).logits,
               full.narrow(1, 6, 4));
}

TEST(MambaCache, ChecksBatchAndKind) {
  MambaForCausalLM m(small());
  auto cache = m.make_cache(2);
  NoGradGuard ng;
  EXPECT_THROW(m.forward(zeros({3, 2}, DType::I64), Tensor(), Tensor(), cache), ShapeError);
  EXPECT_THROW(m.make_cache(0), ShapeError);
  // A cache of the wrong kind (a transformer's) is refused with the layer named.
  std::vector<std::shared_ptr<components::LayerCache>> kv{std::make_shared<components::KVCache>(8),
                                                          std::make_shared<components::KVCache>(8)};
  auto wrong = std::make_shared<components::Cache>(1, 8, kv);
  EXPECT_THROW(m.forward(zeros({1, 2}, DType::I64), Tensor(), Tensor(), wrong), Error);
}

TEST(MambaPadding, LeftPaddedRowEqualsRowAlone) {
  MambaForCausalLM m(small(), DType::F32, 9);
  NoGradGuard ng;
  Generator gen(12);
  Tensor a = randint(0, 97, {1, 8}, &gen), b = randint(0, 97, {1, 5}, &gen);
  Tensor alone_a = m.forward(a).logits, alone_b = m.forward(b).logits;
  Tensor ids = cat({a, cat({zeros({1, 3}, DType::I64), b}, 1)}, 0);
  Tensor mask = from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1},
                            {2, 8}, DType::I64);
  auto cache = m.make_cache(2);
  Tensor batch = m.forward(ids, mask, Tensor(), cache).logits;
  expect_close(batch.narrow(0, 0, 1), alone_a);
  expect_close(batch.narrow(0, 1, 1).narrow(1, 3, 5), alone_b);
  Tensor next = from_vector(std::vector<int64_t>{5, 6, 7, 8}, {2, 2}, DType::I64);
  Tensor step = m.forward(next, Tensor(), Tensor(), cache).logits;
  Tensor cont_a = m.forward(cat({a, next.narrow(0, 0, 1)}, 1)).logits;
  Tensor cont_b = m.forward(cat({b, next.narrow(0, 1, 1)}, 1)).logits;
  expect_close(step.narrow(0, 0, 1), cont_a.narrow(1, 8, 2));
  expect_close(step.narrow(0, 1, 1), cont_b.narrow(1, 5, 2));
  // Right padding: the kept prefix does not see what follows.
  Tensor rids = cat({a, cat({b, zeros({1, 3}, DType::I64)}, 1)}, 0);
  Tensor rmask = from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
                             {2, 8}, DType::I64);
  expect_close(m.forward(rids, rmask).logits.narrow(0, 1, 1).narrow(1, 0, 5), alone_b);
}

TEST(MambaGenerate, GreedyMatchesFullForwardLoop) {
  MambaConfig cfg = small();
  cfg.eos_token_id = {96};
  MambaForCausalLM m(cfg, DType::F32, 21);
  Generator gen(4);
  Tensor prompt = randint(0, 97, {1, 5}, &gen);
  std::vector<int64_t> seq = prompt.to_vector<int64_t>();
  generation::GenerationParams p;
  p.max_new_tokens = 6;
  p.eos_token_ids = m.mamba_config().eos_token_id;  // greedy, stopping at the config's eos
  p.include_prompt = true;
  std::vector<int64_t> got = generation::generate(m, {seq}, p).tokens[0];
  NoGradGuard ng;
  ASSERT_GT(got.size(), seq.size());
  EXPECT_EQ(std::vector<int64_t>(got.begin(), got.begin() + 5), seq);
  std::vector<int64_t> ours(got.begin() + 5, got.end());
  // Six new tokens, or fewer ending at the first eos (96).
  EXPECT_TRUE(ours.size() == 6 || ours.back() == 96);
  for (size_t i = 0; i + 1 < ours.size(); ++i) EXPECT_NE(ours[i], 96) << i;
  // Each token against a full forward over the sequence so far, tie-aware: the state-cached
  // path's logits are within 1e-4 of the full forward's (the bound check_chunks holds them to),
  // so where the full forward's top two are within 2e-4 either may be picked.
  auto full_next = [&](const std::vector<int64_t>& s) {
    const int64_t T = static_cast<int64_t>(s.size());
    Tensor logits = m.forward(from_vector(s, {1, T}, DType::I64)).logits;
    return etest::values(logits.narrow(1, T - 1, 1).reshape({-1}));
  };
  EXPECT_TRUE(etest::greedy_within(full_next, seq, ours, 2 * 1e-4));
}

TEST(MambaRegistry, BuildsFromHfConfigJson) {
  // The state-spaces/mamba-130m-hf config.json, shrunk (same keys).
  auto j = config::Json::parse(R"({
    "architectures": ["MambaForCausalLM"], "bos_token_id": 0, "conv_kernel": 4,
    "eos_token_id": 0, "expand": 2, "fused_add_norm": true, "hidden_act": "silu",
    "hidden_size": 32, "initializer_range": 0.1, "intermediate_size": 64,
    "layer_norm_epsilon": 1e-05, "model_type": "mamba", "n_layer": 2, "num_hidden_layers": 2,
    "pad_token_id": 0, "pad_vocab_size_multiple": 8, "rescale_prenorm_residual": false,
    "residual_in_fp32": true, "rms_norm": true, "state_size": 16, "time_step_floor": 0.0001,
    "time_step_init_scheme": "random", "time_step_max": 0.1, "time_step_min": 0.001,
    "time_step_rank": "auto", "time_step_scale": 1.0, "torch_dtype": "float32",
    "transformers_version": "4.39.0.dev0", "use_bias": false, "use_cache": true,
    "use_conv_bias": true, "vocab_size": 120})");
  EXPECT_EQ(families::family_for(j).name, "mamba");
  auto m = families::build_causal_lm(j);
  EXPECT_EQ(m->num_parameters(), MambaConfig::from_json(j).num_parameters());
  EXPECT_EQ(MambaConfig::from_json(j).resolved_time_step_rank(), 2);
  NoGradGuard ng;
  EXPECT_EQ(m->forward(zeros({1, 3}, DType::I64)).logits.shape(), (Shape{1, 3, 120}));
  config::Json by_arch = j;
  by_arch.erase("model_type");
  EXPECT_EQ(families::family_for(by_arch).name, "mamba");
}

TEST(MambaModelFromJson, GenericConfigWithMambaBlocksRuns) {
  auto cfg = config::ModelConfig::from_json_string(R"({
    "backbone": {"type": "mamba", "vocab_size": 50, "hidden_size": 24, "num_layers": 3,
                 "block": {"type": "mamba", "ssm": {"state_size": 4, "time_step_rank": "auto"},
                           "norm": {"eps": 1e-5}},
                 "block_overrides": {"1": {"type": "mamba", "ssm": {"state_size": 6, "expand": 3}}},
                 "final_norm": {"eps": 1e-5}},
    "head": {"tie_word_embeddings": true}})");
  models::CausalLM m(cfg);
  EXPECT_EQ(m.num_parameters(), cfg.num_parameters());
  auto sd = m.state_dict();
  EXPECT_EQ(sd.at("backbone.layers.1.mixer.A_log").shape(), (Shape{72, 6}));
  EXPECT_EQ(sd.at("backbone.layers.0.mixer.A_log").shape(), (Shape{48, 4}));
  Tensor ids = from_vector(std::vector<int64_t>{1, 2, 3, 4}, {1, 4}, DType::I64);
  auto out = m.forward(ids, Tensor(), ids);
  out.loss.backward();
  EXPECT_TRUE(std::isfinite(out.loss.item()));
  EXPECT_EQ(config::ModelConfig::from_json(cfg.to_json()), cfg);  // round trip
}
