// Hugging Face's `rope_scaling` entry of a config.json (modeling_rope_utils.py's rope types:
// linear, dynamic, llama3, yarn), shared by the families whose attention uses RoPE.
#pragma once

#include <string>

#include "lazarus/config/json_reader.h"
#include "lazarus/config/model_config.h"

namespace lazarus::families {

/// HF form: {"rope_type": ..., "factor": ..., ...}, or null when `r.scaling` is None. `r.theta`
/// is not written (it is the config's `rope_theta`).
config::Json rope_scaling_json(const config::RoPEConfig& r);
/// Strict reader of an HF `rope_scaling` value (null = no scaling); "type" is read as the older
/// name of "rope_type". ConfigError naming `path`, the key and the value; an unknown rope type is
/// an error (it would change the math).
config::RoPEConfig rope_scaling_from_json(const config::Json& j, const std::string& path);

}  // namespace lazarus::families
