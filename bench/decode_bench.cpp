// Decode throughput of a model folder (default: the shipped fortunes-llama-4m), or of a preset's
// shape with random weights (--preset smollm2-135m, no download), in --dtype f32|bf16|f16: loads it, then
// per round prefills a fixed prompt and decodes greedily (no eos stop) through
// generation::generate, the loop `lazarus generate` runs. Prints one JSON line with the best
// round's prefill and decode tokens/s, the load time and the greedy tokens (so
// bench/decode_compare.py can check they equal PyTorch's). bench/torch_decode.py is its peer.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "lazarus/families/registry.h"
#include "lazarus/generation/generate.h"
#include "lazarus/io/model_folder.h"
#include "lazarus/tensor/backend.h"

using namespace lazarus;

int main(int argc, char** argv) {
  std::string folder = LAZARUS_SOURCE_DIR "/assets/models/fortunes-llama-4m";
  std::string preset, dtype_name;
  int64_t prompt_len = 32, new_tokens = 200, rounds = 5, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--model" || a == "--preset" || a == "--dtype") {
      (a == "--model" ? folder : a == "--preset" ? preset : dtype_name) = argv[i + 1];
      continue;
    }
    int64_t v = std::atoll(argv[i + 1]);
    if (a == "--prompt-len")
      prompt_len = v;
    else if (a == "--new-tokens")
      new_tokens = v;
    else if (a == "--rounds")
      rounds = v;
    else if (a == "--threads")
      threads = v;
    else {
      std::fprintf(stderr,
                   "usage: %s [--model DIR | --preset NAME] [--dtype f32|bf16|f16|q8_0|q4_0|q4_1] [--prompt-len 32] [--new-tokens 200] [--rounds 5] "
                   "[--threads 2]\n",
                   argv[0]);
      return 2;
    }
  }
  if (prompt_len < 1 || new_tokens < 2 || rounds < 1 || threads < 1) {
    std::fprintf(stderr, "decode_bench: --prompt-len >= 1, --new-tokens >= 2, --rounds >= 1\n");
    return 2;
  }
  set_num_threads(int(threads));
  io::LoadOptions lo;
  lo.load_tokenizer = false;
  if (!dtype_name.empty()) lo.dtype = dtype_from_string(dtype_name);
  if (is_quantized(lo.dtype)) lo.quantize = std::exchange(lo.dtype, DType::F32);
  io::PretrainedModel pm;
  if (preset.empty()) {
    pm = io::load_pretrained(folder, lo);
  } else {
    const auto t0 = std::chrono::steady_clock::now();
    families::PresetRef ref = families::find_preset(preset);
    pm.model = families::build_causal_lm_seeded(ref.preset->config(), 1234);
    pm.model->to(lo.dtype);
    if (lo.quantize) io::quantize_weights(*pm.model, *lo.quantize);
    pm.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const int64_t V = pm.model->config().backbone.embedding.vocab_size;
  // The prompt of bench/torch_decode.py: ids (7 i + 3) mod V.
  std::vector<int64_t> prompt(static_cast<size_t>(prompt_len));
  for (int64_t i = 0; i < prompt_len; ++i) prompt[size_t(i)] = (7 * i + 3) % V;
  generation::GenerationParams p;
  p.max_new_tokens = new_tokens;
  double best_prefill = 1e30, best_decode = 1e30;
  int64_t decode_tokens = 0;
  std::vector<int64_t> tokens;
  // Process CPU time per generated token (all threads): less distorted by other load than wall
  // time, and it shows what spinning threads cost.
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  };
  double best_cpu = 1e30;
  for (int64_t r = 0; r < rounds + 1; ++r) {  // round 0 warms up
    const double c0 = cpu_now();
    generation::GenerationResult res =
        generation::generate(*pm.model, std::vector<std::vector<int64_t>>{prompt}, p);
    const double cpu = cpu_now() - c0;
    if (r == 0) continue;
    best_cpu = std::min(best_cpu, cpu / double(res.stats.generated_tokens));
    best_prefill = std::min(best_prefill, res.stats.prefill_seconds);
    best_decode = std::min(best_decode, res.stats.decode_seconds);
    decode_tokens = res.stats.decode_tokens;
    tokens = res.tokens[0];
  }
  std::string toks;
  for (size_t i = 0; i < tokens.size(); ++i) toks += (i ? "," : "") + std::to_string(tokens[i]);
  std::printf(
      "{\"impl\": \"lazarus\", \"threads\": %lld, \"prompt_tokens\": %lld, \"new_tokens\": %lld, "
      "\"load_s\": %.4f, \"cpu_ms_per_token\": %.3f, \"prefill_tokens_per_s\": %.1f, "
      "\"decode_tokens_per_s\": %.1f, "
      "\"tokens\": [%s]}\n",
      (long long)threads, (long long)prompt_len, (long long)new_tokens, pm.load_seconds,
      best_cpu * 1e3, double(prompt_len) / best_prefill, double(decode_tokens) / best_decode,
      toks.c_str());
  return 0;
}
