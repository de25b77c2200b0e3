// Trainer (see trainer.h).
#include "lazarus/training/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lazarus/core/regular_file.h"
#include "lazarus/core/error.h"
#include "lazarus/formats/safetensors.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

namespace lazarus::training {

namespace fs = std::filesystem;
using json = nlohmann::json;

void TrainerConfig::validate() const {
  auto bad = [](const std::string& field, const std::string& v, const char* rule) {
    throw ConfigError(fmt::format("training.{}: {} {}", field, v, rule));
  };
  if (max_steps < 1) bad("max_steps", std::to_string(max_steps), "must be >= 1");
  if (grad_accum < 1) bad("grad_accum", std::to_string(grad_accum), "must be >= 1");
  if (!(lr > 0) || !std::isfinite(lr)) bad("lr", fmt::format("{}", lr), "must be > 0");
  if (warmup_steps < 0) bad("warmup_steps", std::to_string(warmup_steps), "must be >= 0");
  if (!(min_lr_ratio >= 0 && min_lr_ratio <= 1))
    bad("min_lr_ratio", fmt::format("{}", min_lr_ratio), "must be in [0, 1]");
  if (!(weight_decay >= 0)) bad("weight_decay", fmt::format("{}", weight_decay), "must be >= 0");
  if (!(max_grad_norm >= 0)) bad("max_grad_norm", fmt::format("{}", max_grad_norm), "must be >= 0");
  if (eval_every < 0 || save_every < 0 || log_every < 0)
    bad("eval_every/save_every/log_every", "<0", "must be >= 0");
  if (eval_batches < 1) bad("eval_batches", std::to_string(eval_batches), "must be >= 1");
  if (keep_checkpoints < 1)
    bad("keep_checkpoints", std::to_string(keep_checkpoints), "must be >= 1");
  if (compute_dtype != DType::F32 && compute_dtype != DType::BF16 && compute_dtype != DType::F16)
    bad("compute_dtype", std::string(dtype_name(compute_dtype)), "must be f32, bf16 or f16");
}

namespace {
/// f32 copies of the trainable parameters when training in mixed precision (none otherwise).
std::vector<std::pair<std::string, Tensor>> make_masters(nn::Module& m, const TrainerConfig& c) {
  c.validate();
  std::vector<std::pair<std::string, Tensor>> out;
  if (c.compute_dtype == DType::F32) return out;
  NoGradGuard ng;
  for (auto& [name, p] : m.named_parameters()) {
    if (!p->requires_grad()) continue;
    out.emplace_back(name, p->to(DType::F32).clone().detach().requires_grad_(true));
  }
  return out;
}

AdamW make_optimizer(nn::Module& m, const TrainerConfig& c,
                     std::vector<std::pair<std::string, Tensor>>& masters) {
  AdamWOptions o;
  o.lr = c.lr;
  o.beta1 = c.beta1;
  o.beta2 = c.beta2;
  o.eps = c.eps;
  if (masters.empty()) return AdamW(decay_groups(m.named_parameters(), c.weight_decay), o);
  std::vector<std::pair<std::string, Tensor*>> named;
  for (auto& [name, t] : masters) named.emplace_back(name, &t);
  return AdamW(decay_groups(named, c.weight_decay), o);
}

/// The model's parameter slots by name.
std::map<std::string, Tensor*> slots(nn::Module& m) {
  std::map<std::string, Tensor*> out;
  for (auto& [name, p] : m.named_parameters()) out[name] = p;
  return out;
}

std::string fmt_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  int64_t t = int64_t(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
                   : fmt::format("{:02}:{:02}", t / 60, t % 60);
}

json record_json(const StepRecord& r) {
  json j = {{"step", r.step},
            {"loss", r.loss},
            {"lr", r.lr},
            {"grad_norm", r.grad_norm},
            {"tokens_per_s", r.tokens_per_s}};
  if (r.eval_loss >= 0) {
    j["eval_loss"] = r.eval_loss;
    j["eval_perplexity"] = std::exp(r.eval_loss);
  }
  return j;
}
}  // namespace

Trainer::Trainer(nn::Module& model, LossFn loss_fn, DataLoader& train, DataLoader* eval,
                 TrainerConfig cfg)
    : model_(model),
      loss_fn_(std::move(loss_fn)),
      train_(train),
      eval_(eval),
      cfg_(std::move(cfg)),
      masters_(make_masters(model, cfg_)),
      opt_(make_optimizer(model, cfg_, masters_)) {}

void Trainer::to_compute_dtype() {
  if (masters_.empty() || in_compute_) return;
  NoGradGuard ng;
  frozen_f32_.clear();
  for (auto& [name, p] : model_.named_parameters()) {
    if (!is_floating(p->dtype()) || p->dtype() == cfg_.compute_dtype) continue;
    bool rg = p->requires_grad();
    // Frozen weights keep their f32 tensor aside, so the model comes back unchanged.
    if (!rg) frozen_f32_.emplace_back(p, *p);
    *p = p->to(cfg_.compute_dtype).contiguous().detach();
    if (rg) p->requires_grad_(true);
  }
  in_compute_ = true;
}

void Trainer::to_master_dtype() {
  if (!in_compute_) return;
  NoGradGuard ng;
  for (auto& [slot, f32] : frozen_f32_) *slot = f32;
  frozen_f32_.clear();
  auto sl = slots(model_);
  for (auto& [name, t] : masters_) {
    Tensor* p = sl.at(name);
    *p = t.detach().clone();
    p->requires_grad_(true);
  }
  in_compute_ = false;
}

double Trainer::evaluate() {
  if (!eval_) throw ConfigError("[trainer] evaluate() needs an eval loader");
  NoGradGuard ng;
  bool was_training = model_.is_training();
  model_.eval();
  DataPosition saved = eval_->position();
  eval_->set_position({0, 0});
  int64_t n = std::min<int64_t>(cfg_.eval_batches, std::max<int64_t>(1, eval_->num_batches()));
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += loss_fn_(model_, eval_->next()).item();
  eval_->set_position(saved);
  model_.train(was_training);
  return total / double(n);
}

std::string Trainer::latest_checkpoint(const std::string& output_dir) {
  if (output_dir.empty() || !fs::is_directory(output_dir)) return "";
  int64_t best = -1;
  std::string path;
  for (auto& e : fs::directory_iterator(output_dir)) {
    std::string name = e.path().filename().string();
    if (!e.is_directory() || name.rfind("checkpoint-", 0) != 0) continue;
    char* end = nullptr;
    long long s = std::strtoll(name.c_str() + 11, &end, 10);
    if (*end != '\0' || !fs::exists(e.path() / "trainer_state.json")) continue;
    if (s > best) {
      best = s;
      path = e.path().string();
    }
  }
  return path;
}

void Trainer::save_checkpoint(const std::string& dir) {
  fs::path final_dir(dir);
  std::string tmp_name = final_dir.filename().string();
  tmp_name.insert(0, 1, '.');
  tmp_name.append(".tmp");
  fs::path tmp = final_dir.parent_path() / tmp_name;
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  std::map<std::string, Tensor> model_state;
  if (cfg_.checkpoint_trainable_only) {
    for (auto& [k, p] : model_.named_parameters())
      if (p->requires_grad()) model_state[k] = p->detach();
  } else {
    for (auto& [k, v] : model_.state_dict()) model_state[k] = v;
  }
  for (auto& [k, t] : masters_) model_state[k] = t.detach();  // f32, not the compute copies
  formats::save_safetensors((tmp / "model.safetensors").string(), model_state);
  formats::save_safetensors((tmp / "optimizer.safetensors").string(), opt_.state_dict());
  Generator& g = default_generator();
  DataPosition dp = train_.position();
  json st = {{"step", step_},
             {"rng", {{"seed", g.seed()}, {"offset", g.offset()}}},
             {"data", {{"epoch", dp.epoch}, {"index", dp.index}}},
             {"history", json::array()}};
  if (!cfg_.run_options.empty()) st["run_options"] = cfg_.run_options;
  for (auto& r : history_) st["history"].push_back(record_json(r));
  {
    std::ofstream f(tmp / "trainer_state.json");
    f << st.dump(1);
    f.flush();
    if (!f) {
      fs::remove_all(tmp, ec);
      throw LoadError(fmt::format("{}: could not write trainer_state.json", dir));
    }
  }
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec)
    throw LoadError(
        fmt::format("{}: could not move the checkpoint into place: {}", dir, ec.message()));
}

void Trainer::load_checkpoint(const std::string& dir) {
  fs::path d(dir);
  std::string state_path = (d / "trainer_state.json").string();
  require_regular_file(state_path, "trainer state");
  std::ifstream in(state_path);
  if (!in) throw LoadError(fmt::format("{}: cannot open", state_path));
  json st;
  try {
    in >> st;
    auto model_state = formats::SafetensorsFile::open((d / "model.safetensors").string())->tensors();
    nn::StateDict sd(model_state.begin(), model_state.end());
    auto opt_state = formats::SafetensorsFile::open((d / "optimizer.safetensors").string())->tensors();
    if (!st.is_object()) throw LoadError(fmt::format("{}: must be a JSON object", state_path));
    // Integers are integers in range: nlohmann would read 6.7 as 6 and a negative as a huge
    // unsigned.
    auto as_int = [&](const json& v, const std::string& field, int64_t lo, int64_t hi) {
      bool ok = v.is_number_integer() && (v.is_number_unsigned()
                                              ? v.get<uint64_t>() <= uint64_t(hi)
                                              : v.get<int64_t>() >= lo && v.get<int64_t>() <= hi);
      if (!ok || v.get<int64_t>() < lo)
        throw LoadError(fmt::format("{}: \"{}\" must be an integer in [{}, {}], got {}",
                                    state_path, field, lo, hi, v.dump()));
      return v.get<int64_t>();
    };
    auto as_u64 = [&](const json& v, const std::string& field) {
      if (!v.is_number_unsigned())
        throw LoadError(fmt::format("{}: \"{}\" must be an integer in [0, 2^64), got {}",
                                    state_path, field, v.dump()));
      return v.get<uint64_t>();
    };
    const int64_t kMaxStep = int64_t(1) << 40;
    int64_t step = as_int(st.at("step"), "step", 0, kMaxStep);
    const json& history = st.at("history");
    if (!history.is_array() || int64_t(history.size()) != step)
      throw LoadError(fmt::format(
          "{}: \"step\" is {} but \"history\" holds {} records (one a step)", state_path, step,
          history.is_array() ? std::to_string(history.size()) : history.dump()));
    DataPosition dp{as_int(st.at("data").at("epoch"), "data.epoch", 0, INT64_MAX),
                    as_int(st.at("data").at("index"), "data.index", 0, INT64_MAX)};
    uint64_t seed = as_u64(st.at("rng").at("seed"), "rng.seed"),
             off = as_u64(st.at("rng").at("offset"), "rng.offset");
    // The run's options must match this checkpoint's: one message lists every difference.
    if (st.contains("run_options")) {
      const json& ro = st["run_options"];
      if (!ro.is_object())
        throw LoadError(fmt::format("{}: \"run_options\" must be an object, got {}", state_path,
                                    ro.dump()));
      std::map<std::string, std::string> old;
      for (auto& [k, v] : ro.items()) {
        if (!v.is_string())
          throw LoadError(fmt::format("{}: \"run_options.{}\" must be a string, got {}",
                                      state_path, k, v.dump()));
        old[k] = v.get<std::string>();
      }
      std::string diffs;
      int n_diff = 0;
      auto note = [&](const std::string& k, const std::string& was, const std::string& now) {
        diffs += fmt::format("\n  {}: {} in the checkpoint, {} now", k, was, now);
        ++n_diff;
      };
      for (auto& [k, v] : old) {
        auto it = cfg_.run_options.find(k);
        if (it == cfg_.run_options.end()) note(k, v, "(not set)");
        else if (it->second != v) note(k, v, it->second);
      }
      for (auto& [k, v] : cfg_.run_options)
        if (!old.count(k)) note(k, "(not recorded)", v);
      if (n_diff > 0)
        throw ConfigError(fmt::format(
            "{}: --resume with {} option{} different from the run that wrote this checkpoint "
            "(only --steps, --epochs, --eval-every, --eval-batches, --save-every, "
            "--keep-checkpoints, --threads and --dry-run may change on resume; start a new "
            "--output to train with other options):{}",
            d.string(), n_diff, n_diff == 1 ? "" : "s", diffs));
    }
    std::vector<StepRecord> hist;
    for (auto& r : history) {
      StepRecord s;
      s.step = as_int(r.at("step"), "history.step", 1, step);
      s.loss = r.at("loss").get<double>();
      s.lr = r.at("lr").get<double>();
      s.grad_norm = r.at("grad_norm").get<double>();
      s.tokens_per_s = r.at("tokens_per_s").get<double>();
      s.eval_loss = r.contains("eval_loss") ? r["eval_loss"].get<double>() : -1;
      hist.push_back(s);
    }
    // Everything parsed. The optimizer and the model each validate before changing anything;
    // the optimizer goes first so a bad optimizer file leaves the model untouched.
    if (cfg_.checkpoint_trainable_only) {
      // The checkpoint must hold exactly this run's trainable parameters (e.g. the same LoRA
      // targets and rank); the frozen rest comes from the base model.
      std::set<std::string> want;
      for (auto& [k, p] : model_.named_parameters())
        if (p->requires_grad()) want.insert(k);
      std::vector<std::string> missing, extra;
      for (auto& k : want)
        if (!sd.count(k)) missing.push_back(k);
      for (auto& [k, v] : sd)
        if (!want.count(k)) extra.push_back(k);
      if (!missing.empty() || !extra.empty()) {
        throw LoadError(fmt::format(
            "{}: the checkpoint's tensors are not this run's trainable parameters ({} missing, "
            "e.g. '{}'; {} unexpected, e.g. '{}'): was it written with other options?",
            (d / "model.safetensors").string(), missing.size(), missing.empty() ? "" : missing[0],
            extra.size(), extra.empty() ? "" : extra[0]));
      }
    }
    opt_.load_state_dict(opt_state);
    model_.load_state_dict(sd, /*strict=*/!cfg_.checkpoint_trainable_only);
    {
      NoGradGuard ng;
      for (auto& [k, t] : masters_) t.copy_(sd.at(k));  // the exact f32 values
    }
    train_.set_position(dp);
    default_generator().set_state(seed, off);
    step_ = step;
    history_ = hist;
  } catch (const json::exception& e) {
    throw LoadError(fmt::format("{}: corrupted checkpoint state: {}", state_path, e.what()));
  }
}

void Trainer::write_metrics() const {
  if (cfg_.output_dir.empty()) return;
  fs::create_directories(cfg_.output_dir);
  std::ofstream out(fs::path(cfg_.output_dir) / "metrics.jsonl");
  for (auto& r : history_) out << record_json(r).dump() << "\n";
  write_loss_curve_svg((fs::path(cfg_.output_dir) / "loss_curve.svg").string(), history_);
}

TrainResult Trainer::train() {
  to_compute_dtype();
  // The model goes back to f32 (holding the masters) however train() ends.
  struct Restore {
    Trainer* t;
    ~Restore() {
      try {
        t->to_master_dtype();
      } catch (...) {
      }
    }
  } restore{this};
  if (cfg_.resume && !cfg_.output_dir.empty()) {
    std::string ck = latest_checkpoint(cfg_.output_dir);
    if (!ck.empty()) {
      load_checkpoint(ck);
      if (cfg_.progress)
        std::fprintf(stderr, "resuming from %s (step %lld)\n", ck.c_str(), (long long)step_);
    }
  }
  model_.train();
  // What clipping and the optimizer see: the parameters, or their f32 masters.
  std::vector<Tensor> params;
  std::vector<Tensor*> compute;  // mixed precision: the model's slot of each master
  if (masters_.empty()) {
    for (Tensor* p : model_.parameters()) {
      if (p->requires_grad()) params.push_back(*p);
    }
  } else {
    auto sl = slots(model_);
    for (auto& [name, t] : masters_) {
      params.push_back(t);
      compute.push_back(sl.at(name));
    }
  }
  auto t_start = std::chrono::steady_clock::now();
  int64_t start_step = step_, tokens_total = 0;
  std::string last_ck = latest_checkpoint(cfg_.output_dir);
  bool tty = isatty(fileno(stderr));
  while (step_ < cfg_.max_steps) {
    auto t0 = std::chrono::steady_clock::now();
    // 0-based, as Hugging Face's LambdaLR schedules (the first warm-up step has lr 0).
    opt_.set_lr(schedule_lr(cfg_.schedule, cfg_.lr, step_, cfg_.warmup_steps, cfg_.max_steps,
                            cfg_.min_lr_ratio));
    opt_.zero_grad();
    double loss_sum = 0;
    int64_t tokens = 0;
    for (int64_t micro = 0; micro < cfg_.grad_accum; ++micro) {
      Batch b = train_.next();
      tokens += b.tokens();
      Tensor loss = loss_fn_(model_, b);
      double lv = loss.item();
      if (!std::isfinite(lv)) {
        throw Error(
            fmt::format("[trainer] step {}: the loss is {}; stopped before changing any weight. "
                        "Last good checkpoint: {}. Try a lower learning rate or check the data.",
                        step_ + 1, lv, last_ck.empty() ? "none" : last_ck));
      }
      loss_sum += lv;
      (cfg_.grad_accum > 1 ? loss / double(cfg_.grad_accum) : loss).backward();
      for (size_t i = 0; i < compute.size(); ++i) {
        // The compute copy's gradient joins the master's in f32 (accumulated there, not in bf16).
        Tensor g = compute[i]->grad();
        if (!g.defined()) continue;
        Tensor prev = params[i].grad();
        NoGradGuard ng;
        params[i].set_grad(prev.defined() ? prev + g.to(DType::F32) : g.to(DType::F32));
        compute[i]->zero_grad();
      }
    }
    double norm = cfg_.max_grad_norm > 0 ? clip_grad_norm(params, cfg_.max_grad_norm) : 0.0;
    if (!std::isfinite(norm)) {
      throw Error(
          fmt::format("[trainer] step {}: the gradient norm is {}; stopped before changing any "
                      "weight. Last good checkpoint: {}.",
                      step_ + 1, norm, last_ck.empty() ? "none" : last_ck));
    }
    opt_.step();
    if (!compute.empty()) {
      // The updated masters, cast down, are the next step's compute weights.
      NoGradGuard ng;
      for (size_t i = 0; i < compute.size(); ++i) compute[i]->copy_(params[i]);
    }
    ++step_;
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    tokens_total += tokens;
    StepRecord rec;
    rec.step = step_;
    rec.loss = loss_sum / double(cfg_.grad_accum);
    rec.lr = opt_.lr();
    rec.grad_norm = norm;
    rec.tokens_per_s = dt > 0 ? double(tokens) / dt : 0;
    bool last = step_ == cfg_.max_steps;
    if (eval_ && ((cfg_.eval_every > 0 && step_ % cfg_.eval_every == 0) || last))
      rec.eval_loss = evaluate();
    history_.push_back(rec);
    if (cfg_.progress && (tty || (cfg_.log_every > 0 && (step_ % cfg_.log_every == 0 || last)))) {
      double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
      double per = el / double(step_ - start_step);
      int width = 24, filled = int(double(width) * double(step_) / double(cfg_.max_steps));
      std::string bar = std::string(size_t(filled), '#') + std::string(size_t(width - filled), '.');
      std::string ev = rec.eval_loss >= 0 ? fmt::format("  eval {:.4f} (ppl {:.2f})", rec.eval_loss,
                                                        std::exp(rec.eval_loss))
                                          : "";
      std::fprintf(stderr, "%s[%s] step %lld/%lld  loss %.4f  lr %.2e  %.0f tok/s  ETA %s%s%s",
                   tty ? "\r" : "", bar.c_str(), (long long)step_, (long long)cfg_.max_steps,
                   rec.loss, rec.lr, rec.tokens_per_s,
                   fmt_duration(per * double(cfg_.max_steps - step_)).c_str(), ev.c_str(),
                   tty && !last ? "" : "\n");
    }
    if (!cfg_.output_dir.empty() &&
        ((cfg_.save_every > 0 && step_ % cfg_.save_every == 0) || last)) {
      fs::create_directories(cfg_.output_dir);
      std::string dir = (fs::path(cfg_.output_dir) / fmt::format("checkpoint-{}", step_)).string();
      save_checkpoint(dir);
      last_ck = dir;
      // Keep the newest `keep_checkpoints` folders.
      // Only folders named exactly checkpoint-<number> that hold our state: never a user's folder
      // such as checkpoint-best.
      std::vector<std::pair<int64_t, fs::path>> cks;
      for (auto& e : fs::directory_iterator(cfg_.output_dir)) {
        std::string n = e.path().filename().string();
        if (!e.is_directory() || n.rfind("checkpoint-", 0) != 0 || n.size() == 11) continue;
        char* end = nullptr;
        long long s = std::strtoll(n.c_str() + 11, &end, 10);
        if (*end != '\0' || !fs::exists(e.path() / "trainer_state.json")) continue;
        cks.push_back({int64_t(s), e.path()});
      }
      std::sort(cks.begin(), cks.end());
      for (size_t i = 0; i + size_t(cfg_.keep_checkpoints) < cks.size(); ++i)
        fs::remove_all(cks[i].second);
      write_metrics();
    }
  }
  write_metrics();
  TrainResult r;
  r.steps = step_;
  r.history = history_;
  if (!history_.empty()) {
    r.final_loss = history_.back().loss;
    r.eval_loss = history_.back().eval_loss;
    if (r.eval_loss >= 0) r.eval_perplexity = std::exp(r.eval_loss);
  }
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  r.tokens_per_s = el > 0 ? double(tokens_total) / el : 0;
  return r;
}

void write_loss_curve_svg(const std::string& path, const std::vector<StepRecord>& h) {
  const double W = 640, H = 360, L = 60, R = 20, T = 30, B = 45;
  std::ofstream out(path);
  out << fmt::format(
             R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">)",
             W, H)
      << "\n";
  out << R"(<rect width="100%" height="100%" fill="white"/>)"
      << "\n";
  if (h.empty()) {
    out << "<text x=\"20\" y=\"40\">no steps yet</text></svg>\n";
    return;
  }
  double lo = INFINITY, hi = -INFINITY;
  for (auto& r : h) {
    lo = std::min(lo, r.loss);
    hi = std::max(hi, r.loss);
    if (r.eval_loss >= 0) {
      lo = std::min(lo, r.eval_loss);
      hi = std::max(hi, r.eval_loss);
    }
  }
  if (hi - lo < 1e-9) hi = lo + 1;
  double s0 = double(h.front().step),
         s1 = double(std::max<int64_t>(h.back().step, h.front().step + 1));
  auto X = [&](double s) { return L + (s - s0) / (s1 - s0) * (W - L - R); };
  auto Y = [&](double v) { return T + (hi - v) / (hi - lo) * (H - T - B); };
  out << fmt::format(R"(<text x="{}" y="18" font-size="14">Loss</text>)", L) << "\n";
  for (int i = 0; i <= 4; ++i) {
    double v = lo + (hi - lo) * i / 4.0;
    out << fmt::format(
               R"(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="#ddd"/><text x="{}" y="{:.1f}" text-anchor="end">{:.3g}</text>)",
               L, W - R, Y(v), Y(v), L - 6, Y(v) + 4, v)
        << "\n";
  }
  for (int i = 0; i <= 4; ++i) {
    double st = s0 + (s1 - s0) * i / 4.0;
    out << fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle">{:.0f}</text>)", X(st),
                       H - B + 16, st)
        << "\n";
  }
  out << fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">step</text>)", (L + W - R) / 2,
                     H - 8)
      << "\n";
  std::string pts;
  for (auto& r : h) pts += fmt::format("{:.1f},{:.1f} ", X(double(r.step)), Y(r.loss));
  out << R"(<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points=")" << pts << "\"/>\n";
  for (auto& r : h) {
    if (r.eval_loss >= 0) {
      out << fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3.5" fill="#d62728"/>)",
                         X(double(r.step)), Y(r.eval_loss))
          << "\n";
    }
  }
  out << fmt::format(
             R"(<text x="{}" y="{}" fill="#1f77b4">train</text><text x="{}" y="{}" fill="#d62728">eval</text>)",
             W - R - 90, T + 4, W - R - 45, T + 4)
      << "\n";
  out << "</svg>\n";
}

}  // namespace lazarus::training
