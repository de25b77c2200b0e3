// KV cache buffers written in place (see kv_cache.h).
#include "lazarus/components/kv_cache.h"

#include <algorithm>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::components {

namespace {
// dst (a view into a cache buffer) = src, in place.
void write_into(const Tensor& dst, const Tensor& src) {
  NoGradGuard ng;
  dst.copy_(src.detach());
}
}  // namespace

void KVCache::reserve(int64_t needed, const Tensor& like) {
  if (needed > max_length_) {
    throw ShapeError(
        fmt::format("[KVCache] {} tokens exceed the cache's max_length {}", needed, max_length_));
  }
  if (keys_.defined() && needed <= keys_.size(2)) return;
  int64_t cap = keys_.defined() ? keys_.size(2) : std::min(initial_capacity_, max_length_);
  while (cap < needed) cap = std::min(cap * 2, max_length_);
  Shape shape = like.shape();  // (B, Hkv, cap, Dh)
  shape[2] = cap;
  Tensor k = zeros(shape, like.dtype()), v = zeros(shape, like.dtype());
  if (length_ > 0) {  // growth is geometric, so this copy is amortised
    write_into(k.narrow(2, 0, length_), keys());
    write_into(v.narrow(2, 0, length_), values());
  }
  keys_ = k;
  values_ = v;
}

std::pair<Tensor, Tensor> KVCache::update(const Tensor& k, const Tensor& v) {
  // k, v (B, Hkv, T, Dh)
  if (k.dim() != 4 || k.shape() != v.shape()) {
    throw ShapeError(fmt::format("[KVCache] k {} and v {} must be equal (B, Hkv, T, Dh)",
                                 shape_str(k.shape()), shape_str(v.shape())));
  }
  const int64_t T = k.size(2);
  if (keys_.defined() && (k.size(0) != keys_.size(0) || k.size(1) != keys_.size(1) ||
                          k.size(3) != keys_.size(3) || k.dtype() != keys_.dtype())) {
    throw ShapeError(fmt::format("[KVCache] new keys {} do not fit the cache {}",
                                 shape_str(k.shape()), shape_str(keys_.shape())));
  }
  reserve(length_ + T, k);
  {
    NoGradGuard ng;
    write_into(keys_.narrow(2, length_, T), k);
    write_into(values_.narrow(2, length_, T), v);
  }
  length_ += T;
  return {keys(), values()};
}

Tensor KVCache::keys() const { return length_ ? keys_.detach().narrow(2, 0, length_) : Tensor(); }
Tensor KVCache::values() const {
  return length_ ? values_.detach().narrow(2, 0, length_) : Tensor();
}

void Cache::advance(int64_t T, const Tensor& mask) {
  if (mask.defined() || attention_mask_.defined()) {
    Tensor m = mask.defined() ? mask.to(DType::I64) : ones({batch_, T}, DType::I64);
    if (!attention_mask_.defined()) {
      attention_mask_ = length_ ? cat({ones({batch_, length_}, DType::I64), m}, 1) : m;
    } else {
      attention_mask_ = cat({attention_mask_, m}, 1);
    }
  }
  length_ += T;
}

}  // namespace lazarus::components
