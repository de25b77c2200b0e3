// LoRA adapters (see lora.h): attach by name, merge/unmerge, PEFT and mlx-lm adapter files.
#include "lazarus/adapters/lora.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "lazarus/core/regular_file.h"
#include "lazarus/core/error.h"
#include "lazarus/core/json_limits.h"
#include "lazarus/formats/safetensors.h"
#include "lazarus/nn/init.h"
#include "lazarus/tensor/autograd.h"

namespace lazarus::adapters {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPeftPrefix = "base_model.model.";
constexpr const char* kChild = "lora";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string join(const std::vector<std::string>& v, size_t limit = 12) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < limit; ++i) out += (i ? ", " : "") + v[i];
  if (v.size() > limit) out += fmt::format(", ... ({} in all)", v.size());
  return out;
}

nlohmann::json read_json_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw LoadError(
        fmt::format("{}: cannot open the file (is this an adapter folder?)", path.string()));
  }
  std::string text = read_regular_file(path.string(), "adapter config", 16u << 20);
  return parse_json_text(text, path.string(), 64);
}

std::string preview(const std::string& s) {
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

// PEFT's re.fullmatch(target_modules, name) in PCRE2, with the nesting, backtracking, depth and
// heap of both compiling and matching bounded: the pattern comes from a file (std::regex recursed
// once per nested group and overflowed the stack). `where` starts every error message.
class TargetRegex {
 public:
  TargetRegex(const std::string& pattern, const std::string& where) : where_(where) {
    pcre2_compile_context* cctx = pcre2_compile_context_create(nullptr);
    if (!cctx) throw std::bad_alloc();
    pcre2_set_parens_nest_limit(cctx, 64);
    pcre2_set_max_pattern_length(cctx, 1u << 16);
    int err = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &err, &offset, cctx);
    pcre2_compile_context_free(cctx);
    if (!code_) {
      throw ConfigError(fmt::format("{}target_modules = \"{}\": not a valid regex ({} at offset {})",
                                    where_, preview(pattern), message(err), offset));
    }
    mctx_ = pcre2_match_context_create(nullptr);
    data_ = pcre2_match_data_create_from_pattern(code_, nullptr);
    if (!mctx_ || !data_) {
      release();
      throw std::bad_alloc();
    }
    pcre2_set_match_limit(mctx_, 1'000'000);
    pcre2_set_depth_limit(mctx_, 10'000);
    pcre2_set_heap_limit(mctx_, 64 * 1024);  // KiB
  }
  ~TargetRegex() { release(); }
  TargetRegex(const TargetRegex&) = delete;
  TargetRegex& operator=(const TargetRegex&) = delete;

  /// True when the whole of `name` matches; ConfigError when the matcher hits a limit.
  bool full_match(const std::string& name) const {
    const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(name.data()), name.size(), 0, 0,
                               data_, mctx_);
    if (rc >= 0) return true;
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    throw ConfigError(fmt::format("{}target_modules: matching the regex against '{}' failed ({})",
                                  where_, name, message(rc)));
  }

 private:
  static std::string message(int code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(code, buf, sizeof(buf));
    return reinterpret_cast<const char*>(buf);
  }
  void release() {
    pcre2_match_data_free(data_);
    pcre2_match_context_free(mctx_);
    pcre2_code_free(code_);
  }
  std::string where_;
  pcre2_code* code_ = nullptr;
  pcre2_match_context* mctx_ = nullptr;
  pcre2_match_data* data_ = nullptr;
};

// The names among `names` that the config targets. `where` ("file: " or "[lora] ") starts errors.
std::vector<std::string> targeted(const LoraConfig& cfg, const std::vector<std::string>& names,
                                  const std::string& where) {
  std::vector<std::string> out;
  if (!cfg.target_regex.empty()) {
    TargetRegex re(cfg.target_regex, where);
    for (const auto& n : names)
      if (re.full_match(n)) out.push_back(n);
    return out;
  }
  for (const auto& n : names) {
    for (const auto& t : cfg.target_modules) {
      if (n == t || ends_with(n, "." + t)) {
        out.push_back(n);
        break;
      }
    }
  }
  return out;
}

std::map<std::string, nn::Linear*> linears(nn::Module& model) {
  std::map<std::string, nn::Linear*> out;
  for (auto& [name, m] : model.named_modules()) {
    if (auto* lin = dynamic_cast<nn::Linear*>(m)) out[name] = lin;
  }
  return out;
}

void set_weight(nn::Linear& lin, const Tensor& w32) {
  bool rg = lin.weight.requires_grad();
  lin.weight = w32.to(lin.weight.dtype()).contiguous().detach();
  if (rg) lin.weight.requires_grad_(true);
}

/// One adapter read from a file, before anything is attached.
struct Loaded {
  nn::Linear* linear = nullptr;
  Tensor A, B;  // (r, in), (out, r)
};

void attach_loaded(nn::Module& model, std::map<std::string, Loaded>& found, double scale,
                   double dropout) {
  model.freeze();
  for (auto& [name, l] : found) {
    DType dt = l.linear->weight.dtype();
    auto ad = std::make_shared<LoraAdapter>(l.linear->in_features(), l.linear->out_features(),
                                            l.A.size(0), scale, dropout, dt);
    NoGradGuard ng;
    // Owned copies: the file's tensors may be read-only views of its mapping, and training
    // updates parameters in place.
    ad->A = l.A.to(dt).clone().detach().requires_grad_(true);
    ad->B = l.B.to(dt).clone().detach().requires_grad_(true);
    l.linear->set_adapter(ad, kChild);
  }
}

/// Validates one module's A/B pair against the model (shapes; the module is a Linear without an
/// adapter) and records it.
void check_pair(const std::string& file, const std::string& module, const Tensor& A,
                const Tensor& B, int64_t rank, std::map<std::string, Loaded>& out,
                const std::map<std::string, nn::Linear*>& lins) {
  auto it = lins.find(module);
  if (it == lins.end()) {
    throw LoadError(fmt::format(
        "{}: the adapter targets '{}', which is not a Linear layer of this model (is it the right "
        "base model?)",
        file, module));
  }
  nn::Linear* lin = it->second;
  if (lin->adapter()) {
    throw ConfigError(
        fmt::format("{}: '{}' already carries an adapter; load onto a fresh model", file, module));
  }
  Shape want_a{rank, lin->in_features()}, want_b{lin->out_features(), rank};
  if (A.shape() != want_a || B.shape() != want_b) {
    throw LoadError(fmt::format(
        "{}: '{}': lora_A {} and lora_B {} do not fit a rank-{} adapter on a Linear {} -> {} "
        "(expected {} and {})",
        file, module, shape_str(A.shape()), shape_str(B.shape()), rank, lin->in_features(),
        lin->out_features(), shape_str(want_a), shape_str(want_b)));
  }
  if (!is_floating(A.dtype()) || !is_floating(B.dtype())) {
    throw LoadError(fmt::format("{}: '{}': adapter weights must be floating, got {} and {}", file,
                                module, dtype_name(A.dtype()), dtype_name(B.dtype())));
  }
  out[module] = {lin, A, B};
}

}  // namespace

// ---- config ----

double LoraConfig::scale() const {
  return use_rslora ? alpha / std::sqrt(double(r)) : alpha / double(r);
}

void LoraConfig::validate() const {
  auto bad = [](const char* field, const std::string& value, const char* why) {
    throw ConfigError(fmt::format("[lora] {} = {}: {}", field, value, why));
  };
  if (r < 1) bad("r", std::to_string(r), "the rank must be >= 1");
  if (!std::isfinite(alpha) || alpha <= 0)
    bad("alpha", fmt::format("{}", alpha), "must be finite and > 0 (PEFT refuses others)");
  if (!(dropout >= 0.0 && dropout < 1.0))
    bad("dropout", fmt::format("{}", dropout), "must be in [0, 1)");
  if (target_modules.empty() && target_regex.empty())
    bad("target_modules", "[]", "name at least one module (e.g. q_proj) or give a regex");
  for (const auto& t : target_modules)
    if (t.empty()) bad("target_modules", "\"\"", "entries must be non-empty");
  if (!target_regex.empty()) {
    TargetRegex check(target_regex, "[lora] ");  // throws when it does not compile
  }
}

nlohmann::ordered_json LoraConfig::to_peft_json(const std::string& base_model) const {
  nlohmann::ordered_json j;
  j["peft_type"] = "LORA";
  j["task_type"] = "CAUSAL_LM";
  if (base_model.empty())
    j["base_model_name_or_path"] = nullptr;
  else
    j["base_model_name_or_path"] = base_model;
  j["r"] = r;
  j["lora_alpha"] = alpha;
  j["lora_dropout"] = dropout;
  if (target_regex.empty())
    j["target_modules"] = target_modules;
  else
    j["target_modules"] = target_regex;
  j["bias"] = "none";
  j["fan_in_fan_out"] = false;
  j["use_rslora"] = use_rslora;
  j["use_dora"] = false;
  j["init_lora_weights"] = true;
  j["inference_mode"] = true;
  j["modules_to_save"] = nullptr;
  j["rank_pattern"] = nlohmann::ordered_json::object();
  j["alpha_pattern"] = nlohmann::ordered_json::object();
  j["layers_to_transform"] = nullptr;
  j["layers_pattern"] = nullptr;
  j["revision"] = nullptr;
  return j;
}

LoraConfig LoraConfig::from_peft_json(const nlohmann::json& j, const std::string& where) {
  auto bad = [&](const std::string& field, const std::string& why) {
    return ConfigError(fmt::format("{}: \"{}\": {}", where, field, why));
  };
  if (!j.is_object()) throw bad("<root>", "must be a JSON object");
  auto get = [&](const char* k) -> const nlohmann::json* {
    auto it = j.find(k);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };
  LoraConfig c;
  const auto* pt = get("peft_type");
  if (!pt || !pt->is_string() || pt->get<std::string>() != "LORA")
    throw bad("peft_type", fmt::format("must be \"LORA\", got {}", pt ? pt->dump() : "nothing"));
  const auto* r = get("r");
  if (!r || !r->is_number_integer()) throw bad("r", "missing or not an integer");
  c.r = r->get<int64_t>();
  if (const auto* a = get("lora_alpha")) {
    if (!a->is_number()) throw bad("lora_alpha", "must be a number, got " + a->dump());
    c.alpha = a->get<double>();
    if (!(c.alpha > 0))
      throw bad("lora_alpha", "must be > 0 (PEFT refuses a zero or negative scale), got " +
                                  a->dump());
  }
  if (const auto* d = get("lora_dropout")) {
    if (!d->is_number()) throw bad("lora_dropout", "must be a number, got " + d->dump());
    c.dropout = d->get<double>();
  }
  if (const auto* t = get("target_modules")) {
    if (t->is_string()) {
      c.target_modules.clear();
      c.target_regex = t->get<std::string>();
    } else if (t->is_array()) {
      c.target_modules.clear();
      for (const auto& e : *t) {
        if (!e.is_string()) throw bad("target_modules", "entries must be strings, got " + e.dump());
        c.target_modules.push_back(e.get<std::string>());
      }
    } else {
      throw bad("target_modules", "must be a list of names or a regex string, got " + t->dump());
    }
  }
  if (const auto* u = get("use_rslora")) c.use_rslora = u->is_boolean() && u->get<bool>();
  auto refuse_true = [&](const char* k, const char* what) {
    if (const auto* v = get(k); v && v->is_boolean() && v->get<bool>())
      throw bad(k, fmt::format("{} is not supported", what));
  };
  refuse_true("use_dora", "DoRA");
  refuse_true("fan_in_fan_out", "fan_in_fan_out (Conv1D-style weights)");
  if (const auto* b = get("bias"); b && (!b->is_string() || b->get<std::string>() != "none"))
    throw bad("bias", "only \"none\" is supported, got " + b->dump());
  for (const char* k : {"rank_pattern", "alpha_pattern"}) {
    if (const auto* p = get(k); p && !(p->is_object() && p->empty()))
      throw bad(k, "per-module ranks/alphas are not supported");
  }
  if (const auto* m = get("modules_to_save"); m && !(m->is_array() && m->empty()))
    throw bad("modules_to_save", "fully trained extra modules are not supported");
  try {
    c.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", where, e.what()));
  }
  return c;
}

// ---- the adapter ----

LoraAdapter::LoraAdapter(int64_t in_features, int64_t out_features, int64_t r, double scale,
                         double dropout, DType dtype, Generator* gen)
    : scale_(scale) {
  if (r < 1 || in_features < 1 || out_features < 1) {
    throw ConfigError(fmt::format("[lora] rank {} on a Linear {} -> {}: all must be >= 1", r,
                                  in_features, out_features));
  }
  // PEFT: kaiming_uniform_(a=sqrt(5)) on A, i.e. U(-1/sqrt(in), 1/sqrt(in)); B = 0, so a fresh
  // adapter leaves the model's output unchanged.
  A = nn::init::linear_default({r, in_features}, in_features, dtype, gen);
  B = zeros({out_features, r}, dtype);
  register_parameter("A", &A);
  register_parameter("B", &B);
  dropout_ = register_module("dropout", std::make_shared<nn::Dropout>(dropout));
}

Tensor LoraAdapter::adapt(const Tensor& x, const Tensor& y) const {
  if (merged_) return y;
  Tensor h = linear(linear(dropout_->forward(x), A), B);  // (..., in) -> (..., r) -> (..., out)
  return y + h * scale_;
}

Tensor LoraAdapter::delta_weight() const {
  NoGradGuard ng;
  return matmul(B.to(DType::F32), A.to(DType::F32)) * scale_;  // (out, r) @ (r, in)
}

// ---- attach, merge ----

std::vector<std::pair<std::string, nn::Linear*>> lora_layers(nn::Module& model) {
  std::vector<std::pair<std::string, nn::Linear*>> out;
  for (auto& [name, lin] : linears(model)) {
    if (std::dynamic_pointer_cast<LoraAdapter>(lin->adapter())) out.emplace_back(name, lin);
  }
  return out;
}

std::vector<std::string> apply_lora(nn::Module& model, const LoraConfig& cfg, uint64_t seed) {
  cfg.validate();
  auto lins = linears(model);
  std::vector<std::string> all;
  for (auto& [name, lin] : lins) all.push_back(name);
  std::vector<std::string> chosen = targeted(cfg, all, "[lora] ");
  for (const auto& name : chosen) {
    if (lins[name]->adapter())
      throw ConfigError(fmt::format("[lora] '{}' already carries an adapter", name));
  }
  if (chosen.empty()) {
    throw ConfigError(fmt::format(
        "[lora] no Linear layer matches target_modules {}; this model's Linear layers: {}",
        cfg.target_regex.empty() ? "[" + join(cfg.target_modules) + "]"
                                 : preview(cfg.target_regex),
        all.empty() ? "none" : join(all)));
  }
  model.freeze();
  Generator gen(seed);
  for (const auto& name : chosen) {
    nn::Linear* lin = lins[name];
    lin->set_adapter(
        std::make_shared<LoraAdapter>(lin->in_features(), lin->out_features(), cfg.r, cfg.scale(),
                                      cfg.dropout, lin->weight.dtype(), &gen),
        kChild);
  }
  return chosen;
}

void merge_lora(nn::Module& model) {
  NoGradGuard ng;
  for (auto& [name, lin] : lora_layers(model)) {
    auto* ad = static_cast<LoraAdapter*>(lin->adapter().get());
    if (ad->merged_) continue;
    set_weight(*lin, lin->weight.to(DType::F32) + ad->delta_weight());
    ad->merged_ = true;
  }
}

void unmerge_lora(nn::Module& model) {
  NoGradGuard ng;
  for (auto& [name, lin] : lora_layers(model)) {
    auto* ad = static_cast<LoraAdapter*>(lin->adapter().get());
    if (!ad->merged_) continue;
    set_weight(*lin, lin->weight.to(DType::F32) - ad->delta_weight());
    ad->merged_ = false;
  }
}

void merge_and_unload(nn::Module& model) {
  merge_lora(model);
  for (auto& [name, lin] : lora_layers(model)) lin->set_adapter(nullptr);
}

// ---- PEFT files ----

void save_peft_adapter(nn::Module& model, const LoraConfig& cfg, const std::string& dir,
                       const std::string& base_model) {
  auto layers = lora_layers(model);
  if (layers.empty())
    throw ConfigError("[save_peft_adapter] the model carries no LoRA adapter to save");
  std::map<std::string, Tensor> tensors;
  for (auto& [name, lin] : layers) {
    auto* ad = static_cast<LoraAdapter*>(lin->adapter().get());
    tensors[kPeftPrefix + name + ".lora_A.weight"] = ad->A.detach().contiguous();
    tensors[kPeftPrefix + name + ".lora_B.weight"] = ad->B.detach().contiguous();
  }
  fs::create_directories(dir);
  formats::save_safetensors((fs::path(dir) / "adapter_model.safetensors").string(), tensors,
                       {{"format", "pt"}});
  fs::path cfg_path = fs::path(dir) / "adapter_config.json";
  fs::path tmp = fs::path(dir) / ".adapter_config.json.tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << cfg.to_peft_json(base_model).dump(2) << "\n";
    if (!out) throw Error(fmt::format("{}: cannot write", tmp.string()));
  }
  fs::rename(tmp, cfg_path);
}

LoraConfig load_peft_adapter(nn::Module& model, const std::string& dir) {
  fs::path cfg_path = fs::path(dir) / "adapter_config.json";
  fs::path w_path = fs::path(dir) / "adapter_model.safetensors";
  LoraConfig cfg = LoraConfig::from_peft_json(read_json_file(cfg_path), cfg_path.string());
  if (!fs::exists(w_path)) {
    throw LoadError(
        fmt::format("{}: not found (only the safetensors form of PEFT adapters is read; convert "
                    "adapter_model.bin first)",
                    w_path.string()));
  }
  auto file = formats::SafetensorsFile::open(w_path.string());
  const std::string fname = w_path.string();
  std::map<std::string, Tensor> a_of, b_of;
  for (const auto& e : file->entries()) {
    const std::string& k = e.name;
    std::string mod;
    bool is_a = ends_with(k, ".lora_A.weight"), is_b = ends_with(k, ".lora_B.weight");
    if (k.rfind(kPeftPrefix, 0) != 0 || (!is_a && !is_b)) {
      throw LoadError(
          fmt::format("{}: tensor '{}' is not a PEFT LoRA weight (expected "
                      "base_model.model.<module>.lora_A.weight / .lora_B.weight)",
                      fname, k));
    }
    mod = k.substr(std::string(kPeftPrefix).size(), k.size() - std::string(kPeftPrefix).size() -
                                                        std::string(".lora_A.weight").size());
    (is_a ? a_of : b_of)[mod] = file->tensor(k);
  }
  if (a_of.empty()) throw LoadError(fmt::format("{}: holds no LoRA weights", fname));
  auto lins = linears(model);
  {
    // PEFT: "Target modules ... not found in the base model".
    std::vector<std::string> all;
    for (auto& [name, lin] : lins) all.push_back(name);
    if (targeted(cfg, all, cfg_path.string() + ": ").empty()) {
      throw LoadError(fmt::format(
          "{}: target_modules {} match no Linear layer of the base model (is it the right base "
          "model?); its Linear layers: {}",
          cfg_path.string(),
          cfg.target_regex.empty() ? "[" + join(cfg.target_modules) + "]"
                                   : "\"" + preview(cfg.target_regex) + "\"",
          all.empty() ? "none" : join(all, 6)));
    }
  }
  std::map<std::string, Loaded> found;
  for (auto& [mod, A] : a_of) {
    auto it = b_of.find(mod);
    if (it == b_of.end())
      throw LoadError(fmt::format("{}: '{}' has lora_A but no lora_B", fname, mod));
    check_pair(fname, mod, A, it->second, cfg.r, found, lins);
  }
  for (auto& [mod, B] : b_of) {
    if (!a_of.count(mod))
      throw LoadError(fmt::format("{}: '{}' has lora_B but no lora_A", fname, mod));
  }
  attach_loaded(model, found, cfg.scale(), cfg.dropout);
  return cfg;
}

// ---- mlx-lm files ----

LoraConfig load_mlx_adapter(nn::Module& model, const std::string& dir) {
  fs::path cfg_path = fs::path(dir) / "adapter_config.json";
  fs::path w_path = fs::path(dir) / "adapters.safetensors";
  nlohmann::json j = read_json_file(cfg_path);
  const std::string where = cfg_path.string();
  if (!j.is_object()) throw ConfigError(where + ": must be a JSON object");
  std::string kind = "lora";
  if (auto it = j.find("fine_tune_type"); it != j.end() && it->is_string())
    kind = it->get<std::string>();
  if (kind != "lora") {
    throw ConfigError(fmt::format(
        "{}: \"fine_tune_type\": \"{}\" is not supported (only \"lora\" adapters are read)", where,
        kind));
  }
  auto lp = j.find("lora_parameters");
  if (lp == j.end() || !lp->is_object())
    throw ConfigError(where + ": \"lora_parameters\" (rank, scale, dropout) is missing");
  auto num = [&](const char* k, bool required, double dflt) {
    auto it = lp->find(k);
    if (it == lp->end() || it->is_null()) {
      if (required)
        throw ConfigError(fmt::format("{}: \"lora_parameters.{}\" is missing", where, k));
      return dflt;
    }
    if (!it->is_number())
      throw ConfigError(
          fmt::format("{}: \"lora_parameters.{}\" must be a number, got {}", where, k, it->dump()));
    return it->get<double>();
  };
  LoraConfig cfg;
  double rank = num("rank", true, 0);
  if (rank != std::floor(rank) || rank < 1)
    throw ConfigError(
        fmt::format("{}: \"lora_parameters.rank\" must be an integer >= 1, got {}", where, rank));
  cfg.r = int64_t(rank);
  double scale = num("scale", false, 20.0);  // mlx-lm's default
  cfg.alpha = scale * double(cfg.r);
  cfg.dropout = num("dropout", false, 0.0);
  if (!fs::exists(w_path)) throw LoadError(fmt::format("{}: not found", w_path.string()));
  auto file = formats::SafetensorsFile::open(w_path.string());
  const std::string fname = w_path.string();
  std::map<std::string, Tensor> a_of, b_of;
  for (const auto& e : file->entries()) {
    const std::string& k = e.name;
    bool is_a = ends_with(k, ".lora_a"), is_b = ends_with(k, ".lora_b");
    if (!is_a && !is_b) {
      throw LoadError(fmt::format(
          "{}: tensor '{}' is not an mlx-lm LoRA weight (expected <module>.lora_a / .lora_b)",
          fname, k));
    }
    // mlx-lm stores the transposes of PEFT's matrices: lora_a (in, r), lora_b (r, out).
    Tensor t = file->tensor(k);
    if (t.dim() != 2)
      throw LoadError(fmt::format("{}: '{}' must be 2-D, got {}", fname, k, shape_str(t.shape())));
    (is_a ? a_of : b_of)[k.substr(0, k.size() - 7)] = t.transpose(0, 1).contiguous();
  }
  if (a_of.empty()) throw LoadError(fmt::format("{}: holds no LoRA weights", fname));
  auto lins = linears(model);
  std::map<std::string, Loaded> found;
  std::set<std::string> leaves;
  for (auto& [mod, A] : a_of) {
    auto it = b_of.find(mod);
    if (it == b_of.end())
      throw LoadError(fmt::format("{}: '{}' has lora_a but no lora_b", fname, mod));
    check_pair(fname, mod, A, it->second, cfg.r, found, lins);
    leaves.insert(mod.substr(mod.rfind('.') + 1));
  }
  for (auto& [mod, B] : b_of) {
    if (!a_of.count(mod))
      throw LoadError(fmt::format("{}: '{}' has lora_b but no lora_a", fname, mod));
  }
  cfg.target_modules.assign(leaves.begin(), leaves.end());
  cfg.validate();
  attach_loaded(model, found, cfg.scale(), cfg.dropout);
  return cfg;
}

}  // namespace lazarus::adapters
