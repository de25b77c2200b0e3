// Tensor handle, storage, creation and conversion to host values.
#include "lazarus/tensor/tensor.h"

#include <cstdlib>
#include <new>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/internal.h"
#include "lazarus/tensor/ops.h"

namespace lazarus {

std::string shape_str(std::span<const int64_t> shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

int64_t checked_numel(std::span<const int64_t> shape, const char* op) {
  int64_t n = 1, span = 1;  // span: the product of max(d, 1), which strides are built from
  for (int64_t d : shape) {
    if (d < 0)
      throw IndexError(fmt::format("[{}] negative size in shape {}", op, shape_str(shape)));
    int64_t d1 = std::max<int64_t>(d, 1);
    if (span > INT64_MAX / d1) {
      throw IndexError(
          fmt::format("[{}] shape {} overflows the element count", op, shape_str(shape)));
    }
    span *= d1;
    n *= d;
  }
  return n;
}

Shape contiguous_strides(std::span<const int64_t> shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return st;
}

// ---- Storage ----

namespace {
constexpr size_t kAlign = 64;
// Refuse allocations no machine here could satisfy before asking the allocator (1 TiB).
constexpr size_t kMaxAlloc = size_t(1) << 40;
}  // namespace

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  if (nbytes > kMaxAlloc) {
    throw IndexError(
        fmt::format("[allocate] {} bytes requested, more than the 1 TiB limit", nbytes));
  }
  auto s = std::shared_ptr<Storage>(new Storage());
  size_t rounded = (nbytes + kAlign - 1) / kAlign * kAlign;
  if (rounded == 0) rounded = kAlign;
  s->data_ = std::aligned_alloc(kAlign, rounded);
  if (!s->data_) throw std::bad_alloc();
  s->nbytes_ = nbytes;
  s->device_ = device;
  s->owned_ = true;
  return s;
}

std::shared_ptr<Storage> Storage::borrow(void* data, size_t nbytes,
                                         std::shared_ptr<void> keep_alive, Device device) {
  auto s = std::shared_ptr<Storage>(new Storage());
  s->data_ = data;
  s->nbytes_ = nbytes;
  s->device_ = device;
  s->owned_ = false;
  s->keep_alive_ = std::move(keep_alive);
  return s;
}

Storage::~Storage() {
  if (owned_) std::free(data_);
}

// ---- Tensor accessors ----

namespace {
TensorImpl& checked(const std::shared_ptr<TensorImpl>& p) {
  if (!p) throw Error("[tensor] use of an undefined tensor");
  return *p;
}
}  // namespace

const Shape& Tensor::shape() const { return checked(impl_).shape; }
const Shape& Tensor::strides() const { return checked(impl_).strides; }
int64_t Tensor::offset() const { return checked(impl_).offset; }
DType Tensor::dtype() const { return checked(impl_).dtype; }
Device Tensor::device() const { return checked(impl_).storage->device(); }
const std::shared_ptr<Storage>& Tensor::storage() const { return checked(impl_).storage; }

int64_t Tensor::size(int64_t d) const {
  if (dim() == 0) throw ShapeError(fmt::format("[size] a 0-dim tensor has no dim {}", d));
  return shape()[detail::wrap_dim(d, dim(), "size")];
}
int64_t Tensor::stride(int64_t d) const {
  if (dim() == 0) throw ShapeError(fmt::format("[stride] a 0-dim tensor has no dim {}", d));
  return strides()[detail::wrap_dim(d, dim(), "stride")];
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape()) n *= d;
  return n;
}

bool Tensor::is_contiguous() const {
  const auto& sh = shape();
  const auto& st = strides();
  int64_t expect = 1;
  for (size_t i = sh.size(); i-- > 0;) {
    if (sh[i] == 1) continue;
    if (st[i] != expect) return false;
    expect *= sh[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  auto& im = checked(impl_);
  return static_cast<char*>(im.storage->data()) + dtype_nbytes(im.dtype, im.offset);
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = detach();
  DType want;
  if constexpr (std::is_same_v<T, float>)
    want = DType::F32;
  else if constexpr (std::is_same_v<T, double>)
    want = DType::F64;
  else if constexpr (std::is_same_v<T, int32_t>)
    want = DType::I32;
  else if constexpr (std::is_same_v<T, int64_t>)
    want = DType::I64;
  else if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, uint8_t>)
    want = DType::Bool;
  else if constexpr (std::is_same_v<T, uint16_t>)
    want = c.dtype();  // raw 16-bit patterns
  c = c.to(want).contiguous();
  if constexpr (std::is_same_v<T, bool>) {
    const uint8_t* p = c.data<uint8_t>();
    return std::vector<bool>(p, p + c.numel());
  } else {
    const T* p = c.data<T>();
    return std::vector<T>(p, p + c.numel());
  }
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;
template std::vector<bool> Tensor::to_vector<bool>() const;
template std::vector<uint16_t> Tensor::to_vector<uint16_t>() const;

double Tensor::item() const {
  if (numel() != 1) {
    throw ShapeError(
        fmt::format("[item] needs exactly one element, got shape {}", shape_str(shape())));
  }
  return to_vector<double>()[0];
}

// ---- autograd accessors ----

bool Tensor::requires_grad() const { return checked(impl_).requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  auto& im = checked(impl_);
  if (on && !is_floating(im.dtype)) {
    throw DTypeError(
        fmt::format("[requires_grad_] only floating tensors can require gradients, got {}",
                    dtype_name(im.dtype)));
  }
  if (im.grad_fn) throw AutogradError("[requires_grad_] can only be set on leaf tensors");
  im.requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return checked(impl_).grad; }
void Tensor::set_grad(const Tensor& g) const { checked(impl_).grad = g; }
void Tensor::zero_grad() const { checked(impl_).grad = Tensor(); }
bool Tensor::is_leaf() const { return checked(impl_).grad_fn == nullptr; }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked(impl_).grad_fn; }

void Tensor::backward() const {
  if (numel() != 1) {
    throw AutogradError(
        fmt::format("[backward] needs a scalar (one element) output, got shape {}; "
                    "pass grad_output for non-scalars",
                    shape_str(shape())));
  }
  run_backward(*this, ones(shape(), dtype()));
}
void Tensor::backward(const Tensor& grad_output) const { run_backward(*this, grad_output); }

Tensor Tensor::detach() const {
  auto& im = checked(impl_);
  auto d = std::make_shared<TensorImpl>();
  d->storage = im.storage;
  d->shape = im.shape;
  d->strides = im.strides;
  d->offset = im.offset;
  d->dtype = im.dtype;
  return Tensor(std::move(d));
}

// ---- creation ----

namespace {
// A quantized tensor's rows are whole blocks.
void check_blocks(const Shape& shape, DType dtype, const char* op) {
  const int64_t b = dtype_block_size(dtype);
  if (b > 1 && (shape.empty() || shape.back() % b != 0)) {
    throw ShapeError(fmt::format("[{}] a {} tensor's last dim must be a multiple of {}, got {}",
                                 op, dtype_name(dtype), b, shape_str(shape)));
  }
}
}  // namespace

Tensor empty(Shape shape, DType dtype) {
  int64_t n = checked_numel(shape, "empty");
  check_blocks(shape, dtype, "empty");
  size_t es = dtype_size(dtype);
  if (n > 0 && size_t(n) > (size_t(1) << 40) / es) {
    throw IndexError(fmt::format("[empty] shape {} x {} is larger than the 1 TiB limit",
                                 shape_str(shape), dtype_name(dtype)));
  }
  auto im = std::make_shared<TensorImpl>();
  im->storage = Storage::allocate(dtype_nbytes(dtype, n));
  im->strides = contiguous_strides(shape);
  im->shape = std::move(shape);
  im->dtype = dtype;
  return Tensor(std::move(im));
}

Tensor full(Shape shape, double value, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  if (t.numel() > 0) backend_for(Device::CPU).fill(t, value);
  return t;
}
Tensor zeros(Shape shape, DType dtype) { return full(std::move(shape), 0.0, dtype); }
Tensor ones(Shape shape, DType dtype) { return full(std::move(shape), 1.0, dtype); }
Tensor zeros_like(const Tensor& x) { return zeros(x.shape(), x.dtype()); }
Tensor ones_like(const Tensor& x) { return ones(x.shape(), x.dtype()); }
Tensor scalar_tensor(double value, DType dtype) { return full({}, value, dtype); }

Tensor arange(double start, double end, double step, DType dtype) {
  if (step == 0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step)) {
    throw IndexError(
        fmt::format("[arange] invalid range start={} end={} step={}", start, end, step));
  }
  if ((end - start) * step < 0) {
    throw IndexError(fmt::format(
        "[arange] the range [{}, {}) and step {} point in opposite directions", start, end, step));
  }
  double n = std::ceil((end - start) / step);
  if (n > 1e15) throw IndexError(fmt::format("[arange] {} elements is too many", n));
  Tensor t = empty({int64_t(n)}, dtype);
  if (t.numel() > 0) backend_for(Device::CPU).arange(t, start, step);
  return t;
}
Tensor arange(int64_t end, DType dtype) { return arange(0.0, double(end), 1.0, dtype); }

template <class T>
Tensor from_vector(const std::vector<T>& data, Shape shape, DType dtype) {
  int64_t n = checked_numel(shape, "from_vector");
  if (n != int64_t(data.size())) {
    throw ShapeError(fmt::format("[from_vector] {} values do not fill shape {} ({} elements)",
                                 data.size(), shape_str(shape), n));
  }
  DType src;
  if constexpr (std::is_same_v<T, float>)
    src = DType::F32;
  else if constexpr (std::is_same_v<T, double>)
    src = DType::F64;
  else if constexpr (std::is_same_v<T, int32_t>)
    src = DType::I32;
  else if constexpr (std::is_same_v<T, int64_t>)
    src = DType::I64;
  else
    src = DType::Bool;
  Tensor host = empty(shape, src);
  if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, uint8_t>) {
    auto* p = host.data<uint8_t>();
    for (int64_t i = 0; i < n; ++i) p[i] = data[i] ? 1 : 0;  // bool storage holds only 0/1
  } else if (n > 0) {
    std::memcpy(host.raw_data(), data.data(), size_t(n) * sizeof(T));
  }
  return host.to(dtype);
}
template Tensor from_vector<float>(const std::vector<float>&, Shape, DType);
template Tensor from_vector<double>(const std::vector<double>&, Shape, DType);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, Shape, DType);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, Shape, DType);
template Tensor from_vector<bool>(const std::vector<bool>&, Shape, DType);
template Tensor from_vector<uint8_t>(const std::vector<uint8_t>&, Shape, DType);

Tensor from_vector(const std::vector<float>& data, Shape shape) {
  return from_vector<float>(data, std::move(shape), DType::F32);
}

Tensor from_blob(void* data, size_t nbytes, Shape shape, DType dtype,
                 std::shared_ptr<void> keep_alive) {
  int64_t n = checked_numel(shape, "from_blob");
  check_blocks(shape, dtype, "from_blob");
  const size_t es = dtype_size(dtype);
  if (size_t(n / dtype_block_size(dtype)) > nbytes / es) {
    throw ShapeError(fmt::format("[from_blob] shape {} x {} needs {} bytes, buffer has {}",
                                 shape_str(shape), dtype_name(dtype),
                                 double(n / dtype_block_size(dtype)) * double(es), nbytes));
  }
  auto im = std::make_shared<TensorImpl>();
  im->storage = Storage::borrow(data, nbytes, std::move(keep_alive));
  im->strides = contiguous_strides(shape);
  im->shape = std::move(shape);
  im->dtype = dtype;
  return Tensor(std::move(im));
}

std::string to_string(const Tensor& x) {
  if (!x.defined()) return "Tensor(undefined)";
  std::string s =
      fmt::format("Tensor(shape={}, dtype={}", shape_str(x.shape()), dtype_name(x.dtype()));
  if (x.numel() <= 64) {
    auto v = x.to_vector<double>();
    s += ", values=[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + fmt::format("{:.6g}", v[i]);
    s += "]";
  }
  return s + ")";
}

}  // namespace lazarus
