// Error types shared by every layer. Library code throws these on bad input and never aborts;
// messages start with the op or file and carry the offending values.
#pragma once

#include <stdexcept>
#include <string>

namespace lazarus {

/// Base of every error Lazarus throws on bad input.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

/// Shapes that do not fit an op (mismatched dims, bad reshape, out-of-range dim).
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A dtype an op does not accept, or an impossible cast.
class DTypeError : public Error {
 public:
  using Error::Error;
};

/// An index or size out of range (gather/embedding ids, negative or overflowing sizes).
class IndexError : public Error {
 public:
  using Error::Error;
};

/// An invalid configuration value (names the field and the value).
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// A file that cannot be read or is malformed (names the file and what is wrong).
class LoadError : public Error {
 public:
  using Error::Error;
};

/// Autograd misuse: backward from a non-scalar, a primitive without a gradient.
class AutogradError : public Error {
 public:
  using Error::Error;
};

/// A resource limit hit on purpose (template loop bound, recursion depth, output size).
class LimitError : public Error {
 public:
  using Error::Error;
};

}  // namespace lazarus
