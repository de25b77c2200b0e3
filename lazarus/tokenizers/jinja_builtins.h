// Helpers shared by the filters (jinja_builtins.cpp) and the methods/globals (jinja_methods.cpp).
// Internal to the chat-template interpreter.
#pragma once

#include <string>

#include "lazarus/tokenizers/jinja_interpreter.h"

namespace lazarus::tokenizers::jinja {

/// The string inside `v`; Failure naming `what` otherwise.
const std::string& need_string(const Value& v, const std::string& what);
/// Python `str.split(sep=None, maxsplit=-1)`.
Value split_string(const std::string& s, const CallArgs& args);
/// Python `str.replace(old, new, count=-1)`; the result is bounded by the output limit.
std::string replace_string(Interpreter& in, const std::string& s, const CallArgs& args);
/// The reference's title(): upper-cases an ASCII word character that follows a non-word one.
std::string title_case(const std::string& s);
/// First code point upper-cased, the rest unchanged (as the reference does).
std::string capitalize(const std::string& s);
/// MarkupSafe-style escaping of & < > " '.
std::string html_escape(const std::string& s);
/// What `join` makes of one element (none/undefined join as empty).
std::string join_piece(const Value& v);

}  // namespace lazarus::tokenizers::jinja
