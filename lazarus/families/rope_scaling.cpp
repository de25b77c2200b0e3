// HF rope_scaling reading and writing (see rope_scaling.h).
#include "lazarus/families/rope_scaling.h"

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus::families {

using config::Json;
using config::JsonReader;

Json rope_scaling_json(const config::RoPEConfig& r) {
  using config::RoPEScalingType;
  if (r.scaling == RoPEScalingType::None) return nullptr;
  Json j{{"rope_type", config::to_string(r.scaling)}, {"factor", r.factor}};
  if (r.original_max_position_embeddings) {
    j["original_max_position_embeddings"] = *r.original_max_position_embeddings;
  }
  if (r.scaling == RoPEScalingType::Llama3) {
    j["low_freq_factor"] = r.low_freq_factor;
    j["high_freq_factor"] = r.high_freq_factor;
  }
  if (r.scaling == RoPEScalingType::Yarn) {
    j["beta_fast"] = r.beta_fast;
    j["beta_slow"] = r.beta_slow;
    if (r.mscale) j["mscale"] = *r.mscale;
    if (r.mscale_all_dim) j["mscale_all_dim"] = *r.mscale_all_dim;
    if (r.attention_factor) j["attention_factor"] = *r.attention_factor;
  }
  return j;
}

config::RoPEConfig rope_scaling_from_json(const Json& j, const std::string& path) {
  config::RoPEConfig r;
  if (j.is_null()) return r;
  JsonReader rd(j, path);
  bool has_type = rd.has("rope_type") || rd.has("type");
  if (!has_type) throw ConfigError(fmt::format("{}.rope_type: missing required field", path));
  if (rd.has("rope_type")) {
    rd.get("rope_type", r.scaling);
    rd.skip("type");  // transformers writes both for backward compatibility
  } else {
    rd.get("type", r.scaling);
  }
  rd.get("factor", r.factor);
  rd.get("original_max_position_embeddings", r.original_max_position_embeddings);
  rd.get("low_freq_factor", r.low_freq_factor);
  rd.get("high_freq_factor", r.high_freq_factor);
  rd.get("beta_fast", r.beta_fast);
  rd.get("beta_slow", r.beta_slow);
  rd.get("mscale", r.mscale);
  rd.get("mscale_all_dim", r.mscale_all_dim);
  rd.get("attention_factor", r.attention_factor);
  rd.finish();
  return r;
}

}  // namespace lazarus::families
