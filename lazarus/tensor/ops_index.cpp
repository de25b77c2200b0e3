// Indexing (embedding, index_select, gather, scatter_add) and joining/splitting (cat, stack,
// split, chunk). Gradients of the gathers are scatter-adds.
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/internal.h"
#include "lazarus/tensor/ops.h"

namespace lazarus {

using detail::cpu;
using detail::require_defined;
using detail::wrap_dim;

namespace {

// Contiguous I64 copy of an index tensor, every value checked to lie in [0, limit).
Tensor checked_index(const Tensor& index, int64_t limit, const char* op) {
  if (index.dtype() != DType::I64 && index.dtype() != DType::I32) {
    throw DTypeError(
        fmt::format("[{}] index must be int32 or int64, got {}", op, dtype_name(index.dtype())));
  }
  Tensor idx = index.detach().to(DType::I64).contiguous();
  const int64_t* p = idx.data<int64_t>();
  for (int64_t i = 0, n = idx.numel(); i < n; ++i) {
    if (p[i] < 0 || p[i] >= limit) {
      throw IndexError(
          fmt::format("[{}] index {} out of range [0, {}) at position {}", op, p[i], limit, i));
    }
  }
  return idx;
}
}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  require_defined(x, "index_select");
  require_defined(index, "index_select", "index");
  if (index.dim() > 1) {
    throw ShapeError(
        fmt::format("[index_select] index must be 1-D, got {}", shape_str(index.shape())));
  }
  if (x.dim() == 0) throw ShapeError("[index_select] x must have at least 1 dim");
  int64_t d = wrap_dim(dim, x.dim(), "index_select");
  Tensor idx = checked_index(index, x.size(d), "index_select").reshape({-1});
  Shape s = x.shape();
  s[d] = idx.numel();
  Tensor out = empty(s, x.dtype());
  if (out.numel() > 0) cpu().index_select(x.detach(), d, idx, out);
  if (!is_floating(x.dtype()) || !any_requires_grad({&x})) return out;
  Shape xs = x.shape();
  return record("index_select", {x}, out, [xs, d, idx](const Tensor& g) {
    Tensor z = zeros(xs, compute_dtype(g.dtype()));
    Tensor gc = g.to(z.dtype());
    if (gc.numel() > 0) cpu().index_add(z, d, idx, gc);
    return std::vector<Tensor>{z.to(g.dtype())};
  });
}

Tensor embedding(const Tensor& weight, const Tensor& ids, std::optional<int64_t> padding_idx) {
  require_defined(weight, "embedding", "weight");
  require_defined(ids, "embedding", "ids");
  if (weight.dim() != 2) {
    throw ShapeError(
        fmt::format("[embedding] weight must be 2-D (V, D), got {}", shape_str(weight.shape())));
  }
  const int64_t V = weight.size(0), D = weight.size(1);
  if (padding_idx && (*padding_idx < 0 || *padding_idx >= V)) {
    throw IndexError(
        fmt::format("[embedding] padding_idx {} out of range [0, {})", *padding_idx, V));
  }
  Tensor idx = checked_index(ids, V, "embedding").reshape({-1});
  Shape s = ids.shape();
  s.push_back(D);
  if (is_quantized(weight.dtype())) {  // the looked-up rows, dequantized (not differentiable)
    if (!weight.is_contiguous()) {
      throw DTypeError(fmt::format("[embedding] a {} weight must be contiguous",
                                   dtype_name(weight.dtype())));
    }
    Tensor rows = empty({idx.numel(), D}, DType::F32);
    const Tensor ic = idx.contiguous();
    const int64_t* ip = ic.data<int64_t>();
    for (int64_t i = 0; i < ic.numel(); ++i) rows.select(0, i).copy_(weight.select(0, ip[i]));
    return rows.reshape(s);
  }
  Tensor out = empty({idx.numel(), D}, weight.dtype());
  if (out.numel() > 0) cpu().index_select(weight.detach(), 0, idx, out);
  if (!is_floating(weight.dtype()) || !any_requires_grad({&weight})) return out.reshape(s);
  Shape ws = weight.shape();
  return record("embedding", {weight}, out,
                [ws, idx, padding_idx](const Tensor& g) {
                  Tensor z = zeros(ws, compute_dtype(g.dtype()));
                  Tensor gc = g.to(z.dtype());
                  if (gc.numel() > 0) cpu().index_add(z, 0, idx, gc);
                  if (padding_idx) z.select(0, *padding_idx).copy_(zeros({ws[1]}, z.dtype()));
                  return std::vector<Tensor>{z.to(g.dtype())};
                })
      .reshape(s);
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  require_defined(x, "gather");
  require_defined(index, "gather", "index");
  int64_t d = wrap_dim(dim, x.dim(), "gather");
  if (index.dim() != x.dim()) {
    throw ShapeError(fmt::format("[gather] index {} must have as many dims as x {}",
                                 shape_str(index.shape()), shape_str(x.shape())));
  }
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i != d && index.size(i) > x.size(i)) {
      throw ShapeError(fmt::format("[gather] index {} is larger than x {} in dim {}",
                                   shape_str(index.shape()), shape_str(x.shape()), i));
    }
  }
  Tensor idx = checked_index(index, x.dim() == 0 ? 1 : x.size(d), "gather");
  Tensor out = empty(index.shape(), x.dtype());
  if (out.numel() > 0) cpu().gather(x.detach(), d, idx, out);
  if (!is_floating(x.dtype()) || !any_requires_grad({&x})) return out;
  Shape xs = x.shape();
  return record("gather", {x}, out, [xs, d, idx](const Tensor& g) {
    return std::vector<Tensor>{scatter_add(zeros(xs, g.dtype()), d, idx, g)};
  });
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  require_defined(x, "scatter_add");
  require_defined(index, "scatter_add", "index");
  require_defined(src, "scatter_add", "src");
  int64_t d = wrap_dim(dim, x.dim(), "scatter_add");
  if (index.shape() != src.shape()) {
    throw ShapeError(fmt::format("[scatter_add] index {} and src {} must have the same shape",
                                 shape_str(index.shape()), shape_str(src.shape())));
  }
  if (index.dim() != x.dim()) {
    throw ShapeError(fmt::format("[scatter_add] index {} must have as many dims as x {}",
                                 shape_str(index.shape()), shape_str(x.shape())));
  }
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i != d && index.size(i) > x.size(i)) {
      throw ShapeError(fmt::format("[scatter_add] index {} is larger than x {} in dim {}",
                                   shape_str(index.shape()), shape_str(x.shape()), i));
    }
  }
  if (src.dtype() != x.dtype()) {
    throw DTypeError(fmt::format("[scatter_add] src dtype {} must equal x dtype {}",
                                 dtype_name(src.dtype()), dtype_name(x.dtype())));
  }
  Tensor idx = checked_index(index, x.dim() == 0 ? 1 : x.size(d), "scatter_add");
  Tensor out;
  {
    NoGradGuard ng;
    DType ct = compute_dtype(x.dtype());
    out = x.detach().to(ct).clone();
    if (idx.numel() > 0) cpu().scatter_add(out, d, idx, src.detach().to(ct));
    if (out.dtype() != x.dtype()) out = out.to(x.dtype());
  }
  if (!is_floating(x.dtype()) || !any_requires_grad({&x, &src})) return out;
  return record("scatter_add", {x, src}, out, [d, idx](const Tensor& g) {
    return std::vector<Tensor>{g, gather(g, d, idx)};
  });
}

Tensor cat(const std::vector<Tensor>& xs, int64_t dim) {
  if (xs.empty()) throw ShapeError("[cat] needs at least one tensor");
  for (const Tensor& x : xs) require_defined(x, "cat");
  const Tensor& first = xs[0];
  if (first.dim() == 0) throw ShapeError("[cat] zero-dim tensors cannot be concatenated");
  int64_t d = wrap_dim(dim, first.dim(), "cat");
  DType dt = first.dtype();
  int64_t total = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    if (x.dim() != first.dim()) {
      throw ShapeError(fmt::format("[cat] tensor {} has shape {}, tensor 0 has {}", i,
                                   shape_str(x.shape()), shape_str(first.shape())));
    }
    for (int64_t j = 0; j < x.dim(); ++j) {
      if (j != d && x.size(j) != first.size(j)) {
        throw ShapeError(
            fmt::format("[cat] tensor {} has shape {}, tensor 0 has {} (dim {} differs)", i,
                        shape_str(x.shape()), shape_str(first.shape()), j));
      }
    }
    dt = promote_types(dt, x.dtype());
    total += x.size(d);
  }
  Shape s = first.shape();
  s[d] = total;
  Tensor out = empty(s, dt);
  std::vector<int64_t> sizes;
  {
    NoGradGuard ng;
    int64_t at = 0;
    for (const Tensor& x : xs) {
      sizes.push_back(x.size(d));
      if (x.numel() > 0) cpu().copy(x, out.narrow(d, at, x.size(d)));
      at += x.size(d);
    }
  }
  if (!is_floating(dt) || !any_requires_grad(xs)) return out;
  return record("cat", xs, out, [d, sizes](const Tensor& g) {
    std::vector<Tensor> gs;
    int64_t at = 0;
    for (int64_t n : sizes) {
      gs.push_back(g.narrow(d, at, n));
      at += n;
    }
    return gs;
  });
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  if (xs.empty()) throw ShapeError("[stack] needs at least one tensor");
  int64_t d = wrap_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor> u;
  for (size_t i = 0; i < xs.size(); ++i) {
    require_defined(xs[i], "stack");
    if (xs[i].shape() != xs[0].shape()) {
      throw ShapeError(fmt::format("[stack] tensor {} has shape {}, tensor 0 has {}", i,
                                   shape_str(xs[i].shape()), shape_str(xs[0].shape())));
    }
    u.push_back(xs[i].unsqueeze(d));
  }
  return cat(u, d);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  require_defined(x, "split");
  if (x.dim() == 0) throw ShapeError("[split] cannot split a 0-dim tensor");
  int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0) throw ShapeError(fmt::format("[split] negative split size {}", s));
    total += s;
  }
  if (total != x.size(d)) {
    throw ShapeError(
        fmt::format("[split] sizes sum to {} but dim {} has size {}", total, d, x.size(d)));
  }
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(x.narrow(d, at, s));
    at += s;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  require_defined(x, "split");
  if (split_size <= 0)
    throw ShapeError(fmt::format("[split] split_size must be positive, got {}", split_size));
  if (x.dim() == 0) throw ShapeError("[split] cannot split a 0-dim tensor");
  int64_t d = wrap_dim(dim, x.dim(), "split");
  std::vector<int64_t> sizes;
  for (int64_t at = 0; at < x.size(d); at += split_size)
    sizes.push_back(std::min(split_size, x.size(d) - at));
  if (sizes.empty()) sizes.push_back(0);
  return split(x, sizes, d);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  if (chunks <= 0) throw ShapeError(fmt::format("[chunk] chunks must be positive, got {}", chunks));
  require_defined(x, "chunk");
  if (x.dim() == 0) throw ShapeError("[chunk] cannot chunk a 0-dim tensor");
  int64_t d = wrap_dim(dim, x.dim(), "chunk");
  int64_t n = x.size(d);
  int64_t size = (n + chunks - 1) / chunks;
  return split(x, std::max<int64_t>(size, 1), d);
}

}  // namespace lazarus
