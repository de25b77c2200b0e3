// Elementwise ops: unary, binary with broadcasting and promotion, where/masked_fill, tril/triu,
// each with its gradient composed from other ops.
#include <cmath>

#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/internal.h"
#include "lazarus/tensor/ops.h"

namespace lazarus {

using detail::cpu;
using detail::require_defined;
using detail::require_floating;
using detail::to_compute;

namespace {

Tensor unary_raw(UnaryOp op, const Tensor& x) {
  NoGradGuard ng;
  Tensor xc = to_compute(x);
  Tensor out = empty(x.shape(), xc.dtype());
  if (out.numel() > 0) cpu().unary(op, xc, out);
  return out.dtype() == x.dtype() ? out : out.to(x.dtype());
}

Tensor unary(UnaryOp op, const Tensor& x,
             BackwardFn (*make_bw)(const Tensor& x, const Tensor& out)) {
  require_defined(x, unary_op_name(op));
  require_floating(x, unary_op_name(op));
  Tensor out = unary_raw(op, x);
  if (!any_requires_grad({&x})) return out;
  return record(unary_op_name(op), {x}, out, make_bw(x.detach(), out.detach()));
}

constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
}  // namespace

const char* unary_op_name(UnaryOp op) {
  static const char* names[] = {"neg",    "abs",  "exp",       "log",        "sqrt",
                                "rsqrt",  "sin",  "cos",       "tanh",       "sigmoid",
                                "relu",   "gelu", "gelu_tanh", "silu",       "softplus",
                                "square", "erf",  "sign",      "logical_not"};
  return names[int(op)];
}
const char* binary_op_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "pow", "maximum",     "minimum",   "eq",
                                "ne",  "lt",  "le",  "gt",  "ge",  "logical_and", "logical_or"};
  return names[int(op)];
}

Tensor neg(const Tensor& x) {
  return unary(UnaryOp::Neg, x, [](const Tensor&, const Tensor&) -> BackwardFn {
    return [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; };
  });
}
Tensor abs(const Tensor& x) {
  return unary(UnaryOp::Abs, x, [](const Tensor& x, const Tensor&) -> BackwardFn {
    return [x](const Tensor& g) { return std::vector<Tensor>{g * unary_raw(UnaryOp::Sign, x)}; };
  });
}
Tensor exp(const Tensor& x) {
  return unary(UnaryOp::Exp, x, [](const Tensor&, const Tensor& y) -> BackwardFn {
    return [y](const Tensor& g) { return std::vector<Tensor>{g * y}; };
  });
}
Tensor log(const Tensor& x) {
  return unary(UnaryOp::Log, x, [](const Tensor& x, const Tensor&) -> BackwardFn {
    return [x](const Tensor& g) { return std::vector<Tensor>{g / x}; };
  });
}
Tensor sqrt(const Tensor& x) {
  return unary(UnaryOp::Sqrt, x, [](const Tensor&, const Tensor& y) -> BackwardFn {
    return [y](const Tensor& g) { return std::vector<Tensor>{g / (y * 2.0)}; };
  });
}
Tensor rsqrt(const Tensor& x) {
  return unary(UnaryOp::Rsqrt, x, [](const Tensor&, const Tensor& y) -> BackwardFn {
    return [y](const Tensor& g) { return std::vector<Tensor>{g * (y * y * y) * -0.5}; };
  });
}
Tensor sin(const Tensor& x) {
  return unary(UnaryOp::Sin, x, [](const Tensor& x, const Tensor&) -> BackwardFn {
    return [x](const Tensor& g) { return std::vector<Tensor>{g * cos(x)}; };
  });
}
Tensor cos(const Tensor& x) {
  return unary(UnaryOp::Cos, x, [](const Tensor& x, const Tensor&) -> BackwardFn {
    return [x](const Tensor& g) { return std::vector<Tensor>{neg(g * sin(x))}; };
  });
}
Tensor tanh(const Tensor& x) {
  return unary(UnaryOp::Tanh, x, [](const Tensor&, const Tensor& y) -> BackwardFn {
    return [y](const Tensor& g) { return std::vector<Tensor>{g * (1.0 - y * y)}; };
  });
}
Tensor sigmoid(const Tensor& x) {
  return unary(UnaryOp::Sigmoid, x, [](const Tensor&, const Tensor& y) -> BackwardFn {
    return [y](const Tensor& g) { return std::vector<Tensor>{g * y * (1.0 - y)}; };
  });
}
Tensor relu(const Tensor& x) {
  return unary(UnaryOp::Relu, x, [](const Tensor& x, const Tensor&) -> BackwardFn {
    return [x](const Tensor& g) {
      return std::vector<Tensor>{where(gt(x, zeros({}, x.dtype())), g, zeros({}, g.dtype()))};
    };
  });
}
Tensor gelu(const Tensor& x, bool approximate_tanh) {
  if (approximate_tanh) {
    return unary(UnaryOp::GeluTanh, x, [](const Tensor& x, const Tensor&) -> BackwardFn {
      return [x](const Tensor& g) {
        Tensor x2 = x * x;
        Tensor t = tanh((x + x2 * x * 0.044715) * kSqrt2OverPi);
        Tensor d = (t + 1.0) * 0.5 +
                   x * (1.0 - t * t) * (x2 * (3 * 0.044715) + 1.0) * (0.5 * kSqrt2OverPi);
        return std::vector<Tensor>{g * d};
      };
    });
  }
  return unary(UnaryOp::Gelu, x, [](const Tensor& x, const Tensor&) -> BackwardFn {
    return [x](const Tensor& g) {
      Tensor cdf = (unary_raw(UnaryOp::Erf, x * kSqrt1_2) + 1.0) * 0.5;
      Tensor pdf = exp(x * x * -0.5) * kInvSqrt2Pi;
      return std::vector<Tensor>{g * (cdf + x * pdf)};
    };
  });
}
Tensor silu(const Tensor& x) {
  return unary(UnaryOp::Silu, x, [](const Tensor& x, const Tensor&) -> BackwardFn {
    return [x](const Tensor& g) {
      Tensor s = sigmoid(x);
      return std::vector<Tensor>{g * s * (x * (1.0 - s) + 1.0)};
    };
  });
}
Tensor softplus(const Tensor& x) {
  return unary(UnaryOp::Softplus, x, [](const Tensor& x, const Tensor&) -> BackwardFn {
    return [x](const Tensor& g) {
      // PyTorch: linear above threshold 20, so the gradient there is exactly g.
      return std::vector<Tensor>{where(gt(x, full({}, 20.0, x.dtype())), g, g * sigmoid(x))};
    };
  });
}
Tensor square(const Tensor& x) {
  return unary(UnaryOp::Square, x, [](const Tensor& x, const Tensor&) -> BackwardFn {
    return [x](const Tensor& g) { return std::vector<Tensor>{g * x * 2.0}; };
  });
}

// ---- broadcasting ----

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) {
      throw ShapeError(fmt::format("[{}] shapes {} and {} do not broadcast (dim {}: {} vs {})", op,
                                   shape_str(a), shape_str(b), i, da, db));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor sum_to_shape(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  int64_t lead = x.dim() - int64_t(shape.size());
  if (lead < 0) {
    throw ShapeError(fmt::format("[sum_to_shape] cannot reduce {} to {}", shape_str(x.shape()),
                                 shape_str(shape)));
  }
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < lead; ++i) dims.push_back(i);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1 && x.shape()[lead + i] != 1) dims.push_back(lead + int64_t(i));
  }
  Tensor r = dims.empty() ? x : sum(x, dims, true);
  return r.reshape(shape);
}

// ---- binary ----

namespace {

Tensor binary_raw(BinaryOp op, const Tensor& a, const Tensor& b, DType result) {
  NoGradGuard ng;
  Shape s = broadcast_shapes(a.shape(), b.shape(), binary_op_name(op));
  DType ct = compute_dtype(result);
  bool logical = op == BinaryOp::LogicalAnd || op == BinaryOp::LogicalOr;
  if (is_comparison(op) && !logical) ct = compute_dtype(promote_types(a.dtype(), b.dtype()));
  if (logical) ct = DType::Bool;
  Tensor ac = (a.dtype() == ct ? a : a.to(ct)).expand(s);
  Tensor bc = (b.dtype() == ct ? b : b.to(ct)).expand(s);
  Tensor out = empty(s, is_comparison(op) ? DType::Bool : ct);
  if (out.numel() > 0) cpu().binary(op, ac, bc, out);
  return out.dtype() == result || is_comparison(op) ? out : out.to(result);
}

DType arith_result(BinaryOp op, const Tensor& a, const Tensor& b) {
  require_defined(a, binary_op_name(op), "a");
  require_defined(b, binary_op_name(op), "b");
  DType r = promote_types(a.dtype(), b.dtype());
  if ((op == BinaryOp::Div || op == BinaryOp::Pow) && !is_floating(r)) r = DType::F32;
  if (r == DType::Bool && op != BinaryOp::Maximum && op != BinaryOp::Minimum) r = DType::I64;
  return r;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, DType result) {
  require_defined(a, binary_op_name(op), "a");
  require_defined(b, binary_op_name(op), "b");
  Tensor out = binary_raw(op, a, b, result);
  if (!is_floating(result) || !any_requires_grad({&a, &b})) return out;
  Tensor ad = a.detach(), bd = b.detach(), od = out.detach();
  Shape sa = a.shape(), sb = b.shape();
  BackwardFn fn;
  switch (op) {
    case BinaryOp::Add:
      fn = [sa, sb](const Tensor& g) {
        return std::vector<Tensor>{sum_to_shape(g, sa), sum_to_shape(g, sb)};
      };
      break;
    case BinaryOp::Sub:
      fn = [sa, sb](const Tensor& g) {
        return std::vector<Tensor>{sum_to_shape(g, sa), sum_to_shape(neg(g), sb)};
      };
      break;
    case BinaryOp::Mul:
      fn = [ad, bd, sa, sb](const Tensor& g) {
        return std::vector<Tensor>{sum_to_shape(g * bd, sa), sum_to_shape(g * ad, sb)};
      };
      break;
    case BinaryOp::Div:
      fn = [ad, bd, sa, sb](const Tensor& g) {
        Tensor ga = g / bd;
        return std::vector<Tensor>{sum_to_shape(ga, sa), sum_to_shape(neg(ga * ad / bd), sb)};
      };
      break;
    case BinaryOp::Pow:
      fn = [ad, bd, od, sa, sb](const Tensor& g) {
        // d/da a^b = b a^(b-1), defined as 0 where b == 0 (0 * inf otherwise), as PyTorch.
        Tensor ga =
            where(eq(bd, zeros({}, bd.dtype())), zeros({}, g.dtype()), g * bd * pow(ad, bd - 1.0));
        // d/db a^b = a^b log a, defined as 0 where a == 0 and b >= 0 (as PyTorch).
        Tensor zero = zeros({}, ad.dtype());
        Tensor cond = logical_and(eq(ad, zero), ge(bd, zero));
        Tensor gb = g * where(cond, zero, od * log(ad));
        return std::vector<Tensor>{sum_to_shape(ga, sa), sum_to_shape(gb, sb)};
      };
      break;
    case BinaryOp::Maximum:
    case BinaryOp::Minimum: {
      bool is_max = op == BinaryOp::Maximum;
      fn = [ad, bd, sa, sb, is_max](const Tensor& g) {
        // Ties split the gradient in half, as PyTorch.
        Tensor zero = zeros({}, g.dtype());
        Tensor half = where(eq(ad, bd), g * 0.5, g);
        Tensor a_wins = is_max ? gt(ad, bd) : lt(ad, bd);
        Tensor b_wins = is_max ? lt(ad, bd) : gt(ad, bd);
        Tensor ga = where(b_wins, zero, half);
        Tensor gb = where(a_wins, zero, half);
        return std::vector<Tensor>{sum_to_shape(ga, sa), sum_to_shape(gb, sb)};
      };
      break;
    }
    default:
      return out;
  }
  return record(binary_op_name(op), {a, b}, out, fn);
}

// A Python-number operand: computed at the compute precision, result keeps a's dtype.
Tensor scalar_operand(BinaryOp op, const Tensor& a, double v) {
  require_defined(a, binary_op_name(op));
  DType dt = is_floating(a.dtype()) ? compute_dtype(a.dtype())
                                    : (std::floor(v) == v ? a.dtype() : DType::F32);
  if (dt == DType::Bool) dt = DType::I64;
  return scalar_tensor(v, dt);
}
DType scalar_result(BinaryOp op, const Tensor& a, double v) {
  require_defined(a, binary_op_name(op));
  if (is_floating(a.dtype())) return a.dtype();
  if (std::floor(v) != v) return DType::F32;
  return a.dtype() == DType::Bool ? DType::I64 : a.dtype();
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Add, a, b, arith_result(BinaryOp::Add, a, b));
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Sub, a, b, arith_result(BinaryOp::Sub, a, b));
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Mul, a, b, arith_result(BinaryOp::Mul, a, b));
}
Tensor div(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Div, a, b, arith_result(BinaryOp::Div, a, b));
}
Tensor pow(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Pow, a, b, arith_result(BinaryOp::Pow, a, b));
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Maximum, a, b, arith_result(BinaryOp::Maximum, a, b));
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Minimum, a, b, arith_result(BinaryOp::Minimum, a, b));
}
Tensor eq(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Eq, a, b, DType::Bool); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Ne, a, b, DType::Bool); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Lt, a, b, DType::Bool); }
Tensor le(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Le, a, b, DType::Bool); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Gt, a, b, DType::Bool); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Ge, a, b, DType::Bool); }
Tensor logical_and(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::LogicalAnd, a, b, DType::Bool);
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::LogicalOr, a, b, DType::Bool);
}
Tensor logical_not(const Tensor& x) {
  require_defined(x, "logical_not");
  NoGradGuard ng;
  Tensor xb = x.dtype() == DType::Bool ? x : ne(x, zeros({}, x.dtype()));
  Tensor out = empty(x.shape(), DType::Bool);
  if (out.numel() > 0) cpu().unary(UnaryOp::LogicalNot, xb, out);
  return out;
}

Tensor add(const Tensor& a, double b) {
  return binary(BinaryOp::Add, a, scalar_operand(BinaryOp::Add, a, b),
                scalar_result(BinaryOp::Add, a, b));
}
Tensor sub(const Tensor& a, double b) {
  return binary(BinaryOp::Sub, a, scalar_operand(BinaryOp::Sub, a, b),
                scalar_result(BinaryOp::Sub, a, b));
}
Tensor mul(const Tensor& a, double b) {
  return binary(BinaryOp::Mul, a, scalar_operand(BinaryOp::Mul, a, b),
                scalar_result(BinaryOp::Mul, a, b));
}
Tensor div(const Tensor& a, double b) {
  require_defined(a, "div");
  DType r = is_floating(a.dtype()) ? a.dtype() : DType::F32;
  return binary(BinaryOp::Div, a, scalar_operand(BinaryOp::Div, a, b), r);
}
Tensor pow(const Tensor& a, double e) {
  require_defined(a, "pow");
  DType r = is_floating(a.dtype()) ? a.dtype() : DType::F32;
  Tensor out = binary_raw(BinaryOp::Pow, a, scalar_operand(BinaryOp::Pow, a, e), r);
  if (!any_requires_grad({&a})) return out;
  Tensor ad = a.detach();
  return record("pow", {a}, out, [ad, e](const Tensor& g) {
    if (e == 0) return std::vector<Tensor>{zeros_like(g)};
    return std::vector<Tensor>{g * pow(ad, e - 1.0) * e};
  });
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator/(const Tensor& a, double b) { return div(a, b); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator-(double a, const Tensor& b) { return add(neg(b), a); }
Tensor operator+(double a, const Tensor& b) { return add(b, a); }

// ---- where / masked_fill / tril / triu ----

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  require_defined(cond, "where", "cond");
  require_defined(a, "where", "a");
  require_defined(b, "where", "b");
  if (cond.dtype() != DType::Bool) {
    throw DTypeError(fmt::format("[where] cond must be bool, got {}", dtype_name(cond.dtype())));
  }
  Shape s =
      broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  DType rt = promote_types(a.dtype(), b.dtype());
  DType ct = compute_dtype(rt);
  Tensor out;
  {
    NoGradGuard ng;
    out = empty(s, ct);
    if (out.numel() > 0) {
      cpu().where(cond.expand(s), (a.dtype() == ct ? a : a.to(ct)).expand(s),
                  (b.dtype() == ct ? b : b.to(ct)).expand(s), out);
    }
    if (ct != rt) out = out.to(rt);
  }
  if (!is_floating(rt) || !any_requires_grad({&a, &b})) return out;
  Tensor c = cond.detach();
  Shape sa = a.shape(), sb = b.shape();
  return record("where", {a, b}, out, [c, sa, sb](const Tensor& g) {
    Tensor z = zeros({}, g.dtype());
    return std::vector<Tensor>{sum_to_shape(where(c, g, z), sa), sum_to_shape(where(c, z, g), sb)};
  });
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  require_defined(x, "masked_fill");
  require_defined(mask, "masked_fill", "mask");
  if (mask.dtype() != DType::Bool) {
    throw DTypeError(
        fmt::format("[masked_fill] mask must be bool, got {}", dtype_name(mask.dtype())));
  }
  Shape s = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  if (s != x.shape()) {
    throw ShapeError(fmt::format("[masked_fill] mask {} must broadcast to x {}",
                                 shape_str(mask.shape()), shape_str(x.shape())));
  }
  return where(mask, full({}, value, x.dtype()), x);
}

namespace {
Tensor tri(const Tensor& x, int64_t k, bool upper) {
  const char* name = upper ? "triu" : "tril";
  require_defined(x, name);
  if (x.dim() < 2) {
    throw ShapeError(fmt::format("[{}] needs at least 2 dims, got {}", name, shape_str(x.shape())));
  }
  Tensor out;
  {
    NoGradGuard ng;
    // tri only moves elements, so every dtype (bf16/f16 included) runs as stored.
    out = empty(x.shape(), x.dtype());
    if (out.numel() > 0) cpu().tri(x, k, upper, out);
  }
  if (!any_requires_grad({&x})) return out;
  return record(name, {x}, out, [k, upper](const Tensor& g) {
    return std::vector<Tensor>{upper ? triu(g, k) : tril(g, k)};
  });
}
}  // namespace

Tensor tril(const Tensor& x, int64_t k) { return tri(x, k, false); }
Tensor triu(const Tensor& x, int64_t k) { return tri(x, k, true); }

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.shape() != b.shape()) return false;
  auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) != std::isnan(vb[i])) return false;
    if (std::isnan(va[i])) continue;
    if (std::isinf(va[i]) || std::isinf(vb[i])) {
      if (va[i] != vb[i]) return false;
      continue;
    }
    if (std::abs(va[i] - vb[i]) > atol + rtol * std::abs(vb[i])) return false;
  }
  return true;
}

}  // namespace lazarus
