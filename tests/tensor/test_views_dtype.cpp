// Views share storage and read the right elements; contiguous() copies; casts round as PyTorch
// (bf16/f16 round-to-nearest-even, NaN/inf kept); creation ops and the seeded RNG.
#include "lazarus/tensor/backend.h"
#include "test_helpers.h"

using namespace etest;

namespace {

Tensor iota(Shape s, DType dt = DType::F32) {
  Vec v(numel_of(s));
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  return make(v, s, dt);
}
const void* base_ptr(const Tensor& t) { return t.storage()->data(); }

// Naive reference: element of a contiguous iota tensor at a multi-index.
double at(const Shape& s, const std::vector<int64_t>& idx) {
  int64_t f = 0;
  for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + idx[d];
  return double(f);
}

}  // namespace

TEST(Views, ReshapeViewFlattenShareStorage) {
  Tensor x = iota({2, 3, 4});
  for (Tensor v :
       {x.reshape({6, 4}), x.view({4, 6}), x.flatten(), x.flatten(1), x.reshape({-1, 2})}) {
    EXPECT_EQ(base_ptr(v), base_ptr(x));
    EXPECT_EQ(v.raw_data(), x.raw_data());
    EXPECT_TRUE(close(v, values(x), 0, 0));
  }
  EXPECT_EQ(x.reshape({-1, 2}).shape(), (Shape{12, 2}));
  EXPECT_EQ(x.flatten(1).shape(), (Shape{2, 12}));
  // Reshape of a non-viewable layout copies but keeps the logical values.
  Tensor t = x.transpose(0, 2);  // (4, 3, 2)
  Tensor r = t.reshape({24});
  EXPECT_TRUE(close(r, values(t), 0, 0));
  EXPECT_THROW(t.view({24}), ShapeError);
}

TEST(Views, PermuteTransposeIndexing) {
  Shape s{2, 3, 4};
  Tensor x = iota(s);
  Tensor p = x.permute({2, 0, 1});  // (4, 2, 3)
  EXPECT_EQ(base_ptr(p), base_ptr(x));
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_FALSE(p.is_contiguous());
  Vec want;
  for (int64_t a = 0; a < 4; ++a)
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t c = 0; c < 3; ++c) want.push_back(at(s, {b, c, a}));
  EXPECT_TRUE(close(p, want, 0, 0));
  Tensor c = p.contiguous();
  EXPECT_NE(base_ptr(c), base_ptr(x));
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_TRUE(close(c, want, 0, 0));
  EXPECT_TRUE(close(x.transpose(-1, 0), values(x.permute({2, 1, 0})), 0, 0));
  EXPECT_EQ(x.t().shape(), (Shape{2, 4, 3}));
}

TEST(Views, NarrowSliceStepSelect) {
  Shape s{5, 7};
  Tensor x = iota(s);
  Tensor n = x.narrow(1, 2, 3);
  EXPECT_EQ(base_ptr(n), base_ptr(x));
  Vec want;
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 2; j < 5; ++j) want.push_back(at(s, {i, j}));
  EXPECT_TRUE(close(n, want, 0, 0));

  Tensor sl = x.slice(1, 1, 7, 3);  // cols 1, 4
  EXPECT_EQ(sl.shape(), (Shape{5, 2}));
  want.clear();
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j : {1, 4}) want.push_back(at(s, {i, j}));
  EXPECT_TRUE(close(sl, want, 0, 0));
  EXPECT_EQ(base_ptr(sl), base_ptr(x));

  Tensor sl2 = x.slice(0, -3, 5, 2);  // rows 2, 4 (negative start)
  want.clear();
  for (int64_t i : {2, 4})
    for (int64_t j = 0; j < 7; ++j) want.push_back(at(s, {i, j}));
  EXPECT_TRUE(close(sl2, want, 0, 0));

  Tensor se = x.select(0, 3);
  EXPECT_EQ(se.shape(), (Shape{7}));
  EXPECT_EQ(base_ptr(se), base_ptr(x));
  want.clear();
  for (int64_t j = 0; j < 7; ++j) want.push_back(at(s, {3, j}));
  EXPECT_TRUE(close(se, want, 0, 0));
  EXPECT_TRUE(close(x.select(1, -1), values(x.narrow(1, 6, 1).squeeze(1)), 0, 0));
  // A slice of a slice composes offsets and strides.
  Tensor ss = x.slice(1, 1, 7, 2).slice(1, 1, 3, 1);  // cols 3, 5
  want.clear();
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j : {3, 5}) want.push_back(at(s, {i, j}));
  EXPECT_TRUE(close(ss, want, 0, 0));
  EXPECT_EQ(x.narrow(0, 5, 0).numel(), 0);
}

TEST(Views, ExpandSqueezeUnsqueeze) {
  Tensor x = iota({3, 1});
  Tensor e = x.expand({2, 3, 4});
  EXPECT_EQ(base_ptr(e), base_ptr(x));
  EXPECT_EQ(e.stride(0), 0);
  EXPECT_EQ(e.stride(2), 0);
  Vec want;
  for (int a = 0; a < 2; ++a)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) want.push_back(i);
  EXPECT_TRUE(close(e, want, 0, 0));
  EXPECT_TRUE(close(e.contiguous(), want, 0, 0));
  EXPECT_EQ(x.expand({-1, 5}).shape(), (Shape{3, 5}));
  Tensor u = x.unsqueeze(0).unsqueeze(-1);
  EXPECT_EQ(u.shape(), (Shape{1, 3, 1, 1}));
  EXPECT_EQ(base_ptr(u), base_ptr(x));
  EXPECT_EQ(u.squeeze().shape(), (Shape{3}));
  EXPECT_EQ(u.squeeze(2).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(u.squeeze(1).shape(), (Shape{1, 3, 1, 1}));  // size != 1: unchanged, as torch
  EXPECT_EQ(scalar_tensor(2).unsqueeze(0).shape(), (Shape{1}));
}

TEST(Views, ContiguousOfContiguousAndClone) {
  Tensor x = iota({4, 4});
  Tensor c = x.clone();
  EXPECT_NE(base_ptr(c), base_ptr(x));
  EXPECT_TRUE(close(c, values(x), 0, 0));
  EXPECT_TRUE(close(x.t().contiguous().t(), values(x), 0, 0));
}

// ---- casts ----

TEST(Casts, Bf16RoundToNearestEvenKnownBits) {
  // 1 + 2^-8 is exactly halfway between bf16 1.0 (0x3F80) and 1.0078125 (0x3F81): ties to even.
  struct Case {
    float f;
    uint16_t bits;
  };
  Case cases[] = {{1.00390625f, 0x3F80}, {1.01171875f, 0x3F82}, {1.0f, 0x3F80},
                  {-2.0f, 0xC000},       {3.140625f, 0x4049},   {1.00390637f, 0x3F81},
                  {INFINITY, 0x7F80},    {-INFINITY, 0xFF80},   {3.4e38f, 0x7F80}};
  for (auto c : cases) {
    Tensor b = make({c.f}, {1}, DType::F32).to(DType::BF16);
    EXPECT_EQ(b.dtype(), DType::BF16);
    EXPECT_EQ(b.data<uint16_t>()[0], c.bits) << "f32 " << c.f;
  }
  Tensor nan = make({NAN}, {1}).to(DType::BF16);
  EXPECT_TRUE(std::isnan(bf16_bits_to_f32(nan.data<uint16_t>()[0])));
}

TEST(Casts, F16RoundToNearestEvenKnownBits) {
  struct Case {
    float f;
    uint16_t bits;
  };
  Case cases[] = {{1.0f, 0x3C00},
                  {1.00048828125f, 0x3C00},  // halfway -> even
                  {1.00146484375f, 0x3C02},
                  {65504.0f, 0x7BFF},
                  {65520.0f, 0x7C00},
                  {-0.0f, 0x8000},
                  {5.9604644775390625e-8f, 0x0001},
                  {2.98023223876953125e-8f, 0x0000},
                  {-INFINITY, 0xFC00},
                  {6.1035156e-05f, 0x0400}};
  for (auto c : cases) {
    Tensor h = make({c.f}, {1}).to(DType::F16);
    EXPECT_EQ(h.data<uint16_t>()[0], c.bits) << "f32 " << c.f;
  }
  Tensor nan = make({NAN}, {1}).to(DType::F16);
  EXPECT_TRUE(std::isnan(f16_bits_to_f32(nan.data<uint16_t>()[0])));
}

TEST(Casts, AllPairsRoundTripSmallIntegers) {
  Vec v{0, 1, 2, 3, 7, 100};
  for (DType a : kAllDTypes) {
    for (DType b : kAllDTypes) {
      Vec src = v;
      if (a == DType::Bool || b == DType::Bool) src = {0, 1, 1, 0, 1, 0};
      Tensor x = make(src, {2, 3}, a);
      Tensor y = x.to(b);
      EXPECT_EQ(y.dtype(), b);
      EXPECT_TRUE(close(y, src, 0, 0)) << dtype_name(a) << " -> " << dtype_name(b);
      // Strided source too.
      EXPECT_TRUE(close(x.t().to(b), values(x.t()), 0, 0))
          << dtype_name(a) << " -> " << dtype_name(b);
    }
  }
}

TEST(Casts, FloatToIntTruncatesAndToBoolIsNonZero) {
  Tensor x = make({-2.7, -0.5, 0.0, 0.4, 2.9}, {5});
  EXPECT_TRUE(close(x.to(DType::I64), {-2, 0, 0, 0, 2}, 0, 0));
  EXPECT_TRUE(close(x.to(DType::I32), {-2, 0, 0, 0, 2}, 0, 0));
  EXPECT_TRUE(close(x.to(DType::Bool), {1, 1, 0, 1, 1}, 0, 0));
  Tensor nf = make({NAN, INFINITY, -INFINITY}, {3});
  for (DType d : {DType::F64, DType::BF16, DType::F16}) {
    EXPECT_TRUE(close(nf.to(d), {NAN, INFINITY, -INFINITY}, 0, 0)) << dtype_name(d);
    EXPECT_TRUE(close(nf.to(d).to(DType::F32), {NAN, INFINITY, -INFINITY}, 0, 0));
  }
}

TEST(Casts, Bf16F16MatchScalarConvertersOnManyValues) {
  Vec v = rnd(4099, 7, -70000, 70000);
  Vec small = rnd(1000, 8, -1e-4, 1e-4);
  v.insert(v.end(), small.begin(), small.end());
  Tensor x = make(v, {int64_t(v.size())});
  Tensor b = x.to(DType::BF16), h = x.to(DType::F16);
  Vec xf = values(x);
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_EQ(b.data<uint16_t>()[i], f32_to_bf16_bits(float(xf[i]))) << xf[i];
    ASSERT_EQ(h.data<uint16_t>()[i], f32_to_f16_bits(float(xf[i]))) << xf[i];
  }
  // bf16 -> f16 goes through exact f32 and rounds once.
  Tensor bh = b.to(DType::F16);
  Vec bv = values(b);
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_EQ(bh.data<uint16_t>()[i], f32_to_f16_bits(float(bv[i])));
  }
}

TEST(DTypes, NamesAndPromotion) {
  EXPECT_EQ(dtype_name(DType::BF16), "bfloat16");
  EXPECT_EQ(dtype_from_string("f16"), DType::F16);
  EXPECT_EQ(dtype_from_string("float32"), DType::F32);
  EXPECT_THROW(dtype_from_string("f8"), DTypeError);
  EXPECT_EQ(promote_types(DType::BF16, DType::F16), DType::F32);
  EXPECT_EQ(promote_types(DType::I32, DType::BF16), DType::BF16);
  EXPECT_EQ(promote_types(DType::Bool, DType::I32), DType::I32);
  EXPECT_EQ(promote_types(DType::I32, DType::I64), DType::I64);
  EXPECT_EQ(promote_types(DType::F32, DType::F64), DType::F64);
  EXPECT_EQ((make({1}, {1}, DType::BF16) + make({1}, {1}, DType::F16)).dtype(), DType::F32);
  EXPECT_EQ((make({1}, {1}, DType::BF16) * 3.0).dtype(), DType::BF16);  // scalar keeps dtype
}

// ---- creation ----

TEST(Creation, FillsAndArange) {
  for (DType d : kAllDTypes) {
    EXPECT_TRUE(close(zeros({2, 3}, d), Vec(6, 0), 0, 0)) << dtype_name(d);
    EXPECT_TRUE(close(ones({33}, d), Vec(33, 1), 0, 0)) << dtype_name(d);
    EXPECT_EQ(zeros({0, 5}, d).numel(), 0);
  }
  EXPECT_TRUE(close(full({2, 2}, 2.5), Vec(4, 2.5), 0, 0));
  EXPECT_TRUE(close(full({3}, 1.00390625, DType::BF16), Vec(3, 1.0), 0, 0));
  EXPECT_TRUE(close(arange(5), {0, 1, 2, 3, 4}, 0, 0));
  EXPECT_EQ(arange(5).dtype(), DType::I64);
  EXPECT_TRUE(close(arange(1.0, 2.0, 0.25, DType::F32), {1, 1.25, 1.5, 1.75}, 0, 0));
  EXPECT_TRUE(close(arange(5.0, 0.0, -2.0, DType::F32), {5, 3, 1}, 0, 0));
  EXPECT_EQ(arange(0).numel(), 0);
  EXPECT_EQ(scalar_tensor(3.5).dim(), 0);
  EXPECT_DOUBLE_EQ(scalar_tensor(3.5).item(), 3.5);
  Tensor z = zeros_like(make({1, 2}, {2}, DType::F64));
  EXPECT_EQ(z.dtype(), DType::F64);
}

TEST(Creation, FromVectorAndFromBlob) {
  Tensor a = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_TRUE(close(a, {1, 2, 3, 4, 5, 6}, 0, 0));
  Tensor i = from_vector<int64_t>({5, -1}, {2}, DType::I64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{5, -1}));
  auto buf = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4});
  Tensor b = from_blob(buf->data(), buf->size() * 4, {2, 2}, DType::F32, buf);
  EXPECT_EQ(b.raw_data(), buf->data());
  EXPECT_FALSE(b.storage()->owned());
  (*buf)[3] = 9;  // no copy: the tensor sees the change
  EXPECT_TRUE(close(b, {1, 2, 3, 9}, 0, 0));
  std::weak_ptr<std::vector<float>> w = buf;
  buf.reset();
  EXPECT_FALSE(w.expired());  // kept alive by the tensor
  EXPECT_TRUE(close(b.t(), {1, 3, 2, 9}, 0, 0));
  b = Tensor();
  EXPECT_TRUE(w.expired());
}

TEST(Random, SeededAndThreadIndependent) {
  Generator g1(42), g2(42);
  Tensor a = randn({1031}, DType::F32, 0, 1, &g1), b = randn({1031}, DType::F32, 0, 1, &g2);
  EXPECT_TRUE(close(a, values(b), 0, 0));
  Tensor a2 = randn({1031}, DType::F32, 0, 1, &g1);  // the stream advances
  EXPECT_FALSE(close(a2, values(a), 0, 0));

  int prev = num_threads();
  Vec by_threads[2];
  for (int nt : {1, 2}) {
    set_num_threads(nt);
    Generator g(7);
    Tensor r = randn({4097}, DType::F32, 0, 1, &g);
    Tensor u = rand({4097}, DType::F32, -1, 1, &g);
    Tensor k = randint(-5, 5, {4097}, &g);
    Vec all = values(r);
    for (Tensor t : {u, k}) {
      Vec v = values(t);
      all.insert(all.end(), v.begin(), v.end());
    }
    by_threads[nt - 1] = all;
  }
  set_num_threads(prev);
  EXPECT_TRUE(close(by_threads[0], by_threads[1], 0, 0));

  manual_seed(3);
  Tensor d1 = rand({64});
  manual_seed(3);
  Tensor d2 = rand({64});
  EXPECT_TRUE(close(d1, values(d2), 0, 0));
}

TEST(Random, Distributions) {
  Generator g(1);
  Vec n = values(randn({20000}, DType::F64, 1.5, 2.0, &g));
  double m = 0, s = 0;
  for (double v : n) m += v;
  m /= n.size();
  for (double v : n) s += (v - m) * (v - m);
  s = std::sqrt(s / (n.size() - 1));
  EXPECT_NEAR(m, 1.5, 0.06);
  EXPECT_NEAR(s, 2.0, 0.06);
  Vec u = values(rand({20000}, DType::F32, -3, 5, &g));
  for (double v : u) ASSERT_TRUE(v >= -3 && v < 5) << v;
  Tensor k = randint(-2, 3, {5000}, &g);
  EXPECT_EQ(k.dtype(), DType::I64);
  int hist[5] = {0};
  for (double v : values(k)) {
    ASSERT_TRUE(v >= -2 && v < 3) << v;
    hist[int(v) + 2]++;
  }
  for (int c : hist) EXPECT_GT(c, 800);
  EXPECT_EQ(randn({3}, DType::BF16, 0, 1, &g).dtype(), DType::BF16);
}
