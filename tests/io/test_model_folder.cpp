// Hugging Face model folders: load (single file, shards in parallel, async, progress, dtypes,
// tied heads), save_pretrained round trips that are bit-identical, and bad config / index /
// weight files that must each give a clear error naming the file and the key or tensor.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>

#include "lazarus/core/error.h"
#include "lazarus/families/registry.h"
#include "lazarus/io/model_folder.h"
#include "lazarus/formats/safetensors.h"
#include "lazarus/tensor/autograd.h"
#include "tests/io/tiny_folder.h"

using namespace lazarus;
using namespace lazarus::testing;
using config::Json;

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
}

void expect_same_weights(models::CausalLM& a, models::CausalLM& b) {
  auto sa = a.state_dict(), sb = b.state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (auto& [name, t] : sa) {
    ASSERT_TRUE(sb.count(name)) << name;
    EXPECT_TRUE(same_bits(t, sb.at(name))) << name;
  }
}

Tensor logits_of(models::CausalLM& m, const std::vector<int64_t>& ids) {
  NoGradGuard ng;
  return m.forward(from_vector(ids, {1, int64_t(ids.size())}, DType::I64)).logits;
}

// Runs `fn`, which must throw E with every needle in its message.
template <class E, class F>
void expect_error(F fn, std::vector<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing '" << needles[0] << "'";
  } catch (const E& e) {
    std::string m = e.what();
    for (auto& n : needles)
      EXPECT_NE(m.find(n), std::string::npos) << "'" << n << "' not in: " << m;
  }
}

Json read_json(const fs::path& p) { return Json::parse(read_text(p)); }

class ModelFolder : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fresh_dir("model_folder");
    make_tiny_llama_folder(root_ / "tiny");
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  // A copy of the tiny folder to break.
  fs::path copy(const std::string& name) {
    fs::path d = root_ / name;
    fs::remove_all(d);
    fs::copy(root_ / "tiny", d, fs::copy_options::recursive);
    return d;
  }
  static fs::path root_;
};
fs::path ModelFolder::root_;

TEST_F(ModelFolder, LoadsModelTokenizerAndGenerationDefaults) {
  auto ref = tiny_llama();
  io::PretrainedModel m = io::load_pretrained((root_ / "tiny").string());
  EXPECT_EQ(m.family, "llama");
  ASSERT_TRUE(m.model);
  ASSERT_TRUE(m.tokenizer);
  ASSERT_TRUE(m.tokenizer_config);
  EXPECT_TRUE(m.tokenizer_config->has_chat_template());
  EXPECT_EQ(m.generation.eos_token_id, (std::vector<int64_t>{2}));
  EXPECT_FALSE(m.generation.do_sample);
  EXPECT_GT(m.weight_bytes, 0u);
  expect_same_weights(*ref, *m.model);
  std::vector<int64_t> ids = {1, 415, 2936, 9060, 285, 1142};
  EXPECT_TRUE(same_bits(logits_of(*ref, ids), logits_of(*m.model, ids)));
  // f32 checkpoint, f32 compute: the parameters are the file's bytes, not copies.
  EXPECT_EQ(read_json(root_ / "tiny" / "config.json")["torch_dtype"], "float32");
}

TEST_F(ModelFolder, SaveLoadRoundTripIsBitIdentical) {
  io::PretrainedModel a = io::load_pretrained((root_ / "tiny").string());
  io::save_pretrained(a, (root_ / "resaved").string());
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json",
                        "tokenizer_config.json", "generation_config.json"})
    EXPECT_TRUE(fs::exists(root_ / "resaved" / f)) << f;
  // The same model written twice gives the same bytes.
  EXPECT_EQ(read_text(root_ / "tiny" / "model.safetensors"),
            read_text(root_ / "resaved" / "model.safetensors"));
  io::PretrainedModel b = io::load_pretrained((root_ / "resaved").string());
  expect_same_weights(*a.model, *b.model);
  // transformers refuses safetensors files without {"format": "pt"}.
  auto st = formats::SafetensorsFile::open((root_ / "resaved" / "model.safetensors").string());
  EXPECT_EQ(st->metadata().at("format"), "pt");
  // No temporary files left behind.
  for (auto& e : fs::directory_iterator(root_))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST_F(ModelFolder, ShardedSaveLoadsInParallelAsyncWithProgress) {
  io::PretrainedModel a = io::load_pretrained((root_ / "tiny").string());
  io::SaveOptions o;
  o.max_shard_bytes = 1'500'000;  // the embedding alone is 4 MB: several shards
  io::save_pretrained(a, (root_ / "sharded").string(), o);
  EXPECT_FALSE(fs::exists(root_ / "sharded" / "model.safetensors"));
  Json index = read_json(root_ / "sharded" / "model.safetensors.index.json");
  std::set<std::string> shards;
  for (auto& [k, v] : index["weight_map"].items()) shards.insert(v.get<std::string>());
  EXPECT_GE(shards.size(), 3u);
  EXPECT_TRUE(shards.count(fmt::format("model-00001-of-{:05d}.safetensors", shards.size())));

  io::LoadOptions lo;
  lo.threads = 2;
  std::atomic<int> calls{0};
  std::atomic<uint64_t> last_done{0}, total{0};
  lo.progress = [&](const io::LoadProgress& p) {
    ++calls;
    last_done = p.bytes_done;
    total = p.bytes_total;
  };
  std::future<io::PretrainedModel> fut =
      io::load_pretrained_async((root_ / "sharded").string(), lo);
  io::PretrainedModel b = fut.get();
  expect_same_weights(*a.model, *b.model);
  EXPECT_GT(calls.load(), int(shards.size()));
  EXPECT_EQ(last_done.load(), total.load());
  EXPECT_EQ(total.load(), index["metadata"]["total_size"].get<uint64_t>());

  // Saving single-file over the sharded folder removes the shards and the index.
  io::save_pretrained(b, (root_ / "sharded").string());
  EXPECT_TRUE(fs::exists(root_ / "sharded" / "model.safetensors"));
  EXPECT_FALSE(fs::exists(root_ / "sharded" / "model.safetensors.index.json"));
  for (auto& s : shards) EXPECT_FALSE(fs::exists(root_ / "sharded" / s)) << s;
  expect_same_weights(*a.model, *io::load_pretrained((root_ / "sharded").string()).model);
}

TEST_F(ModelFolder, Bf16ComputeAndCheckpoints) {
  io::LoadOptions lo;
  lo.dtype = DType::BF16;
  io::PretrainedModel a = io::load_pretrained((root_ / "tiny").string(), lo);
  for (auto& [name, p] : a.model->named_parameters()) EXPECT_EQ(p->dtype(), DType::BF16) << name;
  io::save_pretrained(a, (root_ / "bf16").string());
  EXPECT_EQ(read_json(root_ / "bf16" / "config.json")["torch_dtype"], "bfloat16");
  io::PretrainedModel b = io::load_pretrained((root_ / "bf16").string(), lo);
  expect_same_weights(*a.model, *b.model);  // bf16 file, bf16 compute: exact
  // The bf16 file read for f32 compute holds exactly the bf16 values.
  io::PretrainedModel c = io::load_pretrained((root_ / "bf16").string());
  auto sb = b.model->state_dict();
  for (auto& [name, t] : c.model->state_dict()) {
    EXPECT_EQ(t.dtype(), DType::F32);
    EXPECT_TRUE(same_bits(t, sb.at(name).to(DType::F32))) << name;
  }
  EXPECT_THROW(
      {
        io::LoadOptions bad;
        bad.dtype = DType::I32;
        io::load_pretrained((root_ / "tiny").string(), bad);
      },
      DTypeError);
}

TEST_F(ModelFolder, TiedEmbeddings) {
  fs::path dir = root_ / "tied";
  make_tiny_llama_folder(dir, /*tied=*/true);
  auto names = formats::SafetensorsFile::open((dir / "model.safetensors").string());
  EXPECT_FALSE(names->contains("lm_head.weight"));  // as transformers writes tied models
  io::PretrainedModel m = io::load_pretrained(dir.string());
  auto ref = tiny_llama(true);
  std::vector<int64_t> ids = {1, 22557, 28725};
  EXPECT_TRUE(same_bits(logits_of(*ref, ids), logits_of(*m.model, ids)));

  // A checkpoint that also carries lm_head.weight: fine when it is the embedding...
  auto sd = formats::SafetensorsFile::open((dir / "model.safetensors").string())->tensors();
  sd["lm_head.weight"] = sd["model.embed_tokens.weight"].clone();
  formats::save_safetensors((dir / "model.safetensors").string(), sd);
  EXPECT_NO_THROW(io::load_pretrained(dir.string()));
  // ... an error when it differs (the config would silently drop a real head).
  sd["lm_head.weight"] = sd["lm_head.weight"] * 2.0;
  formats::save_safetensors((dir / "model.safetensors").string(), sd);
  expect_error<LoadError>([&] { io::load_pretrained(dir.string()); },
                          {dir.string(), "tie_word_embeddings", "lm_head.weight differs"});
}

TEST_F(ModelFolder, WeightsThatDoNotFitAreListed) {
  fs::path dir = copy("bad_weights");
  auto sd = formats::SafetensorsFile::open((dir / "model.safetensors").string())->tensors();
  sd.erase("model.layers.1.mlp.up_proj.weight");
  sd["model.layers.0.self_attn.q_proj.weight"] = zeros({3, 3});
  sd["model.layers.0.extra.weight"] = zeros({2});
  sd["model.layers.0.self_attn.rotary_emb.inv_freq"] = zeros({4});  // dropped, as HF does
  formats::save_safetensors((dir / "model.safetensors").string(), sd);
  expect_error<LoadError>([&] { io::load_pretrained(dir.string()); },
                          {dir.string(), "missing (1)", "model.layers.1.mlp.up_proj.weight",
                           "unexpected (1)", "model.layers.0.extra.weight", "wrong shape (1)",
                           "q_proj.weight (checkpoint (3, 3) vs model (32, 32))"});
  fs::remove(dir / "model.safetensors");
  expect_error<LoadError>([&] { io::load_pretrained(dir.string()); },
                          {dir.string(), "no model.safetensors"});
}

// A key nobody knows (and not known to change the math) is a warning, said once on stderr by the
// loader, and the model loads.
TEST_F(ModelFolder, UnknownConfigKeyIsAWarning) {
  fs::path dir = copy("unknown_key");
  Json j = read_json(dir / "config.json");
  j["my_run_id"] = "abc";
  write_text(dir / "config.json", j.dump());
  ::testing::internal::CaptureStderr();
  io::PretrainedModel m;
  try {
    m = io::load_pretrained(dir.string());
  } catch (...) {
    ::testing::internal::GetCapturedStderr();
    throw;
  }
  std::string err = ::testing::internal::GetCapturedStderr();
  const std::string want = "warning: " + (dir / "config.json").string() +
                           ": unknown key 'my_run_id' (= \"abc\") ignored";
  EXPECT_NE(err.find(want), std::string::npos) << err;
  EXPECT_EQ(err.find(want), err.rfind(want)) << "said more than once: " << err;
  EXPECT_TRUE(m.model);
  EXPECT_EQ(families::config_warnings(j).size(), 1u);
}

TEST_F(ModelFolder, BadConfigJson) {
  fs::path dir = copy("bad_config");
  const Json good = read_json(dir / "config.json");
  auto with = [&](auto edit) {
    Json j = good;
    edit(j);
    write_text(dir / "config.json", j.dump());
  };
  auto cfg_error = [&](std::vector<std::string> needles) {
    needles.push_back((dir / "config.json").string());
    expect_error<ConfigError>([&] { io::load_pretrained(dir.string()); }, needles);
  };
  with([](Json& j) { j.erase("hidden_size"); });
  cfg_error({"hidden_size: missing required field"});
  with([](Json& j) { j["num_hidden_layers"] = "2"; });
  cfg_error({"num_hidden_layers: expected an integer, got string \"2\""});
  with([](Json& j) { j["rope_scaling"] = {{"rope_type", "longrope"}, {"factor", 2.0}}; });
  cfg_error({"rope_scaling.rope_type", "longrope"});
  with([](Json& j) { j["rope_scaling"] = {{"factor", 2.0}}; });
  cfg_error({"rope_scaling.rope_type: missing required field"});
  with([](Json& j) { j["num_experts_per_tok"] = 2; });  // changes the math, not understood
  cfg_error({"num_experts_per_tok: 2 is not supported"});
  with([](Json& j) {
    j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}, {"beta", 1}};
  });
  cfg_error({"rope_scaling", "unknown key 'beta'"});  // inside rope_scaling, every key is math
  with([](Json& j) { j["rope_interleaved"] = true; });
  cfg_error({"rope_interleaved: true is not supported"});
  with([](Json& j) { j["quantization_config"] = {{"quant_method", "gptq"}}; });
  cfg_error({"quantization_config", "not supported"});
  with([](Json& j) { j["num_key_value_heads"] = 3; });
  cfg_error({"num_key_value_heads: 3 does not divide num_attention_heads 4"});
  with([](Json& j) {
    j["model_type"] = "gpt2";
    j["architectures"] = {"GPT2LMHeadModel"};
  });
  cfg_error({"no family for model_type 'gpt2'"});
  // Harmless bookkeeping keys of real configs are accepted.
  with([](Json& j) {
    j["transformers_version"] = "4.45.0";
    j["is_llama_config"] = true;
    j["rope_interleaved"] = false;
    j["id2label"] = {{"0", "LABEL_0"}};
  });
  EXPECT_NO_THROW(io::load_pretrained(dir.string()));

  write_text(dir / "config.json", "{\"model_type\": \"llama\", ");
  cfg_error({"invalid JSON"});
  write_text(dir / "config.json", std::string(100000, '[') + std::string(100000, ']'));
  expect_error<LoadError>([&] { io::load_pretrained(dir.string()); },
                          {(dir / "config.json").string(), "nested deeper"});
  write_text(dir / "config.json", good.dump());
  expect_error<LoadError>([&] { io::load_pretrained((dir / "nope").string()); }, {"not a folder"});
  fs::remove(dir / "config.json");
  expect_error<LoadError>([&] { io::load_pretrained(dir.string()); }, {"no config.json"});
}

TEST_F(ModelFolder, GenerationConfigJson) {
  fs::path dir = copy("gen_config");
  write_text(dir / "generation_config.json",
             R"({"do_sample": true, "temperature": 0.6, "top_p": 0.9, "eos_token_id": [2, 7],
                 "num_beams": 4, "typical_p": 1.0, "transformers_version": "4.45.0"})");
  io::PretrainedModel m = io::load_pretrained(dir.string());
  EXPECT_TRUE(m.generation.do_sample);
  EXPECT_DOUBLE_EQ(m.generation.temperature, 0.6);
  EXPECT_DOUBLE_EQ(m.generation.top_p, 0.9);
  EXPECT_EQ(m.generation.top_k, 50);  // transformers' default
  EXPECT_EQ(m.generation.eos_token_id, (std::vector<int64_t>{2, 7}));
  EXPECT_EQ(m.generation.bos_token_id, 1);  // from config.json
  ASSERT_EQ(m.warnings.size(), 1u);         // num_beams 4 is reported, typical_p 1.0 is neutral
  EXPECT_NE(m.warnings[0].find("num_beams = 4"), std::string::npos) << m.warnings[0];
  auto s = m.generation.sampler(9);
  EXPECT_DOUBLE_EQ(s.temperature, 0.6);
  EXPECT_EQ(s.seed, 9u);
  // Without do_sample the defaults are greedy.
  write_text(dir / "generation_config.json", R"({"temperature": 0.6, "eos_token_id": 2})");
  EXPECT_EQ(io::load_pretrained(dir.string()).generation.sampler().temperature, 0.0);

  fs::path g = dir / "generation_config.json";
  write_text(g, R"({"top_p": 1.5})");
  expect_error<ConfigError>([&] { io::load_pretrained(dir.string()); }, {g.string(), "top_p"});
  write_text(g, R"({"temperature": "hot"})");
  expect_error<ConfigError>([&] { io::load_pretrained(dir.string()); },
                            {g.string(), "temperature: expected a number"});
  write_text(g, R"({"eos_token_id": [2, 99999]})");
  expect_error<ConfigError>([&] { io::load_pretrained(dir.string()); },
                            {"eos_token_id 99999 is outside the vocabulary of 32000"});
}

TEST_F(ModelFolder, BadIndexFiles) {
  fs::path dir = root_ / "bad_index";
  {
    io::PretrainedModel a = io::load_pretrained((root_ / "tiny").string());
    io::SaveOptions o;
    o.max_shard_bytes = 1'500'000;
    fs::remove_all(dir);
    io::save_pretrained(a, dir.string(), o);
  }
  fs::path ix = dir / "model.safetensors.index.json";
  const Json good = read_json(ix);
  const std::string first = good["weight_map"].begin().key();
  auto with = [&](auto edit) {
    Json j = good;
    edit(j);
    write_text(ix, j.dump());
  };
  auto load_error = [&](std::vector<std::string> needles) {
    expect_error<LoadError>([&] { io::load_pretrained(dir.string()); }, needles);
  };
  with([&](Json& j) { j["weight_map"][first] = "../outside.safetensors"; });
  load_error({ix.string(), first, "points outside the model folder"});
  with([&](Json& j) { j["weight_map"][first] = "/etc/passwd"; });
  load_error({ix.string(), "points outside the model folder"});
  with([&](Json& j) { j["weight_map"][first] = 3; });
  load_error({ix.string(), "must be a file name"});
  with([&](Json& j) { j.erase("weight_map"); });
  load_error({ix.string(), "missing 'weight_map'"});
  with([&](Json& j) { j["weight_map"] = Json::object(); });
  load_error({ix.string(), "lists no tensors"});
  with([&](Json& j) { j["weight_map"][first] = "model-00009-of-00009.safetensors"; });
  load_error({"model-00009-of-00009.safetensors", "cannot open"});
  with([&](Json& j) { j["weight_map"]["model.not.there"] = j["weight_map"][first]; });
  load_error({ix.string(), "'model.not.there'", "which has no such tensor"});
  // A shard holding a tensor the index does not list.
  std::string shared;
  for (auto& [k, v] : good["weight_map"].items())
    if (k != first && v == good["weight_map"][first]) shared = k;
  if (shared.empty()) {  // `first` has a shard to itself: take the name listed last instead
    for (auto& [k, v] : good["weight_map"].items()) shared = k;
  }
  with([&](Json& j) { j["weight_map"].erase(shared); });
  load_error({"does not list", shared});
  write_text(ix, "{\"weight_map\": ");
  load_error({ix.string(), "invalid JSON"});
}

TEST(ResolveModelFolder, PathsAndErrors) {
  fs::path d = fresh_dir("resolve");
  expect_error<LoadError>([&] { io::resolve_model_folder((d / "missing").string()); },
                          {"no such model folder"});
  expect_error<LoadError>([&] { io::resolve_model_folder(d.string()); }, {"no config.json"});
  write_text(d / "config.json", "{}");
  EXPECT_EQ(io::resolve_model_folder(d.string()), d.string());
  EXPECT_EQ(io::resolve_model_folder((d / "config.json").string()), d.string());
  // The shipped model by name, from $LAZARUS_MODELS_DIR (else the source tree's assets/models).
  const std::string shipped = io::kDefaultModelName;
  ::setenv("LAZARUS_MODELS_DIR", d.c_str(), 1);
  expect_error<LoadError>([&] { io::resolve_model_folder(shipped); },
                          {shipped, "LAZARUS_MODELS_DIR"});
  fs::create_directories(d / shipped);
  write_text(d / shipped / "config.json", "{}");
  EXPECT_EQ(io::resolve_model_folder(shipped), (d / shipped).string());
  ::unsetenv("LAZARUS_MODELS_DIR");
  // Not a folder and not path-like: a hub name, checked before any network use.
  expect_error<LoadError>([&] { io::resolve_model_folder("org/a b"); }, {"not a model folder"});
  fs::remove_all(d);
}

TEST(SavePretrained, FreshFolderAppearsWholeAndErrorsAreClear) {
  fs::path d = fresh_dir("save");
  auto m = tiny_llama();
  write_text(d / "file", "x");
  expect_error<LoadError>([&] { io::save_pretrained(*m, (d / "file/sub/x").string()); },
                          {"cannot create the parent folder"});
  expect_error<LoadError>([&] { io::save_pretrained(*m, (d / "file").string()); },
                          {"exists and is not a folder"});
  io::save_pretrained(*m, (d / "out").string());
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(d)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"file", "out"}));  // no staging folder left
  Json cfg = read_json(d / "out" / "config.json");
  EXPECT_EQ(families::LlamaConfig::from_json(cfg).hidden_size, 32);
  fs::remove_all(d);
}

}  // namespace

// Files that loaded silently wrong, or hung, before (issue 20).
TEST_F(ModelFolder, HostileFilesAreRefused) {
  // JSON followed by NUL and garbage: nlohmann stops at the NUL and accepts what came before.
  for (const char* f : {"config.json", "tokenizer.json"}) {
    fs::path dir = copy("nul_garbage");
    write_text(dir / f, read_text(dir / f) + std::string(1, '\0') + "garbage");
    expect_error<LoadError>([&] { io::load_pretrained(dir.string()); },
                            {(dir / f).string(), "NUL byte at offset"});
  }
  // A FIFO in place of an input file is refused at once, not waited on.
  for (const char* f :
       {"config.json", "tokenizer.json", "model.safetensors", "chat_template.jinja"}) {
    fs::path dir = copy("fifo");
    fs::remove(dir / f);
    ASSERT_EQ(::mkfifo((dir / f).c_str(), 0600), 0) << f;
    expect_error<LoadError>([&] { io::load_pretrained(dir.string()); },
                            {(dir / f).string(), "is a FIFO, not a regular file"});
  }
  // Float weights stored as I64 or BOOL would load as whole numbers: refused by name.
  for (DType bad : {DType::I64, DType::Bool}) {
    fs::path dir = copy("int_weights");
    auto st = formats::SafetensorsFile::open((dir / "model.safetensors").string())->tensors();
    std::map<std::string, Tensor> w(st.begin(), st.end());
    const std::string name = "model.norm.weight";
    ASSERT_TRUE(w.count(name));
    w[name] = w[name].to(bad);
    fs::remove(dir / "model.safetensors");
    formats::save_safetensors((dir / "model.safetensors").string(), w);
    expect_error<LoadError>([&] { io::load_pretrained(dir.string()); },
                            {"wrong dtype", name, std::string(dtype_name(bad))});
  }
}
