// Hierarchy configs: defaults, validation messages (field path + value), strict JSON round-trip,
// unknown keys and wrong types, equality and modified copies, enum strings.
#include <gtest/gtest.h>

#include <algorithm>

#include "lazarus/config/model_config.h"
#include "lazarus/core/error.h"

using namespace lazarus;
using namespace lazarus::config;

namespace {

ModelConfig small_model() {
  ModelConfig m;
  m.backbone.embedding.vocab_size = 128;
  m.backbone.hidden_size = 64;
  m.backbone.num_layers = 2;
  m.backbone.block.attention.type = AttentionType::GroupedQuery;
  m.backbone.block.attention.num_attention_heads = 8;
  m.backbone.block.attention.num_key_value_heads = 2;
  m.backbone.block.ffn.intermediate_size = 96;
  return m;
}

// Runs f, expects a ConfigError whose message contains every needle.
template <class F>
void expect_config_error(F&& f, std::initializer_list<const char*> needles) {
  try {
    f();
    ADD_FAILURE() << "no ConfigError thrown";
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    for (const char* n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
}

}  // namespace

TEST(Enums, StringsRoundTrip) {
  for (auto v :
       {AttentionType::MultiHead, AttentionType::GroupedQuery, AttentionType::MultiQuery}) {
    EXPECT_EQ(enum_from_string<AttentionType>(to_string(v), "x"), v);
  }
  for (auto v : {FFNType::MLP, FFNType::SwiGLU, FFNType::GeGLU, FFNType::Gated}) {
    EXPECT_EQ(enum_from_string<FFNType>(to_string(v), "x"), v);
  }
  for (auto v :
       {ActivationType::ReLU, ActivationType::GELU, ActivationType::GELUTanh, ActivationType::SiLU,
        ActivationType::Tanh, ActivationType::Sigmoid, ActivationType::Identity}) {
    EXPECT_EQ(enum_from_string<ActivationType>(to_string(v), "x"), v);
  }
  for (auto v : {RoPEScalingType::None, RoPEScalingType::Linear, RoPEScalingType::Dynamic,
                 RoPEScalingType::Llama3, RoPEScalingType::Yarn}) {
    EXPECT_EQ(enum_from_string<RoPEScalingType>(to_string(v), "x"), v);
  }
  EXPECT_EQ(to_string(NormType::RMSNorm), "rms_norm");
  EXPECT_EQ(to_string(PositionEmbeddingType::ALiBi), "alibi");
  EXPECT_EQ(to_string(BlockType::Mamba), "mamba");
  for (auto v : {RecurrentType::LSTM, RecurrentType::GRU, RecurrentType::MinGRU}) {
    EXPECT_EQ(enum_from_string<RecurrentType>(to_string(v), "x"), v);
  }
  EXPECT_EQ(to_string(RecurrentType::MinGRU), "mingru");
  EXPECT_EQ(enum_from_string<ActivationType>("swish", "x"), ActivationType::SiLU);
  EXPECT_EQ(enum_from_string<ActivationType>("gelu_pytorch_tanh", "x"), ActivationType::GELUTanh);
  EXPECT_EQ(enum_from_string<RoPEScalingType>("default", "x"), RoPEScalingType::None);
  expect_config_error([] { enum_from_string<NormType>("batch_norm", "block.norm.type"); },
                      {"block.norm.type", "batch_norm", "rms_norm, layer_norm"});
}

TEST(ModelConfig, DefaultsValidateAndCount) {
  ModelConfig m = small_model();
  m.validate();
  // embed 128*64; per layer q 64*64, k/v 64*16 each, o 64*64, mlp 3*64*96, 2 norms; final norm;
  // head.
  int64_t layer = 64 * 64 * 2 + 2 * 64 * 16 + 3 * 64 * 96 + 2 * 64;
  EXPECT_EQ(m.num_parameters(), 128 * 64 + 2 * layer + 64 + 128 * 64);
  m.head.tie_word_embeddings = true;
  EXPECT_EQ(m.num_parameters(), 128 * 64 + 2 * layer + 64);
}

TEST(ModelConfig, ValidationNamesFieldAndValue) {
  auto bad = [](auto mutate, std::initializer_list<const char*> needles) {
    ModelConfig m = small_model();
    mutate(m);
    expect_config_error([&] { m.validate(); }, needles);
  };
  bad([](ModelConfig& m) { m.backbone.block.attention.num_key_value_heads = 3; },
      {"backbone.block.attention.num_key_value_heads", "3 does not divide num_attention_heads 8"});
  bad([](ModelConfig& m) { m.backbone.hidden_size = 60; },
      {"backbone.block.attention.num_attention_heads", "hidden_size 60", "8"});
  bad([](ModelConfig& m) { m.backbone.block.attention.type = AttentionType::MultiHead; },
      {"num_key_value_heads", "multi_head"});
  bad([](ModelConfig& m) { m.backbone.block.attention.type = AttentionType::MultiQuery; },
      {"num_key_value_heads", "2 must be 1"});
  bad([](ModelConfig& m) { m.backbone.block.attention.sliding_window = 0; },
      {"backbone.block.attention.sliding_window", "0"});
  bad([](ModelConfig& m) { m.backbone.block.attention.dropout = 1.5; },
      {"attention.dropout", "1.5", "[0, 1]"});
  bad([](ModelConfig& m) { m.backbone.block.ffn.intermediate_size = -4; },
      {"ffn.intermediate_size", "-4"});
  bad([](ModelConfig& m) { m.backbone.block.ffn.activation = ActivationType::ReLU; },
      {"ffn.activation", "relu", "swiglu"});
  bad([](ModelConfig& m) { m.backbone.block.norm.eps = 0; }, {"block.norm.eps", "0"});
  bad([](ModelConfig& m) { m.backbone.embedding.vocab_size = 0; },
      {"backbone.embedding.vocab_size", "0"});
  bad([](ModelConfig& m) { m.backbone.block.attention.position.rope.theta = -1; },
      {"attention.position.rope.theta", "-1"});
  bad(
      [](ModelConfig& m) {
        m.backbone.block.attention.position.rope.scaling = RoPEScalingType::Llama3;
        m.backbone.block.attention.position.rope.factor = 8;
      },
      {"rope.original_max_position_embeddings", "llama3"});
  bad(
      [](ModelConfig& m) {
        m.backbone.block.attention.position.rope.scaling = RoPEScalingType::Dynamic;
        m.backbone.block.attention.position.rope.factor = 0.5;
      },
      {"rope.factor", "0.5"});
  bad([](ModelConfig& m) { m.backbone.block_overrides[5] = m.backbone.block; },
      {"backbone.block_overrides.5", "out of range", "num_layers 2"});
  bad(
      [](ModelConfig& m) {
        m.backbone.block_overrides[1] = m.backbone.block;
        m.backbone.block_overrides[1].attention.num_key_value_heads = 5;
      },
      {"backbone.block_overrides.1.attention.num_key_value_heads", "5"});
  bad([](ModelConfig& m) { m.backbone.block.type = BlockType::Recurrent; },
      {"backbone.block.type", "'recurrent' blocks need a recurrent backbone"});
  bad([](ModelConfig& m) { m.backbone.type = BackboneType::Recurrent; },
      {"backbone.block.type", "'transformer' blocks need a transformer backbone"});
  bad(
      [](ModelConfig& m) {
        m.backbone.type = BackboneType::Recurrent;
        m.backbone.block.type = BlockType::Recurrent;
        m.backbone.block.recurrent.hidden_size = 0;
      },
      {"backbone.block.recurrent.hidden_size", "0"});
  bad(
      [](ModelConfig& m) {
        m.backbone.block.ffn.num_experts = 4;
        m.backbone.block.ffn.num_experts_per_tok = 5;
      },
      {"backbone.block.ffn.num_experts_per_tok", "5", "num_experts 4"});
  bad(
      [](ModelConfig& m) {
        m.backbone.block.ffn.num_experts = 4;
        m.backbone.block.ffn.num_experts_per_tok = 0;
      },
      {"backbone.block.ffn.num_experts_per_tok", "0"});
  bad([](ModelConfig& m) { m.backbone.block.ffn.num_experts = -1; },
      {"backbone.block.ffn.num_experts", "-1"});
  bad(
      [](ModelConfig& m) {
        m.backbone.block.ffn.num_experts = 4;
        m.backbone.block.ffn.router_aux_loss_coef = -0.5;
      },
      {"backbone.block.ffn.router_aux_loss_coef", "-0.5"});
  bad(
      [](ModelConfig& m) {
        m.backbone.block.ffn.num_experts = 4;
        m.backbone.block_overrides[1] = m.backbone.block;
        m.backbone.block_overrides[1].ffn.num_experts = 3;
      },
      {"layer 1.ffn.num_experts", "3", "4"});
  bad([](ModelConfig& m) { m.backbone.block.type = BlockType::Mamba; },
      {"backbone.block.type", "'mamba' blocks need a mamba backbone"});
  bad(
      [](ModelConfig& m) {
        m.head.tie_word_embeddings = true;
        m.head.bias = true;
      },
      {"head.bias"});
}

TEST(ModelConfig, JsonRoundTrip) {
  ModelConfig m = small_model();
  m.backbone.block.attention.sliding_window = 16;
  m.backbone.block.attention.position.rope.scaling = RoPEScalingType::Yarn;
  m.backbone.block.attention.position.rope.factor = 4;
  m.backbone.block.attention.position.rope.mscale = 0.7;
  m.backbone.block_overrides[1] = m.backbone.block;
  m.backbone.block_overrides[1].ffn = FFNConfig{FFNType::MLP, ActivationType::GELUTanh, 80, true};
  m.head.tie_word_embeddings = true;
  Json j = m.to_json();
  ModelConfig back = ModelConfig::from_json(j);
  EXPECT_EQ(back, m);
  EXPECT_EQ(back.to_json().dump(), j.dump());
  EXPECT_EQ(ModelConfig::from_json_string(j.dump(2)), m);
  EXPECT_NE(back.backbone.block_for(1), back.backbone.block_for(0));
}

TEST(ModelConfig, MinimalJsonTakesDefaults) {
  ModelConfig m = ModelConfig::from_json_string(R"({
    "backbone": {"vocab_size": 100, "hidden_size": 32, "num_layers": 1,
                 "block": {"attention": {"num_attention_heads": 4, "num_key_value_heads": 4},
                           "ffn": {"intermediate_size": 64}}}})");
  m.validate();
  EXPECT_EQ(m.backbone.block.norm.type, NormType::RMSNorm);
  EXPECT_EQ(m.backbone.block.ffn.type, FFNType::SwiGLU);
  EXPECT_EQ(m.backbone.block.attention.position.rope.theta, 10000.0);
  EXPECT_FALSE(m.head.tie_word_embeddings);
}

TEST(ModelConfig, UnknownKeysListed) {
  Json j = small_model().to_json();
  j["backbone"]["block"]["attention"]["num_heads"] = 8;
  j["backbone"]["block"]["attention"]["qk_layernorm"] = true;
  expect_config_error([&] { ModelConfig::from_json(j); },
                      {"backbone.block.attention", "unknown keys", "'num_heads'", "'qk_layernorm'"});
  Json k = small_model().to_json();
  k["extra"] = 1;
  expect_config_error([&] { ModelConfig::from_json(k); }, {"unknown key", "'extra'"});
}

TEST(ModelConfig, WrongTypesNameField) {
  Json j = small_model().to_json();
  j["backbone"]["hidden_size"] = "64";
  expect_config_error([&] { ModelConfig::from_json(j); },
                      {"backbone.hidden_size", "expected an integer", "string"});
  j = small_model().to_json();
  j["backbone"]["block"]["attention"]["position"]["rope"]["theta"] = true;
  expect_config_error([&] { ModelConfig::from_json(j); },
                      {"backbone.block.attention.position.rope.theta", "expected a number"});
  j = small_model().to_json();
  j["backbone"]["block"]["ffn"]["type"] = "moe";
  expect_config_error([&] { ModelConfig::from_json(j); }, {"backbone.block.ffn.type", "'moe'"});
  j = small_model().to_json();
  j["backbone"]["block"]["ffn"] = 3;
  expect_config_error([&] { ModelConfig::from_json(j); },
                      {"backbone.block.ffn", "expected an object"});
  j = small_model().to_json();
  j["backbone"]["block_overrides"] = Json{{"first", j["backbone"]["block"]}};
  expect_config_error([&] { ModelConfig::from_json(j); },
                      {"backbone.block_overrides", "'first'", "not a layer index"});
  expect_config_error([] { ModelConfig::from_json_string("{not json"); }, {"invalid JSON"});
}

TEST(ModelConfig, MissingRequiredFields) {
  Json j = small_model().to_json();
  j["backbone"]["embedding"].erase("vocab_size");
  expect_config_error([&] { ModelConfig::from_json(j); },
                      {"backbone.embedding.vocab_size", "missing"});
  j = small_model().to_json();
  j["backbone"].erase("embedding");
  expect_config_error([&] { ModelConfig::from_json(j); }, {"backbone.embedding", "missing"});
  j = small_model().to_json();
  j["backbone"]["block"].erase("ffn");
  expect_config_error([&] { ModelConfig::from_json(j); }, {"backbone.block.ffn", "missing"});
  expect_config_error([] { ModelConfig::from_json(Json::object()); }, {"backbone", "missing"});
}

TEST(ModelConfig, EqualityAndModifiedCopies) {
  ModelConfig a = small_model();
  ModelConfig b = with(a, [](ModelConfig& c) { c.backbone.num_layers = 3; });
  EXPECT_EQ(a.backbone.num_layers, 2);  // the original is untouched
  EXPECT_EQ(b.backbone.num_layers, 3);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, small_model());
  EXPECT_THROW(with(a, [](ModelConfig& c) { c.backbone.hidden_size = -1; }), ConfigError);
  RoPEConfig r = with(RoPEConfig{}, [](RoPEConfig& c) {
    c.scaling = RoPEScalingType::Linear;
    c.factor = 2;
  });
  EXPECT_EQ(r.factor, 2);
}

// PositionConfig and EmbeddingConfig: their own JSON sections, the flat form of earlier versions
// read to the same value, mixed forms and misplaced sections rejected with the field named.
TEST(ModelConfig, PositionAndEmbeddingSections) {
  const char* nested = R"({"backbone": {
      "embedding": {"vocab_size": 100, "max_position_embeddings": 64},
      "hidden_size": 32, "num_layers": 1,
      "block": {"attention": {"num_attention_heads": 4, "num_key_value_heads": 4,
                              "position": {"type": "rope", "rope": {"theta": 500000.0}}},
                "ffn": {"intermediate_size": 64}}}})";
  const char* flat = R"({"backbone": {
      "vocab_size": 100, "max_position_embeddings": 64, "hidden_size": 32, "num_layers": 1,
      "block": {"attention": {"num_attention_heads": 4, "num_key_value_heads": 4,
                              "position": "rope", "rope": {"theta": 500000.0}},
                "ffn": {"intermediate_size": 64}}}})";
  ModelConfig a = ModelConfig::from_json_string(nested);
  a.validate();
  EXPECT_EQ(a.backbone.embedding.vocab_size, 100);
  EXPECT_EQ(a.backbone.embedding.max_position_embeddings, 64);
  EXPECT_EQ(a.backbone.block.attention.position.type, PositionEmbeddingType::RoPE);
  EXPECT_EQ(a.backbone.block.attention.position.rope.theta, 500000.0);
  EXPECT_EQ(ModelConfig::from_json_string(flat), a);
  // Written in the nested form only.
  Json j = a.to_json();
  EXPECT_FALSE(j["backbone"].contains("vocab_size"));
  EXPECT_EQ(j["backbone"]["embedding"]["max_position_embeddings"], 64);
  EXPECT_FALSE(j["backbone"]["block"]["attention"].contains("rope"));
  EXPECT_EQ(j["backbone"]["block"]["attention"]["position"]["rope"]["theta"], 500000.0);

  // Only rope positions carry a rope section, in JSON and in validate().
  ModelConfig alibi = with(a, [](ModelConfig& m) {
    m.backbone.block.attention.position = PositionConfig{PositionEmbeddingType::ALiBi, {}};
  });
  Json ja = alibi.to_json();
  EXPECT_EQ(ja["backbone"]["block"]["attention"]["position"], Json({{"type", "alibi"}}));
  EXPECT_EQ(ModelConfig::from_json(ja), alibi);
  ja["backbone"]["block"]["attention"]["position"]["rope"] = RoPEConfig{}.to_json();
  expect_config_error([&] { ModelConfig::from_json(ja); },
                      {"backbone.block.attention.position.rope", "only rope", "'alibi'"});
  expect_config_error(
      [&] {
        with(alibi, [](ModelConfig& m) { m.backbone.block.attention.position.rope.theta = 7; });
      },
      {"backbone.block.attention.position.rope", "only rope positions", "'alibi'"});

  // One form at a time.
  j = a.to_json();
  j["backbone"]["vocab_size"] = 100;
  expect_config_error([&] { ModelConfig::from_json(j); },
                      {"backbone.vocab_size", "backbone.embedding", "one form"});
  j = a.to_json();
  j["backbone"]["block"]["attention"]["rope"] = RoPEConfig{}.to_json();
  expect_config_error([&] { ModelConfig::from_json(j); },
                      {"backbone.block.attention.rope", "backbone.block.attention.position"});

  // Unknown keys, wrong types and ranges inside the sections name them.
  j = a.to_json();
  j["backbone"]["embedding"]["padding"] = 0;
  expect_config_error([&] { ModelConfig::from_json(j); },
                      {"backbone.embedding", "unknown key", "'padding'"});
  j = a.to_json();
  j["backbone"]["block"]["attention"]["position"]["kind"] = "rope";
  expect_config_error([&] { ModelConfig::from_json(j); },
                      {"backbone.block.attention.position", "unknown key", "'kind'"});
  j = a.to_json();
  j["backbone"]["block"]["attention"]["position"]["type"] = "relative";
  expect_config_error([&] { ModelConfig::from_json(j); },
                      {"backbone.block.attention.position.type", "'relative'"});
  j = a.to_json();
  j["backbone"]["embedding"]["max_position_embeddings"] = 1.5;
  expect_config_error([&] { ModelConfig::from_json(j); },
                      {"backbone.embedding.max_position_embeddings", "expected an integer"});
  expect_config_error(
      [&] { with(a, [](ModelConfig& m) { m.backbone.embedding.max_position_embeddings = 0; }); },
      {"backbone.embedding.max_position_embeddings", "0"});

  // Equality and modified copies of the sections themselves.
  EmbeddingConfig e = a.backbone.embedding;
  EmbeddingConfig e2 = with(e, [](EmbeddingConfig& c) { c.vocab_size = 101; });
  EXPECT_NE(e, e2);
  EXPECT_EQ(e, a.backbone.embedding);
  PositionConfig p = a.backbone.block.attention.position;
  EXPECT_EQ(PositionConfig::from_json(p.to_json()), p);
  EXPECT_THROW(with(p, [](PositionConfig& c) { c.type = PositionEmbeddingType::Learned; }),
               ConfigError);  // rope theta 500000 is not the default
  // The learned table counts max_position_embeddings x hidden_size parameters, others none.
  EXPECT_EQ(e.num_parameters(32, PositionEmbeddingType::Learned), (100 + 64) * 32);
  EXPECT_EQ(e.num_parameters(32, PositionEmbeddingType::Sinusoidal), 100 * 32);

  // padding_idx: optional, in [0, vocab_size), round-trips.
  EXPECT_FALSE(e.padding_idx.has_value());
  ModelConfig padded = with(a, [](ModelConfig& m) { m.backbone.embedding.padding_idx = 99; });
  EXPECT_EQ(ModelConfig::from_json(padded.to_json()), padded);
  expect_config_error(
      [&] { with(a, [](ModelConfig& m) { m.backbone.embedding.padding_idx = 100; }); },
      {"backbone.embedding.padding_idx", "100", "vocab_size 100"});
  j = padded.to_json();
  j["backbone"]["embedding"]["padding_idx"] = "0";
  expect_config_error([&] { ModelConfig::from_json(j); },
                      {"backbone.embedding.padding_idx", "expected an integer"});
}

// The stack's parameter count comes from the distinct blocks and their layer counts, not a loop
// over the layers: it must equal the per-layer sum for every layout, with overrides anywhere.
TEST(ModelConfig, ParameterCountMatchesPerLayerSumForEveryLayout) {
  for (HybridLayout layout : {HybridLayout::Alternating, HybridLayout::Interleaved}) {
    for (int64_t ratio : {1, 2, 3, 7}) {
      for (int64_t L : {1, 2, 3, 4, 7, 8, 9, 16}) {
        ModelConfig m = small_model();
        auto& bb = m.backbone;
        bb.type = BackboneType::Hybrid;
        bb.layout = layout;
        bb.layout_ratio = ratio;
        bb.num_layers = L;
        BlockConfig sec = bb.block;
        sec.ffn.intermediate_size = 40;
        bb.secondary_block = sec;
        BlockConfig ov = bb.block;
        ov.ffn.intermediate_size = 24;
        bb.block_overrides[0] = ov;
        if (L > 3) bb.block_overrides[3] = ov;
        m.validate();
        int64_t want = bb.embedding.num_parameters(bb.hidden_size, bb.input_position()) +
                       bb.final_norm.num_parameters(bb.hidden_size);
        for (int64_t i = 0; i < L; ++i) want += bb.block_for(i).num_parameters(bb.hidden_size);
        EXPECT_EQ(bb.num_parameters(), want) << to_string(layout) << " ratio " << ratio << " L " << L;
        // The representative layers cover every block the stack uses.
        std::vector<const BlockConfig*> used, seen;
        for (int64_t i = 0; i < L; ++i) used.push_back(&bb.block_for(i));
        for (int64_t i : bb.representative_layers()) seen.push_back(&bb.block_for(i));
        for (auto* b : used)
          EXPECT_NE(std::find(seen.begin(), seen.end(), b), seen.end()) << "L " << L;
      }
    }
  }
}

// Sizes from a file whose product does not fit in 64 bits are an error naming the part, never a
// wrapped count; 2^62 layers are counted without a loop over them.
TEST(ModelConfig, ParameterCountOverflowIsAnErrorAndNeverLoops) {
  ModelConfig m = small_model();
  m.backbone.num_layers = int64_t(1) << 62;
  expect_config_error([&] { (void)m.num_parameters(); },
                      {"backbone.num_layers 4611686018427387904", "overflows 64-bit integers"});
  m = small_model();
  m.backbone.embedding.vocab_size = int64_t(1) << 33;
  m.backbone.hidden_size = int64_t(1) << 31;
  expect_config_error([&] { (void)m.num_parameters(); },
                      {"embedding (vocab_size 8589934592, hidden_size 2147483648",
                       "overflows 64-bit integers"});
  m = small_model();
  m.backbone.num_layers = 1'000'000'000;
  int64_t layer = 64 * 64 * 2 + 2 * 64 * 16 + 3 * 64 * 96 + 2 * 64;
  EXPECT_EQ(m.num_parameters(), 128 * 64 + 1'000'000'000LL * layer + 64 + 128 * 64);
}
