// Family registry (see registry.h).
#include "lazarus/families/registry.h"

#include <algorithm>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/families/llama/llama.h"
#include "lazarus/families/mamba/mamba.h"

namespace lazarus::families {

const std::vector<FamilyInfo>& registered_families() {
  static const std::vector<FamilyInfo> kFamilies = {
      {"llama", {"llama", "mistral"}, {"LlamaForCausalLM", "MistralForCausalLM"}},
      {"mamba", {"mamba"}, {"MambaForCausalLM"}},
  };
  return kFamilies;
}

const FamilyInfo& family_for(const config::Json& j) {
  auto contains = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  std::string model_type;
  if (j.is_object() && j.contains("model_type") && j["model_type"].is_string()) {
    model_type = j["model_type"].get<std::string>();
    for (auto& f : registered_families())
      if (contains(f.model_types, model_type)) return f;
  }
  std::string archs;
  if (j.is_object() && j.contains("architectures") && j["architectures"].is_array()) {
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

std::unique_ptr<models::CausalLM> build_causal_lm(const config::Json& j, DType dtype) {
  const FamilyInfo& f = family_for(j);
  if (f.name == "llama")
    return std::make_unique<LlamaForCausalLM>(LlamaConfig::from_json(j), dtype);
  if (f.name == "mamba")
    return std::make_unique<MambaForCausalLM>(MambaConfig::from_json(j), dtype);
  throw ConfigError(fmt::format("config.json: family '{}' has no builder", f.name));
}

}  // namespace lazarus::families
