// Training step time of a recurrent causal LM (embed, L recurrent layers of one kind, final norm,
// LM head): forward with the next-token loss and backward, timed per step; prints one JSON line
// with the median step time, tokens/s and the process's peak RSS. `--impl composed` runs LSTM /
// GRU layers on the per-step composed graph the fused op replaced (reference::recurrent_sequence,
// O(T²) backward traffic), for before / after figures from one binary. docs/models.md has them.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "lazarus/blocks/recurrent_block.h"
#include "lazarus/models/causal_lm.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/random.h"

using namespace lazarus;

int main(int argc, char** argv) {
  int64_t B = 8, T = 128, D = 256, L = 2, vocab = 4096, steps = 5, warmup = 1, threads = 2;
  std::string cell = "lstm", impl = "fused";
  auto usage = [&] {
    std::fprintf(stderr,
                 "usage: %s [--cell lstm|gru|mingru] [--impl fused|composed] [--batch 8] "
                 "[--seq 128] [--hidden 256] [--layers 2] [--vocab 4096] [--steps 5] "
                 "[--warmup 1] [--threads 2]\n",
                 argv[0]);
    return 2;
  };
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--cell")
      cell = v;
    else if (a == "--impl")
      impl = v;
    else if (a == "--batch")
      B = std::atoll(v.c_str());
    else if (a == "--seq")
      T = std::atoll(v.c_str());
    else if (a == "--hidden")
      D = std::atoll(v.c_str());
    else if (a == "--layers")
      L = std::atoll(v.c_str());
    else if (a == "--vocab")
      vocab = std::atoll(v.c_str());
    else if (a == "--steps")
      steps = std::atoll(v.c_str());
    else if (a == "--warmup")
      warmup = std::atoll(v.c_str());
    else if (a == "--threads")
      threads = std::atoll(v.c_str());
    else
      return usage();
  }
  if ((argc - 1) % 2 != 0 || (cell != "lstm" && cell != "gru" && cell != "mingru") ||
      (impl != "fused" && impl != "composed") || B < 1 || T < 2 || D < 1 || L < 1 || steps < 1)
    return usage();
  set_num_threads(int(threads));
  const std::string json = R"({"backbone": {"type": "recurrent", "vocab_size": )" +
                           std::to_string(vocab) + R"(, "hidden_size": )" + std::to_string(D) +
                           R"(, "num_layers": )" + std::to_string(L) +
                           R"(, "block": {"type": "recurrent", "recurrent": {"type": ")" + cell +
                           R"("}}}, "head": {"tie_word_embeddings": false}})";
  models::CausalLM model(config::ModelConfig::from_json_string(json));
  for (size_t l = 0; l < model.backbone->layers->size(); ++l)
    model.backbone->layer<blocks::RecurrentBlock>(l).rnn->use_composed_reference =
        impl == "composed";
  Generator gen(0);
  std::vector<double> times;
  double last_loss = 0;
  for (int64_t s = 0; s < warmup + steps; ++s) {
    Tensor ids = randint(0, vocab, {B, T}, &gen);
    auto t0 = std::chrono::steady_clock::now();
    for (Tensor* p : model.parameters()) p->zero_grad();
    Tensor loss = model.forward(ids, Tensor(), ids).loss;
    loss.backward();
    last_loss = loss.item();
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s >= warmup) times.push_back(dt);
  }
  std::sort(times.begin(), times.end());
  const double med = times[times.size() / 2];
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "{\"cell\": \"%s\", \"impl\": \"%s\", \"params\": %lld, \"batch\": %lld, \"seq\": %lld, "
      "\"hidden\": %lld, \"layers\": %lld, \"threads\": %lld, \"median_step_s\": %.4f, "
      "\"tokens_per_s\": %.1f, \"peak_rss_mb\": %.1f, \"loss\": %.4f}\n",
      cell.c_str(), impl.c_str(), (long long)model.num_parameters(), (long long)B, (long long)T,
      (long long)D, (long long)L, (long long)threads, med, double(B * T) / med,
      double(ru.ru_maxrss) / 1024.0, last_loss);
  return 0;
}
