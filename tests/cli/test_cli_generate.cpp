// `lazarus generate`, `lazarus chat` and `lazarus info --model` run as processes on a tiny model
// folder; their output must equal what the library generates in-process with the same settings,
// and bad flags must fail with a message that names them.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>

#include <fmt/format.h>

#include "lazarus/families/qwen/qwen.h"
#include "lazarus/formats/gguf.h"
#include "lazarus/generation/generate.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tokenizers/chat_template.h"
#include "tests/io/tiny_folder.h"

using namespace lazarus;
using namespace lazarus::testing;

namespace {

struct Proc {
  int status = -1;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fresh_dir("cli");
    make_tiny_llama_folder(dir_ / "model");
    model_ = new io::PretrainedModel(io::load_pretrained((dir_ / "model").string()));
  }
  static void TearDownTestSuite() {
    delete model_;
    fs::remove_all(dir_);
  }
  // Runs `lazarus ARGS` (stdin from `input`); captures stdout, stderr and the exit status.
  static Proc run(const std::string& args, const std::string& input = "") {
    fs::path in = dir_ / "stdin.txt", err = dir_ / "stderr.txt";
    write_text(in, input);
    std::string cmd =
        quote(LAZARUS_CLI) + " " + args + " < " + quote(in.string()) + " 2> " + quote(err.string());
    Proc r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.err = read_text(err);
    return r;
  }
  static std::string model_arg() { return "--model " + quote((dir_ / "model").string()); }

  // What the library generates for `ids` with these parameters.
  static std::string library_text(const std::vector<int64_t>& ids, generation::GenerationParams p) {
    p.eos_token_ids = {2};
    return generation::generate(*model_->model, {ids}, p, model_->tokenizer.get()).text[0];
  }
  static std::vector<int64_t> raw_ids(const std::string& prompt) {
    auto v = model_->tokenizer->encode_ids(prompt, true);
    return {v.begin(), v.end()};
  }
  static std::vector<int64_t> chat_ids(const nlohmann::ordered_json& messages) {
    tokenizers::ChatTemplateInputs in;
    in.messages = messages;
    in.add_generation_prompt = true;
    in.bos_token = model_->tokenizer_config->bos_token;
    in.eos_token = model_->tokenizer_config->eos_token;
    std::string text =
        tokenizers::ChatTemplate(model_->tokenizer_config->chat_template()).render(in);
    auto v = model_->tokenizer->encode_ids(text, false);
    return {v.begin(), v.end()};
  }
  static generation::GenerationParams greedy(int64_t n) {
    generation::GenerationParams p;
    p.max_new_tokens = n;
    return p;
  }
  static fs::path dir_;
  static io::PretrainedModel* model_;
};
fs::path Cli::dir_;
io::PretrainedModel* Cli::model_ = nullptr;

TEST_F(Cli, GenerateGreedyEqualsTheLibraryStreamedOrNot) {
  const std::string expect = library_text(raw_ids("Once upon a time"), greedy(16));
  ASSERT_FALSE(expect.empty());
  Proc a = run("generate " + model_arg() + " --prompt 'Once upon a time' --raw -n 16 --no-stream");
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, expect + "\n");
  EXPECT_NE(a.err.find("prompt: "), std::string::npos) << a.err;
  EXPECT_NE(a.err.find("tokens/s"), std::string::npos) << a.err;
  Proc b = run("generate " + model_arg() + " --prompt 'Once upon a time' --raw -n 16");
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_EQ(b.out, a.out);
  // The prompt may come from stdin.
  Proc c = run("generate " + model_arg() + " --prompt - --raw -n 16", "Once upon a time");
  EXPECT_EQ(c.out, a.out) << c.err;
}

TEST_F(Cli, GenerateUsesTheChatTemplateUnlessRaw) {
  auto ids = chat_ids({{{"role", "user"}, {"content", "Hello there"}}});
  Proc r = run("generate " + model_arg() + " -p 'Hello there' -n 12 --no-stream");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, library_text(ids, greedy(12)) + "\n");
  // The Mistral-instruct template refuses a system role: its own message is the error.
  Proc s = run("generate " + model_arg() + " -p hi --system 'Be brief' -n 4");
  EXPECT_EQ(s.status, 1);
  EXPECT_NE(s.err.find("Conversation roles must alternate"), std::string::npos) << s.err;
  Proc raw = run("generate " + model_arg() + " -p hi --system 'Be brief' --raw -n 4");
  EXPECT_EQ(raw.status, 1);
  EXPECT_NE(raw.err.find("--system needs the chat template"), std::string::npos) << raw.err;
}

TEST_F(Cli, SeededSamplingAndStopStrings) {
  generation::GenerationParams p = greedy(20);
  p.sampler.temperature = 0.8;
  p.sampler.top_k = 50;  // transformers' default while sampling
  p.sampler.seed = 5;
  const std::string expect = library_text(raw_ids("Seeds"), p);
  const std::string args = "generate " + model_arg() + " -p Seeds --raw -n 20 -t 0.8 --seed 5";
  Proc a = run(args), b = run(args);
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, expect + "\n");
  EXPECT_EQ(b.out, a.out);

  const std::string text = library_text(raw_ids("Once upon a time"), greedy(30));
  ASSERT_GT(text.size(), 10u);
  std::string stop = text.substr(5, 3);
  while (!stop.empty() && (static_cast<unsigned char>(stop[0]) >> 6) == 2) stop.erase(0, 1);
  Proc s =
      run("generate " + model_arg() + " -p 'Once upon a time' --raw -n 30 --stop " + quote(stop));
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_EQ(s.out, text.substr(0, text.find(stop)) + "\n");
  EXPECT_NE(s.err.find("finish: stop"), std::string::npos) << s.err;
}

TEST_F(Cli, BadFlagsFailWithClearMessages) {
  auto fails = [&](const std::string& flags, const std::string& needle) {
    Proc r = run("generate " + model_arg() + " -p hi --raw " + flags);
    EXPECT_NE(r.status, 0) << flags;
    EXPECT_NE(r.err.find(needle), std::string::npos) << flags << ": " << r.err;
  };
  fails("-t -1", "temperature: -1 must be >= 0");
  fails("--top-p 1.5", "top_p: 1.5 must be in (0, 1]");
  fails("--top-p 0", "top_p: 0 must be in (0, 1]");
  fails("--top-k -2", "top_k: -2 must be >= 0");
  fails("-n 1000", "exceeds the model's context of 128");
  fails("--dtype f64", "--dtype");
  Proc missing = run("generate --model /no/such/folder -p hi");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("no such model folder"), std::string::npos) << missing.err;
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += " hello";
  Proc lp = run("generate " + model_arg() + " --raw -p " + quote(long_prompt));
  EXPECT_EQ(lp.status, 1);
  EXPECT_NE(lp.err.find("longer than the model's context of 128"), std::string::npos) << lp.err;
}

TEST_F(Cli, ChatKeepsHistoryResetsAndExits) {
  Proc r = run("chat " + model_arg() + " -n 8", "Hi\nHow are you?\n/reset\nHi\n/exit\nignored\n");
  ASSERT_EQ(r.status, 0) << r.err;
  // Three replies, each followed by a newline: the second sees the first turn, the third (after
  // /reset) sees only itself, and nothing after /exit is read.
  nlohmann::ordered_json msgs = {{{"role", "user"}, {"content", "Hi"}}};
  std::string r1 = library_text(chat_ids(msgs), greedy(8));
  msgs.push_back({{"role", "assistant"}, {"content", r1}});
  msgs.push_back({{"role", "user"}, {"content", "How are you?"}});
  std::string r2 = library_text(chat_ids(msgs), greedy(8));
  EXPECT_EQ(r.out, r1 + "\n" + r2 + "\n" + r1 + "\n");
  EXPECT_NE(r.err.find("(history cleared)"), std::string::npos) << r.err;
  // End of input ends the chat too.
  Proc eof = run("chat " + model_arg() + " -n 8", "Hi");
  EXPECT_EQ(eof.status, 0);
  EXPECT_EQ(eof.out, r1 + "\n");
}

TEST_F(Cli, InfoOnAModelFolderAndBf16) {
  Proc r = run("info " + model_arg());
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* needle :
       {"(llama, family llama)", "2 layers, hidden 32, vocab 32000", "parameters 2,",
        "checkpoint 1 file, 21 tensors", "float32)", "tokenizer  tokenizer.json, 32000 tokens",
        "chat       chat template present", "generation greedy; eos ids [2]"})
    EXPECT_NE(r.out.find(needle), std::string::npos) << needle << " in:\n" << r.out;
  Proc b = run("generate " + model_arg() + " -p hi --raw -n 4 --dtype bf16 --threads 1");
  EXPECT_EQ(b.status, 0) << b.err;
  EXPECT_NE(b.err.find("bf16"), std::string::npos) << b.err;
}

// info --model FILE.gguf: a 1-layer Llama GGUF of mixed types with a tokenizer and chat template,
// described from the file (every number below follows from the tensors written).
TEST_F(Cli, InfoOnAGgufFile) {
  using namespace lazarus::formats;
  GgufWriterInput in;
  auto kv = [&](const std::string& k, GgufValue v) { in.metadata.emplace_back(k, std::move(v)); };
  kv("general.architecture", GgufValue::string("llama"));
  kv("general.name", GgufValue::string("tiny gguf"));
  kv("llama.context_length", GgufValue::u32(128));
  kv("llama.embedding_length", GgufValue::u32(64));
  kv("llama.block_count", GgufValue::u32(1));
  kv("llama.feed_forward_length", GgufValue::u32(96));
  kv("llama.attention.head_count", GgufValue::u32(4));
  kv("llama.attention.head_count_kv", GgufValue::u32(2));
  kv("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f));
  kv("t.big", GgufValue::u64(18446744073709551615ull));
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  for (int i = 3; i < 32; ++i) tokens.push_back(std::string(1, char('a' + i - 3)));
  kv("tokenizer.ggml.model", GgufValue::string("llama"));
  kv("tokenizer.ggml.tokens", GgufValue::string_array(tokens));
  kv("tokenizer.ggml.bos_token_id", GgufValue::u32(1));
  kv("tokenizer.ggml.eos_token_id", GgufValue::u32(2));
  kv("tokenizer.chat_template", GgufValue::string("{{ messages[0]['content'] }}"));
  auto t = [&](const std::string& n, Shape s, DType d) {
    in.tensors.push_back(GgufWriterTensor::from_tensor(n, ones(std::move(s)).to(d)));
  };
  t("token_embd.weight", {32, 64}, DType::F32);
  t("output_norm.weight", {64}, DType::F32);
  t("output.weight", {32, 64}, DType::Q8_0);
  t("blk.0.attn_norm.weight", {64}, DType::F32);
  t("blk.0.ffn_norm.weight", {64}, DType::F32);
  t("blk.0.attn_q.weight", {64, 64}, DType::F16);
  t("blk.0.attn_k.weight", {32, 64}, DType::Q4_0);
  t("blk.0.attn_v.weight", {32, 64}, DType::Q4_0);
  t("blk.0.attn_output.weight", {64, 64}, DType::Q8_0);
  t("blk.0.ffn_gate.weight", {96, 64}, DType::Q8_0);
  t("blk.0.ffn_up.weight", {96, 64}, DType::Q8_0);
  t("blk.0.ffn_down.weight", {64, 96}, DType::Q8_0);
  const fs::path path = dir_ / "tiny.gguf";
  save_gguf(path.string(), in);

  // 32*64 * 2 (embedding, head) + 64 * 3 (norms) + 64*64 * 2 (q, o) + 32*64 * 2 (k, v)
  // + 96*64 * 3 (gate, up, down) = 4096 + 192 + 8192 + 4096 + 18432 = 35,008. q8_0 blocks are 32
  // elements in 34 bytes: rows of 64 (head 32, o 64, gate 96, up 96) 68 bytes, down's 64 rows of
  // 96 102 bytes: 288 * 68 + 64 * 102 = 26,112 bytes (25.5 KiB).
  Proc r = run("info --model " + quote(path.string()));
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* needle :
       {"(GGUF v3, architecture llama -> family llama, name 'tiny gguf')",
        "1 layers, hidden 64, vocab 32", "parameters 35,008 ",
        "12 tensors, 35,008 parameters in the file, 15 metadata keys", "q8_0: 5 tensors, 25.5 KiB",
        "q4_0: 2 tensors, 2.2 KiB", "f16: 1 tensor, 8.0 KiB",
        "tokenizer  gguf llama, 32 tokens, bos 1 '<s>', eos 2 '</s>'",
        "chat       chat template present"})
    EXPECT_NE(r.out.find(needle), std::string::npos) << needle << " in:\n" << r.out;

  Proc j = run("info --model " + quote(path.string()) + " --json");
  ASSERT_EQ(j.status, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["family"], "llama");
  EXPECT_EQ(doc["parameters"], 35008);
  EXPECT_EQ(doc["tensor_types"]["q8_0"]["bytes"], 26112);
  EXPECT_EQ(doc["metadata"].size(), 15u);
  EXPECT_EQ(doc["metadata"][9]["key"], "t.big");
  EXPECT_EQ(doc["metadata"][9]["type"], "u64");
  EXPECT_EQ(doc["metadata"][9]["value"].get<uint64_t>(), 18446744073709551615ull);
  EXPECT_EQ(doc["metadata"][11]["element_type"], "string");
  EXPECT_EQ(doc["metadata"][11]["value"][5], "c");
  EXPECT_EQ(doc["tensors"][2]["type"], "q8_0");
  EXPECT_EQ(doc["tensors"][2]["ne"], nlohmann::json::array({64, 32}));
  EXPECT_EQ(doc["chat_template"], true);
  EXPECT_EQ(doc["tokenizer"]["eos_token_id"], 2);

  // A file that is not GGUF nor a folder fails with its name.
  write_text(dir_ / "not.gguf", "GGUX");
  Proc bad = run("info --model " + quote((dir_ / "not.gguf").string()));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("not.gguf"), std::string::npos) << bad.err;
}

}  // namespace

// A Qwen3 folder (the Qwen tokenizer and chat template): `--var enable_thinking=false` reaches
// the template (its empty think block is in the prompt), and the output is the library's.
TEST_F(Cli, QwenFolderTakesTemplateVariables) {
  families::QwenConfig c = families::QwenConfig::preset("qwen3-0.6b");
  c.hidden_size = 16, c.intermediate_size = 32, c.num_hidden_layers = 1;
  c.num_attention_heads = 2, c.num_key_value_heads = 1, c.head_dim = 8;
  c.torch_dtype = "float32";
  families::QwenForCausalLM qwen(c, DType::F32, 3);
  const fs::path folder = dir_ / "qwen3";
  io::SaveOptions o;
  generation::GenerationConfig g;
  g.eos_token_id = {151645};
  o.generation = g;
  io::save_pretrained(qwen, folder.string(), o);
  fs::copy_file(test_data() / "tokenizers/qwen3/tokenizer.json", folder / "tokenizer.json");
  fs::copy_file(test_data() / "chat_templates/qwen3/tokenizer_config.json",
                folder / "tokenizer_config.json");
  io::PretrainedModel m = io::load_pretrained(folder.string());
  EXPECT_EQ(m.model->config().backbone.block.attention.qk_norm.has_value(), true);

  auto prompt_ids = [&](bool thinking_off) {
    tokenizers::ChatTemplateInputs in;
    in.messages = {{{"role", "user"}, {"content", "Hi"}}};
    in.add_generation_prompt = true;
    if (thinking_off) in.extra["enable_thinking"] = false;
    auto v = m.tokenizer->encode_ids(
        tokenizers::ChatTemplate(m.tokenizer_config->chat_template()).render(in), false);
    return std::vector<int64_t>(v.begin(), v.end());
  };
  const std::vector<int64_t> on = prompt_ids(false), off = prompt_ids(true);
  ASSERT_GT(off.size(), on.size());  // "<think>\n\n</think>\n\n" added
  generation::GenerationParams p = greedy(6);
  p.eos_token_ids = {151645};
  const std::string expect = generation::generate(*m.model, {off}, p, m.tokenizer.get()).text[0];
  const std::string args = "generate --model " + quote(folder.string()) + " -p Hi -n 6 --no-stream";
  Proc r = run(args + " --var enable_thinking=false");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, expect + "\n");
  EXPECT_NE(r.err.find(fmt::format("prompt: {} tokens", off.size())), std::string::npos) << r.err;
  Proc d = run(args);
  ASSERT_EQ(d.status, 0) << d.err;
  EXPECT_NE(d.err.find(fmt::format("prompt: {} tokens", on.size())), std::string::npos) << d.err;
  Proc bad = run(args + " --var enable_thinking");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("--var 'enable_thinking': expected NAME=VALUE"), std::string::npos)
      << bad.err;
}
