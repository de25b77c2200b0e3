// Basic layers (see layers.h).
#include "lazarus/nn/layers.h"

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/nn/init.h"
#include "lazarus/tensor/autograd.h"

namespace lazarus::nn {

namespace {
void require_positive(int64_t v, const char* layer, const char* field) {
  if (v <= 0) throw ConfigError(fmt::format("[{}] {} must be positive, got {}", layer, field, v));
}
}  // namespace

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias, DType dtype)
    : in_features_(in_features), out_features_(out_features) {
  require_positive(in_features, "Linear", "in_features");
  require_positive(out_features, "Linear", "out_features");
  weight = init::linear_default({out_features, in_features}, in_features, dtype);
  register_parameter("weight", &weight);
  if (with_bias) {
    bias = init::linear_default({out_features}, in_features, dtype);
    register_parameter("bias", &bias);
  }
}

void Linear::set_adapter(std::shared_ptr<LinearAdapter> adapter, const std::string& name) {
  if (adapter_) unregister_module(adapter_name_);
  adapter_.reset();
  adapter_name_.clear();
  if (!adapter) return;
  register_module(name, adapter);
  adapter_ = std::move(adapter);
  adapter_name_ = name;
}

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim, DType dtype,
                     std::optional<int64_t> padding_idx)
    : padding_idx_(padding_idx) {
  require_positive(num_embeddings, "Embedding", "num_embeddings");
  require_positive(embedding_dim, "Embedding", "embedding_dim");
  if (padding_idx && (*padding_idx < 0 || *padding_idx >= num_embeddings)) {
    throw ConfigError(fmt::format("[Embedding] padding_idx {} out of range [0, {})", *padding_idx,
                                  num_embeddings));
  }
  weight = init::normal({num_embeddings, embedding_dim}, 1.0, dtype);
  zero_padding_row();
  register_parameter("weight", &weight);
}

Tensor Embedding::forward(const Tensor& ids) const {
  Tensor e = embedding(weight, ids, padding_idx_);
  return output_dtype_ && e.dtype() != *output_dtype_ ? e.to(*output_dtype_) : e;
}

void Embedding::zero_padding_row() {
  if (!padding_idx_ || init::init_skipped() || weight.numel() == 0) return;
  NoGradGuard ng;
  weight.select(0, *padding_idx_).copy_(zeros({weight.size(1)}, weight.dtype()));
}

RMSNorm::RMSNorm(int64_t dim, double eps, DType dtype) : eps_(eps) {
  require_positive(dim, "RMSNorm", "dim");
  if (!(eps > 0)) throw ConfigError(fmt::format("[RMSNorm] eps must be > 0, got {}", eps));
  weight = ones({dim}, dtype);
  register_parameter("weight", &weight);
}

LayerNorm::LayerNorm(int64_t dim, double eps, bool with_bias, DType dtype) : eps_(eps) {
  require_positive(dim, "LayerNorm", "dim");
  if (!(eps > 0)) throw ConfigError(fmt::format("[LayerNorm] eps must be > 0, got {}", eps));
  weight = ones({dim}, dtype);
  register_parameter("weight", &weight);
  if (with_bias) {
    bias = zeros({dim}, dtype);
    register_parameter("bias", &bias);
  }
}

Dropout::Dropout(double p) : p_(p) {
  if (!(p >= 0.0 && p <= 1.0))
    throw ConfigError(fmt::format("[Dropout] p must be in [0, 1], got {}", p));
}

Tensor Dropout::forward(const Tensor& x, Generator* gen) const {
  if (!is_training() || p_ == 0.0) return x;
  if (p_ == 1.0) return x * 0.0;
  Tensor keep = ge(rand(x.shape(), DType::F32, 0.0, 1.0, gen), full({}, p_, DType::F32));
  return where(keep, x * (1.0 / (1.0 - p_)), zeros({}, x.dtype()));
}

}  // namespace lazarus::nn
