// MambaConfig: HF config.json reading/writing, validation, presets (see mamba_config.h).
#include "lazarus/families/mamba/mamba_config.h"

#include <fmt/format.h>

#include "lazarus/core/json_limits.h"

namespace lazarus::families {

using config::Json;
using config::JsonReader;
using config::opt_json;

namespace {

void check(bool ok, const std::string& msg) {
  if (!ok) throw ConfigError(msg);
}

std::string key(const std::string& path, const char* name) {
  return path.empty() ? name : path + "." + name;
}

}  // namespace

void MambaConfig::validate() const {
  check(model_type == "mamba", fmt::format("model_type: '{}' is not 'mamba'", model_type));
  check(vocab_size > 0, fmt::format("vocab_size: {} must be > 0", vocab_size));
  check(hidden_size > 0, fmt::format("hidden_size: {} must be > 0", hidden_size));
  check(state_size > 0, fmt::format("state_size: {} must be > 0", state_size));
  check(num_hidden_layers > 0, fmt::format("num_hidden_layers: {} must be > 0", num_hidden_layers));
  check(layer_norm_epsilon > 0 && layer_norm_epsilon < 1,
        fmt::format("layer_norm_epsilon: {} must be in (0, 1)", layer_norm_epsilon));
  check(expand > 0, fmt::format("expand: {} must be > 0", expand));
  check(conv_kernel > 0, fmt::format("conv_kernel: {} must be > 0", conv_kernel));
  if (time_step_rank)
    check(*time_step_rank > 0, fmt::format("time_step_rank: {} must be > 0", *time_step_rank));
  check(initializer_range >= 0,
        fmt::format("initializer_range: {} must be >= 0", initializer_range));
  check(time_step_min > 0, fmt::format("time_step_min: {} must be > 0", time_step_min));
  check(time_step_max >= time_step_min,
        fmt::format("time_step_max: {} must be >= time_step_min {}", time_step_max, time_step_min));
  check(time_step_floor >= 0, fmt::format("time_step_floor: {} must be >= 0", time_step_floor));
  check(time_step_scale > 0, fmt::format("time_step_scale: {} must be > 0", time_step_scale));
  check(time_step_init_scheme == "random" || time_step_init_scheme == "constant",
        fmt::format("time_step_init_scheme: '{}' must be 'random' or 'constant'",
                    time_step_init_scheme));
  for (int64_t id : eos_token_id) {
    check(id >= 0 && id < vocab_size,
          fmt::format("eos_token_id: {} out of range for vocab_size {}", id, vocab_size));
  }
  if (bos_token_id) {
    check(
        *bos_token_id >= 0 && *bos_token_id < vocab_size,
        fmt::format("bos_token_id: {} out of range for vocab_size {}", *bos_token_id, vocab_size));
  }
  if (pad_token_id) {
    check(
        *pad_token_id >= 0 && *pad_token_id < vocab_size,
        fmt::format("pad_token_id: {} out of range for vocab_size {}", *pad_token_id, vocab_size));
  }
  to_model_config().validate();
}

config::ModelConfig MambaConfig::to_model_config() const {
  using namespace config;
  ModelConfig m;
  BackboneConfig& b = m.backbone;
  b.type = BackboneType::Mamba;
  b.embedding.vocab_size = vocab_size;
  b.hidden_size = hidden_size;
  b.num_layers = num_hidden_layers;
  b.final_norm = NormConfig{NormType::RMSNorm, layer_norm_epsilon, false};
  BlockConfig& blk = b.block;
  blk.type = BlockType::Mamba;
  blk.norm = b.final_norm;
  blk.residual_in_fp32 = residual_in_fp32;
  SSMConfig& s = blk.ssm;
  s.state_size = state_size;
  s.conv_kernel = conv_kernel;
  s.expand = expand;
  s.time_step_rank = resolved_time_step_rank();
  s.use_bias = use_bias;
  s.use_conv_bias = use_conv_bias;
  s.activation = hidden_act;
  m.head.tie_word_embeddings = tie_word_embeddings;
  return m;
}

Json MambaConfig::to_json() const {
  Json eos = eos_token_id.size() == 1 ? Json(eos_token_id[0]) : Json(eos_token_id);
  return Json{{"architectures", architectures},
              {"model_type", model_type},
              {"vocab_size", vocab_size},
              {"hidden_size", hidden_size},
              {"state_size", state_size},
              {"num_hidden_layers", num_hidden_layers},
              {"layer_norm_epsilon", layer_norm_epsilon},
              {"expand", expand},
              {"intermediate_size", intermediate_size()},
              {"conv_kernel", conv_kernel},
              {"use_bias", use_bias},
              {"use_conv_bias", use_conv_bias},
              {"hidden_act", config::to_string(hidden_act)},
              {"time_step_rank", resolved_time_step_rank()},
              {"residual_in_fp32", residual_in_fp32},
              {"tie_word_embeddings", tie_word_embeddings},
              {"initializer_range", initializer_range},
              {"time_step_scale", time_step_scale},
              {"time_step_min", time_step_min},
              {"time_step_max", time_step_max},
              {"time_step_init_scheme", time_step_init_scheme},
              {"time_step_floor", time_step_floor},
              {"rescale_prenorm_residual", rescale_prenorm_residual},
              {"bos_token_id", opt_json(bos_token_id)},
              {"eos_token_id", eos},
              {"pad_token_id", opt_json(pad_token_id)},
              {"torch_dtype", opt_json(torch_dtype)}};
}

MambaConfig MambaConfig::from_json(const Json& j, const std::string& path) {
  MambaConfig c;
  JsonReader r(j, path);
  for (const char* k : {"transformers_version", "use_cache", "_name_or_path", "use_mambapy",
                        "fused_add_norm", "pad_vocab_size_multiple"})
    r.skip(k);
  r.get("architectures", c.architectures);
  r.get("model_type", c.model_type);
  r.get("vocab_size", c.vocab_size);
  r.get("hidden_size", c.hidden_size);
  r.get("state_size", c.state_size);
  r.get("num_hidden_layers", c.num_hidden_layers);
  r.get("layer_norm_epsilon", c.layer_norm_epsilon);
  r.get("expand", c.expand);
  r.get("conv_kernel", c.conv_kernel);
  r.get("use_bias", c.use_bias);
  r.get("use_conv_bias", c.use_conv_bias);
  r.get("hidden_act", c.hidden_act);
  if (r.has("time_step_rank") && r.raw("time_step_rank").is_string()) {
    std::string v = r.raw("time_step_rank").get<std::string>();
    check(v == "auto", fmt::format("{}: expected an integer or \"auto\", got \"{}\"",
                                   r.field("time_step_rank"), v));
  } else {
    r.get("time_step_rank", c.time_step_rank);
  }
  r.get("residual_in_fp32", c.residual_in_fp32);
  r.get("tie_word_embeddings", c.tie_word_embeddings);
  r.get("initializer_range", c.initializer_range);
  r.get("time_step_scale", c.time_step_scale);
  r.get("time_step_min", c.time_step_min);
  r.get("time_step_max", c.time_step_max);
  r.get("time_step_init_scheme", c.time_step_init_scheme);
  r.get("time_step_floor", c.time_step_floor);
  r.get("rescale_prenorm_residual", c.rescale_prenorm_residual);
  r.get("bos_token_id", c.bos_token_id);
  if (r.has("eos_token_id")) {
    const Json& e = r.raw("eos_token_id");
    if (e.is_null())
      c.eos_token_id.clear();
    else if (e.is_array())
      c.eos_token_id = JsonReader::convert<std::vector<int64_t>>(e, r.field("eos_token_id"));
    else
      c.eos_token_id = {JsonReader::convert<int64_t>(e, r.field("eos_token_id"))};
  }
  r.get("pad_token_id", c.pad_token_id);
  r.get("torch_dtype", c.torch_dtype);
  // Keys that restate (or, in the original mamba_ssm format, rename) fields: they must agree.
  auto same = [&](const char* k, int64_t want, const char* what) {
    if (!r.has(k)) return;
    int64_t v = 0;
    r.get(k, v);
    check(v == want, fmt::format("{}: {} does not match {} {}", key(path, k), v, what, want));
  };
  same("intermediate_size", c.intermediate_size(), "expand * hidden_size =");
  same("n_layer", c.num_hidden_layers, "num_hidden_layers");
  same("d_model", c.hidden_size, "hidden_size");
  if (r.has("rms_norm")) {
    bool rms = true;
    r.get("rms_norm", rms);
    check(rms, fmt::format("{}: false (LayerNorm Mamba) is not supported; HF MambaForCausalLM "
                           "always uses RMSNorm",
                           key(path, "rms_norm")));
  }
  if (r.has("ssm_cfg")) {
    const Json& s = r.raw("ssm_cfg");
    check(s.is_null() || (s.is_object() && s.empty()),
          fmt::format("{}: {} is not supported (only the Mamba-1 defaults; put state_size, "
                      "conv_kernel, expand at the top level)",
                      key(path, "ssm_cfg"), s.dump()));
  }
  r.finish();
  c.validate();
  return c;
}

MambaConfig MambaConfig::from_json_string(const std::string& text) {
  Json j = parse_json_text<Json, ConfigError>(text, "config.json", 64);
  return from_json(j);
}

MambaConfig MambaConfig::tiny() {
  MambaConfig c;
  c.vocab_size = 256;
  c.hidden_size = 64;
  c.state_size = 8;
  c.num_hidden_layers = 2;
  c.use_bias = false;
  return c;
}

MambaConfig MambaConfig::mamba_130m() {
  MambaConfig c;  // state-spaces/mamba-130m-hf
  c.hidden_size = 768;
  c.num_hidden_layers = 24;
  c.use_bias = false;
  c.time_step_rank = 48;
  c.torch_dtype = "float32";
  return c;
}

MambaConfig MambaConfig::mamba_370m() {
  MambaConfig c = mamba_130m();  // state-spaces/mamba-370m-hf
  c.hidden_size = 1024;
  c.num_hidden_layers = 48;
  c.time_step_rank = 64;
  return c;
}

MambaConfig MambaConfig::mamba_790m() {
  MambaConfig c = mamba_130m();  // state-spaces/mamba-790m-hf
  c.hidden_size = 1536;
  c.num_hidden_layers = 48;
  c.time_step_rank = 96;
  return c;
}

MambaConfig MambaConfig::mamba_1_4b() {
  MambaConfig c = mamba_130m();  // state-spaces/mamba-1.4b-hf
  c.hidden_size = 2048;
  c.num_hidden_layers = 48;
  c.time_step_rank = 128;
  return c;
}

MambaConfig MambaConfig::mamba_2_8b() {
  MambaConfig c = mamba_130m();  // state-spaces/mamba-2.8b-hf
  c.hidden_size = 2560;
  c.num_hidden_layers = 64;
  c.time_step_rank = 160;
  return c;
}

std::vector<std::string> MambaConfig::preset_names() {
  return {"tiny", "mamba_130m", "mamba_370m", "mamba_790m", "mamba_1_4b", "mamba_2_8b"};
}

MambaConfig MambaConfig::preset(const std::string& name) {
  if (name == "tiny") return tiny();
  if (name == "mamba_130m") return mamba_130m();
  if (name == "mamba_370m") return mamba_370m();
  if (name == "mamba_790m") return mamba_790m();
  if (name == "mamba_1_4b") return mamba_1_4b();
  if (name == "mamba_2_8b") return mamba_2_8b();
  std::string names;
  for (auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
  throw ConfigError(
      fmt::format("MambaConfig: unknown preset '{}' (expected one of {})", name, names));
}

}  // namespace lazarus::families
