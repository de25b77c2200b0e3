// Trainer: exact resume, the non-finite guard, corrupted checkpoints, metrics and the loss curve.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "lazarus/core/error.h"
#include "lazarus/formats/safetensors.h"
#include "lazarus/losses/losses.h"
#include "lazarus/nn/layers.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/training/trainer.h"

using namespace lazarus;
namespace fs = std::filesystem;

namespace {

// A bigram LM with dropout, so resuming must also restore the RNG stream.
struct Bigram : nn::Module {
  explicit Bigram(int64_t V = 16, int64_t D = 8) {
    wte = register_module("wte", std::make_shared<nn::Embedding>(V, D));
    drop = register_module("drop", std::make_shared<nn::Dropout>(0.1));
    head = register_module("head", std::make_shared<nn::Linear>(D, V));
  }
  Tensor forward(const Tensor& ids) { return head->forward(drop->forward(wte->forward(ids))); }
  std::shared_ptr<nn::Embedding> wte;
  std::shared_ptr<nn::Dropout> drop;
  std::shared_ptr<nn::Linear> head;
};

training::LossFn lm_loss() {
  return [](nn::Module& m, const training::Batch& b) {
    return losses::causal_lm_loss(static_cast<Bigram&>(m).forward(b.input_ids), b.labels);
  };
}

std::vector<std::vector<int64_t>> corpus() {
  std::vector<int64_t> toks;
  for (int i = 0; i < 400; ++i) toks.push_back((i * 7 + i / 5) % 16);
  return training::pack_tokens(toks, 8);
}

fs::path fresh_dir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("lazarus_trainer_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

training::TrainerConfig config(const fs::path& out, int64_t steps) {
  training::TrainerConfig c;
  c.max_steps = steps;
  c.lr = 0.05;
  c.warmup_steps = 2;
  c.save_every = 3;
  c.output_dir = out.string();
  c.progress = false;
  c.weight_decay = 0.01;
  c.grad_accum = 2;
  return c;
}

std::vector<double> losses_of(const training::TrainResult& r) {
  std::vector<double> v;
  for (auto& s : r.history) v.push_back(s.loss);
  return v;
}

TEST(Trainer, InterruptedAndResumedRunMatchesUninterrupted) {
  auto data = corpus();
  fs::path a = fresh_dir("a"), b = fresh_dir("b");
  std::vector<double> straight;
  {
    manual_seed(3);
    Bigram m;
    training::ExampleLoader tl(data, data, 4, 9);
    training::Trainer t(m, lm_loss(), tl, nullptr, config(a, 8));
    straight = losses_of(t.train());
  }
  {
    // The same run, killed during step 6 (after the checkpoint at step 3).
    manual_seed(3);
    Bigram m;
    training::ExampleLoader tl(data, data, 4, 9);
    int calls = 0;
    training::LossFn dies = [&](nn::Module& mod, const training::Batch& batch) {
      if (++calls > 10) throw std::runtime_error("killed");
      return lm_loss()(mod, batch);
    };
    training::Trainer t(m, dies, tl, nullptr, config(b, 8));
    EXPECT_THROW(t.train(), std::runtime_error);
    EXPECT_NE(training::Trainer::latest_checkpoint(b.string()).find("checkpoint-3"),
              std::string::npos);
  }
  std::vector<double> resumed;
  {
    manual_seed(999);  // a different init and RNG state: all of it must come from the checkpoint
    Bigram m;
    training::ExampleLoader tl(data, data, 4, 9);
    training::Trainer t(m, lm_loss(), tl, nullptr, config(b, 8));
    resumed = losses_of(t.train());
  }
  ASSERT_EQ(straight.size(), 8u);
  ASSERT_EQ(resumed.size(), 8u);  // history restored from the checkpoint, then continued
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(straight[i], resumed[i]) << "step " << i + 1;
  EXPECT_LT(straight.back(), straight.front());
  // Metrics and the loss curve are next to the checkpoints.
  EXPECT_TRUE(fs::exists(b / "metrics.jsonl"));
  EXPECT_TRUE(fs::exists(b / "loss_curve.svg"));
  std::ifstream mj(b / "metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(mj, line);) ++lines;
  EXPECT_EQ(lines, 8);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(Trainer, NonFiniteLossStopsBeforeTouchingWeights) {
  auto data = corpus();
  fs::path d = fresh_dir("nan");
  manual_seed(1);
  Bigram m;
  training::ExampleLoader tl(data, data, 4, 9);
  int calls = 0;
  training::LossFn poisoned = [&](nn::Module& mod, const training::Batch& b) {
    Tensor l = lm_loss()(mod, b);
    return ++calls > 8 ? l * NAN : l;  // grad_accum 2: step 5 gets the NaN
  };
  auto cfg = config(d, 10);
  training::Trainer t(m, poisoned, tl, nullptr, cfg);
  try {
    t.train();
    FAIL() << "expected the non-finite guard to stop the run";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("step 5"), std::string::npos) << msg;
    EXPECT_NE(msg.find("checkpoint-3"), std::string::npos) << msg;
  }
  EXPECT_EQ(t.step(), 4);
  // The last checkpoint is intact and loads.
  std::string ck = training::Trainer::latest_checkpoint(d.string());
  EXPECT_NE(ck.find("checkpoint-3"), std::string::npos);
  Bigram m2;
  training::ExampleLoader tl2(data, data, 4, 9);
  training::Trainer t2(m2, lm_loss(), tl2, nullptr, config(d, 10));
  EXPECT_NO_THROW(t2.load_checkpoint(ck));
  EXPECT_EQ(t2.step(), 3);
  fs::remove_all(d);
}

TEST(Trainer, CorruptedCheckpointIsAClearError) {
  auto data = corpus();
  fs::path d = fresh_dir("corrupt");
  manual_seed(1);
  Bigram m;
  training::ExampleLoader tl(data, data, 4, 9);
  training::Trainer t(m, lm_loss(), tl, nullptr, config(d, 3));
  t.train();
  std::string ck = training::Trainer::latest_checkpoint(d.string());
  fs::resize_file(fs::path(ck) / "model.safetensors", 20);
  try {
    t.load_checkpoint(ck);
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("model.safetensors"), std::string::npos) << e.what();
  }
  std::ofstream(fs::path(ck) / "trainer_state.json") << "{\"step\": 3";
  EXPECT_THROW(t.load_checkpoint(ck), LoadError);
  fs::remove_all(d);
}

TEST(Trainer, EvaluatesAndReportsPerplexity) {
  auto data = corpus();
  std::vector<std::vector<int64_t>> train, held;
  training::split_holdout(data, 0.2, 5, train, held);
  EXPECT_EQ(held.size(), data.size() / 5);
  manual_seed(2);
  Bigram m;
  training::ExampleLoader tl(train, train, 4, 1), el(held, held, 4, 1, false);
  training::TrainerConfig c;
  c.max_steps = 30;
  c.lr = 0.05;
  c.progress = false;
  training::Trainer t(m, lm_loss(), tl, &el, c);
  double before = t.evaluate();
  auto r = t.train();
  EXPECT_GT(r.eval_loss, 0);
  EXPECT_LT(r.eval_loss, before);
  EXPECT_NEAR(r.eval_perplexity, std::exp(r.eval_loss), 1e-9);
}

TEST(Trainer, ConfigAndDataErrors) {
  training::TrainerConfig c;
  c.lr = -1;
  EXPECT_THROW(c.validate(), ConfigError);
  EXPECT_THROW(training::ExampleLoader({}, {}, 2, 0), ConfigError);
  EXPECT_THROW(training::ExampleLoader({{1, 2}, {3}}, {{1, 2}, {3}}, 2, 0), ConfigError);
  EXPECT_THROW(training::pack_tokens({1, 2, 3}, 1), ConfigError);
}

}  // namespace

namespace {
TEST(Trainer, RotationNeverDeletesFoldersItDidNotWrite) {
  auto data = corpus();
  fs::path d = fresh_dir("rotate");
  fs::create_directories(d / "checkpoint-best");
  std::ofstream(d / "checkpoint-best" / "notes.txt") << "mine";
  manual_seed(1);
  Bigram m;
  training::ExampleLoader tl(data, data, 4, 9);
  auto cfg = config(d, 9);
  cfg.save_every = 1;
  cfg.keep_checkpoints = 2;
  training::Trainer t(m, lm_loss(), tl, nullptr, cfg);
  t.train();
  EXPECT_TRUE(fs::exists(d / "checkpoint-best" / "notes.txt"));
  EXPECT_TRUE(fs::exists(d / "checkpoint-9"));
  EXPECT_TRUE(fs::exists(d / "checkpoint-8"));
  EXPECT_FALSE(fs::exists(d / "checkpoint-7"));
  fs::remove_all(d);
}
}  // namespace

// bf16 compute with f32 master weights: the first step's loss (same weights, same batch, same
// dropout mask) equals the f32 run's within the bf16 roundings' bound (bf16_first_loss_bound), the
// bf16 run learns, the model comes back in f32 holding the masters, frozen weights come back bit
// for bit, and resume from a checkpoint (which holds the f32 masters) is exact.
static training::TrainerConfig bf16_config(const fs::path& out, int64_t steps) {
  auto c = config(out, steps);
  c.compute_dtype = DType::BF16;
  return c;
}

// |bf16 loss - f32 loss| at the first step, from the arithmetic (u = 2^-8 for bf16, 2^-24 f32).
// A logit z_j = sum_k W_jk x_k + b_j with x = dropout(wte[id]) goes in bf16 through at most 5
// roundings per term: W, wte, the dropout's scaling, the product's f32 sum rounded to bf16, the
// bias add (the f32 run: D + 2 roundings at f32's u); so |dz_j| <= (gamma_5(bf16) + gamma_{D+2})
// S with S = max over ids and j of sum_k |W_jk| |wte_id,k| / (1 - p) + |b_j| (dropout only zeroes
// or scales by 1 / (1 - p)). The mean cross-entropy (and the mean over grad_accum micro-batches)
// moves by at most 2 max|dz| (log-sum-exp by the max, the target logit by as much), plus each
// run's own f32 roundings in it: the sum over V, exp and log (EXP = 7 each, as
// tests/reference/tolerances.py), the mean over the tokens, on values of size S + loss.
static double logit_terms_bound(Bigram& m) {  // S
  const int64_t V = m.wte->weight.size(0), D = m.wte->weight.size(1), O = m.head->weight.size(0);
  auto wte = m.wte->weight.to_vector<float>(), w = m.head->weight.to_vector<float>();
  auto b = m.head->bias.to_vector<float>();
  const double keep = 1 - m.drop->p();
  double S = 0;
  for (int64_t v = 0; v < V; ++v)
    for (int64_t j = 0; j < O; ++j) {
      double sum = std::fabs(b[size_t(j)]);
      for (int64_t k = 0; k < D; ++k)
        sum += std::fabs(w[size_t(j * D + k)]) * std::fabs(wte[size_t(v * D + k)]) / keep;
      S = std::max(S, sum);
    }
  return S;
}
static double bf16_first_loss_bound(double S, int64_t D, int64_t V, int64_t tokens, double loss) {
  const double u16 = 0x1p-8, u32 = 0x1p-24;
  auto gamma = [](double n, double u) { return n * u / (1 - n * u); };
  return 2 * (gamma(5, u16) + gamma(double(D + 2), u32)) * S +
         2 * gamma(double(V + 2 * 7 + tokens), u32) * (S + loss);
}

static training::LossFn lm_loss_f32() {
  return [](nn::Module& m, const training::Batch& b) {
    return losses::causal_lm_loss(static_cast<Bigram&>(m).forward(b.input_ids).to(DType::F32),
                                  b.labels);
  };
}

TEST(Trainer, Bf16ComputeWithF32MastersTracksF32) {
  auto data = corpus();
  fs::path a = fresh_dir("f32"), b = fresh_dir("bf16");
  std::vector<double> f32_losses, bf16_losses;
  Tensor f32_head;
  double S = 0;
  int64_t D = 0, V = 0;
  {
    manual_seed(3);
    Bigram m;
    m.wte->freeze();
    training::ExampleLoader tl(data, data, 4, 9);
    training::Trainer t(m, lm_loss_f32(), tl, nullptr, config(a, 8));
    f32_losses = losses_of(t.train());
    f32_head = m.head->weight.detach().clone();
  }
  {
    manual_seed(3);
    Bigram m;
    m.wte->freeze();  // a frozen part: it must come back exactly
    Tensor wte0 = m.wte->weight.detach().clone();
    S = logit_terms_bound(m);  // at the initial weights, which the first step runs
    D = m.wte->weight.size(1);
    V = m.head->weight.size(0);
    training::ExampleLoader tl(data, data, 4, 9);
    training::Trainer t(m, lm_loss_f32(), tl, nullptr, bf16_config(b, 8));
    bf16_losses = losses_of(t.train());
    EXPECT_EQ(m.head->weight.dtype(), DType::F32);
    EXPECT_TRUE(m.head->weight.requires_grad());
    EXPECT_EQ(m.wte->weight.dtype(), DType::F32);
    EXPECT_EQ(amax(abs(m.wte->weight - wte0)).item(), 0.0);
    // The checkpoint holds f32 masters.
    auto ck = formats::SafetensorsFile::open((b / "checkpoint-8" / "model.safetensors").string());
    EXPECT_EQ(ck->tensor("head.weight").dtype(), DType::F32);
  }
  ASSERT_EQ(f32_losses.size(), bf16_losses.size());
  ASSERT_FALSE(f32_losses.empty());
  // Only the first step is compared: after it the two runs' weights differ (bf16 gradients), and
  // AdamW's 1 / (sqrt(v) + eps) can amplify that without bound.
  // At most 2 micro-batches (grad_accum) of 4 rows of 8 tokens averaged.
  const double bound = bf16_first_loss_bound(S, D, V, 2 * 4 * 8, f32_losses[0]);
  EXPECT_NEAR(bf16_losses[0], f32_losses[0], bound);
  std::printf("bf16 vs f32 first loss: %.3e apart, bound %.3e (S %.3g)\n",
              std::abs(bf16_losses[0] - f32_losses[0]), bound, S);
  bool differs = false;
  for (size_t i = 0; i < f32_losses.size(); ++i)
    differs = differs || bf16_losses[i] != f32_losses[i];
  EXPECT_TRUE(differs) << "the bf16 run computed in f32";
  EXPECT_LT(bf16_losses.back(), bf16_losses.front());
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(Trainer, Bf16ResumeIsExact) {
  auto data = corpus();
  fs::path a = fresh_dir("bf16a"), b = fresh_dir("bf16b");
  std::vector<double> straight, resumed;
  {
    manual_seed(3);
    Bigram m;
    training::ExampleLoader tl(data, data, 4, 9);
    training::Trainer t(m, lm_loss_f32(), tl, nullptr, bf16_config(a, 8));
    straight = losses_of(t.train());
  }
  {
    manual_seed(3);
    Bigram m;
    training::ExampleLoader tl(data, data, 4, 9);
    int calls = 0;
    training::LossFn dies = [&](nn::Module& mod, const training::Batch& batch) {
      if (++calls > 10) throw std::runtime_error("killed");
      return lm_loss_f32()(mod, batch);
    };
    training::Trainer t(m, dies, tl, nullptr, bf16_config(b, 8));
    EXPECT_THROW(t.train(), std::runtime_error);
    EXPECT_EQ(m.head->weight.dtype(), DType::F32);  // restored even when train() throws
  }
  {
    manual_seed(999);
    Bigram m;
    training::ExampleLoader tl(data, data, 4, 9);
    training::Trainer t(m, lm_loss_f32(), tl, nullptr, bf16_config(b, 8));
    resumed = losses_of(t.train());
  }
  ASSERT_EQ(resumed.size(), 8u);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(straight[i], resumed[i]) << "step " << i + 1;
  fs::remove_all(a);
  fs::remove_all(b);
}
