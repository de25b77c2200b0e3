// The one Backbone and its description: the names each backbone type keeps, a family's own names
// (GPT-2 style) as data, the embedding scale in the embeddings' dtype, the hidden-state
// conventions, the cache bound, typed layer access, and the model's last-position logits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>

#include "lazarus/backbones/backbone.h"
#include "lazarus/blocks/transformer_block.h"
#include "lazarus/core/error.h"
#include "lazarus/models/causal_lm.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"
#include "tests/tensor/test_helpers.h"

using namespace lazarus;
using backbones::BackboneDescription;
using backbones::HiddenStatesConvention;

namespace {

// A 2-layer transformer with learned positions (GPT-2's kind), width 24.
config::ModelConfig transformer_config() {
  return config::ModelConfig::from_json_string(R"({"backbone": {
      "embedding": {"vocab_size": 53, "max_position_embeddings": 32},
      "hidden_size": 24, "num_layers": 2,
      "block": {"attention": {"type": "grouped_query", "num_attention_heads": 6,
                              "num_key_value_heads": 3, "position": {"type": "learned"}},
                "ffn": {"intermediate_size": 40}}},
    "head": {"tie_word_embeddings": false}})");
}

std::set<std::string> names_of(nn::Module& m) {
  std::set<std::string> s;
  for (auto& [n, t] : m.state_dict()) s.insert(n);
  return s;
}

Tensor ids_of(std::vector<int64_t> v) {
  const int64_t T = int64_t(v.size());
  return from_vector(v, {1, T}, DType::I64);
}

}  // namespace

TEST(BackboneDescription, EveryTypeKeepsItsCheckpointNames) {
  using config::BackboneType;
  for (BackboneType t :
       {BackboneType::Transformer, BackboneType::Hybrid, BackboneType::Recurrent}) {
    const BackboneDescription d = BackboneDescription::for_type(t);
    EXPECT_EQ(d.prefix, "model");
    EXPECT_EQ(d.embed_tokens, "embed_tokens");
    EXPECT_EQ(d.embed_positions, "embed_positions");
    EXPECT_EQ(d.layers, "layers");
    EXPECT_EQ(d.norm, "norm");
    EXPECT_EQ(d.embedding_scale, 1.0);
    EXPECT_EQ(d.hidden_states, HiddenStatesConvention::LayerInputs);
  }
  const BackboneDescription m = BackboneDescription::for_type(BackboneType::Mamba);
  EXPECT_EQ(m.prefix, "backbone");
  EXPECT_EQ(m.embed_tokens, "embeddings");
  EXPECT_EQ(m.layers, "layers");
  EXPECT_EQ(m.norm, "norm_f");
  EXPECT_EQ(m.hidden_states, HiddenStatesConvention::LayerOutputs);

  models::CausalLM lm(transformer_config());
  const auto names = names_of(lm);
  for (const char* n : {"model.embed_tokens.weight", "model.embed_positions.weight",
                        "model.layers.1.self_attn.q_proj.weight", "model.norm.weight",
                        "lm_head.weight"})
    EXPECT_EQ(names.count(n), 1u) << n;
}

TEST(BackboneDescription, AFamilyNamesEveryPartAsData) {
  // GPT-2's outer names (transformer.wte / wpe / h.N / ln_f); the blocks keep their own children.
  BackboneDescription gpt2;
  gpt2.prefix = "transformer";
  gpt2.embed_tokens = "wte";
  gpt2.embed_positions = "wpe";
  gpt2.layers = "h";
  gpt2.norm = "ln_f";
  const auto cfg = transformer_config();
  models::CausalLM ours(cfg, gpt2), plain(cfg);
  plain.init_weights(0.2, 3);
  const auto names = names_of(ours);
  for (const char* n : {"transformer.wte.weight", "transformer.wpe.weight",
                        "transformer.h.0.self_attn.q_proj.weight",
                        "transformer.h.1.mlp.down_proj.weight", "transformer.ln_f.weight"})
    EXPECT_EQ(names.count(n), 1u) << n;
  for (const auto& n : names) EXPECT_EQ(n.rfind("model.", 0), std::string::npos) << n;
  EXPECT_EQ(ours.num_parameters(), cfg.num_parameters());

  // Renaming is all it does: the same weights under the new names give the same logits.
  nn::StateDict renamed;
  const std::vector<std::pair<std::string, std::string>> map = {
      {"model.embed_tokens.", "transformer.wte."}, {"model.embed_positions.", "transformer.wpe."},
      {"model.layers.", "transformer.h."},         {"model.norm.", "transformer.ln_f."}};
  for (auto& [n, t] : plain.state_dict()) {
    std::string to = n;
    for (auto& [from, with] : map)
      if (n.rfind(from, 0) == 0) to = with + n.substr(from.size());
    renamed[to] = t;
  }
  ours.load_state_dict(renamed);  // strict: every name must match
  NoGradGuard ng;
  Tensor ids = ids_of({3, 1, 4, 1, 5, 9, 2, 6});
  EXPECT_EQ(etest::values(ours.forward(ids).logits), etest::values(plain.forward(ids).logits));
}

TEST(BackboneDescription, ValidateNamesTheField) {
  auto bad = [](const std::function<void(BackboneDescription&)>& edit, const std::string& needle) {
    BackboneDescription d;
    edit(d);
    return etest::throws_with<ConfigError>([&] { d.validate(); }, needle);
  };
  EXPECT_TRUE(bad([](auto& d) { d.prefix = ""; }, "backbone_description.prefix: ''"));
  EXPECT_TRUE(bad([](auto& d) { d.layers = "model.layers"; }, "layers: 'model.layers'"));
  EXPECT_TRUE(bad([](auto& d) { d.norm = "embed_tokens"; }, "norm: 'embed_tokens' is already"));
  EXPECT_TRUE(bad([](auto& d) { d.embedding_scale = 0; }, "embedding_scale: 0 must be"));
  EXPECT_TRUE(bad([](auto& d) { d.embedding_scale = std::nan(""); }, "embedding_scale: nan"));
  // The model checks it before allocating anything.
  BackboneDescription d;
  d.embed_positions = "";
  EXPECT_TRUE(etest::throws_with<ConfigError>(
      [&] { models::CausalLM m(transformer_config(), d); }, "embed_positions: ''"));
}

TEST(BackboneDescription, EmbeddingScaleIsRoundedToTheEmbeddingsDtype) {
  // Gemma multiplies by sqrt(hidden_size) as a tensor of the embeddings' dtype, so in bf16 the
  // factor itself is rounded (sqrt(24) = 4.89898 -> 4.90625) before the product is.
  auto cfg = transformer_config();
  cfg.backbone.block.attention.position.type = config::PositionEmbeddingType::RoPE;
  BackboneDescription d;
  d.embedding_scale = std::sqrt(24.0);
  Tensor ids = ids_of({7, 0, 52, 7, 11});
  for (DType dt : {DType::F32, DType::BF16}) {
    SCOPED_TRACE(dtype_name(dt));
    models::CausalLM m(cfg, d, dt);
    m.init_weights(0.5, 9);
    NoGradGuard ng;
    Tensor h0 = m.forward(ids, Tensor(), Tensor(), nullptr, true).hidden_states.at(0);
    Tensor rows = index_select(m.backbone->embed_tokens->weight, 0, ids.reshape({-1}));
    const double s = etest::round_to(d.embedding_scale, dt);
    // A product of two values of <= 8 (bf16) or 24 (f32) significant bits rounded once.
    auto expected = [&](double scale) {
      etest::Vec v = etest::values(rows);
      for (double& x : v) x = etest::round_to(double(float(x * scale)), dt);
      return v;
    };
    EXPECT_EQ(etest::values(h0), expected(s));
    if (dt == DType::BF16) {
      EXPECT_NE(etest::values(h0), expected(d.embedding_scale));
    }
  }
}

TEST(BackboneDescription, HiddenStatesConventionPicksLayerInputsOrOutputs) {
  const auto cfg = transformer_config();
  BackboneDescription outputs;
  outputs.hidden_states = HiddenStatesConvention::LayerOutputs;
  models::CausalLM a(cfg), b(cfg, outputs);
  a.init_weights(0.2, 5);
  b.load_state_dict(a.state_dict());
  NoGradGuard ng;
  Tensor ids = ids_of({1, 2, 3, 4, 5});
  auto in = a.forward(ids, Tensor(), Tensor(), nullptr, true).hidden_states;
  auto out = b.forward(ids, Tensor(), Tensor(), nullptr, true).hidden_states;
  ASSERT_EQ(in.size(), 3u);  // L + 1 either way
  ASSERT_EQ(out.size(), 3u);
  // inputs: embeddings, layer 0's output, final; outputs: layer 0's, layer 1's, final.
  Tensor emb = index_select(a.backbone->embed_tokens->weight, 0, ids.reshape({-1})).unsqueeze(0) +
               index_select(a.backbone->embed_positions->weight, 0, arange(5))
                   .unsqueeze(0);
  EXPECT_EQ(etest::values(in[0]), etest::values(emb));
  EXPECT_EQ(etest::values(in[1]), etest::values(out[0]));
  EXPECT_EQ(etest::values(in[2]), etest::values(out[2]));
  EXPECT_EQ(etest::values(a.backbone->norm->forward(out[1])), etest::values(out[2]));
}

TEST(Backbone, CacheIsBoundedOnlyWhenALayerAttends) {
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  models::CausalLM t(transformer_config());
  EXPECT_EQ(t.make_cache(2)->max_length(), 32);
  EXPECT_EQ(t.make_cache(2, 7)->max_length(), 7);
  auto hybrid = [](const char* second) {
    return config::ModelConfig::from_json_string(std::string(R"({"backbone": {"type": "hybrid",
        "vocab_size": 31, "hidden_size": 16, "num_layers": 2, "max_position_embeddings": 20,
        "layout": "alternating", "block": {"type": "mamba", "ssm": {"state_size": 4}},
        "secondary_block": )") + second + "}}");
  };
  models::CausalLM ssm_only(hybrid(R"({"type": "recurrent", "recurrent": {"type": "gru"}})"));
  EXPECT_EQ(ssm_only.make_cache(1)->max_length(), kMax);
  models::CausalLM attends(hybrid(R"({"type": "transformer",
      "attention": {"num_attention_heads": 2, "num_key_value_heads": 2},
      "ffn": {"intermediate_size": 8}})"));
  EXPECT_EQ(attends.make_cache(1)->max_length(), 20);
  EXPECT_TRUE(etest::throws_with<ShapeError>([&] { t.make_cache(0); }, "batch must be > 0"));
}

TEST(Backbone, TypedLayerAccessNamesTheLayer) {
  models::CausalLM m(transformer_config());
  EXPECT_EQ(m.backbone->layer<blocks::TransformerBlock>(1).mlp.get(),
            dynamic_cast<blocks::TransformerBlock&>((*m.backbone->layers)[1]).mlp.get());
  EXPECT_TRUE(etest::throws_with<IndexError>(
      [&] { m.backbone->layer<blocks::TransformerBlock>(2); }, "layer 2 of 2"));
}

TEST(CausalLM, LastLogitsAreTheFullForwardsLastPosition) {
  models::CausalLM m(transformer_config());
  m.init_weights(0.3, 2);
  NoGradGuard ng;
  Generator gen(1);
  Tensor ids = randint(0, 53, {2, 9}, &gen);
  Tensor mask = from_vector(std::vector<int64_t>{0, 0, 1, 1, 1, 1, 1, 1, 1,  //
                                                 1, 1, 1, 1, 1, 1, 1, 1, 1},
                            {2, 9}, DType::I64);
  Tensor last = m.last_logits(ids, mask);  // (B, V)
  ASSERT_EQ(last.shape(), (Shape{2, 53}));
  Tensor full = m.forward(ids, mask).logits.narrow(1, 8, 1).reshape({2, 53});
  // The same hidden states; only the head's GEMM (M = 2 vs M = 18) may sum in another order.
  Tensor h = m.backbone->forward(ids, mask).last_hidden_state.narrow(1, 8, 1).reshape({2, 24});
  EXPECT_TRUE(etest::within(etest::values(last), etest::values(full),
                            etest::matmul_bound(h, m.lm_head->weight_matrix().transpose(0, 1), 2)));
  // With a cache it advances it, as forward does.
  auto cache = m.make_cache(2);
  m.last_logits(ids, mask, cache.get());
  EXPECT_EQ(cache->length(), 9);
}
