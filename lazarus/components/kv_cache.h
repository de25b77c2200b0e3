// Inference state: per-layer caches (a KV cache for attention layers) and the model-level Cache
// that holds them with the padding mask and positions seen so far.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "lazarus/tensor/tensor.h"

namespace lazarus::components {

/// State one layer keeps between calls; the kind depends on the block type.
class LayerCache {
 public:
  virtual ~LayerCache() = default;
};

/// Keys and values of one attention layer, (B, Hkv, capacity, Dh) buffers written in place.
/// Capacity starts at the first call's need (at least `initial_capacity`) and doubles when full,
/// never beyond `max_length`; any number of tokens may be appended per call (chunked prefill).
class KVCache : public LayerCache {
 public:
  explicit KVCache(int64_t max_length, int64_t initial_capacity = 256)
      : max_length_(max_length), initial_capacity_(initial_capacity) {}

  /// Writes k/v (B, Hkv, T, Dh) after the cached tokens and returns views of all keys and values
  /// (B, Hkv, length, Dh). Throws ShapeError when batch/heads/dim change or max_length overflows.
  std::pair<Tensor, Tensor> update(const Tensor& k, const Tensor& v);
  /// Tokens cached.
  int64_t length() const { return length_; }
  int64_t capacity() const { return keys_.defined() ? keys_.size(2) : 0; }
  /// Views of the cached keys/values (B, Hkv, length, Dh); undefined when empty.
  Tensor keys() const;
  Tensor values() const;

 private:
  void reserve(int64_t needed, const Tensor& like);
  int64_t max_length_, initial_capacity_;
  int64_t length_ = 0;
  Tensor keys_, values_;
};

/// The cache of a whole model: one LayerCache per layer plus what the model needs to continue a
/// batch (the attention mask seen so far and each row's next position).
class Cache {
 public:
  Cache(int64_t batch, int64_t max_length, std::vector<std::shared_ptr<LayerCache>> layers)
      : batch_(batch), max_length_(max_length), layers_(std::move(layers)) {}

  int64_t batch() const { return batch_; }
  int64_t max_length() const { return max_length_; }
  /// Tokens processed so far.
  int64_t length() const { return length_; }
  size_t num_layers() const { return layers_.size(); }
  LayerCache& layer(size_t i) const { return *layers_.at(i); }

  /// (B, length) I64 1 = keep / 0 = padding over every cached position; undefined when no call
  /// passed a mask (all kept).
  const Tensor& attention_mask() const { return attention_mask_; }
  /// Records a call of `T` tokens with its (B, T) mask (undefined = all kept).
  void advance(int64_t T, const Tensor& mask_for_new_tokens);

 private:
  int64_t batch_, max_length_;
  std::vector<std::shared_ptr<LayerCache>> layers_;
  int64_t length_ = 0;
  Tensor attention_mask_;
};

}  // namespace lazarus::components
