// The family registry as the CLI uses it: every preset and its published count, and the generic
// family (model_type "lazarus") that reads Lazarus model configs and the folders they train into.
#include <cstring>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "lazarus/core/error.h"
#include "lazarus/families/generic/generic.h"
#include "lazarus/families/llama/llama.h"
#include "lazarus/families/registry.h"

using namespace lazarus;
using namespace lazarus::families;

namespace {

config::Json read_example(const std::string& name) {
  std::ifstream in(std::string(LAZARUS_SOURCE_DIR) + "/examples/configs/" + name);
  return config::Json::parse(in);
}

// The ConfigError message of `f`, or "" when it does not throw one.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(RegistryPresets, EveryPresetGivesItsPublishedCount) {
  std::set<std::string> names;
  size_t published = 0;
  for (const auto& f : registered_families()) {
    for (const auto& p : f.presets) {
      SCOPED_TRACE(p.name);
      EXPECT_TRUE(names.insert(p.name).second) << "preset name used twice";
      EXPECT_FALSE(p.description.empty());
      const config::Json j = p.config();
      EXPECT_EQ(&family_for(j), &f) << "the preset's config.json reads as another family";
      const int64_t n = model_config_for(j).num_parameters();
      if (p.published_parameters) {
        EXPECT_EQ(n, p.published_parameters);
        ++published;
      }
      PresetRef ref = find_preset(p.name);
      EXPECT_EQ(ref.family, &f);
      EXPECT_EQ(ref.preset, &p);
    }
  }
  EXPECT_GE(published, 12u);  // Llama 2/3, Mistral, CodeLlama, five Mamba sizes at least
  EXPECT_NE(error_of([] { find_preset("nope"); }).find("unknown preset 'nope' (expected one of"),
            std::string::npos);
}

TEST(GenericFamily, ReadsBareModelConfigsAndItsOwnFolders) {
  for (const char* name : {"hybrid_tiny.json", "moe_tiny.json", "recurrent_tiny.json",
                           "classifier_tiny.json"}) {
    SCOPED_TRACE(name);
    const config::Json bare = read_example(name);
    EXPECT_EQ(family_for(bare).name, "lazarus");
    const config::ModelConfig mc = config::ModelConfig::from_json(bare);
    EXPECT_EQ(model_config_for(bare), mc);
    // The config.json form reads back to the same config and the same form.
    const config::Json j = LazarusConfig::of(mc).to_json();
    EXPECT_EQ(j["model_type"], "lazarus");
    EXPECT_EQ(j["vocab_size"], mc.backbone.embedding.vocab_size);
    EXPECT_EQ(family_for(j).name, "lazarus");
    EXPECT_EQ(model_config_for(j), mc);
    EXPECT_EQ(LazarusConfig::from_json(j).to_json(), j);
  }
  const config::Json cls = LazarusConfig::from_json(read_example("classifier_tiny.json")).to_json();
  EXPECT_EQ(cls["architectures"][0], "LazarusForSequenceClassification");
  EXPECT_EQ(cls["id2label"].size(), 3u);
  EXPECT_EQ(task_of(cls), ModelTask::SequenceClassification);
  auto sc = build_sequence_classifier(cls);
  EXPECT_EQ(hf_config_of(*sc), cls);
  EXPECT_EQ(family_of_module(*sc)->name, "lazarus");
}

TEST(GenericFamily, IdsAndModelsCarryThrough) {
  LazarusConfig c = LazarusConfig::from_json(read_example("hybrid_tiny.json"));
  c.bos_token_id = 1;
  c.eos_token_id = {2, 3};
  const config::Json j = c.to_json();
  auto model = build_causal_lm(j);
  EXPECT_NE(dynamic_cast<LazarusForCausalLM*>(model.get()), nullptr);
  EXPECT_EQ(family_of(*model)->name, "lazarus");
  EXPECT_EQ(hf_config_of(*model), j);
  // A plain CausalLM is the generic family's; a family's own class stays with its family.
  models::CausalLM plain(c.model);
  EXPECT_EQ(family_of(plain)->name, "lazarus");
  EXPECT_EQ((*hf_config_of(plain))["eos_token_id"], nullptr);
  LlamaForCausalLM llama(LlamaConfig::tiny());
  EXPECT_EQ(family_of(llama)->name, "llama");
  // Seeded builds: the same seed gives the same weights, another seed others.
  auto a = build_causal_lm_seeded(j, 5), b = build_causal_lm_seeded(j, 5),
       d = build_causal_lm_seeded(j, 6);
  auto wa = a->state_dict(), wb = b->state_dict(), wd = d->state_dict();
  const std::string emb = wa.begin()->first;
  EXPECT_EQ(std::memcmp(wa[emb].raw_data(), wb[emb].raw_data(), wa[emb].nbytes()), 0);
  EXPECT_NE(std::memcmp(wa[emb].raw_data(), wd[emb].raw_data(), wa[emb].nbytes()), 0);
}

TEST(GenericFamily, HfKeysMustAgreeWithTheModelConfig) {
  const config::Json good = LazarusConfig::of(
      config::ModelConfig::from_json(read_example("hybrid_tiny.json"))).to_json();
  auto err = [&](const char* key, config::Json value) {
    config::Json j = good;
    j[key] = value;
    return error_of([&] { LazarusConfig::from_json(j, "m/config.json"); });
  };
  EXPECT_NE(err("vocab_size", 300).find(
                "m/config.json: vocab_size: 300 disagrees with backbone.embedding.vocab_size 256"),
            std::string::npos);
  EXPECT_NE(err("tie_word_embeddings", false).find("disagrees with head.tie_word_embeddings true"),
            std::string::npos);
  EXPECT_NE(err("architectures", config::Json::array({"LazarusForSequenceClassification"}))
                .find("does not match the head (a lm head is [\"LazarusForCausalLM\"])"),
            std::string::npos);
  EXPECT_NE(err("eos_token_id", 256).find("eos_token_id: 256 is outside the vocabulary of 256"),
            std::string::npos);
  EXPECT_NE(err("bos_token_id", "1").find("bos_token_id: must be an integer or null, got \"1\""),
            std::string::npos);
  EXPECT_NE(err("num_labels", 3).find("an LM head has no labels"), std::string::npos);
  // The generic reader reads only model_type "lazarus" (or none).
  EXPECT_NE(error_of([&] {
              config::Json j = good;
              j["model_type"] = "llama";
              LazarusConfig::from_json(j);
            }).find("model_type: must be \"lazarus\""),
            std::string::npos);
  // train refuses a classifier config through the causal-LM builder, naming the head.
  config::Json cls = read_example("classifier_tiny.json");
  EXPECT_NE(error_of([&] { build_causal_lm_seeded(cls, 0); }).find("needs an 'lm' head"),
            std::string::npos);
}
