// Shared flags of `generate` and `chat` (see generation_flags.h).
#include "lazarus/cli/generation_flags.h"
#include "lazarus/cli/commands.h"
#include "lazarus/cli/number_flags.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lazarus/adapters/lora.h"
#include "lazarus/core/error.h"
#include "lazarus/tensor/backend.h"

namespace lazarus::cli {

void add_model_flags(CLI::App* cmd, ModelFlags& f) {
  cmd->add_option("--model,-m", f.model,
                  "A model folder in Hugging Face layout (config.json, model.safetensors or an\n"
                  "index + shards, tokenizer.json, optionally tokenizer_config.json and\n"
                  "generation_config.json), a preset (lazarus list-models), or a hub id in the\n"
                  "local HF cache or to download. Default: the shipped 4M-parameter Llama\n"
                  "trained on the Debian fortunes corpus")
      ->capture_default_str();
  cmd->add_option("--adapter", f.adapter,
                  "LoRA adapter folder to apply: PEFT's (adapter_config.json +\n"
                  "adapter_model.safetensors, e.g. from lazarus finetune) or mlx-lm's\n"
                  "(adapters.safetensors)");
  cmd->add_option("--dtype", f.dtype,
                  "Weights: f32 (default), bf16 (half the memory) or f16; or quantized at load\n"
                  "time with llama.cpp's reference quantizers (norms stay f32): q8_0, q4_0, q4_1,\n"
                  "q4_K, q5_K, q6_K (every matrix that type), or llama-quantize's mixes q4_K_M,\n"
                  "q4_K_S, q5_K_M, q5_K_S (output matrix q6_K, some attn_v / ffn_down wider; see\n"
                  "docs/loading.md). A GGUF file runs with the types it stores (f32 only)")
      ->check([](const std::string& s) -> std::string {
        if (s == "f32" || s == "bf16" || s == "f16" || io::quant_mix_from_string(s)) return "";
        return fmt::format("'{}' is not one of f32, bf16, f16, {}", s,
                           fmt::join(io::quant_mix_names(), ", "));
      })
      ->capture_default_str();
  cmd->add_option("--threads", f.threads, "CPU threads (default: all cores)")
      ->transform(integer_in(0, 4096));
}

void add_sampling_flags(CLI::App* cmd, SamplingFlags& f, int64_t default_max_new_tokens) {
  f.max_new_tokens_opt = cmd->add_option(
      "--max-new-tokens,-n", f.max_new_tokens,
      fmt::format("Most tokens to generate (default: {}, or what the context has left)",
                  default_max_new_tokens));
  f.temperature_opt = cmd->add_option(
      "--temperature,-t", f.temperature,
      "Sampling temperature; 0 = greedy. Default: the model's generation_config.json\n"
      "(greedy unless it sets do_sample)");
  f.top_k_opt = cmd->add_option("--top-k", f.top_k,
                                "Keep the k most likely tokens; 0 = off (default 50 when "
                                "sampling, as in transformers)");
  f.top_p_opt = cmd->add_option("--top-p", f.top_p,
                                "Nucleus sampling: keep the smallest set of tokens whose "
                                "probability reaches p, in (0, 1]");
  f.min_p_opt = cmd->add_option("--min-p", f.min_p,
                                "Drop tokens less likely than min-p times the top token; 0 = off");
  f.repetition_penalty_opt =
      cmd->add_option("--repetition-penalty", f.repetition_penalty,
                      "> 1 discourages tokens already in the text (1 = off; HF semantics)");
  f.seed_opt = cmd->add_option("--seed", f.seed,
                               "Random seed for sampling (same seed, same text; default: random)")
                   ->transform(unsigned_integer());
  cmd->add_option("--stop", f.stop,
                  "Stop when the text contains this string (not printed); repeatable");
  cmd->add_option("--system", f.system, "System message (needs a chat template)");
  cmd->add_option("--var", f.template_vars,
                  "Chat template variable NAME=VALUE (VALUE parsed as JSON when valid), e.g.\n"
                  "--var enable_thinking=false for Qwen3 without its thinking block; repeatable");
  cmd->add_flag("--no-stream", f.no_stream,
                "Print the text when generation ends instead of as it is produced");
}

namespace {

// --dtype: a compute dtype, or a quantization recipe (then the compute dtype is f32).
void parse_dtype(const std::string& s, io::LoadOptions& lo) {
  for (const char* name : {"f32", "bf16", "f16"}) {
    if (s == name) {
      lo.dtype = dtype_from_string(s);
      return;
    }
  }
  if (auto mix = io::quant_mix_from_string(s)) {
    lo.dtype = DType::F32;
    lo.quantize = *mix;
    return;
  }
  throw ConfigError(fmt::format("--dtype: '{}' is not one of f32, bf16, f16, {}", s,
                                fmt::join(io::quant_mix_names(), ", ")));
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  return fmt::format("{:.1f} {}", b, units[u]);
}

}  // namespace

io::PretrainedModel load_model_for_cli(const ModelFlags& f) {
  if (f.threads > 0) set_num_threads(f.threads);
  std::string folder = io::resolve_model_folder(f.model);
  set_activity("loading the model in " + folder);
  io::LoadOptions lo;
  parse_dtype(f.dtype, lo);
  bool bar = isatty(STDERR_FILENO);
  auto mu = std::make_shared<std::mutex>();
  auto last_pct = std::make_shared<int>(-1);
  lo.progress = [bar, mu, last_pct](const io::LoadProgress& p) {
    // Only worth a bar when loading takes a while.
    if (!bar || p.bytes_total < 200'000'000) return;
    int pct = int(100.0 * double(p.bytes_done) / double(p.bytes_total));
    std::lock_guard<std::mutex> lk(*mu);
    if (pct == *last_pct) return;
    *last_pct = pct;
    int filled = pct * 30 / 100;
    std::fprintf(stderr, "\rloading [%s%s] %3d%% %s / %s", std::string(filled, '#').c_str(),
                 std::string(30 - filled, ' ').c_str(), pct, human_bytes(p.bytes_done).c_str(),
                 human_bytes(p.bytes_total).c_str());
    if (p.bytes_done == p.bytes_total) std::fputc('\n', stderr);
    std::fflush(stderr);
  };
  io::PretrainedModel m = io::load_pretrained(folder, lo);
  m.causal_lm();  // a classifier folder: say so before anything else
  if (!m.tokenizer)
    throw LoadError(
        fmt::format("{}: no tokenizer.json; text generation needs the model's "
                    "tokenizer beside its weights",
                    folder));
  std::fprintf(stderr, "loaded %s (%s, %.2f M parameters, %s) in %.2f s\n", folder.c_str(),
               m.family.c_str(), double(m.model->num_parameters()) / 1e6, f.dtype.c_str(),
               m.load_seconds);
  for (auto& w : m.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (!f.adapter.empty()) {
    namespace fs = std::filesystem;
    bool mlx = !fs::exists(fs::path(f.adapter) / "adapter_model.safetensors") &&
               fs::exists(fs::path(f.adapter) / "adapters.safetensors");
    adapters::LoraConfig c = mlx ? adapters::load_mlx_adapter(*m.model, f.adapter)
                                 : adapters::load_peft_adapter(*m.model, f.adapter);
    m.model->eval();  // no LoRA dropout while generating
    std::fprintf(stderr, "adapter %s (%s LoRA, rank %lld, alpha %g) on %zu layers\n",
                 f.adapter.c_str(), mlx ? "mlx-lm" : "PEFT", (long long)c.r, c.alpha,
                 adapters::lora_layers(*m.model).size());
  }
  return m;
}

generation::GenerationParams generation_params(const SamplingFlags& f, const io::PretrainedModel& m,
                                               int64_t prompt_tokens,
                                               int64_t default_max_new_tokens) {
  auto given = [](const CLI::Option* o) { return o && o->count() > 0; };
  const generation::GenerationConfig& g = m.generation;
  generation::GenerationParams p;
  p.sampler = g.sampler();
  if (given(f.temperature_opt)) p.sampler.temperature = f.temperature;
  if (given(f.top_k_opt)) p.sampler.top_k = f.top_k;
  if (given(f.top_p_opt)) p.sampler.top_p = f.top_p;
  if (given(f.min_p_opt)) p.sampler.min_p = f.min_p;
  if (given(f.repetition_penalty_opt)) p.sampler.repetition_penalty = f.repetition_penalty;
  p.sampler.seed = given(f.seed_opt) ? f.seed : std::random_device{}();

  p.eos_token_ids = g.eos_token_id;
  if (m.tokenizer && m.tokenizer_config && m.tokenizer_config->eos_token) {
    if (auto id = m.tokenizer->token_to_id(*m.tokenizer_config->eos_token)) {
      if (std::find(p.eos_token_ids.begin(), p.eos_token_ids.end(), int64_t(*id)) ==
          p.eos_token_ids.end())
        p.eos_token_ids.push_back(int64_t(*id));
    }
  }
  if (g.pad_token_id) p.pad_token_id = *g.pad_token_id;
  p.stop_strings = g.stop_strings;
  p.stop_strings.insert(p.stop_strings.end(), f.stop.begin(), f.stop.end());

  if (given(f.max_new_tokens_opt)) {
    p.max_new_tokens = f.max_new_tokens;  // checked against the context by generate()
  } else {
    int64_t n = g.max_new_tokens.value_or(default_max_new_tokens);
    int64_t ctx = generation::context_length(*m.model);
    if (ctx > 0) n = std::min(n, ctx - prompt_tokens);
    if (g.max_length) n = std::min(n, *g.max_length - prompt_tokens);
    p.max_new_tokens = std::max<int64_t>(n, 1);  // no room left: generate() says so
  }
  return p;
}

void print_stats(const generation::GenerationResult& r) {
  const auto& s = r.stats;
  std::fprintf(stderr,
               "prompt: %lld tokens, %.1f tokens/s | generated: %lld tokens, %.1f tokens/s | "
               "finish: %s\n",
               (long long)s.prompt_tokens, s.prompt_tokens_per_second(),
               (long long)s.generated_tokens, s.generated_tokens_per_second(),
               r.finish_reasons.empty() ? "-" : generation::to_string(r.finish_reasons[0]));
}

generation::GenerationResult generate_to_stdout(const io::PretrainedModel& m,
                                                const std::vector<int64_t>& ids,
                                                const SamplingFlags& f,
                                                int64_t default_max_new_tokens) {
  generation::GenerationParams p =
      generation_params(f, m, int64_t(ids.size()), default_max_new_tokens);
  generation::StreamCallback stream;
  if (!f.no_stream) {
    stream = [](size_t, std::string_view text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    };
  }
  auto res = generation::generate(*m.model, {ids}, p, m.tokenizer.get(), stream);
  if (f.no_stream) std::fwrite(res.text[0].data(), 1, res.text[0].size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  return res;
}

}  // namespace lazarus::cli
