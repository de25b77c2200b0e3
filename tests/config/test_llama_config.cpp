// LlamaConfig: published parameter counts of every preset (computed without allocating), HF
// config.json reading (strict) and round-trip, validation messages.
#include <gtest/gtest.h>

#include "lazarus/config/field_table.h"
#include "lazarus/core/error.h"
#include "lazarus/families/llama/llama_config.h"

using namespace lazarus;
using lazarus::config::Json;
using lazarus::families::LlamaConfig;

TEST(LlamaConfig, PresetParameterCountsArePublished) {
  EXPECT_EQ(LlamaConfig::llama2_7b().num_parameters(), 6'738'415'616);
  EXPECT_EQ(LlamaConfig::llama2_13b().num_parameters(), 13'015'864'320);
  EXPECT_EQ(LlamaConfig::llama2_70b().num_parameters(), 68'976'648'192);
  EXPECT_EQ(LlamaConfig::llama3_8b().num_parameters(), 8'030'261'248);
  EXPECT_EQ(LlamaConfig::llama3_70b().num_parameters(), 70'553'706'496);
  EXPECT_EQ(LlamaConfig::mistral_7b().num_parameters(), 7'241'732'096);
  EXPECT_EQ(LlamaConfig::code_llama_7b().num_parameters(), 6'738'546'688);
  EXPECT_EQ(LlamaConfig::smollm2_135m().num_parameters(), 134'515'008);
  EXPECT_EQ(LlamaConfig::tinyllama_1_1b().num_parameters(), 1'100'048'384);
  EXPECT_EQ(LlamaConfig::tiny().num_parameters(), 106'816);
}

TEST(LlamaConfig, PresetsValidateAndRoundTrip) {
  for (const auto& name : LlamaConfig::preset_names()) {
    SCOPED_TRACE(name);
    LlamaConfig c = LlamaConfig::preset(name);
    c.validate();
    LlamaConfig back = LlamaConfig::from_json(c.to_json());
    EXPECT_EQ(back, c);
    EXPECT_EQ(back.to_json().dump(), c.to_json().dump());
  }
  EXPECT_THROW(LlamaConfig::preset("llama4"), ConfigError);
  EXPECT_EQ(LlamaConfig::mistral_7b().sliding_window, 4096);
  EXPECT_EQ(LlamaConfig::mistral_7b().to_model_config().backbone.block.attention.type,
            config::AttentionType::GroupedQuery);
  EXPECT_EQ(LlamaConfig::llama2_7b().to_model_config().backbone.block.attention.type,
            config::AttentionType::MultiHead);
}

TEST(LlamaConfig, ReadsHuggingFaceConfigJson) {
  // The shape of meta-llama/Llama-3.2-1B's config.json (published values).
  const char* text = R"({
    "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu",
    "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
    "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
    "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256})";
  LlamaConfig c = LlamaConfig::from_json_string(text);
  EXPECT_EQ(c.rope_scaling.scaling, config::RoPEScalingType::Llama3);
  EXPECT_EQ(c.rope_scaling.factor, 32.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.num_parameters(), 1'235'814'400);  // Llama-3.2-1B
  EXPECT_EQ(LlamaConfig::from_json(c.to_json()), c);
}

TEST(LlamaConfig, StrictKeysAndTypes) {
  Json j = LlamaConfig::tiny().to_json();
  j["num_experts"] = 8;
  j["qk_layernorm"] = true;
  try {
    LlamaConfig::from_json(j);
    FAIL();
  } catch (const ConfigError& e) {
    std::string m = e.what();
    // Keys that change the math unless neutral: one error names every one, with its value.
    EXPECT_NE(m.find("num_experts: 8 is not supported"), std::string::npos) << m;
    EXPECT_NE(m.find("qk_layernorm: true is not supported"), std::string::npos) << m;
  }
  // A key nobody knows is a warning (collected by the innermost ConfigWarnings), not an error.
  j = LlamaConfig::tiny().to_json();
  j["mystery_knob"] = 3;
  {
    config::ConfigWarnings w;
    EXPECT_EQ(LlamaConfig::from_json(j), LlamaConfig::tiny());
    ASSERT_EQ(w.list().size(), 1u);
    EXPECT_NE(w.list()[0].find("unknown key 'mystery_knob' (= 3) ignored"), std::string::npos)
        << w.list()[0];
  }
  j = LlamaConfig::tiny().to_json();
  j["rope_scaling"] = Json{{"rope_type", "linear"}, {"factor", 2.0}, {"beta", 1}};
  EXPECT_THROW(LlamaConfig::from_json(j), ConfigError);
  j = LlamaConfig::tiny().to_json();
  j["rope_scaling"] = Json{{"type", "dynamic"}, {"factor", 2.0}};  // the older key
  EXPECT_EQ(LlamaConfig::from_json(j).rope_scaling.scaling, config::RoPEScalingType::Dynamic);
  j = LlamaConfig::tiny().to_json();
  j["num_hidden_layers"] = 2.5;
  try {
    LlamaConfig::from_json(j);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("num_hidden_layers: expected an integer"),
              std::string::npos)
        << e.what();
  }
  j = LlamaConfig::tiny().to_json();
  j["hidden_act"] = "gelu_pytorch_tanh";  // GeGLU-style gated FFN, HF's name written back
  LlamaConfig g = LlamaConfig::from_json(j);
  EXPECT_EQ(g.hidden_act, config::ActivationType::GELUTanh);
  EXPECT_EQ(g.to_model_config().backbone.block.ffn.type, config::FFNType::Gated);
  EXPECT_EQ(g.to_json()["hidden_act"], "gelu_pytorch_tanh");
  EXPECT_EQ(LlamaConfig::from_json(g.to_json()), g);
  j = LlamaConfig::tiny().to_json();
  j["eos_token_id"] = Json::array({1, 2, 3});
  EXPECT_EQ(LlamaConfig::from_json(j).eos_token_id, (std::vector<int64_t>{1, 2, 3}));
}

TEST(LlamaConfig, ValidationMessages) {
  auto msg_of = [](const LlamaConfig& c) -> std::string {
    try {
      c.validate();
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  LlamaConfig c = LlamaConfig::tiny();
  c.num_attention_heads = 8;
  c.num_key_value_heads = 3;
  EXPECT_NE(msg_of(c).find("num_key_value_heads: 3 does not divide num_attention_heads 8"),
            std::string::npos);
  c = LlamaConfig::tiny();
  c.hidden_size = 66;
  EXPECT_NE(msg_of(c).find("hidden_size: 66 is not divisible by num_attention_heads 4"),
            std::string::npos);
  c = LlamaConfig::tiny();
  c.rms_norm_eps = -1;
  EXPECT_NE(msg_of(c).find("rms_norm_eps: -1"), std::string::npos);
  c = LlamaConfig::tiny();
  c.sliding_window = 0;
  EXPECT_NE(msg_of(c).find("sliding_window: 0"), std::string::npos);
  c = LlamaConfig::tiny();
  c.eos_token_id = {999};
  EXPECT_NE(msg_of(c).find("eos_token_id: 999 out of range"), std::string::npos);
  c = LlamaConfig::tiny();
  c.rope_scaling.scaling = config::RoPEScalingType::Llama3;
  c.rope_scaling.factor = 8;
  EXPECT_NE(msg_of(c).find("rope_scaling.original_max_position_embeddings"), std::string::npos);
  c = LlamaConfig::tiny();
  c.model_type = "gpt2";
  EXPECT_NE(msg_of(c).find("model_type: 'gpt2'"), std::string::npos);
  c = LlamaConfig::tiny();
  c.pad_token_id = c.vocab_size;
  EXPECT_NE(msg_of(c).find("pad_token_id: 256 out of range"), std::string::npos) << msg_of(c);
}

// HF's LlamaModel builds embed_tokens with padding_idx = pad_token_id (negative counts from the
// end, as torch reads it).
TEST(LlamaConfig, PadTokenIsTheEmbeddingPaddingIdx) {
  LlamaConfig c = LlamaConfig::tiny();
  EXPECT_FALSE(c.to_model_config().backbone.embedding.padding_idx.has_value());
  c.pad_token_id = 5;
  EXPECT_EQ(c.to_model_config().backbone.embedding.padding_idx, 5);
  c.pad_token_id = -1;
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(c.to_model_config().backbone.embedding.padding_idx, c.vocab_size - 1);
}
