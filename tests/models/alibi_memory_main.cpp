// Memory check of ALiBi attention without gradients: one attention layer with H = 8 heads at
// T = 4096 would need H * T * T * 4 bytes = 512 MiB for a scores matrix; the key-only bias keeps
// the fused flash-style kernel, so peak RSS must grow by far less. Exits 1 (with the figures)
// otherwise. `alibi_memory_main --composed` runs the same with gradients on (the composed path,
// which does form the matrix) to show the check can fail.
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
  components::Attention attn(D, cfg, T);
  Generator gen(1);
  Tensor x = randn({1, T, D}, DType::F32, 0.0, 1.0, &gen);
  components::AttentionContext ctx;
  ctx.positions.max_position_plus_one = T;
  double before = peak_mib();
  Tensor y;
  if (composed) {
    y = attn.forward(x, ctx);  // parameters require grad: the composed path
  } else {
    NoGradGuard ng;
    y = attn.forward(x, ctx);
  }
  double grown = peak_mib() - before;
  const double scores_mib = double(H) * T * T * 4 / (1024.0 * 1024.0);
  std::printf(
      "alibi attention T=%lld H=%lld (%s): peak RSS grew %.1f MiB; a scores matrix is %.0f MiB\n",
      (long long)T, (long long)H, composed ? "composed, with gradients" : "fused, no gradients",
      grown, scores_mib);
  if (!std::isfinite(sum(y).item())) {
    std::printf("non-finite output\n");
    return 1;
  }
  return grown < scores_mib / 8 ? 0 : 1;
}
