// Attention dropout in a model: a tiny Llama with attention_dropout > 0 is the p = 0 model bit for
// bit in eval mode, draws one mask per layer from the default generator in training mode, trains
// in the Trainer, and an interrupted run resumes to the identical loss curve (the generator's
// state is in the checkpoint). Out-of-range values are ConfigErrors.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "lazarus/core/error.h"
#include "lazarus/families/llama/llama.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"
#include "lazarus/training/trainer.h"

using namespace lazarus;
using families::LlamaConfig;
using families::LlamaForCausalLM;
namespace fs = std::filesystem;

namespace {

bool bit_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor ac = a.contiguous(), bc = b.contiguous();
  return std::memcmp(ac.raw_data(), bc.raw_data(), size_t(ac.nbytes())) == 0;
}

LlamaConfig tiny(double attention_dropout) {
  LlamaConfig c = LlamaConfig::tiny();  // 2 layers, 4 query heads, 2 kv heads
  c.vocab_size = 32;
  c.attention_dropout = attention_dropout;
  return c;
}

training::LossFn lm_loss() {
  return [](nn::Module& m, const training::Batch& b) {
    return static_cast<LlamaForCausalLM&>(m).forward(b.input_ids, Tensor(), b.labels).loss;
  };
}

std::vector<std::vector<int64_t>> corpus() {
  std::vector<int64_t> toks;
  for (int i = 0; i < 400; ++i) toks.push_back((i * 7 + i / 5) % 32);
  return training::pack_tokens(toks, 8);
}

training::TrainerConfig trainer_config(const fs::path& out, int64_t steps) {
  training::TrainerConfig c;
  c.max_steps = steps;
  c.lr = 0.01;
  c.warmup_steps = 1;
  c.save_every = 3;
  c.output_dir = out.string();
  c.progress = false;
  c.grad_accum = 2;
  return c;
}

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() /
               ("lazarus_attn_dropout_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

std::vector<double> losses_of(const training::TrainResult& r) {
  std::vector<double> v;
  for (auto& s : r.history) v.push_back(s.loss);
  return v;
}

}  // namespace

TEST(AttentionDropoutModel, EvalAndZeroAreTheNoDropoutPathTrainingDraws) {
  manual_seed(1);
  LlamaForCausalLM drop(tiny(0.3));
  LlamaForCausalLM none(tiny(0.0));
  none.load_state_dict(drop.state_dict());
  Generator gen(2);
  const int64_t B = 2, T = 7, H = 4, L = 2;
  Tensor ids = randint(0, 32, {B, T}, &gen);

  drop.eval();
  none.eval();
  uint64_t before = default_generator().offset();
  Tensor eval_drop = drop.forward(ids).logits;
  Tensor eval_none = none.forward(ids).logits;
  EXPECT_TRUE(bit_equal(eval_drop, eval_none)) << "eval mode must not apply attention dropout";
  {
    NoGradGuard ng;  // the fused attention kernel too
    EXPECT_TRUE(bit_equal(drop.forward(ids).logits, none.forward(ids).logits));
  }
  EXPECT_EQ(default_generator().offset(), before) << "eval mode must not draw";

  none.train();
  EXPECT_TRUE(bit_equal(none.forward(ids).logits, eval_none)) << "p = 0 in training = eval path";
  EXPECT_EQ(default_generator().offset(), before) << "p = 0 must not draw";

  drop.train();
  Tensor train_drop = drop.forward(ids).logits;
  EXPECT_FALSE(bit_equal(train_drop, eval_drop)) << "training mode must apply attention dropout";
  EXPECT_EQ(default_generator().offset(), before + uint64_t(L * B * H * T * T))
      << "one (B, H, T, T) mask per layer";
  // The same generator state replays the same masks.
  default_generator().set_state(default_generator().seed(), before);
  EXPECT_TRUE(bit_equal(drop.forward(ids).logits, train_drop));
  // Gradients flow to every parameter through the dropped probabilities.
  auto out = drop.forward(ids, Tensor(), ids);
  out.loss.backward();
  for (auto& [n, p] : drop.named_parameters()) {
    ASSERT_TRUE(p->grad().defined()) << n;
  }
}

TEST(AttentionDropoutModel, OutOfRangeIsAConfigError) {
  for (double p : {-0.1, 1.5, double(NAN)}) {
    LlamaConfig c = tiny(p);
    try {
      c.validate();
      ADD_FAILURE() << "no ConfigError for " << p;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("attention_dropout"), std::string::npos) << e.what();
    }
    EXPECT_THROW(LlamaForCausalLM{c}, ConfigError);
  }
  EXPECT_THROW(LlamaConfig::from_json_string(
                   R"({"vocab_size": 32, "hidden_size": 64, "intermediate_size": 128,
                       "num_hidden_layers": 1, "num_attention_heads": 4,
                       "attention_dropout": 2.0})"),
               ConfigError);
  EXPECT_NO_THROW(tiny(1.0).validate());
  EXPECT_NO_THROW(tiny(0.0).validate());
}

TEST(AttentionDropoutModel, TrainsAndResumesExactly) {
  auto data = corpus();
  fs::path a = fresh_dir("a"), b = fresh_dir("b"), c = fresh_dir("c");
  const int64_t steps = 6;
  std::vector<double> straight, no_dropout;
  {
    manual_seed(3);
    LlamaForCausalLM m(tiny(0.2));
    training::ExampleLoader tl(data, data, 4, 9);
    training::Trainer t(m, lm_loss(), tl, nullptr, trainer_config(a, steps));
    straight = losses_of(t.train());
  }
  {
    // The same initial weights and data without attention dropout: a different curve, so the
    // resume check below is about the dropout masks too.
    manual_seed(3);
    LlamaForCausalLM m(tiny(0.0));
    training::ExampleLoader tl(data, data, 4, 9);
    training::Trainer t(m, lm_loss(), tl, nullptr, trainer_config(c, steps));
    no_dropout = losses_of(t.train());
  }
  {
    // The run with dropout again, killed during step 5 (after the checkpoint at step 3).
    manual_seed(3);
    LlamaForCausalLM m(tiny(0.2));
    training::ExampleLoader tl(data, data, 4, 9);
    int calls = 0;
    training::LossFn dies = [&](nn::Module& mod, const training::Batch& batch) {
      if (++calls > 8) throw std::runtime_error("killed");
      return lm_loss()(mod, batch);
    };
    training::Trainer t(m, dies, tl, nullptr, trainer_config(b, steps));
    EXPECT_THROW(t.train(), std::runtime_error);
  }
  std::vector<double> resumed;
  {
    manual_seed(999);  // another init and RNG state: all of it must come from the checkpoint
    LlamaForCausalLM m(tiny(0.2));
    training::ExampleLoader tl(data, data, 4, 9);
    training::Trainer t(m, lm_loss(), tl, nullptr, trainer_config(b, steps));
    resumed = losses_of(t.train());
  }
  ASSERT_EQ(straight.size(), size_t(steps));
  ASSERT_EQ(resumed.size(), size_t(steps));
  for (int64_t i = 0; i < steps; ++i) EXPECT_EQ(straight[i], resumed[i]) << "step " << i + 1;
  ASSERT_EQ(no_dropout.size(), size_t(steps));
  bool differs = false;
  for (int64_t i = 0; i < steps; ++i) differs |= straight[i] != no_dropout[i];
  EXPECT_TRUE(differs) << "attention dropout had no effect in training";
  EXPECT_LT(straight.back(), straight.front());
  for (auto& d : {a, b, c}) fs::remove_all(d);
}
