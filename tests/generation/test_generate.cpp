// The generation loop: greedy equals an uncached argmax loop, batches with left padding equal
// their rows alone, eos ids and stop strings end rows (per row), streaming is UTF-8-safe and adds
// up to the returned text, seeds reproduce, and bad parameters give clear errors.
#include <gtest/gtest.h>

#include <cmath>

#include "lazarus/core/error.h"
#include "lazarus/generation/generate.h"
#include "lazarus/tensor/autograd.h"
#include "tests/io/tiny_folder.h"
#include "tests/tensor/test_helpers.h"

using namespace lazarus;
using namespace lazarus::testing;
using generation::FinishReason;
using generation::GenerationParams;

namespace {

class Generate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = tiny_llama().release();
    tok_ = new tokenizers::Tokenizer(
        tokenizers::Tokenizer::from_file((test_data() / "tokenizers/mistral").string()));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tok_;
  }
  static std::vector<int64_t> encode(const std::string& s) {
    auto ids = tok_->encode_ids(s, true);
    return {ids.begin(), ids.end()};
  }
  static GenerationParams greedy(int64_t n) {
    GenerationParams p;
    p.max_new_tokens = n;
    return p;
  }
  static families::LlamaForCausalLM* model_;
  static tokenizers::Tokenizer* tok_;
};
families::LlamaForCausalLM* Generate::model_ = nullptr;
tokenizers::Tokenizer* Generate::tok_ = nullptr;

// Greedy decoding the slow way: the whole sequence through the model at every step, no cache.
std::vector<int64_t> greedy_uncached(models::CausalLM& m, std::vector<int64_t> seq, int64_t n) {
  NoGradGuard ng;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) {
    Tensor logits = m.forward(from_vector(seq, {1, int64_t(seq.size())}, DType::I64)).logits;
    Tensor last = logits.narrow(1, logits.size(1) - 1, 1).reshape({-1});
    int64_t id = static_cast<int64_t>(argmax(last, 0).item());
    out.push_back(id);
    seq.push_back(id);
  }
  return out;
}

// The reference for greedy checks: the whole sequence through the model, no cache; the logits
// at its last position.
etest::Vec next_logits(models::CausalLM& m, const std::vector<int64_t>& seq) {
  NoGradGuard ng;
  Tensor logits = m.forward(from_vector(seq, {1, int64_t(seq.size())}, DType::I64)).logits;
  return etest::values(logits.narrow(1, logits.size(1) - 1, 1).reshape({-1}));
}

// How far the cached and uncached paths' logits can be apart (d), for sequences up to T tokens.
// A logit is sum_k h_k W_jk over the RMS-normed final state (||h|| <= sqrt(D) max|norm weight|),
// so its terms' magnitudes are at most S = sqrt(D) max|g| max_j ||W_j|| (Cauchy-Schwarz). Each
// path is within gamma(depth) S of exact along the longest chain of roundings, per layer: the
// norm's sum of squares (D), q/k/v (D), scores (Dh), softmax's exp and P V (EXP + 2 T), o_proj
// (D), gate/up (D) and SiLU (34: the sigmoid kernels' accuracy), down (I); then the final norm and
// the head (2 D) (tests/reference/tolerances.py transformer_depth). d = 2 gamma(depth) S.
double path_difference(models::CausalLM& m, int64_t T) {
  const auto c = tiny_llama_config();
  const double D = double(c.hidden_size), I = double(c.intermediate_size);
  const double Dh = D / double(c.num_attention_heads), L = double(c.num_hidden_layers);
  const double depth = L * (4 * D + Dh + 7 + 2 * double(T) + 34 + I) + 2 * D;
  auto sd = m.state_dict();
  double g = 0, w = 0;
  for (double v : etest::values(sd.at("model.norm.weight"))) g = std::max(g, std::fabs(v));
  Tensor W = sd.at("lm_head.weight");  // (V, D)
  for (double v : etest::values(sqrt(sum(W * W, {1})))) w = std::max(w, v);
  return 2 * etest::gamma_n(depth) * std::sqrt(D) * g * w;
}

// Our greedy tokens after `prompt` against the uncached loop, tie-aware (etest::greedy_within):
// delta = twice the paths' difference.
::testing::AssertionResult greedy_matches_uncached(models::CausalLM& m,
                                                   const std::vector<int64_t>& prompt,
                                                   const std::vector<int64_t>& ours) {
  const double delta = 2 * path_difference(m, int64_t(prompt.size() + ours.size()));
  return etest::greedy_within([&](const std::vector<int64_t>& s) { return next_logits(m, s); },
                              prompt, ours, delta);
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n;
  }
  return true;
}

TEST_F(Generate, GreedyEqualsUncachedArgmaxLoop) {
  auto prompt = encode("The capital of France is");
  auto res = generation::generate(*model_, {prompt}, greedy(24));
  ASSERT_EQ(res.tokens.size(), 1u);
  ASSERT_EQ(res.tokens[0].size(), 24u);
  EXPECT_TRUE(greedy_matches_uncached(*model_, prompt, res.tokens[0]));
  EXPECT_EQ(res.finish_reasons[0], FinishReason::Length);
  EXPECT_EQ(res.stats.prompt_tokens, int64_t(prompt.size()));
  EXPECT_EQ(res.stats.generated_tokens, 24);
  EXPECT_EQ(res.stats.decode_tokens, 23);
  EXPECT_GT(res.stats.prompt_tokens_per_second(), 0);
  EXPECT_GT(res.stats.generated_tokens_per_second(), 0);
  EXPECT_TRUE(res.text[0].empty());  // no tokenizer given
}

TEST_F(Generate, BatchRowsEqualTheirSingleRunsAndFinishPerRow) {
  // Each batch row (left-padded, decoded in a batch) and each single run is a greedy continuation
  // of its row alone, tie-aware: a near-tie may go either way on different paths.
  auto a = encode("Hello"), b = encode("A much longer prompt than the first one");
  auto ra = generation::generate(*model_, {a}, greedy(12)).tokens[0];
  auto both = generation::generate(*model_, {a, b}, greedy(12));
  ASSERT_EQ(both.tokens[0].size(), 12u);
  ASSERT_EQ(both.tokens[1].size(), 12u);
  EXPECT_TRUE(greedy_matches_uncached(*model_, a, both.tokens[0]));
  EXPECT_TRUE(greedy_matches_uncached(*model_, b, both.tokens[1]));
  EXPECT_TRUE(greedy_matches_uncached(*model_, a, ra));
  EXPECT_EQ(both.stats.prompt_tokens, int64_t(a.size() + b.size()));

  // Row 0's 4th token becomes an eos id (with another, unused one): row 0 stops there, keeping
  // the eos token; row 1 runs on to the budget unless it meets that token too. The same batch
  // with eos ids runs the same shapes through the same kernels (a finished row is fed padding,
  // and rows never mix in any op), so its tokens equal the run without eos ids bit for bit: the
  // comparisons below are exact by design.
  const std::vector<int64_t>&rb0 = both.tokens[0], &rb = both.tokens[1];
  GenerationParams p = greedy(12);
  const int64_t eos = rb0[3];
  p.eos_token_ids = {31999, eos};
  auto first = std::find(rb0.begin(), rb0.end(), eos) - rb0.begin();
  auto r = generation::generate(*model_, {a, b}, p);
  EXPECT_EQ(r.finish_reasons[0], FinishReason::Eos);
  EXPECT_EQ(r.tokens[0], std::vector<int64_t>(rb0.begin(), rb0.begin() + first + 1));
  auto in_b = std::find(rb.begin(), rb.end(), eos);
  if (in_b == rb.end()) {
    EXPECT_EQ(r.finish_reasons[1], FinishReason::Length);
    EXPECT_EQ(r.tokens[1], rb);
  } else {
    EXPECT_EQ(r.finish_reasons[1], FinishReason::Eos);
    EXPECT_EQ(r.tokens[1], std::vector<int64_t>(rb.begin(), in_b + 1));
  }
  // Row a alone with eos ids and the prompt included: its single run's tokens (exact, as above)
  // up to the first eos, after the prompt.
  p.include_prompt = true;
  auto with_prompt = generation::generate(*model_, {a}, p).tokens[0];
  std::vector<int64_t> want = a;
  auto end_a = std::find(ra.begin(), ra.end(), eos);
  want.insert(want.end(), ra.begin(), end_a == ra.end() ? end_a : end_a + 1);
  EXPECT_EQ(with_prompt, want);
}

TEST_F(Generate, StreamingAddsUpToTheDecodedText) {
  GenerationParams p = greedy(40);
  std::string streamed;
  int pieces = 0;
  auto res = generation::generate_text(*model_, *tok_, "Once upon a time", p,
                                       [&](size_t row, std::string_view s) {
                                         EXPECT_EQ(row, 0u);
                                         EXPECT_TRUE(valid_utf8(s));
                                         streamed += s;
                                         ++pieces;
                                       });
  EXPECT_EQ(streamed, res.text[0]);
  EXPECT_GT(pieces, 1);
  std::vector<uint32_t> ids(res.tokens[0].begin(), res.tokens[0].end());
  EXPECT_EQ(res.text[0], tok_->decode(ids, true));
  // Sampled text at a high temperature hits byte-fallback tokens; pieces stay valid UTF-8.
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    GenerationParams s = greedy(60);
    s.sampler.temperature = 1.5;
    s.sampler.seed = seed;
    std::string all;
    auto r = generation::generate_text(*model_, *tok_, "x", s, [&](size_t, std::string_view t) {
      EXPECT_TRUE(valid_utf8(t));
      all += t;
    });
    EXPECT_EQ(all, r.text[0]);
  }
}

TEST_F(Generate, StopStringsCutTheTextAndAreNeverStreamed) {
  auto full = generation::generate_text(*model_, *tok_, "Once upon a time", greedy(40));
  const std::string& text = full.text[0];
  ASSERT_GE(text.size(), 12u) << text;
  // A stop string from the middle of the greedy text (3 bytes, on character boundaries).
  size_t at = 6;
  while (at < text.size() && (static_cast<unsigned char>(text[at]) >> 6) == 2) ++at;
  size_t len = 3;
  while (at + len < text.size() && (static_cast<unsigned char>(text[at + len]) >> 6) == 2) ++len;
  const std::string stop = text.substr(at, len);
  const size_t first = text.find(stop);

  GenerationParams p = greedy(40);
  p.stop_strings = {"never appears \xE2\x9C\x93", stop};
  std::string streamed;
  auto r = generation::generate_text(*model_, *tok_, "Once upon a time", p,
                                     [&](size_t, std::string_view s) { streamed += s; });
  EXPECT_EQ(r.finish_reasons[0], FinishReason::StopString);
  EXPECT_EQ(r.text[0], text.substr(0, first));
  EXPECT_EQ(streamed, r.text[0]);
  EXPECT_EQ(streamed.find(stop), std::string::npos);
  // Generation ended at the token that completed the stop string.
  ASSERT_LE(r.tokens[0].size(), full.tokens[0].size());
  EXPECT_EQ(r.tokens[0], std::vector<int64_t>(full.tokens[0].begin(),
                                              full.tokens[0].begin() + r.tokens[0].size()));
  std::vector<uint32_t> upto(r.tokens[0].begin(), r.tokens[0].end());
  EXPECT_NE(tok_->decode(upto, true).find(stop), std::string::npos);
  upto.pop_back();
  EXPECT_EQ(tok_->decode(upto, true).find(stop), std::string::npos);
}

TEST_F(Generate, SeededSamplingIsReproducible) {
  GenerationParams p = greedy(20);
  p.sampler.temperature = 0.9;
  p.sampler.top_k = 40;
  p.sampler.top_p = 0.95;
  p.sampler.repetition_penalty = 1.1;
  p.sampler.seed = 1234;
  auto prompt = encode("Seeds");
  auto a = generation::generate(*model_, {prompt, prompt}, p);
  auto b = generation::generate(*model_, {prompt, prompt}, p);
  EXPECT_EQ(a.tokens, b.tokens);
  p.sampler.seed = 4321;
  auto c = generation::generate(*model_, {prompt, prompt}, p);
  EXPECT_NE(a.tokens, c.tokens);
  EXPECT_NE(a.tokens[0], greedy_uncached(*model_, prompt, 20));
}

TEST_F(Generate, BadParametersAreClearErrors) {
  auto prompt = encode("Hi");
  auto error = [&](GenerationParams p, std::vector<std::vector<int64_t>> prompts,
                   const std::string& needle, const tokenizers::Tokenizer* t = nullptr) {
    try {
      generation::generate(*model_, prompts, p, t);
      ADD_FAILURE() << "expected an error containing '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  GenerationParams p = greedy(4);
  p.sampler.temperature = -0.5;
  error(p, {prompt}, "temperature: -0.5 must be >= 0");
  p = greedy(4);
  p.sampler.top_p = 0;
  error(p, {prompt}, "top_p: 0 must be in (0, 1]");
  p.sampler.top_p = 1.5;
  error(p, {prompt}, "top_p: 1.5 must be in (0, 1]");
  p = greedy(4);
  p.sampler.top_k = -1;
  error(p, {prompt}, "top_k: -1 must be >= 0");
  p = greedy(-1);
  error(p, {prompt}, "max_new_tokens: -1 must be >= 0");
  // The context is 128 tokens.
  p = greedy(127);
  error(p, {prompt}, "use max_new_tokens <= " + std::to_string(128 - prompt.size()));
  std::vector<int64_t> long_prompt(129, 5);
  error(greedy(1), {long_prompt}, "has 129 tokens, longer than the model's context of 128");
  error(greedy(1), {{}}, "prompt 0 is empty");
  error(greedy(1), {}, "no prompts");
  error(greedy(1), {{1, 32000}}, "token id 32000, outside the model's vocabulary of 32000");
  p = greedy(4);
  p.stop_strings = {"x"};
  error(p, {prompt}, "need a tokenizer");
  p.stop_strings = {""};
  error(p, {prompt}, "empty stop string", tok_);
  p = greedy(4);
  p.eos_token_ids = {-3};
  error(p, {prompt}, "eos token id -3");
  // At the limit is fine; zero new tokens returns nothing.
  EXPECT_EQ(generation::generate(*model_, {prompt}, greedy(128 - int64_t(prompt.size())))
                .tokens[0]
                .size(),
            128 - prompt.size());
  EXPECT_TRUE(generation::generate(*model_, {prompt}, greedy(0)).tokens[0].empty());
}

// context_length: bounded by max_position_embeddings as soon as one layer attends, whatever the
// backbone type; unbounded only when no layer does.
TEST(ContextLength, HybridStacksWithAttentionAreBounded) {
  auto hybrid = [](const std::string& block, const std::string& secondary) {
    std::string j = R"({"backbone": {"type": "hybrid", "vocab_size": 64, "hidden_size": 32,
      "num_layers": 3, "max_position_embeddings": 24, "layout": "alternating",
      "block": )" + block +
                    R"(, "secondary_block": )" + secondary + R"(},
      "head": {"tie_word_embeddings": true}})";
    return config::ModelConfig::from_json_string(j);
  };
  const std::string mamba = R"({"type": "mamba", "ssm": {"state_size": 4}})";
  const std::string lstm = R"({"type": "recurrent", "recurrent": {"type": "lstm"}})";
  const std::string attn = R"({"type": "transformer",
      "attention": {"num_attention_heads": 4, "num_key_value_heads": 4},
      "ffn": {"intermediate_size": 64}})";
  const std::string both = R"({"type": "hybrid",
      "attention": {"num_attention_heads": 4, "num_key_value_heads": 4},
      "ssm": {"state_size": 4}, "ffn": {"intermediate_size": 64}})";
  EXPECT_EQ(generation::context_length(hybrid(mamba, attn).backbone), 24);  // layer 1 attends
  EXPECT_EQ(generation::context_length(hybrid(lstm, both).backbone), 24);
  EXPECT_EQ(generation::context_length(hybrid(mamba, lstm).backbone), 0);  // nothing attends
  // Only an override attends.
  config::ModelConfig m = hybrid(mamba, lstm);
  m.backbone.block_overrides[2] = hybrid(attn, mamba).backbone.block;
  EXPECT_EQ(generation::context_length(m.backbone), 24);
  EXPECT_EQ(generation::context_length(*tiny_llama()), 128);  // a transformer

  // generate() refuses a request past the attention context of a hybrid model, before running.
  models::CausalLM lm(hybrid(mamba, attn));
  EXPECT_EQ(generation::context_length(lm), 24);
  GenerationParams p;
  p.max_new_tokens = 20;
  try {
    generation::generate(lm, {std::vector<int64_t>(10, 3)}, p);
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the model's context of 24"), std::string::npos)
        << e.what();
  }
  p.max_new_tokens = 14;  // exactly the context
  EXPECT_EQ(generation::generate(lm, {std::vector<int64_t>(10, 3)}, p).tokens[0].size(), 14u);
  // A mamba / recurrent hybrid has no such bound.
  models::CausalLM unbounded(hybrid(mamba, lstm));
  EXPECT_EQ(generation::context_length(unbounded), 0);
  p.max_new_tokens = 30;  // 40 tokens in all, past max_position_embeddings
  EXPECT_EQ(generation::generate(unbounded, {std::vector<int64_t>(10, 3)}, p).tokens[0].size(),
            30u);
}

}  // namespace

// NaN weights (a broken checkpoint) give NaN logits: the error names the weight, not only the
// sampler's complaint (issue 20).
TEST(GenerateErrors, NanWeightsAreNamed) {
  auto model = tiny_llama();
  {
    NoGradGuard no_grad;
    for (auto& [name, t] : model->named_parameters()) {
      if (name == "model.layers.1.mlp.down_proj.weight")
        t->copy_(full(t->shape(), std::nan(""), t->dtype()));
    }
  }
  GenerationParams p;
  p.max_new_tokens = 2;
  try {
    generation::generate(*model, {{1, 5, 7}}, p);
    FAIL() << "NaN weights generated tokens";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight 'model.layers.1.mlp.down_proj.weight'"),
              std::string::npos)
        << e.what();
  }
}
