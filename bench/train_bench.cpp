// Training throughput of a small Llama (a few million parameters): forward with the causal-LM
// loss, backward, gradient clipping and an AdamW step, timed per step; prints one JSON line with
// the median step time, tokens/s and the process's peak RSS. bench/train_compare.py runs it beside
// the same model and step in PyTorch (bench/torch_train.py) and prints the ratio.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "lazarus/families/llama/llama.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/random.h"
#include "lazarus/training/optimizer.h"

using namespace lazarus;

int main(int argc, char** argv) {
  int64_t B = 8, T = 128, steps = 10, warmup = 2, threads = 2, fused = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int64_t v = std::atoll(argv[i + 1]);
    if (a == "--batch")
      B = v;
    else if (a == "--seq")
      T = v;
    else if (a == "--steps")
      steps = v;
    else if (a == "--warmup")
      warmup = v;
    else if (a == "--threads")
      threads = v;
    else if (a == "--fused-loss")
      fused = v;
    else {
      std::fprintf(stderr,
                   "usage: %s [--batch 8] [--seq 128] [--steps 10] [--warmup 2] [--threads 2] "
                   "[--fused-loss 1|0]\n",
                   argv[0]);
      return 2;
    }
  }
  set_num_threads(int(threads));
  // The model of bench/torch_train.py: keep the two in step.
  families::LlamaConfig c = families::LlamaConfig::tiny();
  c.vocab_size = 4096;
  c.hidden_size = 256;
  c.intermediate_size = 688;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 8;
  c.max_position_embeddings = 512;
  c.tie_word_embeddings = false;
  families::LlamaForCausalLM model(c);
  std::vector<Tensor> params;
  for (Tensor* p : model.parameters()) params.push_back(*p);
  training::AdamWOptions o;
  o.lr = 1e-4;
  training::AdamW opt(training::decay_groups(model.named_parameters(), 0.1), o);
  Generator gen(0);
  std::vector<double> times, t_fwd, t_bwd, t_opt;
  double last_loss = 0;
  for (int64_t s = 0; s < warmup + steps; ++s) {
    Tensor ids = randint(0, c.vocab_size, {B, T}, &gen);
    auto t0 = std::chrono::steady_clock::now();
    opt.zero_grad();
    Tensor loss = fused ? model.loss(ids, ids) : model.forward(ids, Tensor(), ids).loss;
    auto t1 = std::chrono::steady_clock::now();
    loss.backward();
    auto t2 = std::chrono::steady_clock::now();
    training::clip_grad_norm(params, 1.0);
    opt.step();
    last_loss = loss.item();
    auto t3 = std::chrono::steady_clock::now();
    auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    if (s >= warmup) {
      times.push_back(secs(t0, t3));
      t_fwd.push_back(secs(t0, t1));
      t_bwd.push_back(secs(t1, t2));
      t_opt.push_back(secs(t2, t3));
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double med = median(times);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "{\"impl\": \"lazarus\", \"params\": %lld, \"batch\": %lld, \"seq\": %lld, \"threads\": "
      "%lld, "
      "\"median_step_s\": %.6f, \"tokens_per_s\": %.1f, \"peak_rss_mb\": %.1f, \"loss\": %.4f, "
      "\"forward_s\": %.6f, \"backward_s\": "
      "%.6f, \"optimizer_s\": %.6f}\n",
      (long long)model.num_parameters(), (long long)B, (long long)T, (long long)threads, med,
      double(B * T) / med, double(ru.ru_maxrss) / 1024.0, last_loss, median(t_fwd), median(t_bwd),
      median(t_opt));
  return 0;
}
