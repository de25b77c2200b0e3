// Family registry (see registry.h).
#include "lazarus/families/registry.h"

#include <algorithm>

#include <fmt/format.h>

#include "lazarus/config/field_table.h"
#include "lazarus/core/error.h"
#include "lazarus/core/memory_budget.h"
#include "lazarus/families/llama/llama.h"
#include "lazarus/families/llama/llama_classifiers.h"
#include "lazarus/families/mamba/mamba.h"

namespace lazarus::families {

namespace {

FamilyInfo llama_family() {
  FamilyInfo f;
  f.name = "llama";
  f.model_types = {"llama", "mistral"};
  f.architectures = {"LlamaForCausalLM", "MistralForCausalLM"};
  f.classifier_architectures = {"LlamaForSequenceClassification", "LlamaForTokenClassification",
                                "MistralForSequenceClassification",
                                "MistralForTokenClassification"};
  f.model_config = [](const config::Json& j, const std::string& path) {
    switch (task_of(j)) {
      case ModelTask::SequenceClassification: {
        auto [c, l] = LlamaForSequenceClassification::read_config(j, path);
        return LlamaForSequenceClassification::model_config(c, l);
      }
      case ModelTask::TokenClassification: {
        auto p = LlamaForTokenClassification::read_config(j, path);
        return LlamaForTokenClassification::model_config(p.llama, p.labels, p.classifier_dropout);
      }
      case ModelTask::CausalLM:
        break;
    }
    return LlamaConfig::from_json(j, path).to_model_config();
  };
  f.build_sequence_classifier = [](const config::Json& j, const std::string& path, DType dtype) {
    auto [c, l] = LlamaForSequenceClassification::read_config(j, path);
    return std::unique_ptr<models::SequenceClassifier>(
        std::make_unique<LlamaForSequenceClassification>(c, l, dtype));
  };
  f.build_token_classifier = [](const config::Json& j, const std::string& path, DType dtype) {
    auto p = LlamaForTokenClassification::read_config(j, path);
    return std::unique_ptr<models::TokenClassifier>(std::make_unique<LlamaForTokenClassification>(
        p.llama, p.labels, p.classifier_dropout, dtype));
  };
  f.classifier_config_of = [](const nn::Module& m) -> std::optional<config::Json> {
    if (auto* s = dynamic_cast<const LlamaForSequenceClassification*>(&m)) return s->to_json();
    if (auto* t = dynamic_cast<const LlamaForTokenClassification*>(&m)) return t->to_json();
    return std::nullopt;
  };
  f.build = [](const config::Json& j, const std::string& path, DType dtype) {
    return std::unique_ptr<models::CausalLM>(
        std::make_unique<LlamaForCausalLM>(LlamaConfig::from_json(j, path), dtype));
  };
  f.hf_config_of = [](const models::CausalLM& m) -> std::optional<config::Json> {
    if (auto* l = dynamic_cast<const LlamaForCausalLM*>(&m)) return l->llama_config().to_json();
    return std::nullopt;
  };
  f.from_checkpoint = llama_from_checkpoint;
  return f;
}

FamilyInfo mamba_family() {
  FamilyInfo f;
  f.name = "mamba";
  f.model_types = {"mamba"};
  f.architectures = {"MambaForCausalLM"};
  f.model_config = [](const config::Json& j, const std::string& path) {
    return MambaConfig::from_json(j, path).to_model_config();
  };
  f.build = [](const config::Json& j, const std::string& path, DType dtype) {
    return std::unique_ptr<models::CausalLM>(
        std::make_unique<MambaForCausalLM>(MambaConfig::from_json(j, path), dtype));
  };
  f.hf_config_of = [](const models::CausalLM& m) -> std::optional<config::Json> {
    if (auto* x = dynamic_cast<const MambaForCausalLM*>(&m)) return x->mamba_config().to_json();
    return std::nullopt;
  };
  return f;  // module names are HF's (backbone.*), nothing to map
}

}  // namespace

const std::vector<FamilyInfo>& registered_families() {
  static const std::vector<FamilyInfo> kFamilies = {llama_family(), mamba_family()};
  return kFamilies;
}

const FamilyInfo& family_for(const config::Json& j) {
  auto contains = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  if (!j.is_object())
    throw ConfigError(fmt::format("config.json: expected a JSON object, got {}", j.type_name()));
  std::string model_type;
  if (j.contains("model_type") && j["model_type"].is_string()) {
    model_type = j["model_type"].get<std::string>();
    for (auto& f : registered_families())
      if (contains(f.model_types, model_type)) return f;
  }
  std::string archs;
  if (j.contains("architectures") && j["architectures"].is_array()) {
    for (auto& a : j["architectures"]) {
      if (!a.is_string()) continue;
      archs += (archs.empty() ? "" : ", ") + a.get<std::string>();
      for (auto& f : registered_families())
        if (contains(f.architectures, a.get<std::string>()) ||
            contains(f.classifier_architectures, a.get<std::string>()))
          return f;
    }
  }
  std::string known;
  for (auto& f : registered_families()) {
    for (auto& t : f.model_types) known += (known.empty() ? "" : ", ") + t;
  }
  throw ConfigError(fmt::format(
      "config.json: no family for model_type '{}' / architectures [{}] (known model types: {})",
      model_type, archs, known));
}

const FamilyInfo* family_of(const models::CausalLM& model) {
  for (auto& f : registered_families())
    if (f.hf_config_of && f.hf_config_of(model)) return &f;
  return nullptr;
}

const FamilyInfo* family_of_module(const nn::Module& model) {
  if (auto* lm = dynamic_cast<const models::CausalLM*>(&model)) return family_of(*lm);
  for (auto& f : registered_families())
    if (f.classifier_config_of && f.classifier_config_of(model)) return &f;
  return nullptr;
}

std::optional<config::Json> hf_config_of(const nn::Module& model) {
  if (auto* lm = dynamic_cast<const models::CausalLM*>(&model)) {
    const FamilyInfo* f = family_of(*lm);
    return f ? f->hf_config_of(*lm) : std::nullopt;
  }
  for (auto& f : registered_families())
    if (f.classifier_config_of)
      if (auto j = f.classifier_config_of(model)) return j;
  return std::nullopt;
}

config::ModelConfig model_config_for(const config::Json& j, const std::string& path) {
  const FamilyInfo& f = family_for(j);
  if (!f.model_config)
    throw ConfigError(fmt::format("config.json: family '{}' has no config reader", f.name));
  const ModelTask task = task_of(j);
  if ((task == ModelTask::SequenceClassification && !f.build_sequence_classifier) ||
      (task == ModelTask::TokenClassification && !f.build_token_classifier))
    throw ConfigError(fmt::format("config.json: architectures: family '{}' has no {} model yet",
                                  f.name, task_name(task)));
  return f.model_config(j, path);
}

std::vector<std::string> config_warnings(const config::Json& j, const std::string& path) {
  config::ConfigWarnings collected;
  model_config_for(j, path);
  return collected.list();
}

namespace {
const FamilyInfo& family_for_task(const config::Json& j, ModelTask want) {
  const FamilyInfo& f = family_for(j);
  ModelTask task = task_of(j);
  if (task != want) {
    throw ConfigError(fmt::format("config.json: architectures name a {} model, not a {} one",
                                  task_name(task), task_name(want)));
  }
  return f;
}
}  // namespace

void check_model_memory(const config::ModelConfig& mc, double bytes_per_parameter,
                        const std::string& what, double extra_bytes,
                        const std::string& extra_what) {
  const auto& bb = mc.backbone;
  const int64_t n = mc.num_parameters();
  std::string need = fmt::format(
      "{} parameters x {} bytes (num_layers {}, hidden_size {}, vocab_size {})", n,
      bytes_per_parameter, bb.num_layers, bb.hidden_size, bb.embedding.vocab_size);
  if (extra_bytes > 0) need += fmt::format(" + {} for {}", format_bytes(extra_bytes), extra_what);
  check_memory(double(n) * bytes_per_parameter + extra_bytes, fmt::format("{}: {}", what, need));
}

namespace {
void check_weights_fit(const FamilyInfo& f, const config::Json& j, const std::string& path,
                       DType dtype) {
  if (!f.model_config) return;
  check_model_memory(f.model_config(j, path), double(dtype_size(dtype)),
                     fmt::format("{}: the model's weights in {}",
                                 path.empty() ? "config.json" : path, dtype_name(dtype)));
}
}  // namespace

std::unique_ptr<models::SequenceClassifier> build_sequence_classifier(const config::Json& j,
                                                                      DType dtype,
                                                                      const std::string& path) {
  const FamilyInfo& f = family_for_task(j, ModelTask::SequenceClassification);
  if (!f.build_sequence_classifier)
    throw ConfigError(fmt::format(
        "config.json: architectures: family '{}' has no sequence classifier yet", f.name));
  check_weights_fit(f, j, path, dtype);
  return f.build_sequence_classifier(j, path, dtype);
}

std::unique_ptr<models::TokenClassifier> build_token_classifier(const config::Json& j, DType dtype,
                                                                const std::string& path) {
  const FamilyInfo& f = family_for_task(j, ModelTask::TokenClassification);
  if (!f.build_token_classifier)
    throw ConfigError(
        fmt::format("config.json: architectures: family '{}' has no token classifier yet", f.name));
  check_weights_fit(f, j, path, dtype);
  return f.build_token_classifier(j, path, dtype);
}

std::unique_ptr<models::CausalLM> build_causal_lm(const config::Json& j, DType dtype,
                                                  const std::string& path) {
  const FamilyInfo& f = family_for(j);
  if (task_of(j) != ModelTask::CausalLM)
    throw ConfigError(fmt::format(
        "config.json: architectures name a {} model, not a causal LM (generation needs a "
        "*ForCausalLM model)",
        task_name(task_of(j))));
  if (!f.build) throw ConfigError(fmt::format("config.json: family '{}' has no builder", f.name));
  check_weights_fit(f, j, path, dtype);
  return f.build(j, path, dtype);
}

}  // namespace lazarus::families
