// Sampler chain: each processor's rule on hand-checked rows, greedy, seeded reproducibility, and
// sampled frequencies against the processed distribution.
#include <gtest/gtest.h>

#include <cmath>

#include "lazarus/core/error.h"
#include "lazarus/generation/sampler.h"
#include "lazarus/tensor/ops.h"

using namespace lazarus;
using generation::Sampler;
using generation::SamplerConfig;

namespace {

std::vector<float> processed(SamplerConfig c, std::vector<float> l, std::vector<int64_t> ctx = {}) {
  Sampler(c).process(l, ctx);
  return l;
}

TEST(Sampler, RepetitionPenaltyDividesPositiveMultipliesNegative) {
  SamplerConfig c;
  c.repetition_penalty = 2.0;
  auto l = processed(c, {4.0f, -4.0f, 1.0f}, {0, 1, 1});
  EXPECT_FLOAT_EQ(l[0], 2.0f);
  EXPECT_FLOAT_EQ(l[1], -8.0f);  // penalised once even though it appears twice
  EXPECT_FLOAT_EQ(l[2], 1.0f);
  EXPECT_THROW(processed(c, {1.0f}, {5}), IndexError);
}

TEST(Sampler, TopKKeepsTiesWithTheKth) {
  SamplerConfig c;
  c.top_k = 2;
  auto l = processed(c, {1.0f, 3.0f, 2.0f, 2.0f, 0.0f});
  EXPECT_TRUE(std::isinf(l[0]));
  EXPECT_FLOAT_EQ(l[1], 3.0f);
  EXPECT_FLOAT_EQ(l[2], 2.0f);
  EXPECT_FLOAT_EQ(l[3], 2.0f);
  EXPECT_TRUE(std::isinf(l[4]));
}

TEST(Sampler, TopPKeepsTheSmallestNucleus) {
  // probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.75 keeps {0.5, 0.3} (0.05 + 0.15 <= 0.25 dropped).
  std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  SamplerConfig c;
  c.top_p = 0.75;
  auto r = processed(c, l);
  EXPECT_FALSE(std::isinf(r[0]));
  EXPECT_FALSE(std::isinf(r[1]));
  EXPECT_TRUE(std::isinf(r[2]));
  EXPECT_TRUE(std::isinf(r[3]));
  c.top_p = 0.01;  // the top token always survives
  r = processed(c, l);
  EXPECT_FALSE(std::isinf(r[0]));
  EXPECT_TRUE(std::isinf(r[1]));
}

TEST(Sampler, MinPScalesWithTheTopProbability) {
  std::vector<float> l = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  SamplerConfig c;
  c.min_p = 0.25;  // threshold 0.15
  auto r = processed(c, l);
  EXPECT_FALSE(std::isinf(r[1]));
  EXPECT_TRUE(std::isinf(r[2]));
}

TEST(Sampler, TemperatureZeroIsGreedyAndFirstMaxWins) {
  SamplerConfig c;
  c.temperature = 0;
  Sampler s(c);
  std::vector<float> l = {0.1f, 5.0f, 5.0f, -2.0f};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.sample(l, {}), 1);
}

TEST(Sampler, SeededAndMatchesTheDistribution) {
  SamplerConfig c;
  c.seed = 1234;
  c.temperature = 0.5;
  std::vector<float> l = {0.0f, 0.5f, 1.0f};
  // Expected distribution: softmax(l / 0.5).
  std::vector<double> p = {std::exp(0.0), std::exp(1.0), std::exp(2.0)};
  double z = p[0] + p[1] + p[2];
  Sampler a(c), b(c);
  std::vector<int> counts(3, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    int64_t t = a.sample(l, {});
    EXPECT_EQ(t, b.sample(l, {}));  // same seed, same stream
    counts[size_t(t)]++;
  }
  for (int k = 0; k < 3; ++k)
    EXPECT_NEAR(counts[size_t(k)] / double(n), p[size_t(k)] / z, 0.015) << k;
}

TEST(Sampler, BatchedRowsAndErrors) {
  SamplerConfig c;
  c.temperature = 0;
  Sampler s(c);
  Tensor logits = from_vector({0.f, 1.f, 0.f, 3.f, 0.f, 0.f}, {2, 3});
  EXPECT_EQ(s.sample(logits, {{}, {}}), (std::vector<int64_t>{1, 0}));
  EXPECT_THROW(s.sample(logits, {{}}), ShapeError);
  std::vector<float> nan_row = {NAN, 1.0f};
  EXPECT_THROW(s.sample(nan_row, {}), Error);
  SamplerConfig bad;
  bad.top_p = 0.0;
  EXPECT_THROW((Sampler(bad)), ConfigError);
  bad = {};
  bad.temperature = -1;
  EXPECT_THROW((Sampler(bad)), ConfigError);
}

}  // namespace
