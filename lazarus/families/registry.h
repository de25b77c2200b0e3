// The family registry: Hugging Face `model_type` / `architectures` names -> the family that reads
// the config.json, builds the model and maps checkpoint names. Adding a family = one entry in
// registry.cpp.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lazarus/config/json_reader.h"
#include "lazarus/families/hf_config.h"
#include "lazarus/models/causal_lm.h"
#include "lazarus/models/classifiers.h"
#include "lazarus/nn/module.h"

namespace lazarus::families {

/// A named model config of a family (`lazarus info --preset NAME`, `train --preset NAME`).
struct FamilyPreset {
  std::string name;         // "llama3_8b"
  std::string description;  // one line: what it is, where it is published
  /// The parameter count its authors publish (0 when none is, e.g. the tiny test presets); the
  /// count computed from `config` must equal it.
  int64_t published_parameters = 0;
  /// Its HF config.json (read back by the family's `model_config` / `build`).
  std::function<config::Json()> config;
};

struct FamilyInfo {
  std::string name;                        // "llama"
  std::vector<std::string> model_types;    // HF config.json "model_type" values
  std::vector<std::string> architectures;  // HF "architectures" entries (causal LMs)
  /// HF "architectures" entries of the family's classifiers (*ForSequenceClassification,
  /// *ForTokenClassification).
  std::vector<std::string> classifier_architectures;

  /// Reads an HF config.json strictly (ConfigError naming `path`, the key and the value; keys
  /// that change the math and are not understood are errors) into the generic model config,
  /// without allocating anything. A classifier config gives the classifier's model config.
  std::function<config::ModelConfig(const config::Json& hf_config, const std::string& path)>
      model_config;
  /// Reads an HF config.json strictly and builds the model (weights initialised, not loaded).
  std::function<std::unique_ptr<models::CausalLM>(const config::Json& hf_config,
                                                  const std::string& path, DType dtype)>
      build;
  /// The HF config.json of a model of this family (nullopt when `model` is not one).
  std::function<std::optional<config::Json>(const models::CausalLM& model)> hf_config_of;
  /// Checkpoint names -> module names, in place (drop buffers HF saved that we recompute,
  /// rename...). Empty = names are identical. Tied heads are handled by the loader for every
  /// family.
  std::function<void(nn::StateDict& weights)> from_checkpoint;
  /// Module names -> checkpoint names, in place (the inverse). Empty = identical.
  std::function<void(nn::StateDict& weights)> to_checkpoint;

  /// Classifiers (empty when the family has none): build from a *ForSequenceClassification /
  /// *ForTokenClassification config.json (strict, as `build`), and the HF config.json of a
  /// classifier of this family (nullopt when `model` is not one).
  std::function<std::unique_ptr<models::SequenceClassifier>(const config::Json& hf_config,
                                                            const std::string& path, DType dtype)>
      build_sequence_classifier;
  std::function<std::unique_ptr<models::TokenClassifier>(const config::Json& hf_config,
                                                         const std::string& path, DType dtype)>
      build_token_classifier;
  std::function<std::optional<config::Json>(const nn::Module& model)> classifier_config_of;

  /// Named configs, in listing order (empty when the family has none).
  std::vector<FamilyPreset> presets;
  /// Builds a causal LM to train from scratch, its weights initialised as the family does from
  /// `seed` (empty: `build`, then CausalLM::init_weights(0.02, seed)).
  std::function<std::unique_ptr<models::CausalLM>(const config::Json& hf_config,
                                                  const std::string& path, DType dtype,
                                                  uint64_t seed)>
      build_seeded;
  /// The config.json in the family's full form (every field, defaults filled in), as `lazarus
  /// info --json` prints it (strict, as `model_config`). Empty: printed as read.
  std::function<config::Json(const config::Json& hf_config, const std::string& path)>
      full_config;
  /// Claims a config.json that has no "model_type" (e.g. a bare Lazarus model config); empty =
  /// only by model_type / architectures.
  std::function<bool(const config::Json& hf_config)> claims;
};

/// Fills the config-driven members of `f` for a family whose config type `Config` has
/// from_json(json, path) / to_json() / to_model_config() and whose model `Model(config, dtype,
/// seed)` returns its config through `config_of`: model_config, build, build_seeded, hf_config_of,
/// full_config.
template <class Config, class Model>
void set_config_family(FamilyInfo& f, const Config& (Model::*config_of)() const) {
  f.model_config = [](const config::Json& j, const std::string& path) {
    return Config::from_json(j, path).to_model_config();
  };
  f.build = [](const config::Json& j, const std::string& path, DType dtype) {
    return std::unique_ptr<models::CausalLM>(
        std::make_unique<Model>(Config::from_json(j, path), dtype));
  };
  f.build_seeded = [](const config::Json& j, const std::string& path, DType dtype, uint64_t seed) {
    return std::unique_ptr<models::CausalLM>(
        std::make_unique<Model>(Config::from_json(j, path), dtype, seed));
  };
  f.hf_config_of = [config_of](const models::CausalLM& m) -> std::optional<config::Json> {
    if (auto* x = dynamic_cast<const Model*>(&m)) return (x->*config_of)().to_json();
    return std::nullopt;
  };
  f.full_config = [](const config::Json& j, const std::string& path) {
    return Config::from_json(j, path).to_json();
  };
}

/// Renames checkpoint weights by substrings of their names: each (checkpoint, module) pair's
/// first part is replaced by the second (`to_checkpoint` false: checkpoint -> module names) or the
/// reverse. For a family whose checkpoints name a shared component differently. ConfigError when
/// two names become one.
void rename_weights(nn::StateDict& weights,
                    const std::vector<std::pair<std::string, std::string>>& names,
                    bool to_checkpoint);

/// Every registered family.
const std::vector<FamilyInfo>& registered_families();

/// The family for an HF config.json: by "model_type", else by the first known "architectures"
/// entry. Throws ConfigError naming the values and the known families.
const FamilyInfo& family_for(const config::Json& hf_config);

/// A preset of a registered family, by name.
struct PresetRef {
  const FamilyInfo* family = nullptr;
  const FamilyPreset* preset = nullptr;
};
/// The preset called `name`; ConfigError listing every preset name when there is none.
PresetRef find_preset(const std::string& name);

/// The family whose models `model` belongs to (by hf_config_of); nullptr when none claims it.
const FamilyInfo* family_of(const models::CausalLM& model);

/// The family of any model of a registered family (causal LM or classifier); nullptr otherwise.
const FamilyInfo* family_of_module(const nn::Module& model);
/// The HF config.json of a model of a registered family (nullopt when none claims it).
std::optional<config::Json> hf_config_of(const nn::Module& model);

/// The generic model config an HF config.json describes (strict; nothing allocated).
config::ModelConfig model_config_for(const config::Json& hf_config, const std::string& path = "");

/// The warnings reading an HF config.json gives: its unknown keys, each "<path or config.json>:
/// unknown key 'k' (= v) ignored; ...", in file order (empty when every key is known). Reads the
/// config as model_config_for does, and throws as it does.
std::vector<std::string> config_warnings(const config::Json& hf_config,
                                         const std::string& path = "");

/// Memory planning before a model is built: refuses (LimitError, core/memory_budget.h) when
/// `bytes_per_parameter` x the parameters of `mc`, plus `extra_bytes` (`extra_what` says what
/// they are, e.g. "activations for --batch-size 8"), exceed the memory available. `what` names the
/// op or file; the message carries both numbers and the size fields responsible.
void check_model_memory(const config::ModelConfig& mc, double bytes_per_parameter,
                        const std::string& what, double extra_bytes = 0,
                        const std::string& extra_what = "");

/// Reads an HF config.json with its family's strict reader and builds the model (weights
/// initialised, not loaded). Throws ConfigError on unknown families or bad fields, LimitError
/// when its weights would not fit in memory (check_model_memory).
std::unique_ptr<models::CausalLM> build_causal_lm(const config::Json& hf_config,
                                                  DType dtype = DType::F32,
                                                  const std::string& path = "");

/// The same for training from scratch: weights initialised by the family from `seed`
/// (FamilyInfo::build_seeded), in f32.
std::unique_ptr<models::CausalLM> build_causal_lm_seeded(const config::Json& hf_config,
                                                         uint64_t seed,
                                                         const std::string& path = "");

/// Builds the sequence / token classifier a *ForSequenceClassification /
/// *ForTokenClassification config.json describes (weights initialised, not loaded). ConfigError
/// when the family has no such classifier or a field is bad (num_labels, id2label, ...).
std::unique_ptr<models::SequenceClassifier> build_sequence_classifier(const config::Json& hf_config,
                                                                      DType dtype = DType::F32,
                                                                      const std::string& path = "");
std::unique_ptr<models::TokenClassifier> build_token_classifier(const config::Json& hf_config,
                                                                DType dtype = DType::F32,
                                                                const std::string& path = "");

}  // namespace lazarus::families
