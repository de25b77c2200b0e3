// Shared by the model parity drivers: raw little-endian tensors in one file (tensors.bin),
// described by a JSON manifest (name -> dtype, shape, offset, nbytes), read back by the
// tests/reference/torch_*.py scripts.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lazarus/tensor/tensor.h"

namespace parity {

class TensorWriter {
 public:
  explicit TensorWriter(const std::filesystem::path& dir)
      : dir_(dir), out_(dir / "tensors.bin", std::ios::binary) {}
  void add(const std::string& name, const lazarus::Tensor& t) {
    using lazarus::DType;
    bool is_int = t.dtype() == DType::I64 || t.dtype() == DType::I32;
    std::string bytes;
    if (is_int) {
      auto v = t.contiguous().to_vector<int64_t>();
      bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t));
    } else {
      auto v = t.to(DType::F32).contiguous().to_vector<float>();
      bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
    }
    manifest_[name] = {{"dtype", is_int ? "i64" : "f32"},
                       {"shape", t.shape()},
                       {"offset", offset_},
                       {"nbytes", bytes.size()}};
    out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    offset_ += bytes.size();
  }
  void finish() {
    out_.close();
    std::ofstream(dir_ / "manifest.json") << manifest_.dump(1);
  }

 private:
  std::filesystem::path dir_;
  std::ofstream out_;
  nlohmann::json manifest_ = nlohmann::json::object();
  size_t offset_ = 0;
};

}  // namespace parity
