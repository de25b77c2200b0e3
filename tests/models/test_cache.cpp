// Cache consistency: prompt then token-by-token decode, and chunked prefill, give the logits of one
// full forward; left- and right-padded batch rows equal the row run alone (also while decoding);
// generate() equals a greedy loop of full forwards; the KV cache grows in place.
#include <gtest/gtest.h>

#include "lazarus/core/error.h"
#include "lazarus/families/llama/llama.h"
#include "lazarus/generation/generate.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"
#include "tests/tensor/test_helpers.h"

using namespace lazarus;
using lazarus::families::LlamaConfig;
using lazarus::families::LlamaForCausalLM;

namespace {

LlamaConfig small(std::optional<int64_t> window = std::nullopt) {
  LlamaConfig c = LlamaConfig::tiny();
  c.vocab_size = 97;
  c.sliding_window = window;
  c.initializer_range = 0.2;  // larger weights: differences would show
  return c;
}

void expect_close(const Tensor& a, const Tensor& b, double tol = 1e-4) {
  ASSERT_EQ(a.shape(), b.shape());
  auto x = a.contiguous().to_vector<float>(), y = b.contiguous().to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, double(std::abs(x[i] - y[i])));
  EXPECT_LE(worst, tol);
}

// Logits of one full forward vs feeding `chunks` token counts through a cache.
void check_chunks(LlamaForCausalLM& m, const Tensor& ids, const std::vector<int64_t>& chunks) {
  NoGradGuard ng;
  const int64_t B = ids.size(0), T = ids.size(1);
  Tensor full = m.forward(ids).logits;  // (B, T, V)
  auto cache = m.make_cache(B);
  int64_t at = 0;
  for (int64_t n : chunks) {
    auto out = m.forward(ids.narrow(1, at, n), Tensor(), Tensor(), cache);
    expect_close(out.logits, full.narrow(1, at, n));
    at += n;
  }
  EXPECT_EQ(at, T);
  EXPECT_EQ(cache->length(), T);
}

}  // namespace

TEST(Cache, DecodeAndChunkedPrefillMatchFullForward) {
  for (auto window : {std::optional<int64_t>{}, std::optional<int64_t>{3}}) {
    SCOPED_TRACE(window ? "sliding window 3" : "full attention");
    LlamaForCausalLM m(small(window), DType::F32, 7);
    Generator gen(11);
    Tensor ids = randint(0, 97, {2, 10}, &gen);
    check_chunks(m, ids, {4, 1, 1, 1, 1, 1, 1});  // prompt, then token by token
    check_chunks(m, ids, {3, 4, 3});              // chunked prefill
    check_chunks(m, ids, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  }
}

TEST(Cache, GrowsInPlaceAndChecksShapes) {
  components::KVCache kv(20, /*initial_capacity=*/4);
  Generator gen(1);
  Tensor k1 = randn({1, 2, 3, 8}, DType::F32, 0, 1, &gen),
         k2 = randn({1, 2, 6, 8}, DType::F32, 0, 1, &gen);
  kv.update(k1, k1);
  EXPECT_EQ(kv.capacity(), 4);
  auto [k, v] = kv.update(k2, k2);
  EXPECT_EQ(kv.capacity(), 16);
  EXPECT_EQ(kv.length(), 9);
  expect_close(k, cat({k1, k2}, 2), 0);
  EXPECT_THROW(kv.update(randn({1, 3, 1, 8}), randn({1, 3, 1, 8})), ShapeError);
  EXPECT_THROW(kv.update(randn({1, 2, 12, 8}), randn({1, 2, 12, 8})),
               ShapeError);  // past max_length

  LlamaForCausalLM m(small());
  auto cache = m.make_cache(2, 8);
  EXPECT_THROW(m.forward(zeros({3, 2}, DType::I64), Tensor(), Tensor(), cache), ShapeError);
  EXPECT_THROW(m.forward(zeros({2, 9}, DType::I64), Tensor(), Tensor(), cache), ShapeError);
}

TEST(Padding, LeftAndRightPaddedRowsEqualRowsAlone) {
  for (auto window : {std::optional<int64_t>{}, std::optional<int64_t>{3}}) {
    SCOPED_TRACE(window ? "sliding window 3" : "full attention");
    LlamaForCausalLM m(small(window), DType::F32, 9);
    NoGradGuard ng;
    Generator gen(12);
    Tensor a = randint(0, 97, {1, 8}, &gen), b = randint(0, 97, {1, 5}, &gen);
    Tensor alone_a = m.forward(a).logits, alone_b = m.forward(b).logits;

    // Left padding: row 1 = [pad pad pad b0..b4].
    Tensor ids = cat({a, cat({zeros({1, 3}, DType::I64), b}, 1)}, 0);
    Tensor mask = from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1},
                              {2, 8}, DType::I64);
    auto cache = m.make_cache(2);
    Tensor batch = m.forward(ids, mask, Tensor(), cache).logits;
    expect_close(batch.narrow(0, 0, 1), alone_a);
    expect_close(batch.narrow(0, 1, 1).narrow(1, 3, 5), alone_b);

    // Decode two more tokens for both rows; each must match its row continued alone.
    Tensor next = from_vector(std::vector<int64_t>{5, 6, 7, 8}, {2, 2}, DType::I64);
    Tensor step =
        m.forward(next, Tensor(), Tensor(), cache).logits;  // the cache remembers the padding
    Tensor cont_a = m.forward(cat({a, next.narrow(0, 0, 1)}, 1)).logits;
    Tensor cont_b = m.forward(cat({b, next.narrow(0, 1, 1)}, 1)).logits;
    expect_close(step.narrow(0, 0, 1), cont_a.narrow(1, 8, 2));
    expect_close(step.narrow(0, 1, 1), cont_b.narrow(1, 5, 2));

    // Right padding: row 1 = [b0..b4 pad pad pad].
    Tensor rids = cat({a, cat({b, zeros({1, 3}, DType::I64)}, 1)}, 0);
    Tensor rmask = from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
                               {2, 8}, DType::I64);
    Tensor right = m.forward(rids, rmask).logits;
    expect_close(right.narrow(0, 1, 1).narrow(1, 0, 5), alone_b);
  }
}

TEST(Generate, GreedyMatchesFullForwardLoop) {
  LlamaForCausalLM m(small(), DType::F32, 21);
  Generator gen(4);
  Tensor prompt = randint(0, 97, {1, 5}, &gen);
  std::vector<int64_t> seq = prompt.to_vector<int64_t>();
  generation::GenerationParams p;
  p.max_new_tokens = 6;
  p.eos_token_ids = m.llama_config().eos_token_id;  // greedy, stopping at the config's eos
  p.include_prompt = true;
  std::vector<int64_t> got = generation::generate(m, {seq}, p).tokens[0];
  NoGradGuard ng;
  ASSERT_GT(got.size(), seq.size());
  EXPECT_EQ(std::vector<int64_t>(got.begin(), got.begin() + 5), seq);
  std::vector<int64_t> ours(got.begin() + 5, got.end());
  // Six new tokens, or fewer ending at the first eos (2 in the tiny config).
  EXPECT_TRUE(ours.size() == 6 || ours.back() == 2);
  for (size_t i = 0; i + 1 < ours.size(); ++i) EXPECT_NE(ours[i], 2) << i;
  // Each token against a full forward over the sequence so far, tie-aware: the cached path's
  // logits are within 1e-4 of the full forward's (the bound check_chunks holds them to), so where
  // the full forward's top two are within 2e-4 either may be picked.
  auto full_next = [&](const std::vector<int64_t>& s) {
    const int64_t T = static_cast<int64_t>(s.size());
    Tensor logits = m.forward(from_vector(s, {1, T}, DType::I64)).logits;
    return etest::values(logits.narrow(1, T - 1, 1).reshape({-1}));
  };
  EXPECT_TRUE(etest::greedy_within(full_next, seq, ours, 2 * 1e-4));

  generation::GenerationParams o;
  o.max_new_tokens = 4;
  o.sampler.temperature = 0.8;
  o.sampler.seed = 3;
  auto s1 = generation::generate(m, {seq}, o), s2 = generation::generate(m, {seq}, o);
  EXPECT_EQ(s1.tokens, s2.tokens);  // seeded
  EXPECT_EQ(s1.tokens[0].size(), 4u);
}
