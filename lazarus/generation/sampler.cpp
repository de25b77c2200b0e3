// Sampler chain (see sampler.h). Semantics follow transformers' RepetitionPenaltyLogitsProcessor,
// TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper and MinPLogitsWarper.
#include "lazarus/generation/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus::generation {

void SamplerConfig::validate() const {
  auto bad = [](const char* field, double v, const char* rule) {
    throw ConfigError(fmt::format("sampler.{}: {} {}", field, v, rule));
  };
  if (!(temperature >= 0) || !std::isfinite(temperature))
    bad("temperature", temperature, "must be >= 0");
  if (top_k < 0) bad("top_k", double(top_k), "must be >= 0");
  if (!(top_p > 0 && top_p <= 1)) bad("top_p", top_p, "must be in (0, 1]");
  if (!(min_p >= 0 && min_p <= 1)) bad("min_p", min_p, "must be in [0, 1]");
  if (!(repetition_penalty > 0) || !std::isfinite(repetition_penalty)) {
    bad("repetition_penalty", repetition_penalty, "must be > 0");
  }
}

Sampler::Sampler(SamplerConfig cfg) : cfg_(cfg), gen_(cfg.seed) { cfg_.validate(); }

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Softmax of the finite entries (probabilities for -inf entries are 0).
std::vector<double> probs_of(const std::vector<float>& l) {
  double m = -INFINITY;
  for (float v : l) m = std::max(m, double(v));
  std::vector<double> p(l.size(), 0.0);
  if (!std::isfinite(m)) return p;
  double s = 0;
  for (size_t i = 0; i < l.size(); ++i) s += p[i] = std::exp(double(l[i]) - m);
  for (double& v : p) v /= s;
  return p;
}
}  // namespace

void Sampler::process(std::vector<float>& l, std::span<const int64_t> context) const {
  int64_t V = int64_t(l.size());
  if (cfg_.repetition_penalty != 1.0) {
    std::vector<bool> seen(size_t(V), false);
    for (int64_t id : context) {
      if (id < 0 || id >= V) {
        throw IndexError(
            fmt::format("[sampler] context token {} is outside the vocabulary of {}", id, V));
      }
      if (seen[size_t(id)]) continue;
      seen[size_t(id)] = true;
      float& s = l[size_t(id)];
      s = s < 0 ? float(s * cfg_.repetition_penalty) : float(s / cfg_.repetition_penalty);
    }
  }
  if (cfg_.temperature == 0) return;  // greedy: warpers do not change the argmax
  if (cfg_.temperature != 1.0) {
    for (float& s : l) s = float(s / cfg_.temperature);
  }
  if (cfg_.top_k > 0 && cfg_.top_k < V) {
    std::vector<float> sorted(l);
    std::nth_element(sorted.begin(), sorted.begin() + (cfg_.top_k - 1), sorted.end(),
                     std::greater<float>());
    float kth = sorted[size_t(cfg_.top_k - 1)];
    for (float& s : l) {
      if (s < kth) s = kNegInf;  // ties with the k-th value stay, as in HF
    }
  }
  if (cfg_.top_p < 1.0) {
    // HF: sort ascending, drop tokens whose cumulative probability is <= 1 - top_p, keep >= 1.
    std::vector<double> p = probs_of(l);
    std::vector<int64_t> order(static_cast<size_t>(V));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return l[size_t(a)] < l[size_t(b)]; });
    double cum = 0;
    for (int64_t r = 0; r < V - 1; ++r) {  // the most likely token is always kept
      cum += p[size_t(order[size_t(r)])];
      if (cum <= 1.0 - cfg_.top_p) l[size_t(order[size_t(r)])] = kNegInf;
    }
  }
  if (cfg_.min_p > 0) {
    std::vector<double> p = probs_of(l);
    double top = *std::max_element(p.begin(), p.end());
    for (size_t i = 0; i < l.size(); ++i) {
      if (p[i] < cfg_.min_p * top) l[i] = kNegInf;
    }
  }
}

int64_t Sampler::sample(std::span<const float> logits, std::span<const int64_t> context) {
  if (logits.empty()) throw ShapeError("[sampler] empty logits row");
  std::vector<float> l(logits.begin(), logits.end());
  for (float v : l) {
    if (std::isnan(v)) throw Error("[sampler] logits contain NaN");
  }
  process(l, context);
  if (cfg_.temperature == 0) {
    return int64_t(std::max_element(l.begin(), l.end()) - l.begin());  // first max, like argmax
  }
  std::vector<double> p = probs_of(l);
  // One uniform draw from the seeded stream, inverse CDF.
  double u = rand({1}, DType::F64, 0.0, 1.0, &gen_).item();
  double cum = 0;
  int64_t last = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    last = int64_t(i);
    cum += p[i];
    if (u < cum) return int64_t(i);
  }
  return last;
}

std::vector<int64_t> Sampler::sample(const Tensor& logits,
                                     const std::vector<std::vector<int64_t>>& contexts) {
  if (logits.dim() != 2) {
    throw ShapeError(
        fmt::format("[sampler] logits must be (B, V), got {}", shape_str(logits.shape())));
  }
  if (int64_t(contexts.size()) != logits.size(0)) {
    throw ShapeError(
        fmt::format("[sampler] {} contexts for {} rows", contexts.size(), logits.size(0)));
  }
  std::vector<float> all = logits.to_vector<float>();
  int64_t V = logits.size(1);
  std::vector<int64_t> out;
  for (int64_t b = 0; b < logits.size(0); ++b) {
    out.push_back(
        sample(std::span<const float>(all.data() + b * V, size_t(V)), contexts[size_t(b)]));
  }
  return out;
}

}  // namespace lazarus::generation
