// Composed references for the fused ops: the same math written with plain, differentiable ops.
// They are the fused kernels' test oracles and their gradient path.
#pragma once

#include "lazarus/tensor/ops.h"

namespace lazarus::reference {

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps);
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
Tensor rope(const Tensor& x, const Tensor& cos, const Tensor& sin, int64_t position_offset,
            bool interleaved);
/// Keep-mask (Tq, Tk) Bool for causal / sliding-window attention with queries at
/// query_offset + i.
Tensor attention_keep_mask(int64_t Tq, int64_t Tk, bool causal, int64_t window,
                           int64_t query_offset);
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask, const AttentionOptions& opts);
/// The selective scan as a per-token loop of plain ops (exactly HF MambaMixer.slow_forward's
/// recurrence): the fused kernel's oracle. Same contract as lazarus::selective_scan, except that
/// last_state stays on the graph.
SelectiveScanOutput selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A,
                                   const Tensor& B, const Tensor& C,
                                   const Tensor& initial_state = Tensor());

/// LSTM / GRU as a per-step loop of plain ops (the layer's training path before the fused op:
/// one batched matmul and a handful of elementwise ops per step): the fused kernel's oracle. Same
/// contract as lazarus::recurrent_sequence, except that the last states stay on the graph. Its
/// backward is O(T²) in memory traffic (every step's slice of gates_x sends back a full-size
/// gradient), so keep it to tests.
RecurrentSequenceOutput recurrent_sequence(RecurrentCell cell, const Tensor& gates_x,
                                           const Tensor& weight_hh,
                                           const Tensor& bias_hh = Tensor(),
                                           const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor(),
                                           const Tensor& mask = Tensor());

}  // namespace lazarus::reference
