// Batching, packing and held-out splits (see data.h).
#include "lazarus/training/data.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

namespace lazarus::training {

namespace {
// Fisher-Yates driven by the engine's counter-based generator: same seed, same order, anywhere.
std::vector<int64_t> permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  if (n < 2) return p;
  Generator g(seed);
  std::vector<double> u = rand({n}, DType::F64, 0.0, 1.0, &g).to_vector<double>();
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = std::min<int64_t>(i, int64_t(u[size_t(i)] * double(i + 1)));
    std::swap(p[size_t(i)], p[size_t(j)]);
  }
  return p;
}
}  // namespace

int64_t Batch::tokens() const {
  return int64_t(sum(ne(labels, full({}, -100.0, DType::I64))).item());
}

ExampleLoader::ExampleLoader(std::vector<std::vector<int64_t>> ids,
                             std::vector<std::vector<int64_t>> labels, int64_t batch_size,
                             uint64_t seed, bool shuffle)
    : ids_(std::move(ids)),
      labels_(std::move(labels)),
      batch_(batch_size),
      seed_(seed),
      shuffle_(shuffle) {
  if (ids_.empty())
    throw ConfigError("[data] no examples: the dataset is empty after tokenization");
  if (batch_size <= 0)
    throw ConfigError(fmt::format("[data] batch_size must be positive, got {}", batch_size));
  if (labels_.size() != ids_.size()) {
    throw ConfigError(
        fmt::format("[data] {} label rows for {} examples", labels_.size(), ids_.size()));
  }
  seq_ = int64_t(ids_[0].size());
  if (seq_ == 0) throw ConfigError("[data] examples are empty");
  for (size_t i = 0; i < ids_.size(); ++i) {
    if (int64_t(ids_[i].size()) != seq_ || int64_t(labels_[i].size()) != seq_) {
      throw ConfigError(fmt::format("[data] example {} has length {} (labels {}), expected {}", i,
                                    ids_[i].size(), labels_[i].size(), seq_));
    }
  }
}

std::vector<int64_t> ExampleLoader::order(int64_t epoch) const {
  if (!shuffle_) {
    std::vector<int64_t> p(ids_.size());
    std::iota(p.begin(), p.end(), 0);
    return p;
  }
  return permutation(int64_t(ids_.size()), seed_ * 1000003ULL + uint64_t(epoch));
}

void ExampleLoader::set_position(const DataPosition& p) {
  if (p.epoch < 0 || p.index < 0 || p.index > size()) {
    throw LoadError(
        fmt::format("[data] position epoch {} index {} is outside a dataset of {} examples",
                    p.epoch, p.index, size()));
  }
  pos_ = p;
}

Batch ExampleLoader::next() {
  std::vector<int64_t> xs, ys;
  for (int64_t b = 0; b < batch_; ++b) {
    if (pos_.index >= size()) {
      ++pos_.epoch;
      pos_.index = 0;
    }
    if (order_epoch_ != pos_.epoch) {
      order_ = order(pos_.epoch);
      order_epoch_ = pos_.epoch;
    }
    int64_t e = order_[size_t(pos_.index++)];
    xs.insert(xs.end(), ids_[size_t(e)].begin(), ids_[size_t(e)].end());
    ys.insert(ys.end(), labels_[size_t(e)].begin(), labels_[size_t(e)].end());
  }
  return {from_vector<int64_t>(xs, {batch_, seq_}, DType::I64),
          from_vector<int64_t>(ys, {batch_, seq_}, DType::I64)};
}

std::vector<std::vector<int64_t>> pack_tokens(const std::vector<int64_t>& tokens, int64_t seq_len) {
  if (seq_len < 2) throw ConfigError(fmt::format("[data] seq_len must be >= 2, got {}", seq_len));
  std::vector<std::vector<int64_t>> out;
  for (size_t at = 0; at + size_t(seq_len) <= tokens.size(); at += size_t(seq_len)) {
    out.emplace_back(tokens.begin() + ptrdiff_t(at),
                     tokens.begin() + ptrdiff_t(at + size_t(seq_len)));
  }
  return out;
}

void split_holdout(const std::vector<std::vector<int64_t>>& all, double frac, uint64_t seed,
                   std::vector<std::vector<int64_t>>& train,
                   std::vector<std::vector<int64_t>>& heldout) {
  if (!(frac >= 0 && frac < 1))
    throw ConfigError(fmt::format("[data] holdout fraction must be in [0, 1), got {}", frac));
  int64_t n = int64_t(all.size());
  int64_t h = int64_t(double(n) * frac);
  if (frac > 0 && h == 0 && n >= 2) h = 1;
  auto p = permutation(n, seed ^ 0x5eedULL);
  train.clear();
  heldout.clear();
  for (int64_t i = 0; i < n; ++i) (i < h ? heldout : train).push_back(all[size_t(p[size_t(i)])]);
}

}  // namespace lazarus::training
