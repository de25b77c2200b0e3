// The family registry: Hugging Face `model_type` / `architectures` names -> the family that reads
// the config.json and builds the model. Adding a family = one entry in registry.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lazarus/config/json_reader.h"
#include "lazarus/models/causal_lm.h"

namespace lazarus::families {

struct FamilyInfo {
  std::string name;                        // "llama"
  std::vector<std::string> model_types;    // HF config.json "model_type" values
  std::vector<std::string> architectures;  // HF "architectures" entries
};

/// Every registered family.
const std::vector<FamilyInfo>& registered_families();

/// The family for an HF config.json: by "model_type", else by the first known "architectures"
/// entry. Throws ConfigError naming the values and the known families.
const FamilyInfo& family_for(const config::Json& hf_config);

/// Reads an HF config.json with its family's strict reader and builds the model (weights
/// initialised, not loaded). Throws ConfigError on unknown families or bad fields.
std::unique_ptr<models::CausalLM> build_causal_lm(const config::Json& hf_config,
                                                  DType dtype = DType::F32);

}  // namespace lazarus::families
