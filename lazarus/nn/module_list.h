// ModuleList: children named "0", "1", ... (the `layers` of a backbone, as in checkpoints).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lazarus/nn/module.h"

namespace lazarus::nn {

template <class M>
class ModuleList : public Module {
 public:
  /// Appends `m` under the next index.
  void push_back(std::shared_ptr<M> m) {
    items_.push_back(register_module(std::to_string(items_.size()), std::move(m)));
  }
  size_t size() const { return items_.size(); }
  M& operator[](size_t i) const { return *items_.at(i); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::shared_ptr<M>> items_;
};

}  // namespace lazarus::nn
