// Family registry (see registry.h).
#include "lazarus/families/registry.h"

#include <algorithm>
#include <typeinfo>

#include <fmt/format.h>

#include "lazarus/config/field_table.h"
#include "lazarus/core/error.h"
#include "lazarus/core/memory_budget.h"
#include "lazarus/families/generic/generic.h"
#include "lazarus/families/llama/llama.h"
#include "lazarus/families/llama/llama_classifiers.h"
#include "lazarus/families/mamba/mamba.h"
#include "lazarus/families/mixtral/mixtral.h"
#include "lazarus/families/qwen/qwen.h"

namespace lazarus::families {

namespace {

FamilyInfo llama_family() {
  FamilyInfo f;
  f.name = "llama";
  set_config_family(f, &LlamaForCausalLM::llama_config);  // model_config is replaced below
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
  f.from_checkpoint = llama_from_checkpoint;
  auto preset = [](const char* name, const char* description, int64_t published) {
    return FamilyPreset{name, description, published,
                        [n = std::string(name)] { return LlamaConfig::preset(n).to_json(); }};
  };
  f.presets = {
      preset("tiny", "2 layers, hidden 64, 4 heads / 2 KV heads, vocab 256: for tests", 0),
      preset("llama2_7b", "Llama 2 7B (meta-llama/Llama-2-7b-hf)", 6'738'415'616),
      preset("llama2_13b", "Llama 2 13B (meta-llama/Llama-2-13b-hf)", 13'015'864'320),
      preset("llama2_70b", "Llama 2 70B, grouped-query (meta-llama/Llama-2-70b-hf)",
             68'976'648'192),
      preset("llama3_8b", "Llama 3 8B, vocab 128256 (meta-llama/Meta-Llama-3-8B)", 8'030'261'248),
      preset("llama3_70b", "Llama 3 70B (meta-llama/Meta-Llama-3-70B)", 70'553'706'496),
      preset("mistral_7b", "Mistral 7B v0.1, sliding window 4096 (mistralai/Mistral-7B-v0.1)",
             7'241'732'096),
      preset("code_llama_7b", "Code Llama 7B, rope_theta 1e6 (codellama/CodeLlama-7b-hf)",
             6'738'546'688),
      preset("smollm2_135m", "SmolLM2 135M, tied (HuggingFaceTB/SmolLM2-135M)", 134'515'008),
      preset("tinyllama_1_1b", "TinyLlama 1.1B (TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T)",
             1'100'048'384)};
  return f;
}

FamilyInfo mamba_family() {
  FamilyInfo f;
  f.name = "mamba";
  f.model_types = {"mamba"};
  f.architectures = {"MambaForCausalLM"};
  set_config_family(f, &MambaForCausalLM::mamba_config);
  auto preset = [](const char* name, const char* preset_name, const char* description,
                   int64_t published) {
    return FamilyPreset{name, description, published, [n = std::string(preset_name)] {
                          return MambaConfig::preset(n).to_json();
                        }};
  };
  f.presets = {
      preset("mamba_tiny", "tiny", "2 layers, hidden 64, state 8, vocab 256: for tests", 0),
      preset("mamba_130m", "mamba_130m", "Mamba 130M (state-spaces/mamba-130m-hf)", 129'135'360),
      preset("mamba_370m", "mamba_370m", "Mamba 370M (state-spaces/mamba-370m-hf)", 371'516'416),
      preset("mamba_790m", "mamba_790m", "Mamba 790M (state-spaces/mamba-790m-hf)", 793'204'224),
      preset("mamba_1_4b", "mamba_1_4b", "Mamba 1.4B (state-spaces/mamba-1.4b-hf)",
             1'372'178'432),
      preset("mamba_2_8b", "mamba_2_8b", "Mamba 2.8B (state-spaces/mamba-2.8b-hf)",
             2'768'345'600)};
  return f;  // module names are HF's (backbone.*), nothing to map
}

// Any model a Lazarus ModelConfig describes (generic/generic.h). Claims only exact
// CausalLM / SequenceClassifier / TokenClassifier objects, so a family's own classes (derived
// from them) stay with their family whatever the registry's order.
FamilyInfo generic_family() {
  FamilyInfo f;
  f.name = kGenericModelType;
  f.model_types = {kGenericModelType};
  f.architectures = {"LazarusForCausalLM"};
  f.classifier_architectures = {"LazarusForSequenceClassification",
                                "LazarusForTokenClassification"};
  f.claims = is_generic_config;
  f.model_config = [](const config::Json& j, const std::string& path) {
    return LazarusConfig::from_json(j, path).model;
  };
  f.build = [](const config::Json& j, const std::string& path, DType dtype) {
    return std::unique_ptr<models::CausalLM>(
        std::make_unique<LazarusForCausalLM>(LazarusConfig::from_json(j, path), dtype));
  };
  f.build_seeded = [](const config::Json& j, const std::string& path, DType dtype, uint64_t seed) {
    return std::unique_ptr<models::CausalLM>(
        std::make_unique<LazarusForCausalLM>(LazarusConfig::from_json(j, path), dtype, seed));
  };
  f.hf_config_of = [](const models::CausalLM& m) -> std::optional<config::Json> {
    if (auto* g = dynamic_cast<const LazarusForCausalLM*>(&m)) return g->lazarus_config().to_json();
    if (typeid(m) == typeid(models::CausalLM)) return LazarusConfig::of(m.config()).to_json();
    return std::nullopt;
  };
  f.build_sequence_classifier = [](const config::Json& j, const std::string& path, DType dtype) {
    return std::make_unique<models::SequenceClassifier>(LazarusConfig::from_json(j, path).model,
                                                        dtype);
  };
  f.build_token_classifier = [](const config::Json& j, const std::string& path, DType dtype) {
    return std::make_unique<models::TokenClassifier>(LazarusConfig::from_json(j, path).model,
                                                     dtype);
  };
  f.classifier_config_of = [](const nn::Module& m) -> std::optional<config::Json> {
    if (typeid(m) == typeid(models::SequenceClassifier))
      return LazarusConfig::of(static_cast<const models::SequenceClassifier&>(m).config()).to_json();
    if (typeid(m) == typeid(models::TokenClassifier))
      return LazarusConfig::of(static_cast<const models::TokenClassifier&>(m).config()).to_json();
    return std::nullopt;
  };
  f.full_config = [](const config::Json& j, const std::string& path) {
    return LazarusConfig::from_json(j, path).to_json();
  };
  return f;  // checkpoint names are the module names
}

}  // namespace

void rename_weights(nn::StateDict& weights,
                    const std::vector<std::pair<std::string, std::string>>& names,
                    bool to_checkpoint) {
  nn::StateDict out;
  for (auto& [name, t] : weights) {
    std::string n = name;
    for (const auto& [ckpt, module] : names) {
      const std::string& from = to_checkpoint ? module : ckpt;
      const std::string& to = to_checkpoint ? ckpt : module;
      if (size_t at = n.find(from); at != std::string::npos) n.replace(at, from.size(), to);
    }
    if (!out.emplace(n, t).second)
      throw ConfigError(fmt::format("checkpoint: two weights map to the name '{}' (one is '{}')",
                                    n, name));
  }
  weights = std::move(out);
}

const std::vector<FamilyInfo>& registered_families() {
  static const std::vector<FamilyInfo> kFamilies = {llama_family(), mamba_family(), qwen_family(),
                                                     mixtral_family(),
                                                     generic_family()};
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
  } else if (!j.contains("model_type")) {
    for (auto& f : registered_families())
      if (f.claims && f.claims(j)) return f;
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

PresetRef find_preset(const std::string& name) {
  std::string names;
  for (auto& f : registered_families()) {
    for (auto& p : f.presets) {
      if (p.name == name) return {&f, &p};
      names += (names.empty() ? "" : ", ") + p.name;
    }
  }
  throw ConfigError(fmt::format("unknown preset '{}' (expected one of {})", name, names));
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

std::unique_ptr<models::CausalLM> build_causal_lm_seeded(const config::Json& j, uint64_t seed,
                                                         const std::string& path) {
  const FamilyInfo& f = family_for(j);
  if (!f.build_seeded) {
    auto m = build_causal_lm(j, DType::F32, path);
    m->init_weights(0.02, seed);  // no family initialisation: N(0, 0.02^2), norms 1
    return m;
  }
  if (task_of(j) != ModelTask::CausalLM)
    throw ConfigError(fmt::format(
        "config.json: architectures name a {} model, not a causal LM", task_name(task_of(j))));
  check_weights_fit(f, j, path, DType::F32);
  return f.build_seeded(j, path, DType::F32, seed);
}

}  // namespace lazarus::families
