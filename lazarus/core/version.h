// Library version, one place.
#pragma once

namespace lazarus {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace lazarus
