// Reverse-mode autograd: a graph node per differentiable op result, recorded only while grad mode
// is on, and freed after backward.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lazarus/tensor/tensor.h"

namespace lazarus {

/// Gradient function of one op: upstream gradient -> one gradient per input (undefined where an
/// input needs none).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string name;            // the op, for error messages
  std::vector<Tensor> inputs;  // the op's tensor inputs (edges of the graph)
  BackwardFn backward;
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  /// Frees the graph behind this node iteratively: a long chain dropped without backward() would
  /// otherwise destroy node -> tensor -> node ... recursively and overflow the stack.
  ~Node();
};

/// True while ops record the graph (default on, per thread).
bool grad_enabled();
void set_grad_enabled(bool on);

/// Turns graph recording off for its scope.
class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

/// True when grad mode is on and any input requires a gradient.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);

/// Attaches a node to `out` when recording; returns `out`. `fn` runs under no-grad.
Tensor record(const char* name, std::vector<Tensor> inputs, Tensor out, BackwardFn fn);

/// Attaches a node that throws AutogradError("<name> has no gradient") on backward.
Tensor record_no_grad_primitive(const char* name, std::vector<Tensor> inputs, Tensor out);

/// Runs backward from `root` with upstream `grad_output`; accumulates into leaves.
void run_backward(const Tensor& root, const Tensor& grad_output);

/// Calls f(params) with fresh leaves that require grad, runs backward from its scalar result, and
/// returns {value, gradients}. The caller's tensors are not modified.
std::pair<Tensor, std::vector<Tensor>> value_and_grad(
    const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& params);

}  // namespace lazarus
