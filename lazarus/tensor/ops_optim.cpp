// Optimizer kernels at the op layer: validation, then the backend's fused pass.
#include <fmt/format.h>

#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/internal.h"
#include "lazarus/tensor/ops.h"

namespace lazarus {

using detail::cpu;
using detail::require_defined;

void adamw_update_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                   const Tensor& exp_avg_sq, const AdamWStep& step) {
  const Tensor* ts[] = {&param, &grad, &exp_avg, &exp_avg_sq};
  const char* names[] = {"param", "grad", "exp_avg", "exp_avg_sq"};
  for (int i = 0; i < 4; ++i) {
    require_defined(*ts[i], "adamw_update_");
    if (ts[i]->dtype() != DType::F32 && ts[i]->dtype() != DType::F64) {
      throw DTypeError(fmt::format("[adamw_update_] {} must be f32 or f64, got {}", names[i],
                                   dtype_name(ts[i]->dtype())));
    }
    if (ts[i]->dtype() != param.dtype()) {
      throw DTypeError(fmt::format("[adamw_update_] {} is {} but param is {}", names[i],
                                   dtype_name(ts[i]->dtype()), dtype_name(param.dtype())));
    }
    if (ts[i]->shape() != param.shape()) {
      throw ShapeError(fmt::format("[adamw_update_] {} has shape {} but param has {}", names[i],
                                   shape_str(ts[i]->shape()), shape_str(param.shape())));
    }
    if (!ts[i]->is_contiguous()) {
      throw ShapeError(fmt::format("[adamw_update_] {} must be contiguous", names[i]));
    }
  }
  if (param.numel() > 0) cpu().adamw_update(param, grad, exp_avg, exp_avg_sq, step);
}

double sum_squares(const Tensor& x) {
  require_defined(x, "sum_squares");
  if (!is_floating(x.dtype())) {
    throw DTypeError(
        fmt::format("[sum_squares] x must be floating, got {}", dtype_name(x.dtype())));
  }
  if (x.numel() == 0) return 0.0;
  return cpu().sum_squares(x.contiguous());
}

}  // namespace lazarus
