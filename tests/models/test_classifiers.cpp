// Classifier and regression heads, SequenceClassifier and TokenClassifier over transformer, mamba
// and hybrid backbones: config rules name the field (strict per head type), names and counts,
// every pooling mode with left and right padding gives each row what it gives alone, the losses'
// errors, training mode dropout, the example config. PyTorch parity of the same models and losses
// is models.classifier_torch_parity.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <iterator>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/losses/losses.h"
#include "lazarus/models/classifiers.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

using namespace lazarus;

namespace {

void expect_close(const Tensor& a, const Tensor& b, double tol = 1e-4) {
  ASSERT_EQ(a.shape(), b.shape());
  auto x = a.contiguous().to_vector<float>(), y = b.contiguous().to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, double(std::abs(x[i] - y[i])));
  EXPECT_LE(worst, tol);
}

template <class E = ConfigError>
void expect_error(const std::function<void()>& fn, std::vector<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "no error";
  } catch (const E& e) {
    std::string w = e.what();
    for (auto& n : needles) EXPECT_NE(w.find(n), std::string::npos) << "'" << w << "' lacks " << n;
  }
}

const char* kTransformer = R"({"vocab_size": 50, "hidden_size": 16, "num_layers": 2,
    "max_position_embeddings": 32,
    "block": {"attention": {"num_attention_heads": 2, "num_key_value_heads": 2,
                            "position": "alibi"},
              "ffn": {"intermediate_size": 24}}})";
const char* kMamba = R"({"type": "mamba", "vocab_size": 50, "hidden_size": 16, "num_layers": 2,
    "block": {"type": "mamba", "ssm": {"state_size": 4, "conv_kernel": 3}}})";
const char* kHybrid = R"({"type": "hybrid", "vocab_size": 50, "hidden_size": 16, "num_layers": 2,
    "max_position_embeddings": 32, "layout": "alternating",
    "block": {"type": "mamba", "ssm": {"state_size": 4, "conv_kernel": 3}},
    "secondary_block": {"type": "transformer",
       "attention": {"num_attention_heads": 2, "num_key_value_heads": 2, "position": "learned"},
       "ffn": {"intermediate_size": 24}}})";

config::ModelConfig cfg(const char* backbone, const std::string& head) {
  return config::ModelConfig::from_json_string(
      fmt::format(R"({{"backbone": {}, "head": {}}})", backbone, head));
}

}  // namespace

TEST(ClassifierConfig, StrictPerHeadTypeAndRulesNameTheField) {
  auto c = cfg(kTransformer, R"({"type": "classifier", "num_labels": 3, "pooling": "mean",
                                  "dropout": 0.1, "bias": true})");
  EXPECT_EQ(c.head.num_labels, 3);
  EXPECT_EQ(c.head.pooling, config::PoolingType::Mean);
  EXPECT_EQ(config::ModelConfig::from_json(c.to_json()), c);
  auto r = cfg(kMamba, R"({"type": "regression", "num_outputs": 2, "pooling": "max"})");
  EXPECT_EQ(config::ModelConfig::from_json(r.to_json()), r);
  EXPECT_EQ(r.head.output_size(50), 2);
  // Fields of another head type are unknown keys.
  expect_error([] { cfg(kTransformer, R"({"type": "classifier", "tie_word_embeddings": true})"); },
               {"head", "tie_word_embeddings"});
  expect_error([] { cfg(kTransformer, R"({"type": "regression", "num_labels": 2})"); },
               {"head", "num_labels"});
  expect_error([] { cfg(kTransformer, R"({"type": "lm", "pooling": "mean"})"); },
               {"head", "pooling"});
  expect_error([] { cfg(kTransformer, R"({"type": "classifier", "pooling": "average"})"); },
               {"head.pooling", "average", "last, first, mean, max, none"});
  expect_error([] { cfg(kTransformer, R"({"type": "classifier", "num_labels": 0})").validate(); },
               {"head.num_labels", "0", "> 0"});
  expect_error([] { cfg(kTransformer, R"({"type": "regression", "num_outputs": -2})").validate(); },
               {"head.num_outputs", "-2"});
  expect_error([] { cfg(kTransformer, R"({"type": "classifier", "dropout": 1.5})").validate(); },
               {"head.dropout", "1.5"});
  auto tied = c;
  tied.head.tie_word_embeddings = true;
  expect_error([&] { tied.validate(); }, {"head.tie_word_embeddings", "only lm heads"});
  // Models check that the head fits them.
  expect_error([&] { models::CausalLM m(c); }, {"head.type", "'lm'", "classifier"});
  auto lm = cfg(kTransformer, "{}");
  expect_error([&] { models::SequenceClassifier m(lm); }, {"head.type", "'lm'"});
  auto none = cfg(kTransformer, R"({"type": "classifier", "pooling": "none"})");
  expect_error([&] { models::SequenceClassifier m(none); }, {"head.pooling", "'none'"});
  expect_error([&] { models::TokenClassifier m(c); }, {"head.pooling", "'mean'", "'none'"});
  auto reg_none = cfg(kTransformer, R"({"type": "regression", "pooling": "none"})");
  expect_error([&] { models::TokenClassifier m(reg_none); }, {"head.type", "'regression'"});
}

TEST(ClassifierModel, NamesAndCountsOverEveryBackbone) {
  for (auto [bb, prefix] : {std::pair<const char*, std::string>{kTransformer, "model"},
                            {kMamba, "backbone"},
                            {kHybrid, "model"}}) {
    auto c = cfg(bb, R"({"type": "classifier", "num_labels": 3, "bias": true})");
    models::SequenceClassifier m(c);
    EXPECT_EQ(m.num_parameters(), c.num_parameters());
    auto sd = m.state_dict();
    EXPECT_EQ(sd.at("score.weight").shape(), (Shape{3, 16}));
    EXPECT_EQ(sd.count("score.bias"), 1u);
    EXPECT_EQ(sd.count("lm_head.weight"), 0u);
    EXPECT_EQ(
        sd.count(prefix + (prefix == "model" ? ".embed_tokens.weight" : ".embeddings.weight")), 1u);
    auto r = cfg(bb, R"({"type": "regression", "num_outputs": 2})");
    models::SequenceClassifier mr(r);
    EXPECT_EQ(mr.num_parameters(), r.num_parameters());
    auto t = cfg(bb, R"({"type": "classifier", "num_labels": 7, "pooling": "none"})");
    models::TokenClassifier mt(t);
    EXPECT_EQ(mt.num_parameters(), t.num_parameters());
  }
}

TEST(ClassifierModel, PaddedRowsEqualRowAloneForEveryPooling) {
  Generator gen(5);
  Tensor a = randint(0, 50, {1, 6}, &gen), b = randint(0, 50, {1, 4}, &gen);
  Tensor pad = zeros({1, 2}, DType::I64);
  Tensor left = cat({a, cat({pad, b}, 1)}, 0), right = cat({a, cat({b, pad}, 1)}, 0);
  Tensor lmask =
      from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1}, {2, 6}, DType::I64);
  Tensor rmask =
      from_vector(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, {2, 6}, DType::I64);
  for (const char* bb : {kTransformer, kMamba, kHybrid}) {
    for (const char* pooling : {"last", "first", "mean", "max"}) {
      for (const char* type : {"classifier", "regression"}) {
        SCOPED_TRACE(fmt::format("{} {} {}", bb, pooling, type));
        auto c = cfg(bb, fmt::format(R"({{"type": "{}", "pooling": "{}"}})", type, pooling));
        models::SequenceClassifier m(c);
        m.init_weights(0.3, 3);
        m.eval();
        NoGradGuard ng;
        Tensor alone_a = m.forward(a).logits, alone_b = m.forward(b).logits;  // (1, C)
        for (auto [ids, mask] : {std::pair{left, lmask}, std::pair{right, rmask}}) {
          Tensor both = m.forward(ids, mask).logits;  // (2, C)
          expect_close(both.narrow(0, 0, 1), alone_a);
          expect_close(both.narrow(0, 1, 1), alone_b);
        }
      }
    }
    SCOPED_TRACE(fmt::format("{} token", bb));
    models::TokenClassifier t(
        cfg(bb, R"({"type": "classifier", "num_labels": 4, "pooling": "none"})"));
    t.init_weights(0.3, 4);
    NoGradGuard ng;
    Tensor alone_b = t.forward(b).logits;  // (1, 4, 4)
    expect_close(t.forward(left, lmask).logits.narrow(0, 1, 1).narrow(1, 2, 4), alone_b);
    expect_close(t.forward(right, rmask).logits.narrow(0, 1, 1).narrow(1, 0, 4), alone_b);
  }
}

TEST(ClassifierModel, LossTrainsEveryParameterAndDropoutOnlyInTraining) {
  auto c = cfg(kHybrid, R"({"type": "classifier", "num_labels": 3, "dropout": 0.5})");
  models::SequenceClassifier m(c);
  Tensor ids = from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3}, DType::I64);
  Tensor labels = from_vector(std::vector<int64_t>{2, 0}, {2}, DType::I64);
  auto out = m.forward(ids, Tensor(), labels, true);
  EXPECT_EQ(out.logits.shape(), (Shape{2, 3}));
  EXPECT_EQ(out.hidden_states.size(), 3u);
  out.loss.backward();
  for (auto& [n, p] : m.named_parameters()) EXPECT_TRUE(p->grad().defined()) << n;
  // Eval mode: dropout off, so two forwards agree; training mode samples masks.
  m.eval();
  NoGradGuard ng;
  expect_close(m.forward(ids).logits, m.forward(ids).logits, 0.0);
  m.train();
  manual_seed(1);
  Tensor t1 = m.forward(ids).logits;
  Tensor t2 = m.forward(ids).logits;
  EXPECT_GT(amax(abs(t1 - t2)).item(), 0.0);
}

TEST(ClassifierLosses, ClearErrors) {
  Tensor logits = zeros({2, 3});
  Tensor none = from_vector(std::vector<int64_t>{-100, -100}, {2}, DType::I64);
  expect_error<Error>([&] { losses::sequence_classification_loss(logits, none); },
                      {"sequence_classification_loss", "every label", "-100"});
  expect_error<ShapeError>(
      [&] {
        losses::sequence_classification_loss(zeros({2, 3, 4}), none);
      },
      {"(B, C)", "(2, 3, 4)"});
  expect_error<IndexError>(
      [&] {
        losses::sequence_classification_loss(
            logits, from_vector(std::vector<int64_t>{1, 3}, {2}, DType::I64));
      },
      {"target 3", "[0, 3)"});
  expect_error<DTypeError>([&] { losses::sequence_classification_loss(logits, zeros({2})); },
                           {"integer class ids"});
  Tensor tok_none = full({2, 3}, -100.0, DType::I64);
  expect_error<Error>(
      [&] {
        losses::token_classification_loss(zeros({2, 3, 4}), tok_none);
      },
      {"token_classification_loss", "every label"});
  expect_error<ShapeError>(
      [&] {
        losses::regression_loss(zeros({4, 2}), zeros({4}));
      },
      {"regression_loss", "(4, 2)", "(4,)"});
  // Integer regression targets are converted.
  EXPECT_NEAR(losses::regression_loss(full({2, 1}, 1.0), full({2}, 3.0, DType::I64)).item(), 4.0,
              1e-6);
  // A row with no token at all cannot be pooled.
  models::SequenceClassifier m(cfg(kTransformer, R"({"type": "classifier"})"));
  expect_error<Error>(
      [&] {
        m.forward(zeros({2, 3}, DType::I64),
                  from_vector(std::vector<int64_t>{1, 1, 1, 0, 0, 0}, {2, 3}, DType::I64));
      },
      {"row 1", "no non-padding token"});
}

TEST(ClassifierModel, ExampleConfigRuns) {
  std::ifstream in(std::string(LAZARUS_SOURCE_DIR) + "/examples/configs/classifier_tiny.json");
  ASSERT_TRUE(in.good());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto c = config::ModelConfig::from_json_string(text);
  models::SequenceClassifier m(c);
  EXPECT_EQ(m.num_parameters(), c.num_parameters());
  Tensor ids = from_vector(std::vector<int64_t>{3, 1, 4, 1, 5, 9}, {2, 3}, DType::I64);
  auto out = m.forward(ids, Tensor(), from_vector(std::vector<int64_t>{0, 2}, {2}, DType::I64));
  EXPECT_EQ(out.logits.shape(), (Shape{2, c.head.num_labels}));
  EXPECT_TRUE(std::isfinite(out.loss.item()));
}
