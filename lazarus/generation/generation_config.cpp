// generation_config.json reading (see generation_config.h).
#include "lazarus/generation/generation_config.h"

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus::generation {

using config::Json;
using config::JsonReader;

namespace {

// One id, a list of ids, or null.
std::vector<int64_t> id_list(const Json& v, const std::string& where) {
  if (v.is_null()) return {};
  if (v.is_array()) return JsonReader::convert<std::vector<int64_t>>(v, where);
  return {JsonReader::convert<int64_t>(v, where)};
}

// Keys that never change the tokens generated.
const char* const kBookkeeping[] = {
    "transformers_version",    "_from_model_config", "use_cache",
    "output_scores",           "output_attentions",  "output_hidden_states",
    "return_dict_in_generate", "output_logits"};

// Settings Lazarus does not implement, with the value at which they do nothing.
const std::pair<const char*, Json> kNeutral[] = {{"num_beams", 1},
                                                 {"num_beam_groups", 1},
                                                 {"num_return_sequences", 1},
                                                 {"no_repeat_ngram_size", 0},
                                                 {"length_penalty", 1.0},
                                                 {"typical_p", 1.0},
                                                 {"epsilon_cutoff", 0.0},
                                                 {"eta_cutoff", 0.0},
                                                 {"diversity_penalty", 0.0},
                                                 {"encoder_repetition_penalty", 1.0},
                                                 {"min_length", 0},
                                                 {"min_new_tokens", 0},
                                                 {"early_stopping", false},
                                                 {"renormalize_logits", false},
                                                 {"remove_invalid_values", false}};

}  // namespace

GenerationConfig GenerationConfig::from_json(const Json& j, const std::string& origin) {
  GenerationConfig g;
  try {
    JsonReader r(j, "");
    for (const char* k : kBookkeeping) r.skip(k);
    r.get("do_sample", g.do_sample);
    r.get("temperature", g.temperature);
    r.get("top_k", g.top_k);
    r.get("top_p", g.top_p);
    r.get("min_p", g.min_p);
    r.get("repetition_penalty", g.repetition_penalty);
    r.get("max_new_tokens", g.max_new_tokens);
    r.get("max_length", g.max_length);
    if (r.has("eos_token_id")) g.eos_token_id = id_list(r.raw("eos_token_id"), "eos_token_id");
    r.get("bos_token_id", g.bos_token_id);
    r.get("pad_token_id", g.pad_token_id);
    if (r.has("stop_strings")) {
      const Json& s = r.raw("stop_strings");
      if (s.is_string())
        g.stop_strings = {s.get<std::string>()};
      else if (!s.is_null())
        g.stop_strings = JsonReader::convert<std::vector<std::string>>(s, "stop_strings");
    }
    // Everything else is a setting we do not implement (beam search, typical_p, ...): harmless
    // at its neutral value, reported otherwise.
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (r.has_read(it.key()) || it.value().is_null()) continue;
      bool neutral = false;
      for (auto& [key, value] : kNeutral) neutral |= it.key() == key && it.value() == value;
      if (!neutral)
        g.not_applied.push_back(fmt::format("{}: {} = {} is not supported; ignored", origin,
                                            it.key(), it.value().dump()));
    }
    SamplerConfig check = g.sampler();
    check.temperature = g.temperature;  // checked even when do_sample is false
    check.validate();
    if (g.max_new_tokens && *g.max_new_tokens < 0)
      throw ConfigError(fmt::format("max_new_tokens: {} must be >= 0", *g.max_new_tokens));
    if (g.max_length && *g.max_length < 0)
      throw ConfigError(fmt::format("max_length: {} must be >= 0", *g.max_length));
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", origin, e.what()));
  }
  return g;
}

GenerationConfig GenerationConfig::from_model_config(const Json& hf) {
  GenerationConfig g;
  if (!hf.is_object()) return g;
  if (hf.contains("eos_token_id")) g.eos_token_id = id_list(hf["eos_token_id"], "eos_token_id");
  if (hf.contains("bos_token_id") && hf["bos_token_id"].is_number_integer())
    g.bos_token_id = hf["bos_token_id"].get<int64_t>();
  if (hf.contains("pad_token_id") && hf["pad_token_id"].is_number_integer())
    g.pad_token_id = hf["pad_token_id"].get<int64_t>();
  return g;
}

SamplerConfig GenerationConfig::sampler(uint64_t seed) const {
  SamplerConfig s;
  s.temperature = do_sample ? temperature : 0.0;
  s.top_k = top_k;
  s.top_p = top_p;
  s.min_p = min_p.value_or(0.0);
  s.repetition_penalty = repetition_penalty;
  s.seed = seed;
  return s;
}

Json GenerationConfig::to_json() const {
  Json j = Json::object();
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  if (!eos_token_id.empty())
    j["eos_token_id"] = eos_token_id.size() == 1 ? Json(eos_token_id[0]) : Json(eos_token_id);
  if (pad_token_id) j["pad_token_id"] = *pad_token_id;
  j["do_sample"] = do_sample;
  if (do_sample) {
    j["temperature"] = temperature;
    j["top_k"] = top_k;
    j["top_p"] = top_p;
    if (min_p) j["min_p"] = *min_p;
  }
  if (repetition_penalty != 1.0) j["repetition_penalty"] = repetition_penalty;
  if (max_new_tokens) j["max_new_tokens"] = *max_new_tokens;
  if (max_length) j["max_length"] = *max_length;
  if (!stop_strings.empty()) j["stop_strings"] = stop_strings;
  return j;
}

}  // namespace lazarus::generation
