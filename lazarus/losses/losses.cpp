// Loss functions (see losses.h).
#include "lazarus/losses/losses.h"

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/autograd.h"

namespace lazarus::losses {

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                     double label_smoothing, Reduction reduction) {
  if (!logits.defined() || !targets.defined()) throw Error("[cross_entropy] undefined input");
  if (logits.dim() < 1 || !is_floating(logits.dtype())) {
    throw DTypeError(fmt::format("[cross_entropy] logits must be floating (..., C), got {} {}",
                                 dtype_name(logits.dtype()), shape_str(logits.shape())));
  }
  if (targets.dtype() != DType::I64 && targets.dtype() != DType::I32) {
    throw DTypeError(fmt::format("[cross_entropy] targets must be integer class ids, got {}",
                                 dtype_name(targets.dtype())));
  }
  Shape lead(logits.shape().begin(), logits.shape().end() - 1);
  if (targets.shape() != lead) {
    throw ShapeError(fmt::format("[cross_entropy] targets {} must have logits' leading shape {}",
                                 shape_str(targets.shape()), shape_str(lead)));
  }
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0)) {
    throw ConfigError(
        fmt::format("[cross_entropy] label_smoothing must be in [0, 1], got {}", label_smoothing));
  }
  int64_t C = logits.size(-1);
  Tensor t = targets.reshape({-1});
  // Per-position loss (0 where ignored); validates the target range.
  Tensor nll = cross_entropy_rows(logits.reshape({-1, C}), t, ignore_index, label_smoothing);
  Tensor vf = ne(t.to(DType::I64), full({}, double(ignore_index), DType::I64)).to(nll.dtype());
  switch (reduction) {
    case Reduction::None:
      return nll.reshape(targets.shape());
    case Reduction::Sum:
      return sum(nll);
    case Reduction::Mean: {
      double count = sum(vf).item();
      if (count == 0) {
        throw Error(
            "[cross_entropy] every target is ignore_index: the batch has no tokens to learn from");
      }
      return sum(nll) / count;
    }
  }
  return nll;
}

Tensor causal_lm_loss(const Tensor& logits, const Tensor& labels, double label_smoothing) {
  if (logits.dim() != 3 || labels.dim() != 2 || logits.size(0) != labels.size(0) ||
      logits.size(1) != labels.size(1)) {
    throw ShapeError(
        fmt::format("[causal_lm_loss] logits (B, T, V) and labels (B, T) expected, got {} and {}",
                    shape_str(logits.shape()), shape_str(labels.shape())));
  }
  int64_t T = logits.size(1);
  if (T < 2)
    throw ShapeError("[causal_lm_loss] needs at least 2 positions to predict a next token");
  Tensor lg = logits.narrow(1, 0, T - 1);  // (B, T-1, V): predictions for positions 1..T-1
  Tensor tg = labels.narrow(1, 1, T - 1);  // (B, T-1)
  // As Hugging Face: half-precision logits are upcast, so the loss is computed in f32.
  if (lg.dtype() == DType::BF16 || lg.dtype() == DType::F16) lg = lg.to(DType::F32);
  if (sum(ne(tg, full({}, double(kIgnoreIndex), tg.dtype()))).item() == 0) {
    throw Error(fmt::format(
        "[causal_lm_loss] every label after the first position is {} in this batch {}: there is "
        "no token to learn from (check the data: a prompt longer than the sequence length masks "
        "everything)",
        kIgnoreIndex, shape_str(labels.shape())));
  }
  return cross_entropy(lg, tg.contiguous(), kIgnoreIndex, label_smoothing, Reduction::Mean);
}

Tensor causal_lm_head_loss(const Tensor& hidden, const Tensor& weight, const Tensor& bias,
                           const Tensor& labels, double label_smoothing, int64_t chunk_rows) {
  if (!hidden.defined() || !weight.defined() || !labels.defined())
    throw Error("[causal_lm_head_loss] undefined input");
  if (hidden.dim() != 3 || labels.dim() != 2 || hidden.size(0) != labels.size(0) ||
      hidden.size(1) != labels.size(1)) {
    throw ShapeError(fmt::format(
        "[causal_lm_head_loss] hidden (B, T, D) and labels (B, T) expected, got {} and {}",
        shape_str(hidden.shape()), shape_str(labels.shape())));
  }
  if (labels.dtype() != DType::I64 && labels.dtype() != DType::I32) {
    throw DTypeError(fmt::format("[causal_lm_head_loss] labels must be integer ids, got {}",
                                 dtype_name(labels.dtype())));
  }
  const int64_t B = hidden.size(0), T = hidden.size(1), D = hidden.size(2);
  if (T < 2)
    throw ShapeError("[causal_lm_head_loss] needs at least 2 positions to predict a next token");
  // Position t predicts labels[t + 1]; the last position predicts nothing (ignored), so the
  // hidden states are used as they are, without a copy.
  Tensor shifted = cat(
      {labels.to(DType::I64).narrow(1, 1, T - 1), full({B, 1}, double(kIgnoreIndex), DType::I64)},
      1);
  if (sum(ne(shifted, full({}, double(kIgnoreIndex), DType::I64))).item() == 0) {
    throw Error(fmt::format(
        "[causal_lm_head_loss] every label after the first position is {} in this batch {}: "
        "there is no token to learn from (check the data: a prompt longer than the sequence "
        "length masks everything)",
        kIgnoreIndex, shape_str(labels.shape())));
  }
  return linear_cross_entropy(hidden.reshape({B * T, D}), weight, bias, shifted.reshape({B * T}),
                              kIgnoreIndex, label_smoothing, chunk_rows);
}

namespace {

Tensor upcast(const Tensor& x) {
  return x.dtype() == DType::BF16 || x.dtype() == DType::F16 ? x.to(DType::F32) : x;
}

// Shared by the classification losses: every label -100 is an error that says so.
Tensor labelled_cross_entropy(const char* op, const Tensor& logits, const Tensor& labels,
                              double label_smoothing) {
  if (labels.dtype() != DType::I64 && labels.dtype() != DType::I32) {
    throw DTypeError(fmt::format("[{}] labels must be integer class ids (-100 = ignore), got {}",
                                 op, dtype_name(labels.dtype())));
  }
  if (labels.numel() == 0 ||
      sum(ne(labels, full({}, double(kIgnoreIndex), labels.dtype()))).item() == 0) {
    throw Error(
        fmt::format("[{}] every label in this batch {} is {}: there is nothing to learn "
                    "from (check the labels)",
                    op, shape_str(labels.shape()), kIgnoreIndex));
  }
  return cross_entropy(upcast(logits), labels.contiguous(), kIgnoreIndex, label_smoothing,
                       Reduction::Mean);
}

}  // namespace

Tensor sequence_classification_loss(const Tensor& logits, const Tensor& labels,
                                    double label_smoothing) {
  if (!logits.defined() || !labels.defined() || logits.dim() != 2 || labels.dim() != 1 ||
      logits.size(0) != labels.size(0)) {
    throw ShapeError(fmt::format(
        "[sequence_classification_loss] logits (B, C) and labels (B) expected, got {} and {}",
        logits.defined() ? shape_str(logits.shape()) : "undefined",
        labels.defined() ? shape_str(labels.shape()) : "undefined"));
  }
  return labelled_cross_entropy("sequence_classification_loss", logits, labels, label_smoothing);
}

Tensor token_classification_loss(const Tensor& logits, const Tensor& labels,
                                 double label_smoothing) {
  if (!logits.defined() || !labels.defined() || logits.dim() != 3 || labels.dim() != 2 ||
      logits.size(0) != labels.size(0) || logits.size(1) != labels.size(1)) {
    throw ShapeError(fmt::format(
        "[token_classification_loss] logits (B, T, C) and labels (B, T) expected, got {} and {}",
        logits.defined() ? shape_str(logits.shape()) : "undefined",
        labels.defined() ? shape_str(labels.shape()) : "undefined"));
  }
  return labelled_cross_entropy("token_classification_loss", logits, labels, label_smoothing);
}

Tensor regression_loss(const Tensor& predictions, const Tensor& targets) {
  if (!predictions.defined() || !targets.defined() || predictions.dim() != 2 ||
      predictions.size(0) != targets.size(0) ||
      !(targets.shape() == predictions.shape() ||
        (targets.dim() == 1 && predictions.size(1) == 1))) {
    throw ShapeError(fmt::format(
        "[regression_loss] predictions (B, O) and targets (B, O) (or (B) when O = 1) expected, "
        "got {} and {}",
        predictions.defined() ? shape_str(predictions.shape()) : "undefined",
        targets.defined() ? shape_str(targets.shape()) : "undefined"));
  }
  if (predictions.size(0) == 0)
    throw Error("[regression_loss] the batch is empty: nothing to learn from");
  Tensor p = upcast(predictions);
  Tensor t = targets.to(p.dtype()).reshape(predictions.shape());
  return mse_loss(p, t, Reduction::Mean);
}

Tensor multi_label_loss(const Tensor& logits, const Tensor& targets) {
  if (!logits.defined() || !targets.defined() || logits.dim() != 2 ||
      targets.shape() != logits.shape()) {
    throw ShapeError(
        fmt::format("[multi_label_loss] logits (B, C) and targets (B, C) expected, got {} and {}",
                    logits.defined() ? shape_str(logits.shape()) : "undefined",
                    targets.defined() ? shape_str(targets.shape()) : "undefined"));
  }
  if (logits.numel() == 0)
    throw Error("[multi_label_loss] the batch is empty: nothing to learn from");
  Tensor x = upcast(logits);
  Tensor y = targets.to(x.dtype());
  return mean(relu(x) - x * y + softplus(neg(abs(x))));
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (input.shape() != target.shape()) {
    throw ShapeError(fmt::format("[mse_loss] input {} and target {} must have the same shape",
                                 shape_str(input.shape()), shape_str(target.shape())));
  }
  Tensor d = square(input - target);
  switch (reduction) {
    case Reduction::None:
      return d;
    case Reduction::Sum:
      return sum(d);
    case Reduction::Mean:
      return mean(d);
  }
  return d;
}

}  // namespace lazarus::losses
