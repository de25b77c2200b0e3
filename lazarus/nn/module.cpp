// Module tree bookkeeping: names, state dicts, modes, freezing.
#include "lazarus/nn/module.h"

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/autograd.h"

namespace lazarus::nn {

void Module::check_name(const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos) {
    throw ConfigError(
        fmt::format("[Module] invalid name '{}': names are non-empty and have no '.'", name));
  }
  auto taken = [&](const std::string& n) {
    for (auto& s : params_)
      if (s.name == n) return true;
    for (auto& s : buffers_)
      if (s.name == n) return true;
    for (auto& c : children_)
      if (c.first == n) return true;
    return false;
  };
  if (taken(name)) throw ConfigError(fmt::format("[Module] name '{}' registered twice", name));
}

void Module::register_parameter(const std::string& name, Tensor* slot, bool trainable) {
  check_name(name);
  if (!slot || !slot->defined()) {
    throw ConfigError(fmt::format("[Module] parameter '{}' is undefined", name));
  }
  if (is_floating(slot->dtype()) && slot->is_leaf()) slot->requires_grad_(trainable);
  params_.push_back({name, slot, true});
}

void Module::register_buffer(const std::string& name, Tensor* slot, bool persistent) {
  check_name(name);
  buffers_.push_back({name, slot, persistent});
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> child) {
  check_name(name);
  if (!child) throw ConfigError(fmt::format("[Module] child '{}' is null", name));
  children_.emplace_back(name, std::move(child));
}

void Module::unregister_module(const std::string& name) {
  for (auto it = children_.begin(); it != children_.end(); ++it) {
    if (it->first == name) {
      children_.erase(it);
      return;
    }
  }
  throw ConfigError(fmt::format("[Module] no child named '{}'", name));
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [n, c] : children_) {
    for (auto& [cn, cm] : c->named_modules()) out.emplace_back(cn.empty() ? n : n + "." + cn, cm);
  }
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_parameters() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (auto& [prefix, m] : named_modules()) {
    for (auto& s : m->params_)
      out.emplace_back(prefix.empty() ? s.name : prefix + "." + s.name, s.tensor);
  }
  return out;
}

std::vector<Tensor*> Module::parameters() {
  std::vector<Tensor*> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

StateDict Module::state_dict() {
  StateDict sd;
  for (auto& [prefix, m] : named_modules()) {
    auto full = [&](const std::string& n) { return prefix.empty() ? n : prefix + "." + n; };
    for (auto& s : m->params_) sd[full(s.name)] = s.tensor->detach();
    for (auto& s : m->buffers_) {
      if (s.persistent && s.tensor->defined()) sd[full(s.name)] = s.tensor->detach();
    }
  }
  return sd;
}

namespace {
// Floating and block-quantized tensors both hold real values; integers and bools do not.
bool real_valued(DType dt) { return is_floating(dt) || is_quantized(dt); }
}  // namespace

void Module::load_state_dict(const StateDict& sd, bool strict, bool assign, bool keep_dtype) {
  struct Target {
    Tensor* slot;
    bool param;
  };
  std::map<std::string, Target> want;
  for (auto& [prefix, m] : named_modules()) {
    auto full = [&](const std::string& n) { return prefix.empty() ? n : prefix + "." + n; };
    for (auto& s : m->params_) want[full(s.name)] = {s.tensor, true};
    for (auto& s : m->buffers_)
      if (s.persistent) want[full(s.name)] = {s.tensor, false};
  }
  std::vector<std::string> missing, unexpected, mismatched, wrong_kind;
  for (auto& [name, t] : want) {
    auto it = sd.find(name);
    if (it == sd.end()) {
      missing.push_back(name);
    } else if (t.slot->defined() && it->second.shape() != t.slot->shape()) {
      mismatched.push_back(fmt::format("{} (checkpoint {} vs model {})", name,
                                       shape_str(it->second.shape()), shape_str(t.slot->shape())));
    } else if (t.slot->defined() && real_valued(t.slot->dtype()) != real_valued(it->second.dtype())) {
      // Casting between float and integer / bool is never what a checkpoint means: weights stored
      // as I64 or BOOL would load as whole numbers.
      wrong_kind.push_back(fmt::format("{} (checkpoint {} vs model {})", name,
                                       dtype_name(it->second.dtype()), dtype_name(t.slot->dtype())));
    }
  }
  for (auto& [name, t] : sd) {
    if (!want.count(name)) unexpected.push_back(name);
  }
  if (!mismatched.empty() || !wrong_kind.empty() ||
      (strict && (!missing.empty() || !unexpected.empty()))) {
    std::string msg = "[load_state_dict] the state dict does not fit the model:";
    auto list = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      msg += fmt::format("\n  {} ({}):", what, v.size());
      for (size_t i = 0; i < v.size() && i < 20; ++i) msg += "\n    " + v[i];
      if (v.size() > 20) msg += fmt::format("\n    ... and {} more", v.size() - 20);
    };
    list("missing", missing);
    list("unexpected", unexpected);
    list("wrong shape", mismatched);
    list("wrong dtype", wrong_kind);
    throw LoadError(msg);
  }
  NoGradGuard no_grad;
  for (auto& [name, t] : want) {
    auto it = sd.find(name);
    if (it == sd.end()) continue;
    if (!assign && t.slot->defined()) {
      t.slot->copy_(it->second);
      continue;
    }
    bool rg = t.slot->defined() && t.slot->requires_grad();
    DType dt = t.slot->defined() ? t.slot->dtype() : it->second.dtype();
    Tensor v = it->second.detach();
    // Quantized weights are assigned as they are (only linear / embedding read them); they hold
    // no gradient.
    if (v.dtype() != dt && !is_quantized(v.dtype()) && !keep_dtype) v = v.to(dt);
    if (rg && !is_quantized(v.dtype())) v.requires_grad_(true);
    *t.slot = v;
  }
}

void Module::train(bool on) {
  for (auto& [n, m] : named_modules()) m->training_ = on;
}

void Module::freeze() {
  for (Tensor* p : parameters()) {
    if (is_floating(p->dtype())) *p = p->detach();
  }
}

void Module::unfreeze() {
  for (Tensor* p : parameters()) {
    if (is_floating(p->dtype()) && !p->requires_grad()) {
      *p = p->detach();
      p->requires_grad_(true);
    }
  }
}

void Module::zero_grad() {
  for (Tensor* p : parameters()) p->zero_grad();
}

int64_t Module::num_parameters(bool trainable_only) {
  int64_t n = 0;
  for (Tensor* p : parameters()) {
    if (!trainable_only || p->requires_grad()) n += p->numel();
  }
  return n;
}

void Module::to(DType dt) {
  if (!is_floating(dt))
    throw DTypeError(
        fmt::format("[Module::to] target dtype must be floating, got {}", dtype_name(dt)));
  NoGradGuard ng;
  for (auto& [prefix, m] : named_modules()) {
    for (auto& s : m->params_) {
      if (!is_floating(s.tensor->dtype()) || s.tensor->dtype() == dt) continue;
      bool rg = s.tensor->requires_grad();
      *s.tensor = s.tensor->to(dt).contiguous().detach();
      if (rg) s.tensor->requires_grad_(true);
    }
    for (auto& s : m->buffers_) {
      if (s.tensor->defined() && is_floating(s.tensor->dtype()))
        *s.tensor = s.tensor->to(dt).detach();
    }
  }
}

}  // namespace lazarus::nn
