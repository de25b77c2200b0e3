// The CPU backend: the reference and the fast path. Kernels live in the files beside this one.
#pragma once

#include "lazarus/tensor/backend.h"

namespace lazarus::cpu {

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  void copy(const Tensor& src, const Tensor& dst) override;
  void fill(const Tensor& dst, double value) override;
  void arange(const Tensor& dst, double start, double step) override;
  void random(const Tensor& dst, RandomKind kind, uint64_t seed, uint64_t offset, double a,
              double b, int64_t int_low, uint64_t int_range) override;
  void unary(UnaryOp op, const Tensor& x, const Tensor& out) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
              const Tensor& out) override;
  void cumsum(const Tensor& x, int64_t dim, const Tensor& out) override;
  void softmax(const Tensor& x, bool log, const Tensor& out) override;
  void matmul(const Tensor& a, const Tensor& b, const Tensor& out) override;
  void linear_quantized(const Tensor& x, const Tensor& w, const Tensor& out) override;
  void index_select(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override;
  void index_add(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) override;
  void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override;
  void scatter_add(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) override;
  void tri(const Tensor& x, int64_t k, bool upper, const Tensor& out) override;
  void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& out) override;
  void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                  const Tensor& out) override;
  void rope(const Tensor& x, const Tensor& cos, const Tensor& sin, int64_t offset, bool interleaved,
            bool inverse, const Tensor& out) override;
  void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                          bool causal, int64_t window, double scale, int64_t query_offset,
                          const Tensor& out, const Tensor& lse, const Tensor& dout,
                          const Tensor& dq, const Tensor& dk, const Tensor& dv) override;
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal,
                 int64_t window, double scale, int64_t query_offset, const Tensor& out,
                 const Tensor& lse) override;
  void selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& Bm,
                      const Tensor& Cm, const Tensor& h0, const Tensor& y,
                      const Tensor& last_state) override;
  void selective_scan_backward(const Tensor& u, const Tensor& delta, const Tensor& A,
                               const Tensor& Bm, const Tensor& Cm, const Tensor& h0,
                               const Tensor& dy, const Tensor& du, const Tensor& ddelta,
                               const Tensor& dA, const Tensor& dB, const Tensor& dC,
                               const Tensor& dh0) override;
  void recurrent_sequence(RecurrentCell cell, const Tensor& gx, const Tensor& w_hh,
                          const Tensor& b_hh, const Tensor& h0, const Tensor& c0,
                          const Tensor& mask, const Tensor& y, const Tensor& gates,
                          const Tensor& aux) override;
  void recurrent_sequence_backward(RecurrentCell cell, const Tensor& w_hh, const Tensor& h0,
                                   const Tensor& c0, const Tensor& mask, const Tensor& y,
                                   const Tensor& gates, const Tensor& aux, const Tensor& dy,
                                   const Tensor& dgx, const Tensor& dw_hh, const Tensor& db_hh,
                                   const Tensor& dh0, const Tensor& dc0) override;
  void adamw_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                    const Tensor& exp_avg_sq, const AdamWStep& step) override;
  double sum_squares(const Tensor& x) override;
  void cross_entropy_rows(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                          double label_smoothing, const Tensor& loss, const Tensor& grad,
                          double grad_scale) override;
};

/// Flash-style attention forward and backward (attention.cpp).
void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                       bool causal, int64_t window, double scale, int64_t query_offset,
                       const Tensor& out, const Tensor& lse);
void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                        bool causal, int64_t window, double scale, int64_t query_offset,
                        const Tensor& out, const Tensor& lse, const Tensor& dout, const Tensor& dq,
                        const Tensor& dk, const Tensor& dv);

}  // namespace lazarus::cpu
