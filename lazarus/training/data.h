// Training data: token streams cut into fixed-length sequences, shuffled per epoch from a seed,
// with a position that checkpoints save so a resumed run sees exactly the same batches.
#pragma once

#include <cstdint>
#include <vector>

#include "lazarus/tensor/tensor.h"

namespace lazarus::training {

/// One step's inputs: input_ids (B, T) I64, labels (B, T) I64 (-100 where ignored).
struct Batch {
  Tensor input_ids;
  Tensor labels;
  int64_t tokens() const;  // labels that are not -100
};

/// Where a loader is in its stream: epoch and the next example within the epoch's order.
struct DataPosition {
  int64_t epoch = 0;
  int64_t index = 0;
};

/// A source of batches that can save and restore its position.
class DataLoader {
 public:
  virtual ~DataLoader() = default;
  virtual Batch next() = 0;
  virtual DataPosition position() const = 0;
  virtual void set_position(const DataPosition& p) = 0;
  /// Examples per epoch.
  virtual int64_t size() const = 0;
  /// Batches per epoch (the last one wraps into the next epoch when it is short).
  virtual int64_t num_batches() const = 0;
};

/// Examples given as (ids, labels) rows of equal length, batched in a seeded per-epoch order.
class ExampleLoader : public DataLoader {
 public:
  /// Every example has length `seq_len` (pad/truncate beforehand); labels use -100 to ignore.
  ExampleLoader(std::vector<std::vector<int64_t>> ids, std::vector<std::vector<int64_t>> labels,
                int64_t batch_size, uint64_t seed, bool shuffle = true);
  Batch next() override;
  DataPosition position() const override { return pos_; }
  void set_position(const DataPosition& p) override;
  int64_t size() const override { return int64_t(ids_.size()); }
  int64_t num_batches() const override { return (size() + batch_ - 1) / batch_; }

 private:
  std::vector<int64_t> order(int64_t epoch) const;
  std::vector<std::vector<int64_t>> ids_, labels_;
  int64_t batch_, seq_;
  uint64_t seed_;
  bool shuffle_;
  DataPosition pos_;
  std::vector<int64_t> order_;
  int64_t order_epoch_ = -1;
};

/// Packs a token stream into non-overlapping windows of `seq_len` tokens (input_ids = labels; the
/// loss shifts), the tail that does not fill a window dropped. Returns the windows.
std::vector<std::vector<int64_t>> pack_tokens(const std::vector<int64_t>& tokens, int64_t seq_len);

/// Splits examples into (train, held-out) deterministically from `seed`; `holdout_fraction` of
/// them (at least one when there are two or more) go to the held-out set.
void split_holdout(const std::vector<std::vector<int64_t>>& all, double holdout_fraction,
                   uint64_t seed, std::vector<std::vector<int64_t>>& train,
                   std::vector<std::vector<int64_t>>& heldout);

}  // namespace lazarus::training
