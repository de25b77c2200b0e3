// The `pattern` field shared by Replace and Split: either {"String": s} (a literal) or
// {"Regex": r}; both compile to one Regex.
#pragma once

#include <memory>

#include "lazarus/tokenizers/json_util.h"
#include "lazarus/tokenizers/regex.h"

namespace lazarus::tokenizers {

/// Compiles a tokenizer.json pattern object; throws LoadError naming the field.
std::shared_ptr<const Regex> make_pattern(const Json& j, const JsonPath& at);

}  // namespace lazarus::tokenizers
