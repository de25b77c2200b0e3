// MambaConfig: HF config.json reading/writing, validation, presets (see mamba_config.h).
#include "lazarus/families/mamba/mamba_config.h"

#include <fmt/format.h>

#include "lazarus/config/field_table.h"
#include "lazarus/core/json_limits.h"
#include "lazarus/families/hf_config.h"

namespace lazarus::families {

using config::Json;
using config::JsonReader;

namespace {

void check(bool ok, const std::string& msg) {
  if (!ok) throw ConfigError(msg);
}

// The HF config.json fields, written once (configuration_mamba.py's MambaConfig), and the keys of
// the original mamba_ssm config that published -hf folders still carry.
const config::FieldTable<MambaConfig>& table() {
  static const config::FieldTable<MambaConfig> t = [] {
    using C = MambaConfig;
    config::FieldTable<C> t;
    t.add("architectures", &C::architectures);
    t.add("model_type", &C::model_type)
        .check([](const std::string& v) { return v == "mamba"; }, "is not 'mamba'");
    t.add("vocab_size", &C::vocab_size).positive();
    t.add("hidden_size", &C::hidden_size).positive();
    t.add("state_size", &C::state_size).positive();
    t.add("num_hidden_layers", &C::num_hidden_layers).positive();
    t.add("layer_norm_epsilon", &C::layer_norm_epsilon).in_open(0, 1);
    t.add("expand", &C::expand).positive();
    // Written (as HF saves it) and, when read, checked: HF derives it from expand.
    t.restates(
        "intermediate_size",
        "expand * hidden_size =", [](const C& c) { return Json(c.intermediate_size()); },
        /*write=*/true);
    t.add("conv_kernel", &C::conv_kernel).positive();
    t.add("use_bias", &C::use_bias);
    t.add("use_conv_bias", &C::use_conv_bias);
    t.add("hidden_act", &C::hidden_act);
    t.add("time_step_rank", &C::time_step_rank)
        .positive()
        .read_with([](const Json& v, C& c, const std::string& field) {
          if (v.is_string()) {
            std::string s = v.get<std::string>();
            check(s == "auto",
                  fmt::format("{}: expected an integer or \"auto\", got \"{}\"", field, s));
            c.time_step_rank.reset();
          } else {
            c.time_step_rank = JsonReader::convert<std::optional<int64_t>>(v, field);
          }
        })
        .write_with([](const C& c) { return Json(c.resolved_time_step_rank()); });
    t.add("residual_in_fp32", &C::residual_in_fp32);
    t.add("tie_word_embeddings", &C::tie_word_embeddings);
    t.add("initializer_range", &C::initializer_range).non_negative();
    t.add("time_step_scale", &C::time_step_scale).positive();
    t.add("time_step_min", &C::time_step_min).positive();
    t.add("time_step_max", &C::time_step_max).check_with([](const C& c, double v) {
      return v >= c.time_step_min ? std::string()
                                  : fmt::format("must be >= time_step_min {}", c.time_step_min);
    });
    t.add("time_step_init_scheme", &C::time_step_init_scheme)
        .check([](const std::string& v) { return v == "random" || v == "constant"; },
               "must be 'random' or 'constant'");
    t.add("time_step_floor", &C::time_step_floor).non_negative();
    t.add("rescale_prenorm_residual", &C::rescale_prenorm_residual);
    t.add("bos_token_id", &C::bos_token_id).check_with(token_id_in_vocab<C>);
    t.add("eos_token_id", &C::eos_token_id).token_ids().check_with(token_id_in_vocab<C>);
    t.add("pad_token_id", &C::pad_token_id).check_with(token_id_in_vocab<C>);
    t.add("torch_dtype", &C::torch_dtype);
    // mamba_ssm's names of the same numbers (state-spaces/mamba-*-hf carry them): must agree.
    t.restates("d_model", "hidden_size", [](const C& c) { return Json(c.hidden_size); });
    t.restates("n_layer", "num_hidden_layers",
               [](const C& c) { return Json(c.num_hidden_layers); });
    t.restates("d_inner",
               "expand * hidden_size =", [](const C& c) { return Json(c.intermediate_size()); });
    t.restates("tie_embeddings", "tie_word_embeddings",
               [](const C& c) { return Json(c.tie_word_embeddings); });
    // mamba_ssm switches that would change the math away from their neutral value. HF's
    // MambaForCausalLM reads none of them: it always builds RMSNorm Mamba-1 mixers, no MLP.
    t.neutral("rms_norm", {true}, "LayerNorm Mamba; HF MambaForCausalLM always uses RMSNorm");
    t.neutral("ssm_cfg", {Json::object()},
              "mamba_ssm mixer options; only the Mamba-1 defaults are, with state_size, "
              "conv_kernel, expand at the top level");
    t.neutral("d_intermediate", {0}, "an MLP after each mixer");
    // Same math, other implementation: fused_add_norm (a fused residual-add + norm kernel),
    // use_mambapy (HF's pure-PyTorch scan fallback), pad_vocab_size_multiple (mamba_ssm rounded
    // vocab_size up to it when building; the -hf vocab_size is already the rounded size).
    t.ignore({"fused_add_norm", "use_mambapy", "pad_vocab_size_multiple"});
    t.common(accept_hf_common_keys);
    return t;
  }();
  return t;
}

}  // namespace

void MambaConfig::validate() const {
  table().validate(*this);
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

Json MambaConfig::to_json() const { return table().write(*this); }

MambaConfig MambaConfig::from_json(const Json& j, const std::string& path) {
  MambaConfig c;
  table().read(j, c, path);
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
