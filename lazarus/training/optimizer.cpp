// Optimizers, clipping and schedules (see optimizer.h).
#include "lazarus/training/optimizer.h"

#include <cmath>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::training {

std::vector<ParamGroup> decay_groups(const std::vector<std::pair<std::string, Tensor*>>& named,
                                     double weight_decay) {
  ParamGroup decay, no_decay;
  decay.weight_decay = weight_decay;
  for (auto& [name, p] : named) {
    if (!p->requires_grad()) continue;
    (p->dim() <= 1 ? no_decay : decay).params.push_back(*p);
  }
  std::vector<ParamGroup> out;
  if (!decay.params.empty()) out.push_back(decay);
  if (!no_decay.params.empty()) out.push_back(no_decay);
  return out;
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr)
    : groups_(std::move(groups)), lr_(lr) {
  if (!(lr >= 0) || !std::isfinite(lr))
    throw ConfigError(fmt::format("[optimizer] lr must be >= 0, got {}", lr));
  for (auto& g : groups_) {
    for (auto& p : g.params) {
      if (!p.defined() || !is_floating(p.dtype())) {
        throw ConfigError("[optimizer] parameters must be defined floating tensors");
      }
    }
    if (!(g.weight_decay >= 0)) {
      throw ConfigError(
          fmt::format("[optimizer] weight_decay must be >= 0, got {}", g.weight_decay));
    }
  }
}

void Optimizer::zero_grad() {
  for (auto& g : groups_) {
    for (auto& p : g.params) p.zero_grad();
  }
}

namespace {
// Optimizer math runs in f32 (f64 for f64 params) whatever the parameter's storage dtype.
DType state_dtype(const Tensor& p) { return p.dtype() == DType::F64 ? DType::F64 : DType::F32; }

// Calls fn(group index, param index, group, param, grad, group lr) for every parameter that has
// a gradient: the loop every optimizer's step shares.
template <class F>
void for_each_grad(std::vector<ParamGroup>& groups, double lr, F&& fn) {
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    ParamGroup& g = groups[gi];
    for (size_t i = 0; i < g.params.size(); ++i) {
      Tensor grad = g.params[i].grad();
      if (grad.defined()) fn(gi, i, g, g.params[i], grad, lr * g.lr_scale);
    }
  }
}
}  // namespace

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions o)
    : Optimizer(std::move(groups), o.lr), opts_(o) {
  if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1)) {
    throw ConfigError(
        fmt::format("[AdamW] betas must be in [0, 1), got ({}, {})", o.beta1, o.beta2));
  }
  if (!(o.eps > 0)) throw ConfigError(fmt::format("[AdamW] eps must be > 0, got {}", o.eps));
  for (auto& g : groups_) {
    m_.emplace_back();
    v_.emplace_back();
    t_.emplace_back(g.params.size(), 0);
    for (auto& p : g.params) {
      m_.back().push_back(zeros(p.shape(), state_dtype(p)));
      v_.back().push_back(zeros(p.shape(), state_dtype(p)));
    }
  }
}

void AdamW::step() {
  NoGradGuard ng;
  ++step_;
  for_each_grad(
      groups_, lr_,
      [&](size_t gi, size_t i, const ParamGroup& g, Tensor& p, const Tensor& grad, double lr) {
        int64_t t = ++t_[gi][i];
        double c1 = 1.0 - std::pow(opts_.beta1, double(t));
        double c2 = 1.0 - std::pow(opts_.beta2, double(t));
        DType sd = state_dtype(p);
        if (p.dtype() == sd && grad.dtype() == sd && p.is_contiguous() && grad.is_contiguous()) {
          // The common case (f32 or f64 parameters): one fused pass, moments updated in place.
          adamw_update_(p, grad, m_[gi][i], v_[gi][i],
                        {lr, opts_.beta1, opts_.beta2, opts_.eps, g.weight_decay, c1, c2});
          return;
        }
        Tensor pf = p.to(sd), gf = grad.to(sd);
        if (g.weight_decay != 0) pf = pf * (1.0 - lr * g.weight_decay);
        Tensor m = m_[gi][i] * opts_.beta1 + gf * (1.0 - opts_.beta1);
        Tensor v = v_[gi][i] * opts_.beta2 + gf * gf * (1.0 - opts_.beta2);
        m_[gi][i] = m;
        v_[gi][i] = v;
        Tensor denom = sqrt(v) / std::sqrt(c2) + opts_.eps;
        p.copy_(pf - m / denom * (lr / c1));
      });
}

std::map<std::string, Tensor> AdamW::state_dict() const {
  std::map<std::string, Tensor> s;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    for (size_t i = 0; i < m_[gi].size(); ++i) {
      // Copies: step() updates the moments in place.
      s[fmt::format("{}.{}.exp_avg", gi, i)] = m_[gi][i].clone();
      s[fmt::format("{}.{}.exp_avg_sq", gi, i)] = v_[gi][i].clone();
      s[fmt::format("{}.{}.step", gi, i)] = full({}, double(t_[gi][i]), DType::I64);
    }
  }
  s["step"] = full({}, double(step_), DType::I64);
  return s;
}

void AdamW::load_state_dict(const std::map<std::string, Tensor>& s) {
  auto get = [&](const std::string& k, const Tensor& like) {
    auto it = s.find(k);
    if (it == s.end()) throw LoadError(fmt::format("[AdamW] optimizer state is missing '{}'", k));
    if (it->second.shape() != like.shape()) {
      throw LoadError(fmt::format("[AdamW] optimizer state '{}' has shape {}, expected {}", k,
                                  shape_str(it->second.shape()), shape_str(like.shape())));
    }
    // An owned copy: step() writes the moments in place, and a loaded tensor may be a view of a
    // read-only file mapping or the caller's tensor.
    return it->second.to(like.dtype()).contiguous().clone();
  };
  // Validate everything first, then swap in: a bad state leaves the optimizer as it was.
  auto m = m_, v = v_;
  auto t = t_;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    for (size_t i = 0; i < m_[gi].size(); ++i) {
      m[gi][i] = get(fmt::format("{}.{}.exp_avg", gi, i), m_[gi][i]);
      v[gi][i] = get(fmt::format("{}.{}.exp_avg_sq", gi, i), v_[gi][i]);
      t[gi][i] = int64_t(get(fmt::format("{}.{}.step", gi, i), full({}, 0.0, DType::I64)).item());
    }
  }
  auto it = s.find("step");
  if (it == s.end()) throw LoadError("[AdamW] optimizer state is missing 'step'");
  step_ = int64_t(it->second.item());
  m_ = std::move(m);
  v_ = std::move(v);
  t_ = std::move(t);
}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions o)
    : Optimizer(std::move(groups), o.lr), opts_(o) {
  if (!(o.momentum >= 0))
    throw ConfigError(fmt::format("[SGD] momentum must be >= 0, got {}", o.momentum));
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0)) {
    throw ConfigError("[SGD] nesterov needs momentum > 0 and dampening 0");
  }
  for (auto& g : groups_) buf_.emplace_back(g.params.size());
}

void SGD::step() {
  NoGradGuard ng;
  ++step_;
  for_each_grad(
      groups_, lr_,
      [&](size_t gi, size_t i, const ParamGroup& g, Tensor& p, const Tensor& grad, double lr) {
        DType sd = state_dtype(p);
        Tensor pf = p.to(sd), d = grad.to(sd);
        if (g.weight_decay != 0) d = d + pf * g.weight_decay;
        if (opts_.momentum != 0) {
          Tensor& b = buf_[gi][i];
          b = b.defined() ? b * opts_.momentum + d * (1.0 - opts_.dampening) : d.clone();
          d = opts_.nesterov ? d + b * opts_.momentum : b;
        }
        p.copy_(pf - d * lr);
      });
}

std::map<std::string, Tensor> SGD::state_dict() const {
  std::map<std::string, Tensor> s;
  for (size_t gi = 0; gi < buf_.size(); ++gi) {
    for (size_t i = 0; i < buf_[gi].size(); ++i) {
      if (buf_[gi][i].defined()) s[fmt::format("{}.{}.momentum_buffer", gi, i)] = buf_[gi][i];
    }
  }
  s["step"] = full({}, double(step_), DType::I64);
  return s;
}

void SGD::load_state_dict(const std::map<std::string, Tensor>& s) {
  auto buf = buf_;
  for (size_t gi = 0; gi < buf_.size(); ++gi) {
    for (size_t i = 0; i < buf_[gi].size(); ++i) {
      std::string key = fmt::format("{}.{}.momentum_buffer", gi, i);
      auto it = s.find(key);
      if (it == s.end()) {
        buf[gi][i] = Tensor();  // no momentum yet for this parameter
        continue;
      }
      const Tensor& p = groups_[gi].params[i];
      if (it->second.shape() != p.shape()) {
        throw LoadError(fmt::format("[SGD] optimizer state '{}' has shape {}, expected {}", key,
                                    shape_str(it->second.shape()), shape_str(p.shape())));
      }
      buf[gi][i] = it->second.to(state_dtype(p)).contiguous();
    }
  }
  auto it = s.find("step");
  if (it == s.end()) throw LoadError("[SGD] optimizer state is missing 'step'");
  step_ = int64_t(it->second.item());
  buf_ = std::move(buf);
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  if (!(max_norm > 0))
    throw ConfigError(fmt::format("[clip_grad_norm] max_norm must be > 0, got {}", max_norm));
  NoGradGuard ng;
  double total_sq = 0;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    total_sq += sum_squares(g);
  }
  double norm = std::sqrt(total_sq);
  if (!std::isfinite(norm)) return norm;
  double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) {
    for (const Tensor& p : params) {
      Tensor g = p.grad();
      if (g.defined()) p.set_grad(g * coef);
    }
  }
  return norm;
}

double schedule_lr(ScheduleType type, double base_lr, int64_t step, int64_t warmup, int64_t total,
                   double min_lr_ratio) {
  if (warmup < 0 || total < 0 || step < 0) {
    throw ConfigError(fmt::format("[schedule] steps must be >= 0 (step {}, warmup {}, total {})",
                                  step, warmup, total));
  }
  if (step < warmup) return base_lr * double(step) / double(std::max<int64_t>(1, warmup));
  switch (type) {
    case ScheduleType::Constant:
      return base_lr;
    case ScheduleType::Linear: {
      double f = double(total - step) / double(std::max<int64_t>(1, total - warmup));
      return base_lr * std::max(0.0, f);
    }
    case ScheduleType::Cosine: {
      double progress = double(step - warmup) / double(std::max<int64_t>(1, total - warmup));
      progress = std::min(progress, 1.0);
      double cosv = 0.5 * (1.0 + std::cos(M_PI * progress));
      return base_lr * (min_lr_ratio + (1.0 - min_lr_ratio) * cosv);
    }
  }
  return base_lr;
}

}  // namespace lazarus::training
