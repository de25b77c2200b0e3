// Recursive-descent parser of the chat-template Jinja subset: node descriptions, the statement half
// of the parser (blocks, if/for/set/macro/call/filter) and the entry point. Expressions are in
// jinja_parse_expr.cpp.
#include "lazarus/tokenizers/jinja_parser.h"

#include <iterator>

#include "lazarus/tokenizers/jinja_parser_impl.h"

namespace lazarus::tokenizers::jinja {

Node::~Node() {
  std::vector<NodePtr> pending;
  auto adopt = [&pending](Node& n) {
    for (NodePtr* p : {&n.a, &n.b, &n.c, &n.d})
      if (*p) pending.push_back(std::move(*p));
    for (auto* list : {&n.items, &n.body, &n.orelse}) {
      for (NodePtr& p : *list)
        if (p) pending.push_back(std::move(p));
      list->clear();
    }
  };
  adopt(*this);
  while (!pending.empty()) {
    NodePtr n = std::move(pending.back());
    pending.pop_back();
    adopt(*n);
  }  // each node is destroyed here with no children left
}

std::string describe(const Node& n) {
  switch (n.kind) {
    case NodeKind::Text:
      return "text";
    case NodeKind::Output:
      return "output {{ }}";
    case NodeKind::If:
      return "if statement";
    case NodeKind::For:
      return "for loop";
    case NodeKind::Set:
      return "set statement";
    case NodeKind::Macro:
      return "macro '" + n.str + "'";
    case NodeKind::CallBlock:
      return "call block";
    case NodeKind::FilterBlock:
      return "filter block '" + n.str + "'";
    case NodeKind::Do:
      return "do statement";
    case NodeKind::Break:
      return "break";
    case NodeKind::Continue:
      return "continue";
    case NodeKind::Literal:
      return "literal";
    case NodeKind::Name:
      return "variable '" + n.str + "'";
    case NodeKind::List:
      return "list literal";
    case NodeKind::Tuple:
      return "tuple";
    case NodeKind::Dict:
      return "dict literal";
    case NodeKind::Attr:
      return "attribute '." + n.str + "'";
    case NodeKind::Item:
      return "subscript [...]";
    case NodeKind::Slice:
      return "slice [a:b:c]";
    case NodeKind::Call:
      if (n.a && n.a->kind == NodeKind::Name) return "call to '" + n.a->str + "'";
      if (n.a && n.a->kind == NodeKind::Attr) return "call to method '" + n.a->str + "'";
      return "call";
    case NodeKind::Filter:
      return "filter '" + n.str + "'";
    case NodeKind::Test:
      return "test 'is " + n.str + "'";
    case NodeKind::Unary:
      return "operator '" + n.str + "'";
    case NodeKind::Binary:
      return "operator '" + n.str + "'";
    case NodeKind::Cond:
      return "conditional expression";
    case NodeKind::Kwarg:
      return "keyword argument '" + n.str + "'";
  }
  return "node";
}

namespace detail {

std::string Parser::parse_body(std::vector<NodePtr>& body,
                               std::initializer_list<const char*> stops) {
  DepthGuard guard(*this);
  while (true) {
    const Token& tok = peek();
    switch (tok.type) {
      case TokenType::End:
        return "";
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
        if (peek().type != TokenType::CloseExpr)
          fail(peek(), "expected '}}' to close the expression, found " + show(peek()));
        next();
        body.push_back(std::move(n));
        break;
      }
      case TokenType::OpenStmt: {
        const Token& word = peek(1);
        if (word.type != TokenType::Name)
          fail(word, "expected a statement name after '{%', found " + show(word));
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
      default:
        fail(tok, "unexpected " + show(tok));
    }
  }
}

// Parses a block body up to one of `stops`; a missing end tag names where the block opened.
std::string Parser::parse_block(std::vector<NodePtr>& body,
                                std::initializer_list<const char*> stops, const Token& opened,
                                const char* what) {
  std::string stop = parse_body(body, stops);
  if (stop.empty())
    fail(opened, std::string("'") + what + "' block is never closed (expected '{% " +
                     *std::prev(stops.end()) + " %}')");
  return stop;
}

NodePtr Parser::parse_statement() {
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

NodePtr Parser::parse_if(const Token& word) {
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

NodePtr Parser::parse_target(bool allow_attr) {
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

NodePtr Parser::parse_for(const Token& word) {
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

NodePtr Parser::parse_set(const Token& word) {
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

void Parser::parse_params(std::vector<NodePtr>& params) {
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

NodePtr Parser::parse_macro(const Token& word) {
  auto n = make(NodeKind::Macro, word);
  n->str = expect_name("after 'macro'");
  parse_params(n->items);
  expect_close_stmt("'macro'");
  parse_block(n->body, {"endmacro"}, word, "macro");
  expect_close_stmt("'endmacro'");
  return n;
}

NodePtr Parser::parse_call_block(const Token& word) {
  auto n = make(NodeKind::CallBlock, word);
  if (at_op("(")) parse_params(n->items);
  n->a = parse_postfix();
  if (n->a->kind != NodeKind::Call)
    fail(word, "'call' needs a macro call such as '{% call m(x) %}'");
  expect_close_stmt("'call'");
  parse_block(n->body, {"endcall"}, word, "call");
  expect_close_stmt("'endcall'");
  return n;
}

NodePtr Parser::parse_filter_block(const Token& word) {
  auto n = make(NodeKind::FilterBlock, word);
  n->str = expect_name("after 'filter'");
  if (at_op("(")) parse_args(n->items);
  expect_close_stmt("'filter'");
  parse_block(n->body, {"endfilter"}, word, "filter");
  expect_close_stmt("'endfilter'");
  return n;
}

}  // namespace detail

std::vector<NodePtr> parse(const std::vector<Token>& tokens, int max_depth) {
  return detail::Parser(tokens, max_depth).run();
}

}  // namespace lazarus::tokenizers::jinja
