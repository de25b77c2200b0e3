// MambaConfig (HF config.json of MambaForCausalLM) and the SSM parts of the generic configs: every
// validation rule names the field and the value, strict JSON (unknown keys, wrong types, keys that
// would change the math), "auto" time_step_rank, round trips.
#include <gtest/gtest.h>

#include "lazarus/config/field_table.h"
#include "lazarus/config/model_config.h"
#include "lazarus/families/mamba/mamba_config.h"

using namespace lazarus;
using lazarus::families::MambaConfig;

namespace {

void expect_error(const std::function<void()>& fn, std::vector<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "no ConfigError (expected one mentioning " << needles[0] << ")";
  } catch (const ConfigError& e) {
    std::string w = e.what();
    for (auto& n : needles) EXPECT_NE(w.find(n), std::string::npos) << "'" << w << "' lacks " << n;
  }
}

void bad(const std::function<void(MambaConfig&)>& edit, std::vector<std::string> needles) {
  MambaConfig c = MambaConfig::tiny();
  edit(c);
  expect_error([&] { c.validate(); }, needles);
}

}  // namespace

TEST(MambaConfig, EveryRuleNamesFieldAndValue) {
  bad([](MambaConfig& c) { c.hidden_size = 0; }, {"hidden_size", "0"});
  bad([](MambaConfig& c) { c.vocab_size = -3; }, {"vocab_size", "-3"});
  bad([](MambaConfig& c) { c.state_size = 0; }, {"state_size", "0"});
  bad([](MambaConfig& c) { c.num_hidden_layers = 0; }, {"num_hidden_layers", "0"});
  bad([](MambaConfig& c) { c.layer_norm_epsilon = 0; }, {"layer_norm_epsilon", "0"});
  bad([](MambaConfig& c) { c.expand = 0; }, {"expand", "0"});
  bad([](MambaConfig& c) { c.conv_kernel = -1; }, {"conv_kernel", "-1"});
  bad([](MambaConfig& c) { c.time_step_rank = 0; }, {"time_step_rank", "0"});
  bad([](MambaConfig& c) { c.time_step_min = 0; }, {"time_step_min", "0"});
  bad([](MambaConfig& c) { c.time_step_max = 1e-4; }, {"time_step_max", "0.0001"});
  bad([](MambaConfig& c) { c.time_step_init_scheme = "xavier"; },
      {"time_step_init_scheme", "xavier"});
  bad([](MambaConfig& c) { c.eos_token_id = {300}; }, {"eos_token_id", "300", "256"});
  bad([](MambaConfig& c) { c.pad_token_id = -1; }, {"pad_token_id", "-1"});
  bad([](MambaConfig& c) { c.model_type = "llama"; }, {"model_type", "llama"});
  bad([](MambaConfig& c) { c.initializer_range = -0.1; }, {"initializer_range", "-0.1"});
}

TEST(MambaConfig, StrictJson) {
  auto parse = [](const std::string& s) { return MambaConfig::from_json_string(s); };
  MambaConfig c = parse(R"({"hidden_size": 48, "num_hidden_layers": 3, "vocab_size": 100,
                           "time_step_rank": "auto", "use_bias": false})");
  EXPECT_EQ(c.resolved_time_step_rank(), 3);  // ceil(48 / 16)
  EXPECT_EQ(c.intermediate_size(), 96);
  EXPECT_TRUE(c.tie_word_embeddings);  // HF default
  EXPECT_EQ(parse(R"({"hidden_size": 40, "vocab_size": 10, "time_step_rank": 7})")
                .resolved_time_step_rank(),
            7);
  EXPECT_EQ(parse(R"({"hidden_size": 40, "vocab_size": 10})").resolved_time_step_rank(), 3);
  {  // Keys nobody knows are warnings, in file order.
    config::ConfigWarnings w;
    parse(R"({"hidden_size": 48, "vocab_size": 9, "mystery": 1, "d_state": 4})");
    ASSERT_EQ(w.list().size(), 2u);
    EXPECT_NE(w.list()[0].find("unknown key 'mystery'"), std::string::npos) << w.list()[0];
    EXPECT_NE(w.list()[1].find("unknown key 'd_state'"), std::string::npos) << w.list()[1];
  }
  expect_error([&] { parse(R"({"vocab_size": 9, "state_size": "16"})"); },
               {"state_size", "expected an integer", "\"16\""});
  expect_error([&] { parse(R"({"vocab_size": 9, "time_step_rank": "half"})"); },
               {"time_step_rank", "auto", "half"});
  expect_error([&] { parse(R"({"vocab_size": 9, "hidden_act": "swiglu"})"); },
               {"hidden_act", "swiglu"});
  // Keys that restate others must agree; keys that would change the math are refused.
  expect_error([&] { parse(R"({"hidden_size": 32, "vocab_size": 9, "intermediate_size": 100})"); },
               {"intermediate_size", "100", "64"});
  expect_error([&] { parse(R"({"num_hidden_layers": 4, "vocab_size": 9, "n_layer": 5})"); },
               {"n_layer", "5", "4"});
  expect_error([&] { parse(R"({"hidden_size": 32, "vocab_size": 9, "d_model": 48})"); },
               {"d_model: 48 does not match hidden_size 32"});
  expect_error([&] { parse(R"({"hidden_size": 32, "vocab_size": 9, "d_inner": 48})"); },
               {"d_inner: 48 does not match expand * hidden_size = 64"});
  expect_error([&] { parse(R"({"vocab_size": 9, "d_intermediate": 256})"); },
               {"d_intermediate: 256 is not supported"});
  expect_error([&] { parse(R"({"vocab_size": 9, "quantization_config": {"bits": 4}})"); },
               {"quantization_config", "not supported"});
  expect_error([&] { parse(R"({"vocab_size": 9, "rms_norm": false})"); }, {"rms_norm", "false"});
  expect_error([&] { parse(R"({"vocab_size": 9, "ssm_cfg": {"layer": "Mamba2"}})"); },
               {"ssm_cfg", "Mamba2"});
  expect_error([&] { parse(R"({"vocab_size": 9, "expand": 0})"); }, {"expand", "0"});
  expect_error([&] { parse("{\"vocab_size\": 9,"); }, {"invalid JSON"});
  // Bookkeeping and implementation switches are accepted.
  EXPECT_NO_THROW(parse(R"({"vocab_size": 9, "use_cache": true, "use_mambapy": false,
                            "fused_add_norm": true, "pad_vocab_size_multiple": 8,
                            "transformers_version": "4.44", "ssm_cfg": {}, "d_model": 768,
                            "n_layer": 32, "d_inner": 1536, "rms_norm": true,
                            "residual_in_fp32": true, "tie_embeddings": true})"));
}

TEST(MambaConfig, RoundTripAndGenericMapping) {
  for (auto& n : MambaConfig::preset_names()) {
    MambaConfig p = MambaConfig::preset(n);
    MambaConfig back = MambaConfig::from_json(p.to_json());
    back.time_step_rank = p.time_step_rank = p.resolved_time_step_rank();  // written resolved
    EXPECT_EQ(back, p) << n;
    config::ModelConfig m = p.to_model_config();
    EXPECT_EQ(config::ModelConfig::from_json(m.to_json()), m) << n;
    EXPECT_EQ(m.num_parameters(), p.num_parameters()) << n;
  }
  config::ModelConfig m = MambaConfig::mamba_130m().to_model_config();
  EXPECT_EQ(m.backbone.type, config::BackboneType::Mamba);
  EXPECT_EQ(m.backbone.block.ssm.resolved_intermediate_size(768), 1536);
  EXPECT_TRUE(m.head.tie_word_embeddings);
}

TEST(SSMConfig, GenericValidationAndStrictSections) {
  config::ModelConfig m = MambaConfig::tiny().to_model_config();
  auto bad_model = [&](const std::function<void(config::ModelConfig&)>& edit,
                       std::vector<std::string> needles) {
    config::ModelConfig c = m;
    edit(c);
    expect_error([&] { c.validate(); }, needles);
  };
  bad_model([](auto& c) { c.backbone.block.ssm.state_size = 0; },
            {"backbone.block.ssm.state_size", "0"});
  bad_model([](auto& c) { c.backbone.block.ssm.conv_kernel = 0; },
            {"backbone.block.ssm.conv_kernel", "0"});
  bad_model([](auto& c) { c.backbone.block.ssm.intermediate_size = -2; },
            {"backbone.block.ssm.intermediate_size", "-2"});
  bad_model([](auto& c) { c.backbone.block.ssm.time_step_rank = 0; },
            {"backbone.block.ssm.time_step_rank", "0"});
  bad_model([](auto& c) { c.backbone.block.ssm.expand = 0; }, {"backbone.block.ssm.expand", "0"});
  bad_model(
      [](auto& c) {
        c.backbone.block_overrides[1] = config::BlockConfig{};  // a transformer block
        c.backbone.block_overrides[1].ffn.intermediate_size = 8;
      },
      {"backbone.block_overrides.1.type", "'transformer' blocks need a transformer backbone"});
  // A mamba block's JSON must not carry another type's sections, and vice versa.
  expect_error(
      [] {
        config::BlockConfig::from_json(
            config::Json::parse(R"({"type": "mamba", "ffn": {"intermediate_size": 8}})"), "block");
      },
      {"block", "unknown key", "'ffn'"});
  expect_error(
      [] {
        config::BlockConfig::from_json(
            config::Json::parse(R"({"ffn": {"intermediate_size": 8}, "ssm": {}})"), "block");
      },
      {"block", "unknown key", "'ssm'"});
  expect_error(
      [] {
        config::SSMConfig::from_json(config::Json::parse(R"({"state_size": 4, "d_conv": 4})"),
                                     "block.ssm");
      },
      {"block.ssm", "'d_conv'"});
  expect_error(
      [] {
        config::SSMConfig::from_json(config::Json::parse(R"({"type": "mamba2"})"), "block.ssm");
      },
      {"block.ssm.type", "mamba2"});
}
