// Real config.json files (tests/data/hf_configs/, as published on the Hub, leftover keys and all)
// load through the family registry and give the published parameter counts
// (tests/data/hf_configs/expected.json; count_params.py there recomputes them independently).
// A file whose model_type has no registered family yet is skipped, saying so, and is checked
// automatically once its family is registered. Also the key policy on real files: a duplicated
// key that disagrees is an error naming both keys, an unknown key a warning, a
// quantization_config an error.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lazarus/core/error.h"
#include "lazarus/families/registry.h"

using namespace lazarus;
using config::Json;
namespace fs = std::filesystem;

namespace {

const fs::path kDir = fs::path(LAZARUS_TEST_DATA) / "hf_configs";

Json read(const fs::path& p) {
  std::ifstream f(p);
  if (!f) throw std::runtime_error("cannot open " + p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return Json::parse(ss.str());
}

std::vector<std::string> corpus_files() {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(kDir))
    if (e.path().extension() == ".json" && e.path().filename() != "expected.json")
      names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool has_family(const std::string& model_type) {
  for (auto& f : families::registered_families())
    if (std::find(f.model_types.begin(), f.model_types.end(), model_type) != f.model_types.end())
      return true;
  return false;
}

template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

class HfConfigCorpus : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST(HfConfigCorpus, EveryFileHasAnExpectedCount) {
  const Json expected = read(kDir / "expected.json");
  const auto files = corpus_files();
  EXPECT_GE(files.size(), 13u);
  for (auto& f : files) EXPECT_TRUE(expected.contains(f)) << f << " has no entry in expected.json";
  for (auto it = expected.begin(); it != expected.end(); ++it)
    EXPECT_TRUE(fs::exists(kDir / it.key())) << "expected.json names a missing file " << it.key();
}

TEST_P(HfConfigCorpus, LoadsWithThePublishedParameterCount) {
  const std::string name = GetParam();
  const Json j = read(kDir / name);
  const std::string type = j.at("model_type").get<std::string>();
  if (!has_family(type))
    GTEST_SKIP() << name << ": no family registered for model_type '" << type
                 << "' yet; this file is checked once one is";
  const Json e = read(kDir / "expected.json").at(name);
  std::vector<std::string> warnings;
  ASSERT_NO_THROW(warnings = families::config_warnings(j, name))
      << error_of([&] { families::model_config_for(j, name); });
  // Every key of a published file is known: read, restated, neutral or harmless.
  std::vector<std::string> allowed;
  if (e.contains("warnings")) allowed = e["warnings"].get<std::vector<std::string>>();
  EXPECT_EQ(warnings, allowed);
  EXPECT_EQ(families::model_config_for(j, name).num_parameters(), e.at("params").get<int64_t>());
}

INSTANTIATE_TEST_SUITE_P(Files, HfConfigCorpus, ::testing::ValuesIn(corpus_files()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string s = p.param.substr(0, p.param.size() - 5);  // no .json
                           for (char& c : s)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

TEST(HfConfigPolicy, DuplicatedKeysMustAgree) {
  Json j = read(kDir / "state-spaces--mamba-130m-hf.json");
  j["d_model"] = 1024;
  std::string m = error_of([&] { families::model_config_for(j); });
  EXPECT_NE(m.find("d_model: 1024 does not match hidden_size 768"), std::string::npos) << m;
  j = read(kDir / "state-spaces--mamba-130m-hf.json");
  j["d_inner"] = 2048;
  m = error_of([&] { families::model_config_for(j); });
  EXPECT_NE(m.find("d_inner: 2048 does not match expand * hidden_size = 1536"), std::string::npos)
      << m;
  j = read(kDir / "state-spaces--mamba-130m-hf.json");
  j["n_layer"] = 12;
  m = error_of([&] { families::model_config_for(j); });
  EXPECT_NE(m.find("n_layer: 12 does not match num_hidden_layers 24"), std::string::npos) << m;
  // Neutral-only keys: rms_norm false would be LayerNorm Mamba.
  j = read(kDir / "state-spaces--mamba-130m-hf.json");
  j["rms_norm"] = false;
  m = error_of([&] { families::model_config_for(j); });
  EXPECT_NE(m.find("rms_norm: false is not supported"), std::string::npos) << m;
}

TEST(HfConfigPolicy, UnknownKeyIsAWarningAndTheModelLoads) {
  Json j = read(kDir / "meta-llama--Llama-3.2-1B.json");
  j["my_training_note"] = "run 7";
  j["unsloth_version"] = "2024.9";
  const auto w = families::config_warnings(j, "x/config.json");
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("x/config.json: unknown key 'my_training_note' (= \"run 7\") ignored"),
            std::string::npos)
      << w[0];
  EXPECT_NE(w[1].find("unknown key 'unsloth_version'"), std::string::npos) << w[1];
  EXPECT_EQ(families::model_config_for(j).num_parameters(), 1'235'814'400);
  // Mamba too (its reader is a field table as well).
  j = read(kDir / "state-spaces--mamba-130m-hf.json");
  j["my_training_note"] = 1;
  EXPECT_EQ(families::config_warnings(j).size(), 1u);
  EXPECT_EQ(families::model_config_for(j).num_parameters(), 129'135'360);
}

TEST(HfConfigPolicy, KeysThatChangeTheMathAreErrors) {
  Json j = read(kDir / "mistralai--Mistral-7B-v0.1.json");
  j["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4}};
  std::string m = error_of([&] { families::model_config_for(j); });
  EXPECT_NE(m.find("quantization_config"), std::string::npos) << m;
  EXPECT_NE(m.find("not supported"), std::string::npos) << m;
  j = read(kDir / "state-spaces--mamba-130m-hf.json");
  j["quantization_config"] = {{"quant_method", "bitsandbytes"}};
  EXPECT_NE(error_of([&] { families::model_config_for(j); }).find("quantization_config"),
            std::string::npos);
  j = read(kDir / "meta-llama--Llama-3.2-1B.json");
  j["rope_scaling"]["rope_type"] = "longrope";
  m = error_of([&] { families::model_config_for(j); });
  EXPECT_NE(m.find("rope_scaling.rope_type"), std::string::npos) << m;
  EXPECT_NE(m.find("longrope"), std::string::npos) << m;
  j = read(kDir / "meta-llama--Meta-Llama-3-8B.json");
  j["use_sliding_window"] = true;
  j["num_local_experts"] = 8;
  m = error_of([&] { families::model_config_for(j); });
  EXPECT_NE(m.find("use_sliding_window: true is not supported"), std::string::npos) << m;
  EXPECT_NE(m.find("num_local_experts: 8 is not supported"), std::string::npos) << m;
  // At their neutral values the same keys are accepted silently.
  j["use_sliding_window"] = false;
  j["num_local_experts"] = nullptr;
  j["layer_types"] = Json::array({"full_attention", "full_attention"});
  EXPECT_TRUE(families::config_warnings(j).empty());
  j["layer_types"][1] = "sliding_attention";
  EXPECT_NE(error_of([&] { families::model_config_for(j); }).find("layer_types"),
            std::string::npos);
}
