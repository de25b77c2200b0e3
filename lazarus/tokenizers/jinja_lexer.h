// Lexer of the chat-template Jinja subset: applies the reference's preprocessing (trailing newline,
// lstrip_blocks, trim_blocks, {% generation %} removal) and whitespace control, and produces tokens
// that remember their line and column in the original source.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lazarus::tokenizers::jinja {

enum class TokenType {
  Text,       // literal template text
  OpenStmt,   // {%
  CloseStmt,  // %}
  OpenExpr,   // {{
  CloseExpr,  // }}
  Name,       // identifier or keyword
  String,     // string literal (escapes resolved)
  Integer,    // integer literal
  Float,      // float literal
  Op,         // operator or punctuation: ( ) [ ] { } , . : | = + - * / // % ** ~ == != < > <= >=
  End,        // end of input
};

struct Token {
  TokenType type;
  std::string text;
  int line = 1;
  int col = 1;
};

/// Tokenizes a template. Throws TemplateError naming line and column on a lexical error
/// (unterminated string/comment/tag, unexpected character, bad escape).
std::vector<Token> tokenize(std::string_view source);

}  // namespace lazarus::tokenizers::jinja
