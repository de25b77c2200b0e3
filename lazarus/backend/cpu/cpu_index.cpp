// CPU indexing kernels: index_select / index_add (embedding and its gradient), gather /
// scatter_add. Indices arrive range-checked and as contiguous int64.
#include <cstring>

#include "lazarus/backend/cpu/cpu_backend.h"
#include "lazarus/backend/cpu/cpu_common.h"
#include "lazarus/backend/cpu/parallel.h"

namespace lazarus::cpu {

namespace {
Tensor contig(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor c = empty(x.shape(), x.dtype());
  backend_for(Device::CPU).copy(x, c);
  return c;
}
void outer_inner(const Shape& s, int64_t dim, int64_t& outer, int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int64_t i = 0; i < dim; ++i) outer *= s[i];
  for (int64_t i = dim + 1; i < int64_t(s.size()); ++i) inner *= s[i];
}
}  // namespace

void CpuBackend::index_select(const Tensor& x, int64_t dim, const Tensor& index,
                              const Tensor& out) {
  Tensor xc = contig(x);
  int64_t outer, inner;
  outer_inner(x.shape(), dim, outer, inner);
  int64_t n = x.size(dim), m = index.numel();
  size_t row = size_t(inner) * dtype_size(x.dtype());
  const char* s = static_cast<const char*>(xc.raw_data());
  char* d = static_cast<char*>(out.raw_data());
  const int64_t* idx = index.data<int64_t>();
  parallel_for(outer * m, std::max<int64_t>(1, 65536 / int64_t(row + 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t t = b; t < e; ++t) {
                   int64_t o = t / m, j = t % m;
                   std::memcpy(d + size_t(o * m + j) * row, s + size_t(o * n + idx[j]) * row, row);
                 }
               });
}

void CpuBackend::index_add(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor sc = contig(src);
  int64_t outer, inner;
  outer_inner(dst.shape(), dim, outer, inner);
  int64_t n = dst.size(dim), m = index.numel();
  const int64_t* idx = index.data<int64_t>();
  dispatch_float(dst.dtype(), "index_add", [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data<T>();
    const T* s = sc.data<T>();
    // Parallel over the inner (feature) dim: repeated indices then never race.
    parallel_for(inner, 64, [&](int64_t i0, int64_t i1) {
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t j = 0; j < m; ++j) {
          T* dr = d + (o * n + idx[j]) * inner;
          const T* sr = s + (o * m + j) * inner;
          for (int64_t i = i0; i < i1; ++i) dr[i] += sr[i];
        }
      }
    });
  });
}

namespace {
// Visits every position of `index` (contiguous, shape ishape) with the element offset it maps to in
// a tensor of strides `st`, where dim `dim` takes the index value.
template <class F>
void visit_indexed(const Shape& ishape, const int64_t* idx, const Shape& st, int64_t dim, F&& f) {
  int64_t nd = int64_t(ishape.size());
  int64_t total = 1;
  for (int64_t s : ishape) total *= s;
  std::vector<int64_t> coord(nd, 0);
  int64_t base = 0;  // offset from coordinates other than dim
  for (int64_t p = 0; p < total; ++p) {
    int64_t off = base + (nd ? idx[p] * st[dim] : 0);
    f(p, off);
    for (int64_t d = nd - 1; d >= 0; --d) {
      ++coord[d];
      if (d != dim) base += st[d];
      if (coord[d] < ishape[d]) break;
      if (d != dim) base -= coord[d] * st[d];
      coord[d] = 0;
    }
  }
}
}  // namespace

void CpuBackend::gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  const int64_t* idx = index.data<int64_t>();
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = x.data<T>();
    T* d = out.data<T>();
    visit_indexed(index.shape(), idx, x.strides(), dim,
                  [&](int64_t p, int64_t off) { d[p] = s[off]; });
  });
}

void CpuBackend::scatter_add(const Tensor& dst, int64_t dim, const Tensor& index,
                             const Tensor& src) {
  Tensor sc = contig(src);
  const int64_t* idx = index.data<int64_t>();
  dispatch_compute(dst.dtype(), "scatter_add", [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data<T>();
    const T* s = sc.data<T>();
    visit_indexed(index.shape(), idx, dst.strides(), dim, [&](int64_t p, int64_t off) {
      if constexpr (std::is_integral_v<T>)
        d[off] = T(std::make_unsigned_t<T>(d[off]) + std::make_unsigned_t<T>(s[p]));
      else
        d[off] += s[p];
    });
  });
}

}  // namespace lazarus::cpu
