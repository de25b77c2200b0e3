// Family registry (see registry.h).
#include "lazarus/families/registry.h"

#include <algorithm>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/families/llama/llama.h"
#include "lazarus/families/mamba/mamba.h"

namespace lazarus::families {

namespace {

FamilyInfo llama_family() {
  FamilyInfo f;
  f.name = "llama";
  f.model_types = {"llama", "mistral"};
  f.architectures = {"LlamaForCausalLM", "MistralForCausalLM"};
  f.model_config = [](const config::Json& j, const std::string& path) {
    return LlamaConfig::from_json(j, path).to_model_config();
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
        if (contains(f.architectures, a.get<std::string>())) return f;
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

config::ModelConfig model_config_for(const config::Json& j, const std::string& path) {
  const FamilyInfo& f = family_for(j);
  if (!f.model_config)
    throw ConfigError(fmt::format("config.json: family '{}' has no config reader", f.name));
  return f.model_config(j, path);
}

std::unique_ptr<models::CausalLM> build_causal_lm(const config::Json& j, DType dtype,
                                                  const std::string& path) {
  const FamilyInfo& f = family_for(j);
  if (!f.build) throw ConfigError(fmt::format("config.json: family '{}' has no builder", f.name));
  return f.build(j, path, dtype);
}

}  // namespace lazarus::families
