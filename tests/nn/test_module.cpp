// Module tree: names, state_dict round trip, strict loading errors, modes, freezing, layers.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "lazarus/core/error.h"
#include "lazarus/nn/init.h"
#include "lazarus/nn/layers.h"
#include "lazarus/tensor/autograd.h"

using namespace lazarus;

namespace {

// A two-level tree named like a Hugging Face Llama layer.
struct Attn : nn::Module {
  Attn() {
    q_proj = register_module("q_proj", std::make_shared<nn::Linear>(8, 8, false));
    o_proj = register_module("o_proj", std::make_shared<nn::Linear>(8, 8, false));
  }
  std::shared_ptr<nn::Linear> q_proj, o_proj;
};
struct Layer : nn::Module {
  Layer() {
    self_attn = register_module("self_attn", std::make_shared<Attn>());
    input_layernorm = register_module("input_layernorm", std::make_shared<nn::RMSNorm>(8));
    register_buffer("inv_freq", &inv_freq, /*persistent=*/false);
  }
  std::shared_ptr<Attn> self_attn;
  std::shared_ptr<nn::RMSNorm> input_layernorm;
  Tensor inv_freq = ones({4});
};

TEST(Module, NamesFollowCheckpointPaths) {
  Layer l;
  std::vector<std::string> names;
  for (auto& [n, t] : l.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"self_attn.q_proj.weight", "self_attn.o_proj.weight",
                                             "input_layernorm.weight"}));
  auto sd = l.state_dict();
  EXPECT_EQ(sd.size(), 3u);  // non-persistent buffer left out
  EXPECT_EQ(l.num_parameters(), 8 * 8 * 2 + 8);
}

TEST(Module, StateDictRoundTrip) {
  Layer a, b;
  b.load_state_dict(a.state_dict());
  for (auto& [n, t] : a.state_dict()) EXPECT_TRUE(allclose(t, b.state_dict().at(n), 0, 0)) << n;
  EXPECT_TRUE(b.self_attn->q_proj->weight.requires_grad());
}

TEST(Module, StrictLoadListsEveryProblem) {
  Layer l;
  auto sd = l.state_dict();
  sd.erase("self_attn.o_proj.weight");
  sd["lm_head.weight"] = zeros({2, 2});
  sd["input_layernorm.weight"] = ones({9});
  try {
    l.load_state_dict(sd);
    FAIL() << "expected LoadError";
  } catch (const LoadError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("missing (1)"), std::string::npos) << m;
    EXPECT_NE(m.find("self_attn.o_proj.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("unexpected (1)"), std::string::npos) << m;
    EXPECT_NE(m.find("lm_head.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("input_layernorm.weight (checkpoint (9,) vs model (8,))"), std::string::npos)
        << m;
  }
}

TEST(Module, NonStrictLoadIgnoresMissingButNotShapes) {
  Layer l;
  nn::StateDict sd{{"input_layernorm.weight", full({8}, 2.0)}};
  l.load_state_dict(sd, /*strict=*/false);
  EXPECT_EQ(l.input_layernorm->weight.to_vector<float>()[0], 2.0f);
  sd["input_layernorm.weight"] = ones({3});
  EXPECT_THROW(l.load_state_dict(sd, false), LoadError);
}

TEST(Module, TrainEvalAndFreeze) {
  Layer l;
  EXPECT_TRUE(l.self_attn->q_proj->is_training());
  l.eval();
  EXPECT_FALSE(l.self_attn->q_proj->is_training());
  l.freeze();
  EXPECT_EQ(l.num_parameters(true), 0);
  l.unfreeze();
  EXPECT_EQ(l.num_parameters(true), l.num_parameters());
}

TEST(Module, DuplicateAndDottedNamesRejected) {
  struct Bad : nn::Module {
    Tensor w = ones({1});
    void twice() {
      register_parameter("w", &w);
      register_parameter("w", &w);
    }
    void dotted() { register_parameter("a.b", &w); }
  };
  Bad b;
  EXPECT_THROW(b.twice(), ConfigError);
  Bad c;
  EXPECT_THROW(c.dotted(), ConfigError);
}

TEST(Layers, LinearMatchesFormulaAndTrains) {
  manual_seed(1);
  nn::Linear lin(4, 3);
  Tensor x = randn({2, 4});
  Tensor y = lin.forward(x);
  Tensor ref = matmul(x, lin.weight.t()) + lin.bias;
  EXPECT_TRUE(allclose(y, ref, 1e-6, 1e-6));
  sum(y).backward();
  ASSERT_TRUE(lin.weight.grad().defined());
  ASSERT_TRUE(lin.bias.grad().defined());
  EXPECT_TRUE(allclose(lin.bias.grad(), full({3}, 2.0), 0, 0));
  // PyTorch's default init bound 1/sqrt(in_features)
  EXPECT_LE(amax(abs(lin.weight)).item(), 0.5);
}

// torch's padding_idx: the row starts at zero, is read as usual, and gets no gradient (the other
// rows get exactly what they get without it).
TEST(Layers, EmbeddingPaddingIdx) {
  manual_seed(3);
  nn::Embedding plain(6, 4);
  nn::Embedding padded(6, 4, DType::F32, 2);
  EXPECT_EQ(padded.padding_idx(), 2);
  EXPECT_TRUE(allclose(padded.weight.select(0, 2), zeros({4}), 0, 0));
  {
    NoGradGuard ng;
    padded.weight.copy_(plain.weight);  // a loaded (non-zero) padding row
  }
  Tensor ids = from_vector(std::vector<int64_t>{2, 0, 2, 5, 1, 2}, {2, 3}, DType::I64);
  Tensor w = randn({2, 3, 4});
  Tensor a = plain.forward(ids), b = padded.forward(ids);
  EXPECT_TRUE(allclose(a, b, 0, 0));  // the forward reads row 2 as it is
  sum(a * w).backward();
  sum(b * w).backward();
  Tensor ga = plain.weight.grad(), gb = padded.weight.grad();
  EXPECT_GT(amax(abs(ga.select(0, 2))).item(), 0.0);
  EXPECT_TRUE(allclose(gb.select(0, 2), zeros({4}), 0, 0));
  for (int64_t r : {0, 1, 3, 4, 5}) EXPECT_TRUE(allclose(gb.select(0, r), ga.select(0, r), 0, 0));
  EXPECT_THROW(nn::Embedding(6, 4, DType::F32, 6), ConfigError);
  EXPECT_THROW(nn::Embedding(6, 4, DType::F32, -1), ConfigError);
  EXPECT_THROW(embedding(plain.weight, ids, 9), IndexError);
}

// An f16 table (a GGUF file's) serving an f32 model: the looked-up rows come out widened,
// exactly (every f16 value is an f32), and the table stays f16.
TEST(Layers, EmbeddingOutputDtypeWidensTheLookedUpRows) {
  manual_seed(4);
  nn::Embedding e(6, 4, DType::F16);
  Tensor ids = from_vector(std::vector<int64_t>{5, 0, 5}, {1, 3}, DType::I64);
  EXPECT_EQ(e.forward(ids).dtype(), DType::F16);
  EXPECT_FALSE(e.output_dtype().has_value());
  e.set_output_dtype(DType::F32);
  Tensor out = e.forward(ids);
  EXPECT_EQ(out.dtype(), DType::F32);
  EXPECT_EQ(e.weight.dtype(), DType::F16);
  EXPECT_TRUE(allclose(out, embedding(e.weight, ids).to(DType::F32), 0, 0));
  EXPECT_TRUE(allclose(out.select(1, 0), e.weight.select(0, 5).to(DType::F32).unsqueeze(0), 0, 0));
}

TEST(Layers, BadArgumentsAreConfigErrors) {
  EXPECT_THROW(nn::Linear(0, 3), ConfigError);
  EXPECT_THROW(nn::Embedding(-1, 3), ConfigError);
  EXPECT_THROW(nn::RMSNorm(4, 0.0), ConfigError);
  EXPECT_THROW(nn::Dropout(1.5), ConfigError);
}

TEST(Layers, DropoutScalesInTrainingOnly) {
  nn::Dropout d(0.5);
  Generator g(7);
  Tensor x = ones({10000});
  Tensor y = d.forward(x, &g);
  auto v = y.to_vector<float>();
  int zeros_n = 0;
  for (float e : v) {
    EXPECT_TRUE(e == 0.0f || e == 2.0f);
    zeros_n += e == 0.0f;
  }
  EXPECT_NEAR(zeros_n / 10000.0, 0.5, 0.03);
  d.eval();
  EXPECT_TRUE(allclose(d.forward(x), x, 0, 0));
}

TEST(Layers, ToDtypeKeepsTrainability) {
  nn::Linear lin(4, 4);
  lin.to(DType::BF16);
  EXPECT_EQ(lin.weight.dtype(), DType::BF16);
  EXPECT_TRUE(lin.weight.requires_grad());
  EXPECT_EQ(lin.forward(ones({1, 4}, DType::BF16)).dtype(), DType::BF16);
}

}  // namespace

namespace {
TEST(Module, LoadCopiesIntoExistingTensorsUnlessAssign) {
  Layer l;
  Tensor held = l.input_layernorm->weight;  // e.g. an optimizer's handle
  auto sd = l.state_dict();
  sd["input_layernorm.weight"] = full({8}, 5.0);
  l.load_state_dict(sd);
  EXPECT_DOUBLE_EQ(sum(held).item(), 40.0);  // same storage, new values
  EXPECT_TRUE(l.input_layernorm->weight.requires_grad());
  Tensor fresh = full({8}, 9.0);
  sd["input_layernorm.weight"] = fresh;
  l.load_state_dict(sd, true, /*assign=*/true);
  EXPECT_EQ(l.input_layernorm->weight.storage(), fresh.storage());  // zero-copy
  EXPECT_DOUBLE_EQ(sum(held).item(), 40.0);
}
}  // namespace

TEST(Init, SkipInitGuardSkipsOnlyInItsScopeAndThread) {
  EXPECT_FALSE(nn::init::init_skipped());
  {
    nn::init::SkipInitGuard skip;
    EXPECT_TRUE(nn::init::init_skipped());
    {
      nn::init::SkipInitGuard nested;
      EXPECT_TRUE(nn::init::init_skipped());
    }
    EXPECT_TRUE(nn::init::init_skipped());  // the inner guard restores, not clears
    Tensor w = nn::init::normal({3, 5}, 0.02, DType::BF16);
    EXPECT_EQ(w.shape(), (Shape{3, 5}));
    EXPECT_EQ(w.dtype(), DType::BF16);
    EXPECT_EQ(nn::init::xavier_uniform(4, 6).shape(), (Shape{4, 6}));
    nn::Linear lin(7, 9, true);
    EXPECT_EQ(lin.weight.shape(), (Shape{9, 7}));
    EXPECT_EQ(lin.bias.shape(), (Shape{9}));
    bool other_thread_skipped = true;
    std::thread([&] { other_thread_skipped = nn::init::init_skipped(); }).join();
    EXPECT_FALSE(other_thread_skipped);
  }
  EXPECT_FALSE(nn::init::init_skipped());
  // Outside the scope the initializers draw again: U(-1/8, 1/8) for a fan-in of 64.
  nn::Linear lin(64, 64, false);
  std::vector<float> v = lin.weight.to_vector<float>();
  float lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
  EXPECT_LT(lo, -0.1f);
  EXPECT_GT(hi, 0.1f);
  EXPECT_GE(lo, -0.125f);
  EXPECT_LE(hi, 0.125f);
}
