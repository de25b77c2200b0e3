// LoRA: attaching by name, frozen base, merge/unmerge, PEFT save/load round trip, mlx-lm adapters,
// bad adapter files (values against PyTorch are in adapters.lora_torch_parity).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "lazarus/adapters/lora.h"
#include "lazarus/core/error.h"
#include "lazarus/families/llama/llama.h"
#include "lazarus/formats/safetensors.h"
#include "lazarus/losses/losses.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/random.h"

using namespace lazarus;
using families::LlamaConfig;
using families::LlamaForCausalLM;
namespace fs = std::filesystem;

namespace {

LlamaConfig tiny() {
  LlamaConfig c = LlamaConfig::tiny();
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 32;
  return c;
}

Tensor ids() {
  Generator g(5);
  return randint(0, 64, {2, 9}, &g);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return amax(abs(a.to(DType::F32) - b.to(DType::F32))).item();
}

// Gives every adapter a random B (fresh adapters add exactly nothing).
void randomize_b(nn::Module& m, uint64_t seed) {
  Generator g(seed);
  for (auto& [name, lin] : adapters::lora_layers(m)) {
    auto* ad = static_cast<adapters::LoraAdapter*>(lin->adapter().get());
    ad->B = randn(ad->B.shape(), DType::F32, 0.0, 0.1, &g).requires_grad_(true);
  }
}

fs::path tmpdir(const std::string& name) {
  // The pid keeps parallel test processes (ctest -j, other checkouts) out of each other's way.
  fs::path p =
      fs::temp_directory_path() / ("lazarus_lora_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("WRONG TYPE: ") + e.what();
  }
  return "NO ERROR";
}

TEST(Lora, WrapsDefaultProjectionsFreezesTheBaseAndStartsAsIdentity) {
  LlamaForCausalLM m(tiny());
  Tensor before = m.forward(ids()).logits;
  adapters::LoraConfig cfg;
  cfg.r = 4;
  auto names = adapters::apply_lora(m, cfg);
  EXPECT_EQ(names.size(), 14u);  // 7 projections x 2 layers
  EXPECT_EQ(names.front(), "model.layers.0.mlp.down_proj");
  // Trainable: r * (in + out) per layer.
  int64_t want = 0;
  for (auto& [n, lin] : adapters::lora_layers(m))
    want += 4 * (lin->in_features() + lin->out_features());
  EXPECT_EQ(m.num_parameters(true), want);
  EXPECT_EQ(max_abs_diff(m.forward(ids()).logits, before), 0.0);  // B = 0
  // Names below the Linear: model.layers.0.self_attn.q_proj.lora.A
  auto sd = m.state_dict();
  EXPECT_TRUE(sd.count("model.layers.0.self_attn.q_proj.lora.A"));
  EXPECT_EQ(sd["model.layers.1.mlp.up_proj.lora.B"].shape(), (Shape{48, 4}));
  // PEFT's init: A ~ U(-1/sqrt(in), 1/sqrt(in)), not all equal.
  Tensor a = sd["model.layers.0.mlp.down_proj.lora.A"];
  EXPECT_LE(amax(abs(a)).item(), 1.0 / std::sqrt(48.0));
  EXPECT_GT(amax(abs(a)).item(), 0.5 / std::sqrt(48.0));
  // Only the adapters get gradients.
  randomize_b(m, 1);
  m.forward(ids(), Tensor(), ids()).loss.backward();
  for (auto& [n, p] : m.named_parameters())
    EXPECT_EQ(p->grad().defined(), n.find(".lora.") != std::string::npos) << n;
}

TEST(Lora, TargetsByNameSuffixOrRegexAndReportsNoMatch) {
  LlamaForCausalLM m(tiny());
  adapters::LoraConfig cfg;
  cfg.target_modules = {"q_proj", "layers.1.mlp.down_proj"};
  auto names = adapters::apply_lora(m, cfg);
  EXPECT_EQ(names, (std::vector<std::string>{"model.layers.0.self_attn.q_proj",
                                             "model.layers.1.mlp.down_proj",
                                             "model.layers.1.self_attn.q_proj"}));
  // "proj" alone is not a suffix after a dot: nothing matches, and the message lists the layers.
  LlamaForCausalLM m2(tiny());
  cfg.target_modules = {"proj"};
  std::string msg = error_of<ConfigError>([&] { adapters::apply_lora(m2, cfg); });
  EXPECT_NE(msg.find("no Linear layer matches"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.layers.0.self_attn.q_proj"), std::string::npos) << msg;
  cfg.target_modules.clear();
  cfg.target_regex = R"(model\.layers\.0\.self_attn\.[kv]_proj)";
  EXPECT_EQ(adapters::apply_lora(m2, cfg).size(), 2u);
  EXPECT_THROW(adapters::apply_lora(m2, cfg), ConfigError);  // already adapted
  cfg.r = 0;
  EXPECT_THROW(cfg.validate(), ConfigError);
  cfg.r = 2;
  cfg.dropout = 1.0;
  EXPECT_THROW(cfg.validate(), ConfigError);
  cfg.dropout = 0;
  cfg.target_regex = "([";
  EXPECT_THROW(cfg.validate(), ConfigError);
}

TEST(Lora, MergeMatchesUnmergedAndUnmergeRestoresTheBase) {
  LlamaForCausalLM m(tiny());
  auto base = m.state_dict();
  std::map<std::string, Tensor> base_copy;
  for (auto& [k, v] : base) base_copy[k] = v.clone();
  adapters::LoraConfig cfg;
  cfg.r = 3;
  cfg.alpha = 6;
  adapters::apply_lora(m, cfg);
  randomize_b(m, 2);
  m.eval();
  Tensor unmerged = m.forward(ids()).logits;
  EXPECT_GT(max_abs_diff(unmerged, LlamaForCausalLM(tiny()).forward(ids()).logits), 1e-3);
  adapters::merge_lora(m);
  EXPECT_NE(max_abs_diff(m.state_dict()["model.layers.0.self_attn.q_proj.weight"],
                         base_copy["model.layers.0.self_attn.q_proj.weight"]),
            0.0);
  EXPECT_LT(max_abs_diff(m.forward(ids()).logits, unmerged), 1e-5);
  adapters::merge_lora(m);  // idempotent
  EXPECT_LT(max_abs_diff(m.forward(ids()).logits, unmerged), 1e-5);
  adapters::unmerge_lora(m);
  EXPECT_LT(max_abs_diff(m.forward(ids()).logits, unmerged), 1e-5);
  for (auto& [k, v] : m.state_dict()) {
    if (k.find(".lora.") != std::string::npos) continue;
    EXPECT_LT(max_abs_diff(v, base_copy[k]), 1e-6) << k;
  }
  // merge_and_unload: a plain model with the adapted weights and no adapter names left.
  adapters::merge_and_unload(m);
  EXPECT_TRUE(adapters::lora_layers(m).empty());
  auto sd = m.state_dict();
  EXPECT_EQ(sd.size(), base_copy.size());
  EXPECT_LT(max_abs_diff(m.forward(ids()).logits, unmerged), 1e-5);
  LlamaForCausalLM plain(tiny());
  plain.load_state_dict(sd);  // strict: the merged model is an ordinary checkpoint
  plain.eval();
  EXPECT_LT(max_abs_diff(plain.forward(ids()).logits, unmerged), 1e-5);
}

TEST(Lora, PeftSaveLoadRoundTrip) {
  fs::path dir = tmpdir("peft");
  LlamaForCausalLM m(tiny());
  adapters::LoraConfig cfg;
  cfg.r = 2;
  cfg.alpha = 7;
  cfg.dropout = 0.05;
  cfg.target_modules = {"q_proj", "v_proj", "down_proj"};
  adapters::apply_lora(m, cfg);
  randomize_b(m, 3);
  m.eval();
  Tensor want = m.forward(ids()).logits;
  adapters::save_peft_adapter(m, cfg, dir.string(), "my/base");
  // PEFT's key names and shapes.
  auto f = formats::SafetensorsFile::open((dir / "adapter_model.safetensors").string());
  EXPECT_EQ(f->entries().size(), 12u);
  EXPECT_EQ(f->tensor("base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight").shape(),
            (Shape{2, 32}));
  EXPECT_EQ(f->tensor("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight").shape(),
            (Shape{32, 2}));
  auto j = nlohmann::json::parse(std::ifstream(dir / "adapter_config.json"));
  EXPECT_EQ(j["peft_type"], "LORA");
  EXPECT_EQ(j["r"], 2);
  EXPECT_EQ(j["lora_alpha"], 7.0);
  EXPECT_EQ(j["base_model_name_or_path"], "my/base");
  // A fresh model with the same base weights + the adapter gives the same output, bit for bit.
  LlamaForCausalLM m2(tiny());
  auto got = adapters::load_peft_adapter(m2, dir.string());
  EXPECT_EQ(got.r, 2);
  EXPECT_DOUBLE_EQ(got.scale(), 3.5);
  EXPECT_EQ(got.target_modules, cfg.target_modules);
  EXPECT_EQ(adapters::lora_layers(m2).size(), 6u);
  EXPECT_EQ(m2.num_parameters(true), m.num_parameters(true));
  m2.eval();
  EXPECT_EQ(max_abs_diff(m2.forward(ids()).logits, want), 0.0);
  fs::remove_all(dir);
}

TEST(Lora, ReadsMlxLmAdapters) {
  // mlx-lm stores lora_a (in, r) and lora_b (r, out) and multiplies by "scale" directly.
  fs::path dir = tmpdir("mlx");
  Generator g(9);
  std::map<std::string, Tensor> t;
  std::map<std::string, Tensor> peft;
  for (int l = 0; l < 2; ++l) {
    for (const char* p : {"self_attn.q_proj", "mlp.up_proj"}) {
      std::string mod = "model.layers." + std::to_string(l) + "." + p;
      int64_t out = std::string(p) == "mlp.up_proj" ? 48 : 32;
      Tensor a = randn({32, 4}, DType::F32, 0, 0.2, &g),
             b = randn({4, out}, DType::F32, 0, 0.2, &g);
      t[mod + ".lora_a"] = a;
      t[mod + ".lora_b"] = b;
      peft["base_model.model." + mod + ".lora_A.weight"] = a.transpose(0, 1).contiguous();
      peft["base_model.model." + mod + ".lora_B.weight"] = b.transpose(0, 1).contiguous();
    }
  }
  formats::save_safetensors((dir / "adapters.safetensors").string(), t);
  write(dir / "adapter_config.json",
        R"({"fine_tune_type": "lora", "num_layers": 2,
            "lora_parameters": {"rank": 4, "scale": 2.5, "dropout": 0.0}})");
  LlamaForCausalLM m(tiny());
  auto cfg = adapters::load_mlx_adapter(m, dir.string());
  EXPECT_EQ(cfg.r, 4);
  EXPECT_DOUBLE_EQ(cfg.scale(), 2.5);
  // The same adapter written as PEFT (alpha = scale * r) gives the same model.
  fs::path pdir = tmpdir("mlx_as_peft");
  formats::save_safetensors((pdir / "adapter_model.safetensors").string(), peft);
  adapters::LoraConfig pc = cfg;
  write(pdir / "adapter_config.json", pc.to_peft_json().dump());
  LlamaForCausalLM m2(tiny());
  adapters::load_peft_adapter(m2, pdir.string());
  Tensor base = LlamaForCausalLM(tiny()).forward(ids()).logits;
  Tensor a = m.forward(ids()).logits, b = m2.forward(ids()).logits;
  EXPECT_GT(max_abs_diff(a, base), 1e-3);
  EXPECT_LT(max_abs_diff(a, b), 1e-6);
  // DoRA and wrong keys are refused.
  write(dir / "adapter_config.json",
        R"({"fine_tune_type": "dora", "lora_parameters": {"rank": 4, "scale": 2.5}})");
  LlamaForCausalLM m3(tiny());
  EXPECT_NE(
      error_of<ConfigError>([&] { adapters::load_mlx_adapter(m3, dir.string()); }).find("dora"),
      std::string::npos);
  fs::remove_all(dir);
  fs::remove_all(pdir);
}

class BadPeftFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = tmpdir("bad");
    LlamaForCausalLM m(tiny());
    cfg.r = 2;
    cfg.target_modules = {"q_proj"};
    adapters::apply_lora(m, cfg);
    adapters::save_peft_adapter(m, cfg, dir.string());
    good = formats::SafetensorsFile::open((dir / "adapter_model.safetensors").string())->tensors();
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string load_error() {
    LlamaForCausalLM m(tiny());
    try {
      adapters::load_peft_adapter(m, dir.string());
    } catch (const Error& e) {
      return e.what();
    }
    return "NO ERROR";
  }
  void write_weights(std::map<std::string, Tensor> t) {
    formats::save_safetensors((dir / "adapter_model.safetensors").string(), t);
  }
  fs::path dir;
  adapters::LoraConfig cfg;
  std::map<std::string, Tensor> good;
};

TEST_F(BadPeftFiles, GoodFolderLoads) { EXPECT_EQ(load_error(), "NO ERROR"); }

TEST_F(BadPeftFiles, MissingFolderOrFiles) {
  LlamaForCausalLM m(tiny());
  std::string msg =
      error_of<LoadError>([&] { adapters::load_peft_adapter(m, (dir / "nope").string()); });
  EXPECT_NE(msg.find("adapter_config.json"), std::string::npos) << msg;
  fs::remove(dir / "adapter_model.safetensors");
  EXPECT_NE(load_error().find("adapter_model.safetensors: not found"), std::string::npos);
}

TEST_F(BadPeftFiles, ConfigProblemsNameTheField) {
  write(dir / "adapter_config.json", "{\"peft_type\": \"LORA\", \"r\": ");
  EXPECT_NE(load_error().find("invalid JSON"), std::string::npos);
  write(dir / "adapter_config.json", R"({"peft_type": "IA3", "r": 2})");
  EXPECT_NE(load_error().find("peft_type"), std::string::npos);
  write(dir / "adapter_config.json", R"({"peft_type": "LORA", "r": "two"})");
  EXPECT_NE(load_error().find("\"r\""), std::string::npos);
  write(dir / "adapter_config.json", R"({"peft_type": "LORA", "r": 2, "use_dora": true})");
  EXPECT_NE(load_error().find("DoRA"), std::string::npos);
  write(dir / "adapter_config.json", R"({"peft_type": "LORA", "r": 2, "bias": "all"})");
  EXPECT_NE(load_error().find("bias"), std::string::npos);
  write(dir / "adapter_config.json",
        R"({"peft_type": "LORA", "r": 2, "rank_pattern": {"q_proj": 4}})");
  EXPECT_NE(load_error().find("rank_pattern"), std::string::npos);
  write(dir / "adapter_config.json", R"({"peft_type": "LORA", "r": 0})");
  EXPECT_NE(load_error().find("rank must be >= 1"), std::string::npos);
}

TEST_F(BadPeftFiles, WeightProblemsNameTheTensor) {
  auto t = good;
  t["base_model.model.model.layers.0.self_attn.q_proj.extra"] = zeros({2});
  write_weights(t);
  EXPECT_NE(load_error().find("q_proj.extra' is not a PEFT LoRA weight"), std::string::npos);
  t = good;
  t.erase("base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight");
  write_weights(t);
  EXPECT_NE(load_error().find("has lora_A but no lora_B"), std::string::npos);
  t = good;
  t["base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight"] = zeros({2, 32});
  t["base_model.model.model.layers.7.self_attn.q_proj.lora_B.weight"] = zeros({32, 2});
  write_weights(t);
  EXPECT_NE(load_error().find("'model.layers.7.self_attn.q_proj', which is not a Linear"),
            std::string::npos);
  t = good;
  t["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] = zeros({2, 31});
  write_weights(t);
  std::string msg = load_error();
  EXPECT_NE(msg.find("do not fit a rank-2 adapter"), std::string::npos) << msg;
  t = good;
  t["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] = zeros({2, 32}, DType::I64);
  write_weights(t);
  EXPECT_NE(load_error().find("must be floating"), std::string::npos);
  // A truncated file: the safetensors reader's LoadError, naming the file.
  std::string bytes = formats::serialize_safetensors(good);
  write(dir / "adapter_model.safetensors", bytes.substr(0, bytes.size() - 10));
  msg = load_error();
  EXPECT_NE(msg.find("adapter_model.safetensors"), std::string::npos) << msg;
}

// Issue 20: what an adapter_config.json holds cannot crash the loader or attach nothing silently.
TEST_F(BadPeftFiles, HostileTargetModulesAndAlpha) {
  const std::string cfg_file = (dir / "adapter_config.json").string();
  // 20,000 nested groups: std::regex recursed once per group and overflowed the stack.
  const std::string nested = std::string(20000, '(') + "q_proj" + std::string(20000, ')');
  write(dir / "adapter_config.json",
        R"({"peft_type": "LORA", "r": 2, "target_modules": ")" + nested + "\"}");
  std::string msg = load_error();
  EXPECT_NE(msg.find(cfg_file), std::string::npos) << msg;
  EXPECT_NE(msg.find("target_modules"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a valid regex"), std::string::npos) << msg;
  EXPECT_LT(msg.size(), 600u) << msg;  // the pattern is shortened in the message
  write(dir / "adapter_config.json",
        R"({"peft_type": "LORA", "r": 2, "target_modules": "model\\.layers\\.[01]\\.self_attn\\.q_proj"})");
  EXPECT_EQ(load_error(), "NO ERROR");
  // PEFT refuses a zero or negative lora_alpha.
  for (const char* alpha : {"0", "-8", "0.0"}) {
    write(dir / "adapter_config.json",
          std::string(R"({"peft_type": "LORA", "r": 2, "target_modules": ["q_proj"], "lora_alpha": )") +
              alpha + "}");
    msg = load_error();
    EXPECT_NE(msg.find(cfg_file), std::string::npos) << msg;
    EXPECT_NE(msg.find("lora_alpha"), std::string::npos) << msg;
  }
  // Targets the model does not have: PEFT's "Target modules ... not found in the base model".
  write(dir / "adapter_config.json",
        R"({"peft_type": "LORA", "r": 2, "target_modules": ["c_attn"]})");
  msg = load_error();
  EXPECT_NE(msg.find(cfg_file), std::string::npos) << msg;
  EXPECT_NE(msg.find("[c_attn] match no Linear layer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.layers.0.self_attn.q_proj"), std::string::npos) << msg;
  write(dir / "adapter_config.json",
        R"({"peft_type": "LORA", "r": 2, "target_modules": "transformer\\.h\\..*"})");
  msg = load_error();
  EXPECT_NE(msg.find("match no Linear layer"), std::string::npos) << msg;
  // The same bounds through the API.
  adapters::LoraConfig c;
  c.target_modules.clear();
  c.target_regex = nested;
  EXPECT_THROW(c.validate(), ConfigError);
  c.target_regex = "q_proj";
  c.alpha = 0;
  EXPECT_THROW(c.validate(), ConfigError);
}

TEST(Lora, TrainingChangesOnlyTheAdapters) {
  LlamaForCausalLM m(tiny());
  std::map<std::string, Tensor> base;
  for (auto& [k, v] : m.state_dict()) base[k] = v.clone();
  adapters::LoraConfig cfg;
  cfg.r = 4;
  cfg.alpha = 8;
  adapters::apply_lora(m, cfg);
  std::vector<Tensor*> params;
  for (Tensor* p : m.parameters())
    if (p->requires_grad()) params.push_back(p);
  Tensor x = ids();
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    m.zero_grad();
    Tensor loss = m.forward(x, Tensor(), x).loss;
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    NoGradGuard ng;
    for (Tensor* p : params) p->copy_(*p - p->grad() * 0.05);
  }
  EXPECT_LT(last, first - 0.1);
  for (auto& [k, v] : m.state_dict()) {
    if (k.find(".lora.") == std::string::npos) {
      EXPECT_EQ(max_abs_diff(v, base[k]), 0.0) << k;
    }
  }
}

}  // namespace
