// Recurrent layers (see recurrent.h).
#include "lazarus/components/recurrent.h"

#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/nn/init.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/ops_reference.h"

namespace lazarus::components {

namespace {

bool is_float(DType d) { return d == DType::F32 || d == DType::BF16 || d == DType::F16; }

}  // namespace

Tensor linear_recurrence(const Tensor& a, const Tensor& b, const Tensor& h0) {
  if (!a.defined() || !b.defined()) throw Error("[linear_recurrence] a and b must be defined");
  if (a.dim() != 3 || a.shape() != b.shape()) {
    throw ShapeError(fmt::format("[linear_recurrence] a {} and b {} must be one (B, T, H) shape",
                                 shape_str(a.shape()), shape_str(b.shape())));
  }
  const int64_t B = a.size(0), T = a.size(1), H = a.size(2);
  if (h0.defined() && h0.shape() != Shape{B, H}) {
    throw ShapeError(fmt::format("[linear_recurrence] h0 {} must be (B, H) = ({}, {})",
                                 shape_str(h0.shape()), B, H));
  }
  for (const Tensor* t : {&a, &b, &h0}) {
    if (t->defined() && (!is_float(t->dtype()) || t->dtype() != a.dtype())) {
      throw DTypeError(
          fmt::format("[linear_recurrence] operands must share one floating dtype, "
                      "got {}",
                      dtype_name(t->dtype())));
    }
  }
  const DType dt = a.dtype();
  Tensor ac = a.detach().to(DType::F32).contiguous(), bc = b.detach().to(DType::F32).contiguous();
  Tensor hc = h0.defined() ? h0.detach().to(DType::F32).contiguous() : zeros({B, H}, DType::F32);
  Tensor y = empty({B, T, H}, DType::F32);
  {
    const float *pa = ac.data<float>(), *pb = bc.data<float>(), *ph = hc.data<float>();
    float* py = y.data<float>();
    for (int64_t i = 0; i < B; ++i) {
      for (int64_t k = 0; k < H; ++k) {
        float h = ph[i * H + k];
        for (int64_t t = 0; t < T; ++t) {
          int64_t o = (i * T + t) * H + k;
          h = pa[o] * h + pb[o];
          py[o] = h;
        }
      }
    }
  }
  Tensor out = dt == DType::F32 ? y : y.to(dt);
  if (!any_requires_grad({&a, &b, &h0})) return out;
  std::vector<Tensor> inputs{a, b};
  if (h0.defined()) inputs.push_back(h0);
  const bool with_h0 = h0.defined();
  return record("linear_recurrence", inputs, out, [ac, hc, y, dt, with_h0](const Tensor& g) {
    const int64_t B = ac.size(0), T = ac.size(1), H = ac.size(2);
    Tensor gy = g.to(DType::F32).contiguous();
    Tensor ga = empty({B, T, H}, DType::F32), gb = empty({B, T, H}, DType::F32);
    Tensor gh = empty({B, H}, DType::F32);
    const float *pa = ac.data<float>(), *ph = hc.data<float>(), *py = y.data<float>();
    const float* pg = gy.data<float>();
    float *pga = ga.data<float>(), *pgb = gb.data<float>(), *pgh = gh.data<float>();
    for (int64_t i = 0; i < B; ++i) {
      for (int64_t k = 0; k < H; ++k) {
        float carry = 0;  // dL/dh_t from the steps after t
        for (int64_t t = T - 1; t >= 0; --t) {
          int64_t o = (i * T + t) * H + k;
          float d = pg[o] + carry;
          float prev = t > 0 ? py[o - H] : ph[i * H + k];
          pgb[o] = d;
          pga[o] = d * prev;
          carry = d * pa[o];
        }
        pgh[i * H + k] = carry;
      }
    }
    auto back = [dt](const Tensor& t) { return dt == DType::F32 ? t : t.to(dt); };
    std::vector<Tensor> gs{back(ga), back(gb)};
    if (with_h0) gs.push_back(back(gh));
    return gs;
  });
}

void RecurrentCache::update(const Tensor& h, const Tensor& c, int64_t T) {
  NoGradGuard ng;
  h_ = h.detach().contiguous();
  c_ = c.defined() ? c.detach().contiguous() : Tensor();
  length_ += T;
}

RecurrentLayer::RecurrentLayer(int64_t D, const config::RecurrentConfig& cfg, DType dtype)
    : cfg_(cfg) {
  cfg.validate(D, "recurrent");
  const int64_t H = H_ = cfg.resolved_hidden_size(D);
  using config::RecurrentType;
  if (cfg.type == RecurrentType::LSTM || cfg.type == RecurrentType::GRU) {
    // PyTorch RNNBase.reset_parameters: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)).
    const int64_t G = (cfg.type == RecurrentType::LSTM ? 4 : 3) * H;
    weight_ih = nn::init::linear_default({G, D}, H, dtype);
    register_parameter("weight_ih", &weight_ih);
    weight_hh = nn::init::linear_default({G, H}, H, dtype);
    register_parameter("weight_hh", &weight_hh);
    if (cfg.bias) {
      bias_ih = nn::init::linear_default({G}, H, dtype);
      register_parameter("bias_ih", &bias_ih);
      bias_hh = nn::init::linear_default({G}, H, dtype);
      register_parameter("bias_hh", &bias_hh);
    }
  } else {
    linear_z = register_module("linear_z", std::make_shared<nn::Linear>(D, H, cfg.bias, dtype));
    linear_h = register_module("linear_h", std::make_shared<nn::Linear>(D, H, cfg.bias, dtype));
  }
  if (H != D)
    out_proj = register_module("out_proj", std::make_shared<nn::Linear>(H, D, false, dtype));
}

Tensor RecurrentLayer::forward(const Tensor& x, const Tensor& token_mask,
                               RecurrentCache* cache) const {
  if (x.dim() != 3) {
    throw ShapeError(
        fmt::format("[RecurrentLayer] input must be (B, T, D), got {}", shape_str(x.shape())));
  }
  const int64_t B = x.size(0), T = x.size(1), H = H_;
  if (token_mask.defined() && token_mask.shape() != Shape{B, T}) {
    throw ShapeError(fmt::format("[RecurrentLayer] token_mask {} must be (B, T) = ({}, {})",
                                 shape_str(token_mask.shape()), B, T));
  }
  if (cache && cache->h().defined() && cache->h().size(0) != B) {
    throw ShapeError(
        fmt::format("[RecurrentLayer] cache holds batch {}, input has {}", cache->h().size(0), B));
  }
  const DType dt = x.dtype();
  Tensor h = cache && cache->h().defined() ? cache->h().to(dt) : zeros({B, H}, dt);
  Tensor c;
  if (cfg_.type == config::RecurrentType::LSTM)
    c = cache && cache->c().defined() ? cache->c().to(dt) : zeros({B, H}, dt);
  Tensor m = token_mask.defined() ? token_mask.to(dt) : Tensor();  // (B, T)
  Tensor y;                                                        // (B, T, H)
  if (T == 0) {
    y = zeros({B, 0, H}, dt);
  } else if (cfg_.type == config::RecurrentType::MinGRU) {
    Tensor z = sigmoid(linear_z->forward(x));       // (B, T, H)
    Tensor ht = linear_h->forward(x);               // (B, T, H)
    if (m.defined()) z = z * m.reshape({B, T, 1});  // a padded step keeps h
    y = linear_recurrence(1.0 - z, z * ht, h);
    h = y.select(1, T - 1);
  } else {
    // Every input projected at once (one GEMM over (B, T)), then the fused sequence op: one
    // (B, H) x (H, kH) GEMM per step forward and BPTT in one op backward (ops.h).
    const RecurrentCell cell =
        cfg_.type == config::RecurrentType::LSTM ? RecurrentCell::LSTM : RecurrentCell::GRU;
    Tensor xw = linear(x, weight_ih, bias_ih);  // (B, T, G)
    RecurrentSequenceOutput r =
        use_composed_reference
            ? reference::recurrent_sequence(cell, xw, weight_hh, bias_hh, h, c, m)
            : recurrent_sequence(cell, xw, weight_hh, bias_hh, h, c, m);
    y = r.y;
    h = r.h;
    c = r.c;
  }
  if (cache) cache->update(h, c, T);
  return out_proj ? out_proj->forward(y) : y;
}

}  // namespace lazarus::components
