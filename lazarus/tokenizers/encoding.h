// The result of encoding one text: token ids, their strings, and which were added as special.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lazarus::tokenizers {

struct Encoding {
  std::vector<std::uint32_t> ids;
  std::vector<std::string> tokens;                // same length as ids
  std::vector<std::uint8_t> special_tokens_mask;  // 1 where the post-processor added the token
};

}  // namespace lazarus::tokenizers
