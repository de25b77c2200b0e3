// The sampler chain with Hugging Face's semantics, applied in HF's order: repetition penalty, then
// temperature, top-k, top-p, min-p; temperature 0 means greedy. Seeded and reproducible.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "lazarus/tensor/random.h"
#include "lazarus/tensor/tensor.h"

namespace lazarus::generation {

struct SamplerConfig {
  double temperature = 1.0;         // 0 = greedy (argmax)
  int64_t top_k = 0;                // 0 = off
  double top_p = 1.0;               // 1 = off
  double min_p = 0.0;               // 0 = off
  double repetition_penalty = 1.0;  // 1 = off; > 1 discourages tokens already in the context
  uint64_t seed = 0;
  /// Throws ConfigError naming the field when a value is out of range.
  void validate() const;
};

class Sampler {
 public:
  explicit Sampler(SamplerConfig cfg);
  /// Applies the logits processors to one row in place (what HF's LogitsProcessorList does);
  /// removed tokens become -inf. `context` holds the prompt and generated ids so far.
  void process(std::vector<float>& logits, std::span<const int64_t> context) const;
  /// Picks the next token for one row of logits (V).
  int64_t sample(std::span<const float> logits, std::span<const int64_t> context);
  /// One token per row of logits (B, V) (any float dtype); contexts[b] is row b's history.
  std::vector<int64_t> sample(const Tensor& logits,
                              const std::vector<std::vector<int64_t>>& contexts);
  const SamplerConfig& config() const { return cfg_; }

 private:
  SamplerConfig cfg_;
  Generator gen_;
};

}  // namespace lazarus::generation
