// Memory check of attention at T = 4096 with H = 8 heads, where one scores matrix is
// H * T * T * 4 bytes = 512 MiB: ALiBi (a key-only bias) attention without gradients, then a
// training step's forward and backward with gradients on every parameter, must each grow peak RSS
// by far less (the fused flash-style forward, and the backward that recomputes the probabilities
// block by block from the saved log-sum-exp). Exits 1 (with the figures) otherwise.
// `alibi_memory_main --composed` runs the training step with attention dropout, which takes the
// composed path that does form the matrix, to show the check can fail.
#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "lazarus/components/attention.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

using namespace lazarus;

static double peak_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

int main(int argc, char** argv) {
  bool composed = argc > 1 && std::strcmp(argv[1], "--composed") == 0;
  const int64_t T = 4096, H = 8, Dh = 8, D = H * Dh;
  config::AttentionConfig cfg;
  cfg.num_attention_heads = cfg.num_key_value_heads = H;
  cfg.position.type = config::PositionEmbeddingType::ALiBi;
  if (composed) cfg.dropout = 0.1;
  components::Attention attn(D, cfg, T);
  Generator gen(1);
  Tensor x = randn({1, T, D}, DType::F32, 0.0, 1.0, &gen);
  components::AttentionContext ctx;
  ctx.positions.max_position_plus_one = T;
  const double scores_mib = double(H) * T * T * 4 / (1024.0 * 1024.0);
  bool ok = true;
  auto report = [&](const char* what, double grown, const Tensor& y) {
    bool finite = std::isfinite(sum(y).item());
    std::printf(
        "alibi attention T=%lld H=%lld, %s: peak RSS grew %.1f MiB; a scores matrix is "
        "%.0f MiB%s\n",
        (long long)T, (long long)H, what, grown, scores_mib, finite ? "" : "; non-finite output");
    ok = ok && finite && grown < scores_mib / 8;
  };
  if (!composed) {
    double before = peak_mib();
    Tensor y;
    {
      NoGradGuard ng;
      y = attn.forward(x, ctx);
    }
    report("inference (no gradients)", peak_mib() - before, y);
  }
  attn.train(true);
  double before = peak_mib();
  Tensor y = attn.forward(x, ctx);  // parameters require grad
  sum(y * y).backward();
  Tensor g = attn.o_proj->weight.grad();
  report(composed ? "training step with attention dropout (composed)"
                  : "training step, forward + backward",
         peak_mib() - before, g.defined() ? g : y);
  return ok ? 0 : 1;
}
