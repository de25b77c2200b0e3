// PyTorch parity driver: runs every primitive forward and backward in f32, bf16, f16 and f64 on
// inputs from the engine's seeded RNG, and writes inputs, upstream gradient, output and input
// gradients to <dir>/*.bin (raw little-endian, bf16/f16 as their bits, bool as bytes) with
// <dir>/manifest.json. tests/reference/torch_parity.py recomputes everything in torch.
//
// usage: torch_parity_main <output dir>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lazarus/core/error.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

using namespace lazarus;
using json = nlohmann::json;
using Inputs = std::vector<Tensor>;
using Fn = std::function<Tensor(const Inputs&)>;

namespace {

std::string g_dir;
int g_files = 0;

const char* short_name(DType d) {
  switch (d) {
    case DType::F32:
      return "f32";
    case DType::F64:
      return "f64";
    case DType::BF16:
      return "bf16";
    case DType::F16:
      return "f16";
    case DType::I32:
      return "i32";
    case DType::I64:
      return "i64";
    case DType::Bool:
      return "bool";
  }
  return "?";
}

json save(const Tensor& t) {
  Tensor c = t.contiguous();
  std::string file = std::to_string(g_files++) + ".bin";
  std::ofstream f(g_dir + "/" + file, std::ios::binary);
  f.write(static_cast<const char*>(c.raw_data()), std::streamsize(c.nbytes()));
  return json{{"file", file}, {"shape", c.shape()}, {"dtype", short_name(c.dtype())}};
}

// One input: how to draw it. Floating inputs are drawn in f32 and cast to the case dtype.
struct In {
  Shape shape;
  enum Kind { Normal, Positive, IntValued, Index, BoolMask, F32Table, DropoutKeep } kind = Normal;
  int64_t high = 0;  // Index: ids in [0, high)
  bool grad = true;
  double p = 0;       // DropoutKeep: the dropout probability
  uint64_t seed = 0;  // DropoutKeep: the generator's seed
};
In N(Shape s) { return {std::move(s), In::Normal, 0, true}; }
In P(Shape s) { return {std::move(s), In::Positive, 0, true}; }
In IV(Shape s) { return {std::move(s), In::IntValued, 0, false}; }
In Ix(Shape s, int64_t high) { return {std::move(s), In::Index, high, false}; }
In B(Shape s) { return {std::move(s), In::BoolMask, 0, false}; }
In K(Shape s) { return {std::move(s), In::Normal, 0, false}; }  // floating, no grad

struct Case {
  std::string name;  // unique; the python side dispatches on `op`
  std::string op;
  json params;
  std::vector<In> inputs;
  Fn fn;
};

Tensor draw(const In& in, DType dt, Generator& g) {
  switch (in.kind) {
    case In::Normal:
      return randn(in.shape, DType::F32, 0, 1, &g).to(dt);
    case In::Positive:
      return rand(in.shape, DType::F32, 0.3, 2.5, &g).to(dt);
    case In::IntValued: {
      Tensor r = randint(-2, 3, in.shape, &g);
      return r.to(dt);
    }
    case In::Index:
      return randint(0, in.high, in.shape, &g);
    case In::BoolMask:
      return gt(rand(in.shape, DType::F32, 0, 1, &g), full({}, 0.3));
    case In::F32Table:
      return randn(in.shape, DType::F32, 0, 1, &g);
    case In::DropoutKeep: {
      // The test hook: the mask the attention op draws from a fresh Generator(seed). The op runs
      // on its own Generator(seed) and never sees this tensor; torch applies it.
      Generator own(in.seed);
      return attention_dropout_keep(in.shape, in.p, &own);
    }
  }
  return Tensor();
}

std::vector<Case> build_cases() {
  std::vector<Case> cs;
  auto add_case = [&](std::string name, std::string op, json params, std::vector<In> ins, Fn fn) {
    cs.push_back(
        {std::move(name), std::move(op), std::move(params), std::move(ins), std::move(fn)});
  };
  Shape s{3, 33};
  // ---- unary ----
  struct U {
    const char* n;
    Tensor (*f)(const Tensor&);
    bool pos;
  };
  U us[] = {{"neg", neg, false},           {"abs", abs, false},
            {"exp", exp, false},           {"log", log, true},
            {"sqrt", sqrt, true},          {"rsqrt", rsqrt, true},
            {"sin", sin, false},           {"cos", cos, false},
            {"tanh", tanh, false},         {"sigmoid", sigmoid, false},
            {"relu", relu, false},         {"silu", silu, false},
            {"softplus", softplus, false}, {"square", square, false}};
  for (auto& u : us)
    add_case(u.n, u.n, {}, {u.pos ? P(s) : N(s)}, [f = u.f](const Inputs& x) { return f(x[0]); });
  add_case("gelu", "gelu", {}, {N(s)}, [](const Inputs& x) { return gelu(x[0], false); });
  add_case("gelu_tanh", "gelu_tanh", {}, {N(s)}, [](const Inputs& x) { return gelu(x[0], true); });
  // ---- binary, broadcasting ----
  struct Bn {
    const char* n;
    Tensor (*f)(const Tensor&, const Tensor&);
  };
  Bn bs[] = {{"add", add}, {"sub", sub},         {"mul", mul},
             {"div", div}, {"maximum", maximum}, {"minimum", minimum}};
  for (auto& b : bs) {
    add_case(b.n, b.n, {}, {N({3, 1, 33}), N({4, 1})},
             [f = b.f](const Inputs& x) { return f(x[0], x[1]); });
  }
  add_case("div_pos", "div", {}, {N({4, 33}), P({33})},
           [](const Inputs& x) { return div(x[0], x[1]); });
  add_case("pow", "pow", {}, {P({3, 1, 5}), N({4, 1})},
           [](const Inputs& x) { return pow(x[0], x[1]); });
  add_case("pow_scalar", "pow_scalar", {{"e", 2.5}}, {P(s)},
           [](const Inputs& x) { return pow(x[0], 2.5); });
  add_case("add_scalar", "add_scalar", {{"s", 1.5}}, {N(s)},
           [](const Inputs& x) { return x[0] + 1.5; });
  add_case("mul_scalar", "mul_scalar", {{"s", -3.0}}, {N(s)},
           [](const Inputs& x) { return x[0] * -3.0; });
  add_case("rsub_scalar", "rsub_scalar", {{"s", 2.5}}, {N(s)},
           [](const Inputs& x) { return 2.5 - x[0]; });
  add_case("div_scalar", "div_scalar", {{"s", 7.0}}, {N(s)},
           [](const Inputs& x) { return x[0] / 7.0; });
  for (const char* c : {"eq", "ne", "lt", "le", "gt", "ge"}) {
    static const std::map<std::string, Tensor (*)(const Tensor&, const Tensor&)> m = {
        {"eq", eq}, {"ne", ne}, {"lt", lt}, {"le", le}, {"gt", gt}, {"ge", ge}};
    add_case(c, c, {}, {IV({3, 33}), IV({33})},
             [f = m.at(c)](const Inputs& x) { return f(x[0], x[1]); });
  }
  add_case("logical_and", "logical_and", {}, {B({3, 33}), B({33})},
           [](const Inputs& x) { return logical_and(x[0], x[1]); });
  add_case("logical_or", "logical_or", {}, {B({3, 33}), B({33})},
           [](const Inputs& x) { return logical_or(x[0], x[1]); });
  add_case("logical_not", "logical_not", {}, {B({3, 33})},
           [](const Inputs& x) { return logical_not(x[0]); });
  add_case("where", "where", {}, {B({3, 33}), N({3, 33}), N({33})},
           [](const Inputs& x) { return where(x[0], x[1], x[2]); });
  add_case("masked_fill", "masked_fill", {{"v", -2.5}}, {N({3, 33}), B({33})},
           [](const Inputs& x) { return masked_fill(x[0], x[1], -2.5); });
  add_case("tril", "tril", {{"k", -1}}, {N({2, 9, 11})},
           [](const Inputs& x) { return tril(x[0], -1); });
  add_case("triu", "triu", {{"k", 2}}, {N({2, 9, 11})},
           [](const Inputs& x) { return triu(x[0], 2); });
  // ---- reductions ----
  Shape r{4, 9, 33};
  add_case("sum_d1", "sum", {{"dims", {1}}, {"keepdim", false}}, {N(r)},
           [](const Inputs& x) { return sum(x[0], {1}); });
  add_case("sum_all", "sum", {{"dims", json::array()}, {"keepdim", false}}, {N(r)},
           [](const Inputs& x) { return sum(x[0]); });
  add_case("mean_d02k", "mean", {{"dims", {0, 2}}, {"keepdim", true}}, {N(r)}, [](const Inputs& x) {
    return mean(x[0], {0, 2}, true);
  });
  add_case("amax_dm1", "amax", {{"dims", {-1}}, {"keepdim", false}}, {N(r)},
           [](const Inputs& x) { return amax(x[0], {-1}); });
  add_case("amin_d0k", "amin", {{"dims", {0}}, {"keepdim", true}}, {N(r)},
           [](const Inputs& x) { return amin(x[0], {0}, true); });
  add_case("amax_ties", "amax", {{"dims", {1}}, {"keepdim", false}},
           {In{{5, 33}, In::IntValued, 0, true}}, [](const Inputs& x) { return amax(x[0], {1}); });
  add_case("argmax", "argmax", {{"dim", 1}, {"keepdim", false}}, {N(r)},
           [](const Inputs& x) { return argmax(x[0], 1); });
  add_case("argmin", "argmin", {{"dim", -1}, {"keepdim", true}}, {N(r)},
           [](const Inputs& x) { return argmin(x[0], -1, true); });
  add_case("var_d1", "var", {{"dims", {1}}, {"correction", 1}, {"keepdim", false}}, {N(r)},
           [](const Inputs& x) { return var(x[0], {1}); });
  add_case("var_all_c0", "var", {{"dims", json::array()}, {"correction", 0}, {"keepdim", false}},
           {N(r)}, [](const Inputs& x) { return var(x[0], {}, 0); });
  add_case("logsumexp", "logsumexp", {{"dims", {-1}}, {"keepdim", false}}, {N(r)},
           [](const Inputs& x) { return logsumexp(x[0], {-1}); });
  add_case("logsumexp_d01k", "logsumexp", {{"dims", {0, 1}}, {"keepdim", true}}, {N(r)},
           [](const Inputs& x) {
             return logsumexp(x[0], {0, 1}, true);
           });
  add_case("cumsum", "cumsum", {{"dim", 1}}, {N(r)},
           [](const Inputs& x) { return cumsum(x[0], 1); });
  add_case("softmax", "softmax", {{"dim", -1}}, {N(r)},
           [](const Inputs& x) { return softmax(x[0], -1); });
  add_case("softmax_d0", "softmax", {{"dim", 0}}, {N(r)},
           [](const Inputs& x) { return softmax(x[0], 0); });
  add_case("log_softmax", "log_softmax", {{"dim", 1}}, {N(r)},
           [](const Inputs& x) { return log_softmax(x[0], 1); });
  add_case("sum_empty", "sum", {{"dims", {0}}, {"keepdim", false}}, {N({0, 5})},
           [](const Inputs& x) { return sum(x[0], {0}); });
  add_case("softmax_len1", "softmax", {{"dim", -1}}, {N({3, 1})},
           [](const Inputs& x) { return softmax(x[0], -1); });
  // ---- linear algebra ----
  add_case("matmul_2d", "matmul", {}, {N({31, 33}), N({33, 17})},
           [](const Inputs& x) { return matmul(x[0], x[1]); });
  add_case("matmul_bcast", "matmul", {}, {N({2, 1, 4, 32}), N({3, 32, 5})},
           [](const Inputs& x) { return matmul(x[0], x[1]); });
  add_case("matmul_1d2d", "matmul", {}, {N({33}), N({33, 7})},
           [](const Inputs& x) { return matmul(x[0], x[1]); });
  add_case("matmul_2d1d", "matmul", {}, {N({7, 33}), N({33})},
           [](const Inputs& x) { return matmul(x[0], x[1]); });
  add_case("matmul_tt", "matmul_tt", {}, {N({33, 9}), N({5, 33})},
           [](const Inputs& x) { return matmul(x[0].t(), x[1].t()); });
  add_case("matmul_k0", "matmul", {}, {N({3, 0}), N({0, 4})},
           [](const Inputs& x) { return matmul(x[0], x[1]); });
  add_case("linear", "linear", {}, {N({2, 3, 33}), N({17, 33}), N({17})},
           [](const Inputs& x) { return linear(x[0], x[1], x[2]); });
  add_case("linear_nobias", "linear", {}, {N({5, 33}), N({17, 33})},
           [](const Inputs& x) { return linear(x[0], x[1]); });
  // Decode shapes (a few rows): dot products over the weight's rows, split across threads when
  // large enough (1000 x 300), with row blocks and a tail (1001 rows, 3 rows).
  add_case("linear_decode", "linear", {}, {N({1, 1, 300}), N({1001, 300}), N({1001})},
           [](const Inputs& x) { return linear(x[0], x[1], x[2]); });
  add_case("linear_decode_rows3", "linear", {}, {N({3, 33}), N({70, 33})},
           [](const Inputs& x) { return linear(x[0], x[1]); });
  // ---- indexing ----
  add_case("embedding", "embedding", {}, {N({11, 8}), Ix({3, 17}, 11)},
           [](const Inputs& x) { return embedding(x[0], x[1]); });
  add_case("index_select", "index_select", {{"dim", 1}}, {N({3, 9, 5}), Ix({12}, 9)},
           [](const Inputs& x) { return index_select(x[0], 1, x[1]); });
  add_case("gather", "gather", {{"dim", 1}}, {N({3, 9, 5}), Ix({3, 12, 5}, 9)},
           [](const Inputs& x) { return gather(x[0], 1, x[1]); });
  add_case("scatter_add", "scatter_add", {{"dim", 0}}, {N({6, 5}), Ix({9, 5}, 6), N({9, 5})},
           [](const Inputs& x) { return scatter_add(x[0], 0, x[1], x[2]); });
  // ---- joining / views / casts ----
  add_case("cat", "cat", {{"dim", 1}}, {N({3, 4, 5}), N({3, 1, 5}), N({3, 7, 5})},
           [](const Inputs& x) {
             return cat({x[0], x[1], x[2]}, 1);
           });
  add_case("stack", "stack", {{"dim", 1}}, {N({3, 5}), N({3, 5})}, [](const Inputs& x) {
    return stack({x[0], x[1]}, 1);
  });
  add_case("split", "split", {}, {N({4, 10})}, [](const Inputs& x) {
    auto p = split(x[0], std::vector<int64_t>{3, 5, 2}, 1);
    return cat({p[2] * 2.0, exp(p[0]), p[1]}, 1);
  });
  add_case("chunk", "chunk", {}, {N({4, 9})}, [](const Inputs& x) {
    auto p = chunk(x[0], 3, 1);
    return p[0] * p[2] + p[1];
  });
  add_case("views", "views", {}, {N({4, 6, 5})}, [](const Inputs& x) {
    return x[0].permute({2, 0, 1})
               .slice(2, 1, 6, 2)
               .narrow(0, 1, 3)
               .select(1, 2)
               .unsqueeze(0)
               .expand({2, 3, 3})
               .reshape({6, 3}) *
           1.0;
  });
  add_case("to_f32", "to_f32", {}, {N(s)}, [](const Inputs& x) { return x[0].to(DType::F32); });
  add_case("to_bf16", "to_bf16", {}, {N(s)}, [](const Inputs& x) { return x[0].to(DType::BF16); });
  add_case("to_f16", "to_f16", {}, {N(s)}, [](const Inputs& x) { return x[0].to(DType::F16); });
  // ---- fused ----
  add_case("rms_norm", "rms_norm", {{"eps", 1e-6}}, {N({2, 5, 64}), N({64})},
           [](const Inputs& x) { return rms_norm(x[0], x[1], 1e-6); });
  add_case("layer_norm", "layer_norm", {{"eps", 1e-5}}, {N({2, 5, 64}), N({64}), N({64})},
           [](const Inputs& x) { return layer_norm(x[0], x[1], x[2], 1e-5); });
  for (bool inter : {false, true}) {
    std::string n = inter ? "rope_interleaved" : "rope_halves";
    add_case(n, "rope", {{"offset", 5}, {"interleaved", inter}},
             {N({2, 3, 7, 16}), In{{20, 8}, In::F32Table, 0, false},
              In{{20, 8}, In::F32Table, 0, false}},
             [inter](const Inputs& x) { return rope(x[0], x[1], x[2], 5, inter); });
  }
  // Selective scan: delta and -A drawn positive (softplus output, exp(A_log)) as in a model.
  add_case("selective_scan", "selective_scan", {},
           {N({2, 7, 5}), P({2, 7, 5}), P({5, 4}), N({2, 7, 4}), N({2, 7, 4}), N({2, 5, 4})},
           [](const Inputs& x) { return selective_scan(x[0], x[1], -x[2], x[3], x[4], x[5]).y; });
  // Both run the fused kernels (grad = true: the forward that keeps the log-sum-exp and the
  // block-wise backward); the attn_grad_* cases cross the 64-query and 128-key block edges.
  struct A {
    const char* n;
    int64_t H, Hkv, Tq, Tk;
    bool causal;
    int64_t window;
    int64_t qoff;
    int mask;
    bool grad;
  };
  A as[] = {{"attn_causal_gqa", 4, 2, 9, 9, true, 0, -1, 0, true},
            {"attn_additive_mask", 2, 2, 7, 11, false, 0, -1, 1, true},
            {"attn_bool_mask", 2, 1, 7, 11, false, 0, -1, 2, true},
            {"attn_window", 2, 2, 12, 12, true, 4, -1, 0, true},
            {"attn_kv_cache", 4, 1, 3, 13, true, 0, 6, 0, true},
            {"attn_fused_gqa", 4, 2, 37, 300, true, 0, -1, 0, false},
            {"attn_fused_window", 2, 1, 5, 700, true, 64, -1, 0, false},
            {"attn_fused_mask", 2, 2, 33, 129, false, 0, -1, 1, false},
            {"attn_fused_bool", 2, 2, 16, 80, true, 0, 50, 2, false},
            {"attn_grad_blocks_gqa", 4, 2, 70, 200, true, 0, -1, 0, true},
            {"attn_grad_window_mask", 2, 1, 130, 130, true, 40, -1, 1, true},
            {"attn_grad_bool_cache", 2, 2, 20, 150, true, 0, 130, 2, true}};
  for (auto& a : as) {
    auto qkv = [&](Shape sh) { return a.grad ? N(std::move(sh)) : K(std::move(sh)); };
    std::vector<In> ins{qkv({2, a.H, a.Tq, 16}), qkv({2, a.Hkv, a.Tk, 16}),
                        qkv({2, a.Hkv, a.Tk, 16})};
    if (a.mask == 1) ins.push_back(K({a.Tq, a.Tk}));
    if (a.mask == 2) ins.push_back(B({2, 1, a.Tq, a.Tk}));
    AttentionOptions o;
    o.causal = a.causal;
    o.window = a.window;
    if (a.qoff >= 0) o.query_offset = a.qoff;
    add_case(a.n, "attention",
             {{"causal", a.causal},
              {"window", a.window},
              {"query_offset", a.qoff >= 0 ? a.qoff : a.Tk - a.Tq}},
             ins, [o](const Inputs& x) {
               return scaled_dot_product_attention(x[0], x[1], x[2], x.size() > 3 ? x[3] : Tensor(),
                                                   o);
             });
  }
  // Attention dropout: torch gets the keep mask as an input (dumped by the hook above) and applies
  // it as F.dropout does; the engine draws its own from the same seed.
  struct AD {
    const char* n;
    int64_t H, Hkv, Tq, Tk;
    bool causal;
    int64_t window;
    int64_t qoff;
    bool mask;
    double p;
  };
  AD ads[] = {{"attn_drop_causal_gqa", 4, 2, 9, 9, true, 0, -1, false, 0.3},
              {"attn_drop_window_gqa", 4, 1, 12, 12, true, 4, -1, false, 0.5},
              {"attn_drop_mask_cache", 2, 2, 3, 13, true, 0, 10, true, 0.2},
              {"attn_drop_all", 2, 2, 5, 5, false, 0, -1, false, 1.0}};
  for (auto& a : ads) {
    uint64_t seed = 4242 + uint64_t(a.Tk);
    std::vector<In> ins{N({2, a.H, a.Tq, 16}), N({2, a.Hkv, a.Tk, 16}), N({2, a.Hkv, a.Tk, 16})};
    if (a.mask) ins.push_back(K({a.Tq, a.Tk}));
    ins.push_back(In{{2, a.H, a.Tq, a.Tk}, In::DropoutKeep, 0, false, a.p, seed});
    AttentionOptions o;
    o.causal = a.causal;
    o.window = a.window;
    if (a.qoff >= 0) o.query_offset = a.qoff;
    o.dropout = a.p;
    bool has_mask = a.mask;
    add_case(a.n, "attention",
             {{"causal", a.causal},
              {"window", a.window},
              {"query_offset", a.qoff >= 0 ? a.qoff : a.Tk - a.Tq},
              {"dropout", a.p}},
             ins, [o, seed, has_mask](const Inputs& x) {
               Generator g(seed);
               AttentionOptions drawn = o;
               drawn.generator = &g;
               return scaled_dot_product_attention(x[0], x[1], x[2], has_mask ? x[3] : Tensor(),
                                                   drawn);
             });
  }
  return cs;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: torch_parity_main <output dir>\n";
    return 2;
  }
  g_dir = argv[1];
  json manifest = json::array();
  auto cases = build_cases();
  int failures = 0;
  for (DType dt : {DType::F32, DType::BF16, DType::F16, DType::F64}) {
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      const Case& c = cases[ci];
      json entry{{"name", c.name}, {"op", c.op}, {"dtype", short_name(dt)}, {"params", c.params}};
      try {
        Generator g(1000 + ci);
        Inputs xs;
        for (const auto& in : c.inputs) {
          Tensor t = draw(in, dt, g);
          if (in.grad) t.requires_grad_();
          xs.push_back(t);
        }
        Tensor out = c.fn(xs);
        json jin = json::array();
        for (size_t i = 0; i < xs.size(); ++i) jin.push_back(save(xs[i]));
        entry["inputs"] = jin;
        entry["output"] = save(out);
        if (out.requires_grad()) {
          Tensor w = randn(out.shape(), DType::F32, 0, 1, &g).to(out.dtype());
          entry["upstream"] = save(w);
          out.backward(w);
          for (size_t i = 0; i < xs.size(); ++i) {
            if (c.inputs[i].grad) {
              Tensor gi = xs[i].grad();
              entry["inputs"][i]["grad"] = gi.defined() ? save(gi) : json(nullptr);
            }
          }
        }
      } catch (const std::exception& e) {
        // Recorded so the python side reports it as a failure with the message.
        entry["error"] = e.what();
        ++failures;
        std::cerr << c.name << " " << short_name(dt) << ": " << e.what() << "\n";
      }
      manifest.push_back(entry);
    }
  }
  std::ofstream(g_dir + "/manifest.json") << manifest.dump(1);
  std::cout << "wrote " << manifest.size() << " cases to " << g_dir << " (" << failures
            << " engine errors)\n";
  return 0;  // engine errors are reported (and failed) by torch_parity.py
}
