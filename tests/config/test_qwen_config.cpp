// QwenConfig: the published Qwen2.5 / Qwen3 config.json files read strictly, their parameter
// counts, the per-layer sliding windows, the Qwen2 / Qwen3 differences (biases, q/k norms,
// head_dim) in the generic config, and the errors a bad file gets.
#include <gtest/gtest.h>

#include "lazarus/core/error.h"
#include "lazarus/families/qwen/qwen.h"
#include "lazarus/families/registry.h"

using namespace lazarus;
using lazarus::config::Json;
using lazarus::families::QwenConfig;

namespace {

// Qwen/Qwen2.5-0.5B's config.json as published (keys and values).
const char* kQwen25_05B = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
  "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
  "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.40.1", "use_cache": true, "use_sliding_window": false,
  "vocab_size": 151936})";

// Qwen/Qwen3-0.6B's config.json as published.
const char* kQwen3_06B = R"({
  "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
  "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": 3072,
  "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
  "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "transformers_version": "4.51.0",
  "use_cache": true, "use_sliding_window": false, "vocab_size": 151936})";

std::string error_of(const Json& j) {
  try {
    QwenConfig::from_json(j, "config.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(QwenConfig, PublishedParameterCounts) {
  // The counts of the published safetensors (tied heads counted once).
  EXPECT_EQ(QwenConfig::preset("qwen2.5-0.5b").to_model_config().num_parameters(), 494'032'768);
  EXPECT_EQ(QwenConfig::preset("qwen2.5-1.5b").to_model_config().num_parameters(), 1'543'714'304);
  EXPECT_EQ(QwenConfig::preset("qwen3-0.6b").to_model_config().num_parameters(), 596'049'920);
  EXPECT_EQ(QwenConfig::preset("qwen3-1.7b").to_model_config().num_parameters(), 1'720'574'976);
  EXPECT_THROW(QwenConfig::preset("qwen4"), ConfigError);
}

TEST(QwenConfig, ReadsThePublishedFilesThroughTheRegistry) {
  Json q2 = Json::parse(kQwen25_05B), q3 = Json::parse(kQwen3_06B);
  EXPECT_EQ(families::family_for(q2).name, "qwen");
  EXPECT_EQ(families::family_for(q3).name, "qwen");
  EXPECT_EQ(families::model_config_for(q2).num_parameters(), 494'032'768);
  EXPECT_EQ(families::model_config_for(q3).num_parameters(), 596'049'920);
  EXPECT_EQ(QwenConfig::from_json(q2), QwenConfig::preset("qwen2.5-0.5b"));
  EXPECT_EQ(QwenConfig::from_json(q3), QwenConfig::preset("qwen3-0.6b"));

  // Qwen2: q/k/v biases, no o_proj bias, no q/k norm, head_dim = hidden / heads.
  auto a2 = families::model_config_for(q2).backbone.block.attention;
  EXPECT_TRUE(a2.bias);
  EXPECT_FALSE(a2.output_bias);
  EXPECT_FALSE(a2.qk_norm);
  EXPECT_EQ(a2.head_dim, 64);
  EXPECT_FALSE(a2.sliding_window);  // use_sliding_window false: the 32768 is not used
  // Qwen3: q/k RMSNorm with the model's eps, head_dim 128 (not 1024 / 16), no biases.
  auto a3 = families::model_config_for(q3).backbone.block.attention;
  ASSERT_TRUE(a3.qk_norm);
  EXPECT_EQ(a3.qk_norm->type, config::NormType::RMSNorm);
  EXPECT_EQ(a3.qk_norm->eps, 1e-6);
  EXPECT_EQ(a3.head_dim, 128);
  EXPECT_FALSE(a3.bias);
  EXPECT_FALSE(a3.output_bias);
  // Qwen3 without head_dim takes transformers' default 128, not hidden / heads.
  q3.erase("head_dim");
  EXPECT_EQ(QwenConfig::from_json(q3).resolved_head_dim(), 128);
}

TEST(QwenConfig, RoundTripsTheFileTransformersWrites) {
  for (const auto& name : QwenConfig::preset_names()) {
    SCOPED_TRACE(name);
    QwenConfig c = QwenConfig::preset(name);
    QwenConfig back = QwenConfig::from_json(c.to_json());
    EXPECT_EQ(back, c);
    EXPECT_EQ(back.to_json().dump(), c.to_json().dump());
  }
}

TEST(QwenConfig, SlidingWindowsFollowLayerTypes) {
  Json j = Json::parse(kQwen25_05B);
  j["num_hidden_layers"] = 6;
  j["use_sliding_window"] = true;
  j["sliding_window"] = 512;
  j["max_window_layers"] = 4;  // layers 4, 5 slide: the rarer kind become overrides
  auto b = QwenConfig::from_json(j).to_model_config().backbone;
  for (int64_t l = 0; l < 6; ++l)
    EXPECT_EQ(b.block_for(l).attention.sliding_window, l >= 4 ? std::optional<int64_t>(512)
                                                               : std::nullopt)
        << "layer " << l;
  EXPECT_EQ(b.block_overrides.size(), 2u);
  j["max_window_layers"] = 1;  // layers 1..5 slide: the base block slides, layer 0 is an override
  b = QwenConfig::from_json(j).to_model_config().backbone;
  EXPECT_EQ(b.block.attention.sliding_window, 512);
  ASSERT_EQ(b.block_overrides.size(), 1u);
  EXPECT_FALSE(b.block_for(0).attention.sliding_window);
  j["layer_types"] = {"sliding_attention", "full_attention", "full_attention",
                      "full_attention",    "full_attention", "sliding_attention"};
  b = QwenConfig::from_json(j).to_model_config().backbone;
  for (int64_t l = 0; l < 6; ++l)
    EXPECT_EQ(b.block_for(l).attention.sliding_window.has_value(), l == 0 || l == 5) << l;
  j["use_sliding_window"] = false;  // HF: sliding_window = None, layer_types notwithstanding
  b = QwenConfig::from_json(j).to_model_config().backbone;
  for (int64_t l = 0; l < 6; ++l) EXPECT_FALSE(b.block_for(l).attention.sliding_window) << l;
}

TEST(QwenConfig, BadFilesNameTheKeyAndValue) {
  const Json good = Json::parse(kQwen3_06B);
  auto with = [&](const char* key, Json v) {
    Json j = good;
    j[key] = std::move(v);
    return error_of(j);
  };
  EXPECT_EQ(error_of(good), "");
  EXPECT_NE(with("use_mrope", true).find("config.json.use_mrope: true"), std::string::npos);
  EXPECT_NE(with("layer_types", {"full_attention"}).find("layer_types: 1 entries"),
            std::string::npos);
  EXPECT_NE(with("layer_types", Json(std::vector<std::string>(28, "chunked_attention")))
                .find("layer_types[0]: 'chunked_attention'"),
            std::string::npos);
  EXPECT_NE(with("num_key_value_heads", 3).find("num_key_value_heads: 3"), std::string::npos);
  EXPECT_NE(with("head_dim", 7).find("head_dim: 7"), std::string::npos);
  EXPECT_NE(with("eos_token_id", 151936).find("eos_token_id: 151936"), std::string::npos);
  EXPECT_NE(with("rope_scaling", {{"rope_type", "longrope2"}}).find("rope_scaling"),
            std::string::npos);
  EXPECT_NE(with("hidden_size", "1024").find("hidden_size: expected an integer"),
            std::string::npos);
  EXPECT_NE(with("model_type", "qwen9").find("model_type: 'qwen9' is not a Qwen type"),
            std::string::npos);
  Json missing = good;
  missing.erase("num_hidden_layers");
  EXPECT_NE(error_of(missing).find("num_hidden_layers: missing required field"),
            std::string::npos);
  // A hostile layer count with a sliding window is refused before any per-layer work.
  Json huge = good;
  huge["use_sliding_window"] = true;
  huge["sliding_window"] = 4096;
  huge["num_hidden_layers"] = int64_t(1) << 40;
  huge["max_window_layers"] = int64_t(1) << 39;
  EXPECT_NE(error_of(huge).find("at most 65536"), std::string::npos);
}
