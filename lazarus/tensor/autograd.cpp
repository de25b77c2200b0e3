// Reverse-mode autograd: graph recording, topological backward, graph release.
#include "lazarus/tensor/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/ops.h"

namespace lazarus {

namespace {
thread_local bool g_grad_enabled = true;
}

Node::~Node() {
  std::vector<std::shared_ptr<Node>> pending;
  auto harvest = [&pending](std::vector<Tensor>& inputs) {
    for (Tensor& t : inputs) {
      // Only when this edge holds the last reference to the tensor and its node do we take the
      // node over; shared parts of the graph stay alive for their other owners.
      if (t.defined() && t.impl_ptr().use_count() == 1 && t.impl()->grad_fn &&
          t.impl()->grad_fn.use_count() == 1) {
        pending.push_back(std::move(t.impl()->grad_fn));
      }
    }
    inputs.clear();
  };
  harvest(inputs);
  backward = nullptr;
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    harvest(n->inputs);
    n->backward = nullptr;
  }  // each n is destroyed here with no inputs left, so its destructor does not recurse
}

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs) {
    if (t && t->defined() && t->requires_grad()) return true;
  }
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

Tensor record(const char* name, std::vector<Tensor> inputs, Tensor out, BackwardFn fn) {
  if (!any_requires_grad(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(fn);
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::move(node);
  return out;
}

Tensor record_no_grad_primitive(const char* name, std::vector<Tensor> inputs, Tensor out) {
  std::string n = name;
  return record(name, std::move(inputs), std::move(out), [n](const Tensor&) -> std::vector<Tensor> {
    throw AutogradError(fmt::format("[{}] has no gradient", n));
  });
}

void run_backward(const Tensor& root, const Tensor& grad_output) {
  if (!root.defined() || !grad_output.defined()) throw AutogradError("[backward] undefined tensor");
  if (!root.requires_grad()) {
    throw AutogradError(
        "[backward] the tensor does not require grad and has no grad_fn: nothing to "
        "differentiate (did you call requires_grad_() on the parameters?)");
  }
  if (grad_output.shape() != root.shape()) {
    throw ShapeError(fmt::format("[backward] grad_output shape {} does not match output shape {}",
                                 shape_str(grad_output.shape()), shape_str(root.shape())));
  }
  NoGradGuard no_grad;
  Tensor g0 = grad_output.dtype() == root.dtype() ? grad_output : grad_output.to(root.dtype());
  if (root.is_leaf()) {
    Tensor prev = root.grad();
    root.set_grad(prev.defined() ? add(prev, g0) : g0.contiguous());
    return;
  }

  // Topological order by iterative DFS (post-order), so deep graphs do not overflow the stack.
  std::vector<Node*> order;
  std::unordered_set<Node*> visited;
  std::vector<std::pair<Node*, size_t>> stack;
  Node* rootn = root.grad_fn().get();
  if (!rootn->backward) {
    throw AutogradError("[backward] this graph was already freed by an earlier backward()");
  }
  stack.push_back({rootn, 0});
  visited.insert(rootn);
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->inputs.size()) {
      const Tensor& in = n->inputs[i++];
      if (in.defined() && in.grad_fn()) {
        Node* c = in.grad_fn().get();
        if (visited.insert(c).second) stack.push_back({c, 0});
      }
    } else {
      order.push_back(n);
      stack.pop_back();
    }
  }

  std::unordered_map<Node*, Tensor> grads;
  grads[rootn] = g0;
  for (size_t k = order.size(); k-- > 0;) {
    Node* n = order[k];
    auto it = grads.find(n);
    if (it == grads.end()) continue;
    Tensor g = std::move(it->second);
    grads.erase(it);
    if (!n->backward) {
      throw AutogradError(
          fmt::format("[backward] the graph through '{}' was already freed", n->name));
    }
    std::vector<Tensor> gin = n->backward(g);
    if (gin.size() != n->inputs.size()) {
      throw AutogradError(fmt::format("[{}] backward returned {} gradients for {} inputs", n->name,
                                      gin.size(), n->inputs.size()));
    }
    for (size_t i = 0; i < gin.size(); ++i) {
      const Tensor& in = n->inputs[i];
      if (!in.defined() || !in.requires_grad() || !gin[i].defined()) continue;
      Tensor gi = gin[i];
      if (gi.shape() != in.shape()) {
        throw AutogradError(fmt::format("[{}] gradient for input {} has shape {}, expected {}",
                                        n->name, i, shape_str(gi.shape()), shape_str(in.shape())));
      }
      if (gi.dtype() != in.dtype()) gi = gi.to(in.dtype());
      if (in.grad_fn()) {
        Tensor& acc = grads[in.grad_fn().get()];
        acc = acc.defined() ? add(acc, gi) : gi;
      } else {
        Tensor prev = in.grad();
        in.set_grad(prev.defined() ? add(prev, gi) : gi.contiguous());
      }
    }
  }
  // Free the graph: drop saved tensors and edges.
  for (Node* n : order) {
    n->backward = nullptr;
    n->inputs.clear();
  }
}

std::pair<Tensor, std::vector<Tensor>> value_and_grad(
    const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& params) {
  std::vector<Tensor> leaves;
  leaves.reserve(params.size());
  for (const Tensor& p : params) {
    Tensor l = p.detach();
    l.requires_grad_(true);
    leaves.push_back(l);
  }
  Tensor value;
  {
    bool prev = grad_enabled();
    set_grad_enabled(true);
    try {
      value = f(leaves);
    } catch (...) {
      set_grad_enabled(prev);
      throw;
    }
    set_grad_enabled(prev);
  }
  if (value.requires_grad()) value.backward();
  std::vector<Tensor> grads;
  for (const Tensor& l : leaves) grads.push_back(l.grad().defined() ? l.grad() : zeros_like(l));
  return {value.detach(), grads};
}

}  // namespace lazarus
