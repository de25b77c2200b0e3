// Tensor: a cheap handle over shared storage (shape, strides, offset, dtype, device), with the
// autograd fields a leaf or an op result carries. Ops live in ops.h; this file is the handle.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lazarus/tensor/dtype.h"

namespace lazarus {

enum class Device : uint8_t { CPU };

/// Dimension sizes (PyTorch order: last dim fastest).
using Shape = std::vector<int64_t>;
/// "(2, 3, 4)".
std::string shape_str(std::span<const int64_t> shape);
/// Product of sizes; throws IndexError on negative sizes or int64 overflow, naming `op`.
int64_t checked_numel(std::span<const int64_t> shape, const char* op);
/// Row-major strides for a shape.
Shape contiguous_strides(std::span<const int64_t> shape);

/// A block of bytes on a device: owned (64-byte aligned) or borrowed from memory that someone
/// else keeps alive (e.g. a memory-mapped file), in which case `keep_alive` holds it.
class Storage {
 public:
  /// Allocates `nbytes` (uninitialized) on `device`; throws on absurd sizes.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device = Device::CPU);
  /// Wraps external memory; `keep_alive` is held as long as any tensor views this storage.
  static std::shared_ptr<Storage> borrow(void* data, size_t nbytes,
                                         std::shared_ptr<void> keep_alive,
                                         Device device = Device::CPU);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool owned() const { return owned_; }

 private:
  Storage() = default;
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_ = Device::CPU;
  bool owned_ = false;
  std::shared_ptr<void> keep_alive_;
};

struct Node;  // autograd graph node (autograd.h)
struct TensorImpl;

/// A tensor handle. Copying a Tensor copies the handle, not the data (like torch.Tensor).
/// A default-constructed Tensor is "undefined" (defined() == false).
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t offset() const;  // in elements
  DType dtype() const;
  Device device() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  /// Size of dimension d (negative d counts from the end).
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t numel() const;
  bool is_contiguous() const;
  size_t nbytes() const { return dtype_nbytes(dtype(), numel()); }
  const std::shared_ptr<Storage>& storage() const;

  /// Pointer to the first element (storage + offset). T must match the dtype's storage type.
  template <class T>
  T* data() const {
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  /// Copies to a host vector (converting to T), in row-major order of the logical shape.
  template <class T>
  std::vector<T> to_vector() const;
  /// The single value of a one-element tensor, converted to double.
  double item() const;

  // ---- autograd ----
  bool requires_grad() const;
  /// Marks a leaf as needing a gradient; throws on non-floating dtypes or non-leaves.
  Tensor& requires_grad_(bool on = true);
  /// Accumulated gradient of a leaf (undefined until backward reaches it).
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  void zero_grad() const;
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  /// Backpropagates from this scalar (numel 1) tensor, accumulating into leaves' grads, then frees
  /// the graph. Throws AutogradError on non-scalars or when nothing requires a gradient.
  void backward() const;
  /// Backpropagates with an explicit upstream gradient of this tensor's shape.
  void backward(const Tensor& grad_output) const;
  /// Same data, no autograd history.
  Tensor detach() const;
  /// In-place write: src (broadcast to this shape, converted to this dtype) is copied into this
  /// tensor's storage, so every handle and view sharing it sees the new values (how optimizers
  /// update tied parameters). Not recorded by autograd: throws AutogradError while grad mode is on
  /// and this tensor requires grad (wrap the update in NoGradGuard).
  void copy_(const Tensor& src) const;

  // ---- views (no copy; differentiable) ----
  Tensor reshape(Shape shape) const;  // a view when strides allow, else a copy
  Tensor view(Shape shape) const;     // throws ShapeError when a view is impossible
  Tensor permute(std::vector<int64_t> dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(-2, -1); }
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(Shape shape) const;
  Tensor squeeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor contiguous() const;
  /// Cast (a copy unless the dtype is already `dt`).
  Tensor to(DType dt) const;
  Tensor clone() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

/// The state behind a Tensor handle. Views share `storage`.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  DType dtype = DType::F32;
  // autograd
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  Tensor grad;                    // accumulated gradient (leaves)
};

// ---- creation ----

/// Uninitialized contiguous tensor.
Tensor empty(Shape shape, DType dtype = DType::F32);
Tensor zeros(Shape shape, DType dtype = DType::F32);
Tensor ones(Shape shape, DType dtype = DType::F32);
Tensor full(Shape shape, double value, DType dtype = DType::F32);
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
/// [start, end) with step, like torch.arange; dtype I64 by default.
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::I64);
Tensor arange(int64_t end, DType dtype = DType::I64);
/// Copies host data (converted from T to `dtype`); data.size() must equal numel(shape).
template <class T>
Tensor from_vector(const std::vector<T>& data, Shape shape, DType dtype);
Tensor from_vector(const std::vector<float>& data, Shape shape);
/// Wraps external memory without copying; `keep_alive` keeps it valid. Checks that shape x dtype
/// fits in `nbytes`.
Tensor from_blob(void* data, size_t nbytes, Shape shape, DType dtype,
                 std::shared_ptr<void> keep_alive);
/// A 0-dim tensor.
Tensor scalar_tensor(double value, DType dtype = DType::F32);

/// Prints shape, dtype and (for small tensors) values.
std::string to_string(const Tensor& x);

}  // namespace lazarus
