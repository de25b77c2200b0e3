// Expression half of the chat-template parser. Precedence, loosest first: ternary, or, and, not,
// comparisons/in, + - ~, * / // %, **, is-tests, |filters, unary sign, postfix (. [] ()), primary —
// the order @huggingface/jinja parses in.
#include <cerrno>
#include <cstdlib>

#include "lazarus/tokenizers/jinja_parser_impl.h"

namespace lazarus::tokenizers::jinja::detail {

namespace {
bool is_keyword(const std::string& s) {
  return s == "and" || s == "or" || s == "not" || s == "in" || s == "is" || s == "if" ||
         s == "else";
}
}  // namespace

NodePtr Parser::parse_expr_sequence() {
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

NodePtr Parser::parse_expr() {
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

NodePtr Parser::binary(const Token& at, std::string op, NodePtr l, NodePtr r) {
  auto n = make(NodeKind::Binary, at);
  n->str = std::move(op);
  n->a = std::move(l);
  n->b = std::move(r);
  return n;
}

NodePtr Parser::parse_or() {
  NodePtr left = parse_and();
  while (at_name("or")) {
    const Token& at = next();
    left = binary(at, "or", std::move(left), parse_and());
  }
  return left;
}

NodePtr Parser::parse_and() {
  NodePtr left = parse_not();
  while (at_name("and")) {
    const Token& at = next();
    left = binary(at, "and", std::move(left), parse_not());
  }
  return left;
}

NodePtr Parser::parse_not() {
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

NodePtr Parser::parse_compare() {
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
    } else if (at.type == TokenType::Op && (at.text == "==" || at.text == "!=" || at.text == "<" ||
                                            at.text == ">" || at.text == "<=" || at.text == ">=")) {
      op = next().text;
    } else {
      return left;
    }
    left = binary(at, op, std::move(left), parse_additive());
  }
}

NodePtr Parser::parse_additive() {
  NodePtr left = parse_multiplicative();
  while (at_op("+") || at_op("-") || at_op("~")) {
    const Token& at = next();
    left = binary(at, at.text, std::move(left), parse_multiplicative());
  }
  return left;
}

NodePtr Parser::parse_multiplicative() {
  NodePtr left = parse_power();
  while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
    const Token& at = next();
    left = binary(at, at.text, std::move(left), parse_power());
  }
  return left;
}

NodePtr Parser::parse_power() {
  NodePtr left = parse_test();
  while (at_op("**")) {
    const Token& at = next();
    left = binary(at, "**", std::move(left), parse_test());
  }
  return left;
}

NodePtr Parser::parse_test() {
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

bool Parser::starts_bare_test_arg() const {
  const Token& tok = peek();
  if (tok.type == TokenType::String || tok.type == TokenType::Integer ||
      tok.type == TokenType::Float)
    return true;
  if (tok.type == TokenType::Op && (tok.text == "[" || tok.text == "{")) return true;
  return tok.type == TokenType::Name && !is_keyword(tok.text);
}

NodePtr Parser::parse_filter() {
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

NodePtr Parser::parse_unary() {
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

void Parser::parse_args(std::vector<NodePtr>& args) {
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

NodePtr Parser::parse_postfix() {
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

NodePtr Parser::parse_subscript(const Token& at, NodePtr object) {
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

NodePtr Parser::parse_primary() {
  DepthGuard guard(*this);
  const Token& tok = next();
  switch (tok.type) {
    case TokenType::Integer: {
      auto n = make(NodeKind::Literal, tok);
      errno = 0;
      long long v = std::strtoll(tok.text.c_str(), nullptr, 10);
      n->value = errno == ERANGE ? Value::number(std::strtod(tok.text.c_str(), nullptr))
                                 : Value::integer(v);
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
      if (w == "true" || w == "True" || w == "false" || w == "False" || w == "none" ||
          w == "None") {
        auto n = make(NodeKind::Literal, tok);
        n->value =
            w[0] == 'n' || w[0] == 'N' ? Value::none() : Value::boolean(w[0] == 't' || w[0] == 'T');
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
    default:
      break;
  }
  fail(tok, "expected an expression, found " + show(tok));
}

}  // namespace lazarus::tokenizers::jinja::detail
