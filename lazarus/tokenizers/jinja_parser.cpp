// Recursive-descent parser of the chat-template Jinja subset. Precedence, loosest first:
// ternary, or, and, not, comparisons/in, + - ~, * / // %, **, is-tests, |filters, unary sign,
// postfix (. [] ()), primary — the order @huggingface/jinja parses in.
#include "lazarus/tokenizers/jinja_parser.h"

#include <cerrno>
#include <cstdlib>
#include <iterator>
#include <initializer_list>

namespace lazarus::tokenizers::jinja {

std::string describe(const Node& n) {
  switch (n.kind) {
    case NodeKind::Text: return "text";
    case NodeKind::Output: return "output {{ }}";
    case NodeKind::If: return "if statement";
    case NodeKind::For: return "for loop";
    case NodeKind::Set: return "set statement";
    case NodeKind::Macro: return "macro '" + n.str + "'";
    case NodeKind::CallBlock: return "call block";
    case NodeKind::FilterBlock: return "filter block '" + n.str + "'";
    case NodeKind::Do: return "do statement";
    case NodeKind::Break: return "break";
    case NodeKind::Continue: return "continue";
    case NodeKind::Literal: return "literal";
    case NodeKind::Name: return "variable '" + n.str + "'";
    case NodeKind::List: return "list literal";
    case NodeKind::Tuple: return "tuple";
    case NodeKind::Dict: return "dict literal";
    case NodeKind::Attr: return "attribute '." + n.str + "'";
    case NodeKind::Item: return "subscript [...]";
    case NodeKind::Slice: return "slice [a:b:c]";
    case NodeKind::Call:
      if (n.a && n.a->kind == NodeKind::Name) return "call to '" + n.a->str + "'";
      if (n.a && n.a->kind == NodeKind::Attr) return "call to method '" + n.a->str + "'";
      return "call";
    case NodeKind::Filter: return "filter '" + n.str + "'";
    case NodeKind::Test: return "test 'is " + n.str + "'";
    case NodeKind::Unary: return "operator '" + n.str + "'";
    case NodeKind::Binary: return "operator '" + n.str + "'";
    case NodeKind::Cond: return "conditional expression";
    case NodeKind::Kwarg: return "keyword argument '" + n.str + "'";
  }
  return "node";
}

namespace {

bool is_keyword(const std::string& s) {
  return s == "and" || s == "or" || s == "not" || s == "in" || s == "is" || s == "if" || s == "else";
}

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, int max_depth) : t_(tokens), max_depth_(max_depth) {}

  std::vector<NodePtr> run() {
    std::vector<NodePtr> body;
    std::string stopped_at = parse_body(body, {});
    if (!stopped_at.empty()) fail(peek(), "unexpected '{% " + stopped_at + " %}' with no block open");
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
      case TokenType::End: return "end of template";
      case TokenType::Text: return "text";
      case TokenType::String: return "string '" + tok.text + "'";
      default: return "'" + tok.text + "'";
    }
  }
  [[noreturn]] void fail(const Token& at, const std::string& msg) const {
    throw TemplateError("chat template: line " + std::to_string(at.line) + ", column " + std::to_string(at.col) +
                        ": syntax error: " + msg);
  }
  void expect_op(const char* op, const char* context) {
    if (!at_op(op)) fail(peek(), std::string("expected '") + op + "' " + context + ", found " + show(peek()));
    next();
  }
  std::string expect_name(const char* context) {
    if (peek().type != TokenType::Name) fail(peek(), std::string("expected a name ") + context + ", found " + show(peek()));
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
        throw lazarus::LimitError("chat template: line " + std::to_string(p.peek().line) + ", column " +
                                  std::to_string(p.peek().col) + ": nesting deeper than " +
                                  std::to_string(p.max_depth_) + " levels");
    }
    ~DepthGuard() { --p.depth_; }
  };

  // ---- statements ----
  // Parses until "{% <one of stops> " (left unconsumed after the "{%") or the end; returns the
  // stop word found, or "" at the end of input.
  std::string parse_body(std::vector<NodePtr>& body, std::initializer_list<const char*> stops) {
    DepthGuard guard(*this);
    while (true) {
      const Token& tok = peek();
      switch (tok.type) {
        case TokenType::End: return "";
        case TokenType::Text: {
          auto n = make(NodeKind::Text, tok);
          n->str = tok.text;
          next();
          body.push_back(std::move(n));
          break;
        }
        case TokenType::OpenExpr: {
          next();
          auto n = make(NodeKind::Output, tok);
          n->a = parse_expr();
          if (peek().type != TokenType::CloseExpr) fail(peek(), "expected '}}' to close the expression, found " + show(peek()));
          next();
          body.push_back(std::move(n));
          break;
        }
        case TokenType::OpenStmt: {
          const Token& word = peek(1);
          if (word.type != TokenType::Name) fail(word, "expected a statement name after '{%', found " + show(word));
          for (const char* stop : stops)
            if (word.text == stop) {
              next();
              next();
              return word.text;
            }
          next();
          body.push_back(parse_statement());
          break;
        }
        default: fail(tok, "unexpected " + show(tok));
      }
    }
  }

  // Parses a block body up to one of `stops`; a missing end tag names where the block opened.
  std::string parse_block(std::vector<NodePtr>& body, std::initializer_list<const char*> stops, const Token& opened,
                          const char* what) {
    std::string stop = parse_body(body, stops);
    if (stop.empty())
      fail(opened, std::string("'") + what + "' block is never closed (expected '{% " + *std::prev(stops.end()) +
                       " %}')");
    return stop;
  }

  NodePtr parse_statement() {
    const Token& word = next();
    const std::string& w = word.text;
    if (w == "if") return parse_if(word);
    if (w == "for") return parse_for(word);
    if (w == "set") return parse_set(word);
    if (w == "macro") return parse_macro(word);
    if (w == "call") return parse_call_block(word);
    if (w == "filter") return parse_filter_block(word);
    if (w == "do") {
      auto n = make(NodeKind::Do, word);
      n->a = parse_expr();
      expect_close_stmt("'do'");
      return n;
    }
    if (w == "break" || w == "continue") {
      auto n = make(w == "break" ? NodeKind::Break : NodeKind::Continue, word);
      expect_close_stmt(w == "break" ? "'break'" : "'continue'");
      return n;
    }
    fail(word, "unknown statement '" + w + "'");
  }

  NodePtr parse_if(const Token& word) {
    auto n = make(NodeKind::If, word);
    n->a = parse_expr();
    expect_close_stmt("'if'");
    std::string stop = parse_block(n->body, {"elif", "else", "endif"}, word, "if");
    if (stop == "elif") {
      n->orelse.push_back(parse_if(t_[pos_ - 1]));
      return n;
    }
    if (stop == "else") {
      expect_close_stmt("'else'");
      parse_block(n->orelse, {"endif"}, word, "if");
    }
    expect_close_stmt("'endif'");
    return n;
  }

  NodePtr parse_target(bool allow_attr) {
    const Token& at = peek();
    std::vector<NodePtr> names;
    bool paren = at_op("(");
    if (paren) next();
    while (true) {
      const Token& tok = peek();
      auto name = make(NodeKind::Name, tok);
      name->str = expect_name("as assignment target");
      if (allow_attr && at_op(".")) {
        next();
        auto attr = make(NodeKind::Attr, tok);
        attr->a = std::move(name);
        attr->str = expect_name("after '.'");
        names.push_back(std::move(attr));
      } else {
        names.push_back(std::move(name));
      }
      if (!at_op(",")) break;
      next();
    }
    if (paren) expect_op(")", "to close the target list");
    if (names.size() == 1 && !paren) return std::move(names[0]);
    auto tuple = make(NodeKind::Tuple, at);
    tuple->items = std::move(names);
    return tuple;
  }

  NodePtr parse_for(const Token& word) {
    auto n = make(NodeKind::For, word);
    n->a = parse_target(false);
    if (!at_name("in")) fail(peek(), "expected 'in' after the loop variable, found " + show(peek()));
    next();
    n->b = parse_or();
    if (at_name("if")) {
      next();
      n->c = parse_or();
    }
    if (at_name("recursive")) fail(peek(), "recursive for loops are not supported");
    expect_close_stmt("'for'");
    std::string stop = parse_block(n->body, {"else", "endfor"}, word, "for");
    if (stop == "else") {
      expect_close_stmt("'else'");
      parse_block(n->orelse, {"endfor"}, word, "for");
    }
    expect_close_stmt("'endfor'");
    return n;
  }

  NodePtr parse_set(const Token& word) {
    auto n = make(NodeKind::Set, word);
    n->a = parse_target(true);
    if (at_op("=")) {
      next();
      n->b = parse_expr_sequence();
      expect_close_stmt("'set'");
      return n;
    }
    if (n->a->kind == NodeKind::Tuple) fail(word, "a block set needs a single name");
    expect_close_stmt("'set'");
    parse_block(n->body, {"endset"}, word, "set");
    expect_close_stmt("'endset'");
    return n;
  }

  void parse_params(std::vector<NodePtr>& params) {
    expect_op("(", "to open the parameter list");
    while (!at_op(")")) {
      const Token& tok = peek();
      std::string name = expect_name("as parameter");
      for (const auto& p : params)
        if (p->str == name) fail(tok, "duplicate parameter '" + name + "'");
      if (at_op("=")) {
        next();
        auto kw = make(NodeKind::Kwarg, tok);
        kw->str = name;
        kw->a = parse_expr();
        params.push_back(std::move(kw));
      } else {
        if (!params.empty() && params.back()->kind == NodeKind::Kwarg)
          fail(tok, "parameter '" + name + "' without default follows one with a default");
        auto p = make(NodeKind::Name, tok);
        p->str = name;
        params.push_back(std::move(p));
      }
      if (!at_op(",")) break;
      next();
    }
    expect_op(")", "to close the parameter list");
  }

  NodePtr parse_macro(const Token& word) {
    auto n = make(NodeKind::Macro, word);
    n->str = expect_name("after 'macro'");
    parse_params(n->items);
    expect_close_stmt("'macro'");
    parse_block(n->body, {"endmacro"}, word, "macro");
    expect_close_stmt("'endmacro'");
    return n;
  }

  NodePtr parse_call_block(const Token& word) {
    auto n = make(NodeKind::CallBlock, word);
    if (at_op("(")) parse_params(n->items);
    n->a = parse_postfix();
    if (n->a->kind != NodeKind::Call) fail(word, "'call' needs a macro call such as '{% call m(x) %}'");
    expect_close_stmt("'call'");
    parse_block(n->body, {"endcall"}, word, "call");
    expect_close_stmt("'endcall'");
    return n;
  }

  NodePtr parse_filter_block(const Token& word) {
    auto n = make(NodeKind::FilterBlock, word);
    n->str = expect_name("after 'filter'");
    if (at_op("(")) parse_args(n->items);
    expect_close_stmt("'filter'");
    parse_block(n->body, {"endfilter"}, word, "filter");
    expect_close_stmt("'endfilter'");
    return n;
  }

  // ---- expressions ----
  NodePtr parse_expr_sequence() {
    const Token& at = peek();
    NodePtr first = parse_expr();
    if (!at_op(",")) return first;
    auto tuple = make(NodeKind::Tuple, at);
    tuple->items.push_back(std::move(first));
    while (at_op(",")) {
      next();
      if (at_op(")") || peek().type == TokenType::CloseStmt) break;
      tuple->items.push_back(parse_expr());
    }
    return tuple;
  }

  NodePtr parse_expr() {
    DepthGuard guard(*this);
    const Token& at = peek();
    NodePtr value = parse_or();
    if (!at_name("if")) return value;
    next();
    auto n = make(NodeKind::Cond, at);
    n->b = std::move(value);
    n->a = parse_or();
    if (at_name("else")) {
      next();
      n->c = parse_expr();
    }
    return n;
  }

  NodePtr binary(const Token& at, std::string op, NodePtr l, NodePtr r) {
    auto n = make(NodeKind::Binary, at);
    n->str = std::move(op);
    n->a = std::move(l);
    n->b = std::move(r);
    return n;
  }

  NodePtr parse_or() {
    NodePtr left = parse_and();
    while (at_name("or")) {
      const Token& at = next();
      left = binary(at, "or", std::move(left), parse_and());
    }
    return left;
  }
  NodePtr parse_and() {
    NodePtr left = parse_not();
    while (at_name("and")) {
      const Token& at = next();
      left = binary(at, "and", std::move(left), parse_not());
    }
    return left;
  }
  NodePtr parse_not() {
    if (at_name("not")) {
      DepthGuard guard(*this);
      const Token& at = next();
      auto n = make(NodeKind::Unary, at);
      n->str = "not";
      n->a = parse_not();
      return n;
    }
    return parse_compare();
  }
  NodePtr parse_compare() {
    NodePtr left = parse_additive();
    while (true) {
      const Token& at = peek();
      std::string op;
      if (at_name("not") && at_name("in", 1)) {
        next();
        next();
        op = "not in";
      } else if (at_name("in")) {
        next();
        op = "in";
      } else if (at.type == TokenType::Op && (at.text == "==" || at.text == "!=" || at.text == "<" || at.text == ">" ||
                                              at.text == "<=" || at.text == ">=")) {
        op = next().text;
      } else {
        return left;
      }
      left = binary(at, op, std::move(left), parse_additive());
    }
  }
  NodePtr parse_additive() {
    NodePtr left = parse_multiplicative();
    while (at_op("+") || at_op("-") || at_op("~")) {
      const Token& at = next();
      left = binary(at, at.text, std::move(left), parse_multiplicative());
    }
    return left;
  }
  NodePtr parse_multiplicative() {
    NodePtr left = parse_power();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const Token& at = next();
      left = binary(at, at.text, std::move(left), parse_power());
    }
    return left;
  }
  NodePtr parse_power() {
    NodePtr left = parse_test();
    while (at_op("**")) {
      const Token& at = next();
      left = binary(at, "**", std::move(left), parse_test());
    }
    return left;
  }
  NodePtr parse_test() {
    NodePtr operand = parse_filter();
    while (at_name("is")) {
      const Token& at = next();
      auto n = make(NodeKind::Test, at);
      if (at_name("not")) {
        next();
        n->negate = true;
      }
      n->str = expect_name("after 'is'");
      if (at_op("(")) {
        parse_args(n->items);
      } else if (starts_bare_test_arg()) {
        n->items.push_back(parse_postfix());
      }
      n->a = std::move(operand);
      operand = std::move(n);
    }
    return operand;
  }
  // `x is divisibleby 3`, `x is eq y`: a single argument without parentheses.
  bool starts_bare_test_arg() const {
    const Token& tok = peek();
    if (tok.type == TokenType::String || tok.type == TokenType::Integer || tok.type == TokenType::Float) return true;
    if (tok.type == TokenType::Op && (tok.text == "[" || tok.text == "{")) return true;
    return tok.type == TokenType::Name && !is_keyword(tok.text);
  }
  NodePtr parse_filter() {
    NodePtr operand = parse_unary();
    while (at_op("|")) {
      const Token& at = next();
      auto n = make(NodeKind::Filter, at);
      n->str = expect_name("after '|'");
      if (at_op("(")) parse_args(n->items);
      n->a = std::move(operand);
      operand = std::move(n);
    }
    return operand;
  }
  NodePtr parse_unary() {
    if (at_op("-") || at_op("+")) {
      DepthGuard guard(*this);
      const Token& at = next();
      auto n = make(NodeKind::Unary, at);
      n->str = at.text;
      n->a = parse_unary();
      return n;
    }
    return parse_postfix();
  }

  void parse_args(std::vector<NodePtr>& args) {
    expect_op("(", "to open the argument list");
    while (!at_op(")")) {
      const Token& tok = peek();
      if (tok.type == TokenType::Name && at_op("=", 1)) {
        next();
        next();
        auto kw = make(NodeKind::Kwarg, tok);
        kw->str = tok.text;
        kw->a = parse_expr();
        args.push_back(std::move(kw));
      } else {
        if (!args.empty() && args.back()->kind == NodeKind::Kwarg)
          fail(tok, "positional argument follows keyword argument");
        args.push_back(parse_expr());
      }
      if (!at_op(",")) break;
      next();
    }
    expect_op(")", "to close the argument list");
  }

  NodePtr parse_postfix() {
    NodePtr node = parse_primary();
    while (true) {
      const Token& at = peek();
      if (at_op(".")) {
        next();
        auto n = make(NodeKind::Attr, at);
        if (peek().type == TokenType::Integer) {
          // `x.0` is item access by index in Jinja.
          auto item = make(NodeKind::Item, at);
          auto lit = make(NodeKind::Literal, peek());
          lit->value = Value::integer(std::strtoll(next().text.c_str(), nullptr, 10));
          item->a = std::move(node);
          item->b = std::move(lit);
          node = std::move(item);
          continue;
        }
        n->str = expect_name("after '.'");
        n->a = std::move(node);
        node = std::move(n);
      } else if (at_op("[")) {
        next();
        node = parse_subscript(at, std::move(node));
      } else if (at_op("(")) {
        auto n = make(NodeKind::Call, at);
        parse_args(n->items);
        n->a = std::move(node);
        node = std::move(n);
      } else {
        return node;
      }
    }
  }

  NodePtr parse_subscript(const Token& at, NodePtr object) {
    NodePtr parts[3];
    int colons = 0;
    while (!at_op("]")) {
      if (at_op(":")) {
        if (++colons > 2) fail(peek(), "a slice takes at most three parts");
        next();
        continue;
      }
      if (parts[colons]) fail(peek(), "expected ':' or ']' in subscript, found " + show(peek()));
      parts[colons] = parse_expr();
    }
    next();
    if (colons == 0) {
      if (!parts[0]) fail(at, "empty subscript '[]'");
      auto n = make(NodeKind::Item, at);
      n->a = std::move(object);
      n->b = std::move(parts[0]);
      return n;
    }
    auto n = make(NodeKind::Slice, at);
    n->a = std::move(object);
    n->b = std::move(parts[0]);
    n->c = std::move(parts[1]);
    n->d = std::move(parts[2]);
    return n;
  }

  NodePtr parse_primary() {
    DepthGuard guard(*this);
    const Token& tok = next();
    switch (tok.type) {
      case TokenType::Integer: {
        auto n = make(NodeKind::Literal, tok);
        errno = 0;
        long long v = std::strtoll(tok.text.c_str(), nullptr, 10);
        n->value = errno == ERANGE ? Value::number(std::strtod(tok.text.c_str(), nullptr)) : Value::integer(v);
        return n;
      }
      case TokenType::Float: {
        auto n = make(NodeKind::Literal, tok);
        n->value = Value::number(std::strtod(tok.text.c_str(), nullptr));
        return n;
      }
      case TokenType::String: {
        auto n = make(NodeKind::Literal, tok);
        std::string s = tok.text;
        while (peek().type == TokenType::String) s += next().text;  // adjacent literals concatenate
        n->value = Value::string(std::move(s));
        return n;
      }
      case TokenType::Name: {
        const std::string& w = tok.text;
        if (w == "true" || w == "True" || w == "false" || w == "False" || w == "none" || w == "None") {
          auto n = make(NodeKind::Literal, tok);
          n->value = w[0] == 'n' || w[0] == 'N' ? Value::none() : Value::boolean(w[0] == 't' || w[0] == 'T');
          return n;
        }
        auto n = make(NodeKind::Name, tok);
        n->str = w;
        return n;
      }
      case TokenType::Op: {
        if (tok.text == "(") {
          if (at_op(")")) {
            next();
            return make(NodeKind::Tuple, tok);
          }
          NodePtr inner = parse_expr_sequence();
          expect_op(")", "to close '('");
          return inner;
        }
        if (tok.text == "[") {
          auto n = make(NodeKind::List, tok);
          while (!at_op("]")) {
            n->items.push_back(parse_expr());
            if (!at_op(",")) break;
            next();
          }
          expect_op("]", "to close the list");
          return n;
        }
        if (tok.text == "{") {
          auto n = make(NodeKind::Dict, tok);
          while (!at_op("}")) {
            n->items.push_back(parse_expr());
            expect_op(":", "between dict key and value");
            n->items.push_back(parse_expr());
            if (!at_op(",")) break;
            next();
          }
          expect_op("}", "to close the dict");
          return n;
        }
        break;
      }
      default: break;
    }
    fail(tok, "expected an expression, found " + show(tok));
  }

  const std::vector<Token>& t_;
  size_t pos_ = 0;
  int depth_ = 0;
  int max_depth_;
};

}  // namespace

std::vector<NodePtr> parse(const std::vector<Token>& tokens, int max_depth) {
  return Parser(tokens, max_depth).run();
}

}  // namespace lazarus::tokenizers::jinja
