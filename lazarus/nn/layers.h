// The basic layers: Linear, Embedding, RMSNorm, LayerNorm, Dropout. Parameter names follow
// PyTorch/Hugging Face ("weight", "bias").
#pragma once

#include "lazarus/nn/module.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

namespace lazarus::nn {

/// A second path on a Linear's output (LoRA lives in lazarus/adapters): the Linear returns
/// adapt(x, x W^T + b). Held as a child module, so its parameters are named below the Linear's.
class LinearAdapter : public Module {
 public:
  virtual Tensor adapt(const Tensor& x, const Tensor& base_output) const = 0;
};

/// y = x W^T + b; weight (out_features, in_features), bias (out_features) when `bias`.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, DType dtype = DType::F32);
  Tensor forward(const Tensor& x) const {
    Tensor y = linear(x, weight, bias);
    return adapter_ ? adapter_->adapt(x, y) : y;
  }
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  /// Attaches `adapter` as child `name` (replacing any previous adapter); nullptr removes it.
  void set_adapter(std::shared_ptr<LinearAdapter> adapter, const std::string& name = "adapter");
  const std::shared_ptr<LinearAdapter>& adapter() const { return adapter_; }
  Tensor weight;
  Tensor bias;  // undefined without bias

 private:
  int64_t in_features_, out_features_;
  std::shared_ptr<LinearAdapter> adapter_;
  std::string adapter_name_;
};

/// Lookup table: ids (any shape, integer) -> (*ids.shape, embedding_dim); weight ~ N(0, 1).
class Embedding : public Module {
 public:
  /// `padding_idx` (torch's): that row starts at zero and gets no gradient.
  Embedding(int64_t num_embeddings, int64_t embedding_dim, DType dtype = DType::F32,
            std::optional<int64_t> padding_idx = std::nullopt);
  Tensor forward(const Tensor& ids) const;
  const std::optional<int64_t>& padding_idx() const { return padding_idx_; }
  /// Rows looked up in a weight stored in another floating type are widened (or narrowed) to
  /// this dtype: a GGUF file's f16 token table serves an f32 model without an f32 copy of the
  /// table. nullopt (the default) = the weight's own dtype. `Module::to` leaves it as it is.
  void set_output_dtype(std::optional<DType> dt) { output_dtype_ = dt; }
  const std::optional<DType>& output_dtype() const { return output_dtype_; }
  /// Zeroes the padding row (after an initialiser has overwritten the weight).
  void zero_padding_row();
  Tensor weight;

 private:
  std::optional<int64_t> padding_idx_;
  std::optional<DType> output_dtype_;
};

/// RMSNorm over the last dim with a learned scale (initialised to ones).
class RMSNorm : public Module {
 public:
  explicit RMSNorm(int64_t dim, double eps = 1e-6, DType dtype = DType::F32);
  Tensor forward(const Tensor& x) const { return rms_norm(x, weight, eps_); }
  double eps() const { return eps_; }
  Tensor weight;

 private:
  double eps_;
};

/// LayerNorm over the last dim with learned scale and (optionally) shift.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5, bool bias = true, DType dtype = DType::F32);
  Tensor forward(const Tensor& x) const { return layer_norm(x, weight, bias, eps_); }
  Tensor weight;
  Tensor bias;

 private:
  double eps_;
};

/// Zeroes elements with probability p in training mode and scales the rest by 1/(1-p); identity in
/// eval mode or when p == 0.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.0);
  Tensor forward(const Tensor& x, Generator* gen = nullptr) const;
  double p() const { return p_; }

 private:
  double p_;
};

}  // namespace lazarus::nn
