// Internal to the chat-template parser: the Parser class shared by jinja_parser.cpp (statements)
// and jinja_parse_expr.cpp (expressions).
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/jinja_parser.h"

namespace lazarus::tokenizers::jinja::detail {

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, int max_depth) : t_(tokens), max_depth_(max_depth) {}

  std::vector<NodePtr> run() {
    std::vector<NodePtr> body;
    std::string stopped_at = parse_body(body, {});
    if (!stopped_at.empty())
      fail(peek(), "unexpected '{% " + stopped_at + " %}' with no block open");
    return body;
  }

 private:
  // ---- token helpers ----
  const Token& peek(size_t ahead = 0) const {
    size_t k = std::min(pos_ + ahead, t_.size() - 1);
    return t_[k];
  }
  const Token& next() {
    const Token& tok = peek();
    if (pos_ < t_.size() - 1) ++pos_;
    return tok;
  }
  bool at_op(const char* op, size_t ahead = 0) const {
    return peek(ahead).type == TokenType::Op && peek(ahead).text == op;
  }
  bool at_name(const char* name, size_t ahead = 0) const {
    return peek(ahead).type == TokenType::Name && peek(ahead).text == name;
  }
  static std::string show(const Token& tok) {
    switch (tok.type) {
      case TokenType::End:
        return "end of template";
      case TokenType::Text:
        return "text";
      case TokenType::String:
        return "string '" + tok.text + "'";
      default:
        return "'" + tok.text + "'";
    }
  }
  [[noreturn]] void fail(const Token& at, const std::string& msg) const {
    throw TemplateError("chat template: line " + std::to_string(at.line) + ", column " +
                        std::to_string(at.col) + ": syntax error: " + msg);
  }
  void expect_op(const char* op, const char* context) {
    if (!at_op(op))
      fail(peek(), std::string("expected '") + op + "' " + context + ", found " + show(peek()));
    next();
  }
  std::string expect_name(const char* context) {
    if (peek().type != TokenType::Name)
      fail(peek(), std::string("expected a name ") + context + ", found " + show(peek()));
    return next().text;
  }
  void expect_close_stmt(const char* context) {
    if (peek().type != TokenType::CloseStmt)
      fail(peek(), std::string("expected '%}' to close ") + context + ", found " + show(peek()));
    next();
  }
  NodePtr make(NodeKind kind, const Token& at) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = at.line;
    n->col = at.col;
    return n;
  }
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > p.max_depth_)
        throw lazarus::LimitError("chat template: line " + std::to_string(p.peek().line) +
                                  ", column " + std::to_string(p.peek().col) +
                                  ": nesting deeper than " + std::to_string(p.max_depth_) +
                                  " levels");
    }
    ~DepthGuard() { --p.depth_; }
  };

  // ---- statements (jinja_parser.cpp) and expressions (jinja_parse_expr.cpp) ----
  // Parses until "{% <one of stops> " (left unconsumed after the "{%") or the end; returns the
  // stop word found, or "" at the end of input.
  std::string parse_body(std::vector<NodePtr>& body, std::initializer_list<const char*> stops);
  // Parses a block body up to one of `stops`; a missing end tag names where the block opened.
  std::string parse_block(std::vector<NodePtr>& body, std::initializer_list<const char*> stops,
                          const Token& opened, const char* what);
  NodePtr parse_statement();
  NodePtr parse_if(const Token& word);
  NodePtr parse_target(bool allow_attr);
  NodePtr parse_for(const Token& word);
  NodePtr parse_set(const Token& word);
  void parse_params(std::vector<NodePtr>& params);
  NodePtr parse_macro(const Token& word);
  NodePtr parse_call_block(const Token& word);
  NodePtr parse_filter_block(const Token& word);
  NodePtr parse_expr_sequence();
  NodePtr parse_expr();
  NodePtr binary(const Token& at, std::string op, NodePtr l, NodePtr r);
  NodePtr parse_or();
  NodePtr parse_and();
  NodePtr parse_not();
  NodePtr parse_compare();
  NodePtr parse_additive();
  NodePtr parse_multiplicative();
  NodePtr parse_power();
  NodePtr parse_test();
  // `x is divisibleby 3`, `x is eq y`: a single argument without parentheses.
  bool starts_bare_test_arg() const;
  NodePtr parse_filter();
  NodePtr parse_unary();
  void parse_args(std::vector<NodePtr>& args);
  NodePtr parse_postfix();
  NodePtr parse_subscript(const Token& at, NodePtr object);
  NodePtr parse_primary();

  const std::vector<Token>& t_;
  size_t pos_ = 0;
  int depth_ = 0;
  int max_depth_;
};

}  // namespace lazarus::tokenizers::jinja::detail
