// Syntax tree and parser of the chat-template Jinja subset: statements (if/elif/else, for with
// else and loop filters, set incl. block set and namespace attributes, macro, call, filter, do,
// break/continue) and expressions with Jinja's precedence.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lazarus/tokenizers/jinja_lexer.h"
#include "lazarus/tokenizers/jinja_value.h"

namespace lazarus::tokenizers::jinja {

enum class NodeKind {
  // statements
  Text,         // str: literal text
  Output,       // a: expression printed by {{ }}
  If,           // a: test; body; orelse
  For,          // a: target (Name/Tuple); b: iterable; c: loop filter or null; body; orelse
  Set,          // a: target (Name/Tuple/Attr); b: value, or null for a block set (body)
  Macro,        // str: name; items: parameters (Name or Kwarg with default); body
  CallBlock,    // a: Call expression; items: caller parameters; body
  FilterBlock,  // str: filter name; items: arguments; body
  Do,           // a: expression evaluated for its effect
  Break,
  Continue,
  // expressions
  Literal,  // value
  Name,     // str
  List,     // items
  Tuple,    // items
  Dict,     // items: key, value, key, value...
  Attr,     // a.str
  Item,     // a[b]
  Slice,    // a[b:c:d], each of b/c/d may be null
  Call,     // a(items...) — items may be Kwarg
  Filter,   // a | str(items...)
  Test,     // a is [not] str(items...)
  Unary,    // str: "not" / "-" / "+"; a
  Binary,   // str: operator; a, b
  Cond,     // b if a else c (c null: undefined when false)
  Kwarg,    // str = a
};

struct Node;
using NodePtr = std::unique_ptr<Node>;

struct Node {
  NodeKind kind;
  int line = 0;
  int col = 0;
  std::string str;
  Value value;
  NodePtr a, b, c, d;
  std::vector<NodePtr> items;
  std::vector<NodePtr> body;
  std::vector<NodePtr> orelse;
  bool negate = false;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  /// Frees the subtree in a loop: a chain such as `a.a.a...` 100,000 deep must not recurse.
  ~Node();
};

/// What a node is, for error messages ("for loop", "filter 'trim'", "call to 'range'").
std::string describe(const Node& n);

/// Parses tokens into a list of top-level statements. Throws TemplateError naming the line and
/// column of the offending token; LimitError when nesting exceeds `max_depth`.
std::vector<NodePtr> parse(const std::vector<Token>& tokens, int max_depth);

}  // namespace lazarus::tokenizers::jinja
