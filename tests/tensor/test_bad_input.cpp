// Bad input never crashes: each case throws the right lazarus::Error subclass with a message that
// names the op. Run under -DLAZARUS_SANITIZE=ON to prove no out-of-bounds access on the way.
#include <limits>

#include "lazarus/tensor/ops_reference.h"
#include "test_helpers.h"

using namespace etest;

namespace {
Tensor f(Shape s) { return rand_t(s, 1); }
Tensor ids(const std::vector<int64_t>& v, Shape s) {
  return from_vector<int64_t>(v, s, DType::I64);
}
constexpr int64_t kBig = int64_t(1) << 40;
}  // namespace

#define EXPECT_THROWS(E, stmt, needle) \
  EXPECT_TRUE(throws_with<E>([&] { (void)(stmt); }, needle)) << #stmt

TEST(BadInput, MismatchedShapes) {
  EXPECT_THROWS(ShapeError, add(f({2, 3}), f({4, 3})), "[add]");
  EXPECT_THROWS(ShapeError, mul(f({2, 3}), f({3, 2})), "[mul]");
  EXPECT_THROWS(ShapeError, maximum(f({5}), f({4})), "[maximum]");
  EXPECT_THROWS(ShapeError, lt(f({5}), f({4})), "[lt]");
  EXPECT_THROWS(ShapeError, where(gt(f({3}), zeros({})), f({4}), f({3})), "[where]");
  EXPECT_THROWS(ShapeError, masked_fill(f({3}), gt(f({2, 4}), zeros({})), 0.0), "[masked_fill]");
  EXPECT_THROWS(ShapeError, matmul(f({2, 3}), f({4, 5})), "[matmul]");
  EXPECT_THROWS(ShapeError, matmul(f({3}), f({4})), "[matmul]");
  EXPECT_THROWS(ShapeError, matmul(f({2, 2, 3}), f({3, 3, 4})), "[matmul]");
  EXPECT_THROWS(ShapeError, matmul(scalar_tensor(1), f({3})), "[matmul]");
  EXPECT_THROWS(ShapeError, linear(f({2, 4}), f({5, 3})), "[linear]");
  EXPECT_THROWS(ShapeError, linear(f({2, 3}), f({5, 3}), f({4})), "[linear]");
  EXPECT_THROWS(ShapeError, cat({f({2, 3}), f({3, 3})}, 1), "[cat]");
  EXPECT_THROWS(ShapeError, cat({f({2, 3}), f({2, 3, 1})}, 0), "[cat]");
  EXPECT_THROWS(ShapeError, cat({}, 0), "[cat]");
  EXPECT_THROWS(ShapeError, stack({f({2, 3}), f({3, 2})}, 0), "[stack]");
  EXPECT_THROWS(ShapeError, split(f({5}), std::vector<int64_t>{2, 2}, 0), "[split]");
  EXPECT_THROWS(ShapeError, split(f({5}), 0, 0), "[split]");
  EXPECT_THROWS(ShapeError, chunk(f({5}), 0, 0), "[chunk]");
  EXPECT_THROWS(ShapeError, rms_norm(f({2, 8}), f({7}), 1e-6), "[rms_norm]");
  EXPECT_THROWS(ShapeError, layer_norm(f({2, 8}), f({8}), f({2, 8}), 1e-6), "[layer_norm]");
  EXPECT_THROWS(ShapeError, tril(f({4}), 0), "[tril]");
  EXPECT_THROWS(ShapeError, gather(f({2, 3}), 1, ids({0}, {1})), "[gather]");
  EXPECT_THROWS(ShapeError, scatter_add(f({2, 3}), 1, ids({0, 1}, {1, 2}), f({2, 2})),
                "[scatter_add]");
  EXPECT_THROWS(ShapeError, index_select(f({2, 3}), 0, ids({0, 1}, {1, 2})), "[index_select]");
  EXPECT_THROWS(ShapeError, embedding(f({2, 3, 4}), ids({0}, {1})), "[embedding]");
  EXPECT_THROWS(ShapeError, f({2, 3}).expand({3, 3}), "[expand]");
  EXPECT_THROWS(ShapeError, f({2, 3}).expand({3}), "[expand]");
  EXPECT_THROWS(ShapeError, broadcast_shapes({2}, {3}, "myop"), "[myop]");
  Tensor x = f({2});
  x.requires_grad_();
  EXPECT_THROWS(ShapeError, (x * 1.0).backward(f({3})), "[backward]");
}

TEST(BadInput, WrongDtypes) {
  Tensor i = zeros({3}, DType::I64), b = zeros({3}, DType::Bool);
  EXPECT_THROWS(DTypeError, matmul(f({2, 3}), zeros({3, 2}, DType::I64)), "[matmul]");
  EXPECT_THROWS(DTypeError, matmul(f({2, 3}), zeros({3, 2}, DType::F64)), "[matmul]");
  EXPECT_THROWS(DTypeError, where(i, f({3}), f({3})), "[where]");
  EXPECT_THROWS(DTypeError, masked_fill(f({3}), i, 0.0), "[masked_fill]");
  EXPECT_THROWS(DTypeError, embedding(f({4, 2}), f({3})), "[embedding]");
  EXPECT_THROWS(DTypeError, gather(f({2, 3}), 1, f({2, 3})), "[gather]");
  EXPECT_THROWS(DTypeError, index_select(f({2, 3}), 0, f({2})), "[index_select]");
  EXPECT_THROWS(
      DTypeError,
      scatter_add(f({2, 3}), 1, ids({0, 1, 2, 0, 1, 2}, {2, 3}), zeros({2, 3}, DType::F64)),
      "[scatter_add]");
  EXPECT_THROWS(DTypeError, rms_norm(i, Tensor(), 1e-6), "[rms_norm]");
  EXPECT_THROWS(DTypeError, layer_norm(i, Tensor(), Tensor(), 1e-6), "[layer_norm]");
  EXPECT_THROWS(DTypeError, softmax(i, 0), "[softmax]");
  EXPECT_THROWS(DTypeError, log_softmax(b, 0), "[log_softmax]");
  EXPECT_THROWS(DTypeError, mean(i), "[mean]");
  EXPECT_THROWS(DTypeError, var(i), "[var]");
  EXPECT_THROWS(DTypeError, logsumexp(i, {0}), "[logsumexp]");
  EXPECT_THROWS(DTypeError, rope(zeros({1, 1, 2, 4}, DType::I32), f({4, 2}), f({4, 2}), 0, false),
                "[rope]");
  EXPECT_THROWS(DTypeError,
                scaled_dot_product_attention(f({1, 1, 2, 4}), f({1, 1, 2, 4}).to(DType::BF16),
                                             f({1, 1, 2, 4})),
                "[attention]");
  EXPECT_THROWS(
      DTypeError,
      scaled_dot_product_attention(zeros({1, 1, 2, 4}, DType::I64), zeros({1, 1, 2, 4}, DType::I64),
                                   zeros({1, 1, 2, 4}, DType::I64)),
      "[attention]");
  EXPECT_THROWS(DTypeError, rand({3}, DType::I64), "[rand]");
  EXPECT_THROWS(DTypeError, randn({3}, DType::Bool), "[randn]");
  EXPECT_THROWS(DTypeError, zeros({3}, DType::I32).requires_grad_(), "[requires_grad_]");
  EXPECT_THROWS(DTypeError, dtype_from_string("float8"), "float8");
}

TEST(BadInput, OutOfRangeIndices) {
  Tensor w = f({5, 3});
  EXPECT_THROWS(IndexError, embedding(w, ids({0, 5}, {2})), "[embedding]");
  EXPECT_THROWS(IndexError, embedding(w, ids({-1}, {1})), "[embedding]");
  EXPECT_THROWS(IndexError, embedding(w, from_vector<int32_t>({7}, {1}, DType::I32)),
                "[embedding]");
  EXPECT_THROWS(IndexError, embedding(w, ids({std::numeric_limits<int64_t>::max()}, {1})),
                "[embedding]");
  EXPECT_THROWS(IndexError, index_select(w, 1, ids({3}, {1})), "[index_select]");
  EXPECT_THROWS(IndexError, gather(w, 1, ids({0, 3}, {1, 2})), "[gather]");
  EXPECT_THROWS(IndexError, gather(w, 0, ids({-6}, {1, 1})), "[gather]");
  EXPECT_THROWS(IndexError, scatter_add(w, 0, ids({5}, {1, 1}), f({1, 1})), "[scatter_add]");
  EXPECT_THROWS(IndexError, w.select(0, 5), "[select]");
  EXPECT_THROWS(IndexError, w.select(1, -4), "[select]");
  EXPECT_THROWS(IndexError, w.narrow(0, 3, 3), "[narrow]");
  EXPECT_THROWS(IndexError, w.narrow(0, -1, 2), "[narrow]");
  // With gradients on (backward scatter-add must never see the bad ids either).
  Tensor wg = f({5, 3});
  wg.requires_grad_();
  EXPECT_THROWS(IndexError, embedding(wg, ids({9}, {1})), "[embedding]");
}

TEST(BadInput, NegativeAndOverflowingSizes) {
  EXPECT_THROWS(IndexError, zeros({-1}), "negative");
  EXPECT_THROWS(IndexError, empty({2, -3}), "negative");
  EXPECT_THROWS(IndexError, ones({kBig, kBig}), "overflow");
  EXPECT_THROWS(IndexError, zeros({kBig, kBig}, DType::F64), "overflow");
  EXPECT_THROWS(IndexError, full({int64_t(1) << 62, 8}, 1.0), "");
  EXPECT_THROWS(IndexError, empty({kBig, 1024}), "");  // fits int64 but past the allocation limit
  EXPECT_THROWS(IndexError, rand({kBig, kBig}), "");
  EXPECT_THROWS(IndexError, randn({-2}), "");
  EXPECT_THROWS(IndexError, randint(5, 5, {3}), "[randint]");
  EXPECT_THROWS(IndexError, arange(0.0, 1.0, 0.0, DType::F32), "[arange]");
  EXPECT_THROWS(IndexError, arange(0.0, 1e300, 1.0, DType::F64), "[arange]");
  EXPECT_THROWS(IndexError, checked_numel(Shape{kBig, kBig, kBig}, "myop"), "[myop]");
  EXPECT_THROWS(ShapeError, from_vector(std::vector<float>{1, 2, 3}, {2, 2}), "[from_vector]");
  EXPECT_THROWS(ShapeError, f({2, 3}).reshape({-2, 3}), "[reshape]");
  EXPECT_THROWS(ShapeError, f({2, 3}).expand({2, -5}), "[expand]");
  EXPECT_THROWS(ShapeError, f({2, 3}).reshape({kBig, kBig}), "[reshape]");
  EXPECT_THROWS(ShapeError, split(f({5}), std::vector<int64_t>{6, -1}, 0), "[split]");
  EXPECT_THROWS(ShapeError, rope_tables(8, -1, 10000), "[rope_tables]");
  EXPECT_THROWS(IndexError, rope_tables(8, int64_t(1) << 62, 10000), "[rope_tables]");
  std::vector<float> buf(4);
  EXPECT_THROWS(ShapeError, from_blob(buf.data(), 16, {2, 3}, DType::F32, nullptr), "[from_blob]");
  EXPECT_THROWS(IndexError, from_blob(buf.data(), 16, {kBig, kBig}, DType::F32, nullptr),
                "[from_blob]");
}

TEST(BadInput, BadDims) {
  Tensor x = f({2, 3});
  EXPECT_THROWS(ShapeError, sum(x, {2}), "[sum]");
  EXPECT_THROWS(ShapeError, sum(x, {-3}), "[sum]");
  EXPECT_THROWS(ShapeError, sum(x, {0, 0}), "[sum]");
  EXPECT_THROWS(ShapeError, mean(x, {5}), "[mean]");
  EXPECT_THROWS(ShapeError, amax(x, {2}), "[amax]");
  EXPECT_THROWS(ShapeError, argmax(x, 2), "[argmax]");
  EXPECT_THROWS(ShapeError, argmin(x, -3), "[argmin]");
  EXPECT_THROWS(ShapeError, var(x, {9}), "[var]");
  EXPECT_THROWS(ShapeError, logsumexp(x, {2}), "[logsumexp]");
  EXPECT_THROWS(ShapeError, cumsum(x, 2), "[cumsum]");
  EXPECT_THROWS(ShapeError, softmax(x, 2), "[softmax]");
  EXPECT_THROWS(ShapeError, log_softmax(x, -3), "[log_softmax]");
  EXPECT_THROWS(ShapeError, cat({x, x}, 2), "[cat]");
  EXPECT_THROWS(ShapeError, stack({x, x}, 4), "[stack]");
  EXPECT_THROWS(ShapeError, split(x, 1, 2), "[split]");
  EXPECT_THROWS(ShapeError, index_select(x, 2, ids({0}, {1})), "[index_select]");
  EXPECT_THROWS(ShapeError, gather(x, 2, ids({0, 0}, {1, 2})), "[gather]");
  EXPECT_THROWS(ShapeError, x.permute({0, 0}), "[permute]");
  EXPECT_THROWS(ShapeError, x.permute({0}), "[permute]");
  EXPECT_THROWS(ShapeError, x.permute({0, 2}), "[permute]");
  EXPECT_THROWS(ShapeError, x.transpose(0, 2), "[transpose]");
  EXPECT_THROWS(ShapeError, x.slice(2, 0, 1), "[slice]");
  EXPECT_THROWS(ShapeError, x.slice(0, 0, 1, 0), "[slice]");
  EXPECT_THROWS(ShapeError, x.slice(0, 0, 1, -1), "[slice]");
  EXPECT_THROWS(ShapeError, x.squeeze(2), "[squeeze]");
  EXPECT_THROWS(ShapeError, x.unsqueeze(4), "[unsqueeze]");
  EXPECT_THROWS(ShapeError, x.flatten(1, 0), "[flatten]");
  EXPECT_THROWS(ShapeError, x.flatten(0, 3), "[flatten]");
  EXPECT_THROWS(ShapeError, x.narrow(2, 0, 1), "[narrow]");
  EXPECT_THROWS(ShapeError, x.select(3, 0), "[select]");
  EXPECT_THROWS(ShapeError, x.size(2), "");
  EXPECT_THROWS(ShapeError, x.reshape({4}), "[reshape]");
  EXPECT_THROWS(ShapeError, x.reshape({-1, 4}), "[reshape]");
  EXPECT_THROWS(ShapeError, x.reshape({-1, -1}), "[reshape]");
  EXPECT_THROWS(ShapeError, x.view({7}), "[view]");
  EXPECT_THROWS(ShapeError, x.item(), "[item]");
  EXPECT_THROWS(ShapeError, argmax(zeros({0, 3}), 0), "[argmax]");
  EXPECT_THROWS(ShapeError, amax(zeros({0, 3}), {0}), "[amax]");
}

TEST(BadInput, RopeAndAttention) {
  auto [c, s] = rope_tables(8, 16, 10000);
  Tensor x = f({1, 2, 4, 8});
  EXPECT_THROWS(IndexError, rope(x, c, s, 13, false), "[rope]");  // positions 13..16 > 16
  EXPECT_THROWS(IndexError, rope(x, c, s, -1, true), "[rope]");
  EXPECT_THROWS(IndexError, rope(f({1, 1, 17, 8}), c, s, 0, false), "[rope]");
  EXPECT_THROWS(ShapeError, rope(f({1, 2, 4, 6}), c, s, 0, false),
                "[rope]");  // Dh/2 != table width
  EXPECT_THROWS(ShapeError, rope(f({1, 2, 4, 7}), c, s, 0, false), "[rope]");  // odd head dim
  EXPECT_THROWS(ShapeError, rope(x, c, f({16, 3}), 0, false), "[rope]");
  EXPECT_THROWS(ShapeError, rope(f({8}), c, s, 0, false), "[rope]");
  EXPECT_THROWS(ShapeError, rope_tables(7, 16, 10000), "[rope_tables]");
  EXPECT_THROWS(ShapeError, rope_tables(8, 16, -1), "[rope_tables]");

  Tensor q = f({1, 6, 3, 8}), k = f({1, 4, 3, 8}), v = f({1, 4, 3, 8});
  EXPECT_THROWS(ShapeError, scaled_dot_product_attention(q, k, v), "[attention]");  // 6 % 4
  EXPECT_THROWS(ShapeError, scaled_dot_product_attention(q, f({1, 0, 3, 8}), f({1, 0, 3, 8})),
                "[attention]");
  EXPECT_THROWS(ShapeError, scaled_dot_product_attention(f({6, 3, 8}), k, v), "[attention]");
  EXPECT_THROWS(ShapeError,
                scaled_dot_product_attention(f({1, 2, 3, 8}), f({1, 2, 3, 4}), f({1, 2, 3, 4})),
                "[attention]");
  EXPECT_THROWS(ShapeError,
                scaled_dot_product_attention(f({1, 2, 3, 8}), f({1, 2, 3, 8}), f({1, 2, 4, 8})),
                "[attention]");
  EXPECT_THROWS(ShapeError,
                scaled_dot_product_attention(f({2, 2, 3, 8}), f({1, 2, 3, 8}), f({1, 2, 3, 8})),
                "[attention]");
  Tensor q2 = f({1, 2, 3, 8}), k2 = f({1, 2, 5, 8});
  EXPECT_THROWS(ShapeError, scaled_dot_product_attention(q2, k2, k2, f({3, 4})), "[attention]");
  EXPECT_THROWS(ShapeError, scaled_dot_product_attention(q2, k2, k2, f({2, 2, 3, 5})),
                "[attention]");
  AttentionOptions o;
  o.window = -1;
  EXPECT_THROWS(ShapeError, scaled_dot_product_attention(q2, k2, k2, Tensor(), o), "[attention]");
  // Same errors on the gradient path.
  Tensor qg = f({1, 6, 3, 8});
  qg.requires_grad_();
  EXPECT_THROWS(ShapeError, scaled_dot_product_attention(qg, k, v), "[attention]");
}

TEST(BadInput, UndefinedTensorsAndUseAfterMove) {
  Tensor u;
  EXPECT_FALSE(u.defined());
  EXPECT_THROWS(Error, add(u, f({1})), "[add]");
  EXPECT_THROWS(Error, exp(u), "");
  EXPECT_THROWS(Error, sum(u), "[sum]");
  EXPECT_THROWS(Error, matmul(u, f({1})), "");
  EXPECT_THROWS(Error, u.shape(), "");
  EXPECT_THROWS(Error, rms_norm(u, Tensor(), 1e-6), "[rms_norm]");
  EXPECT_THROWS(Error, cat({f({1}), u}), "");
}
