// Feed-forward networks and the config-chosen norm (see ffn.h).
#include "lazarus/components/ffn.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::components {

using config::ActivationType;

Tensor activation(ActivationType a, const Tensor& x) {
  switch (a) {
    case ActivationType::ReLU:
      return relu(x);
    case ActivationType::GELU:
      return gelu(x, false);
    case ActivationType::GELUTanh:
      return gelu(x, true);
    case ActivationType::SiLU:
      return silu(x);
    case ActivationType::Tanh:
      return tanh(x);
    case ActivationType::Sigmoid:
      return sigmoid(x);
    case ActivationType::Identity:
      return x;
  }
  throw Error("[activation] unknown activation");
}

FeedForward::FeedForward(int64_t D, const config::FFNConfig& cfg, DType dtype) : cfg_(cfg) {
  cfg.validate("ffn");
  const int64_t I = cfg.intermediate_size;
  if (cfg.is_moe()) {
    gate = register_module("gate", std::make_shared<nn::Linear>(D, cfg.num_experts, false, dtype));
    experts = register_module("experts", std::make_shared<nn::ModuleList<FeedForward>>());
    config::FFNConfig one = cfg;
    one.num_experts = 0;
    for (int64_t e = 0; e < cfg.num_experts; ++e)
      experts->push_back(std::make_shared<FeedForward>(D, one, dtype));
    return;
  }
  if (cfg.gated())
    gate_proj = register_module("gate_proj", std::make_shared<nn::Linear>(D, I, cfg.bias, dtype));
  up_proj = register_module("up_proj", std::make_shared<nn::Linear>(D, I, cfg.bias, dtype));
  down_proj = register_module("down_proj", std::make_shared<nn::Linear>(I, D, cfg.bias, dtype));
}

Tensor FeedForward::forward(const Tensor& x, Tensor* router_logits) const {
  if (experts) {
    const int64_t D = x.size(-1), N = x.numel() / std::max<int64_t>(D, 1);
    const int64_t E = cfg_.num_experts, k = cfg_.num_experts_per_tok;
    Tensor flat = x.reshape({N, D});
    Tensor logits = gate->forward(flat);  // (N, E)
    if (router_logits) *router_logits = logits;
    Tensor probs = softmax(logits.to(DType::F32), -1);  // over all experts, f32 as HF
    Tensor idx = top_k_indices(probs, k);               // (N, k)
    Tensor w = gather(probs, 1, idx);                   // (N, k)
    if (cfg_.norm_topk_prob) w = w / sum(w, {-1}, true);
    w = w.to(x.dtype()).reshape({N * k});
    // Each expert runs once on its tokens; one scatter-add puts the weighted outputs back.
    std::vector<int64_t> sel = idx.to_vector<int64_t>();
    std::vector<Tensor> outs;
    std::vector<int64_t> rows_all;
    for (int64_t e = 0; e < E; ++e) {
      std::vector<int64_t> rows, slots;
      for (int64_t i = 0; i < N * k; ++i) {
        if (sel[i] != e) continue;
        rows.push_back(i / k);
        slots.push_back(i);
      }
      if (rows.empty()) continue;
      const int64_t M = static_cast<int64_t>(rows.size());
      Tensor xe = index_select(flat, 0, from_vector(rows, {M}, DType::I64));  // (M, D)
      Tensor we = index_select(w, 0, from_vector(slots, {M}, DType::I64)).reshape({M, 1});
      outs.push_back((*experts)[e].forward(xe) * we);  // (M, D)
      rows_all.insert(rows_all.end(), rows.begin(), rows.end());
    }
    Tensor out = zeros({N, D}, x.dtype());
    if (!outs.empty()) {
      const int64_t M = static_cast<int64_t>(rows_all.size());
      std::vector<int64_t> index(M * D);
      for (int64_t i = 0; i < M; ++i) std::fill_n(index.begin() + i * D, D, rows_all[i]);
      out = scatter_add(out, 0, from_vector(index, {M, D}, DType::I64), cat(outs, 0));
    }
    return out.reshape(x.shape());
  }
  // x (B, T, D) -> hidden (B, T, I) -> (B, T, D)
  Tensor h = gate_proj ? activation(cfg_.activation, gate_proj->forward(x)) * up_proj->forward(x)
                       : activation(cfg_.activation, up_proj->forward(x));
  return down_proj->forward(h);
}

Tensor top_k_indices(const Tensor& x, int64_t k) {
  if (x.dim() != 2 || k < 1 || k > x.size(1)) {
    throw ShapeError(fmt::format("[top_k_indices] x {} must be (N, E) with 1 <= k {} <= E",
                                 shape_str(x.shape()), k));
  }
  const int64_t N = x.size(0), E = x.size(1);
  std::vector<float> p = x.detach().to(DType::F32).contiguous().to_vector<float>();
  std::vector<int64_t> out(N * k), order(E);
  for (int64_t n = 0; n < N; ++n) {
    const float* row = p.data() + n * E;
    std::iota(order.begin(), order.end(), int64_t{0});
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [row](int64_t a, int64_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    std::copy(order.begin(), order.begin() + k, out.begin() + n * k);
  }
  return from_vector(out, {N, k}, DType::I64);
}

Tensor load_balancing_loss(const std::vector<Tensor>& router_logits, int64_t E, int64_t k,
                           const Tensor& attention_mask) {
  if (router_logits.empty()) return zeros({});
  Tensor all = cat(router_logits, 0);  // (L * N, E)
  if (all.dim() != 2 || all.size(1) != E) {
    throw ShapeError(fmt::format("[load_balancing_loss] router logits {} must be (tokens, {})",
                                 shape_str(all.shape()), E));
  }
  const int64_t rows = all.size(0);
  Tensor probs = softmax(all.to(DType::F32), -1);  // (rows, E)
  std::vector<int64_t> sel = top_k_indices(probs, k).to_vector<int64_t>();
  std::vector<double> m(rows, 1.0);
  if (attention_mask.defined()) {
    const int64_t N = attention_mask.numel();
    if (N == 0 || rows % N != 0) {
      throw ShapeError(
          fmt::format("[load_balancing_loss] attention_mask {} does not match {} router rows",
                      shape_str(attention_mask.shape()), rows));
    }
    std::vector<int64_t> a = attention_mask.to(DType::I64).contiguous().to_vector<int64_t>();
    for (int64_t r = 0; r < rows; ++r) m[r] = a[r % N] != 0 ? 1.0 : 0.0;
  }
  double kept = std::accumulate(m.begin(), m.end(), 0.0);
  if (kept == 0) return zeros({});
  // count[e] = sum over the k choices of the fraction of kept tokens sending that choice to e.
  std::vector<float> count(E, 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) count[sel[r * k + j]] += float(m[r] / kept);
  std::vector<float> mf(m.begin(), m.end());
  Tensor mt = from_vector(mf, {rows, 1});
  Tensor p_mean = sum(probs * mt, {0}) / kept;  // (E): mean router probability over kept tokens
  return sum(p_mean * from_vector(count, {E})) * double(E);
}

Norm::Norm(int64_t dim, const config::NormConfig& cfg, DType dtype) : cfg_(cfg) {
  cfg.validate("norm");
  // Gemma stores the scale as an offset from 1, so its identity weight is 0.
  weight = cfg.type == config::NormType::GemmaRMSNorm ? zeros({dim}, dtype) : ones({dim}, dtype);
  register_parameter("weight", &weight);
  if (cfg.type == config::NormType::LayerNorm && cfg.bias) {
    bias = zeros({dim}, dtype);
    register_parameter("bias", &bias);
  }
}

Tensor Norm::forward(const Tensor& x) const {
  switch (cfg_.type) {
    case config::NormType::RMSNorm:
      return rms_norm(x, weight, cfg_.eps);
    case config::NormType::GemmaRMSNorm: {
      // HF GemmaRMSNorm: normalise and scale by (1 + w) in f32, then round once to x's dtype.
      Tensor xf = x.dtype() == DType::F32 ? x : x.to(DType::F32);
      Tensor wf = weight.dtype() == DType::F32 ? weight : weight.to(DType::F32);
      Tensor y = rms_norm(xf, wf + 1.0, cfg_.eps);
      return y.dtype() == x.dtype() ? y : y.to(x.dtype());
    }
    case config::NormType::LayerNorm:
      break;
  }
  return layer_norm(x, weight, bias, cfg_.eps);
}

}  // namespace lazarus::components
