// Tree-walking interpreter of the chat-template Jinja subset: scopes, statements, expressions and
// the resource limits (loop iterations, call depth, output size) that keep rendering sandboxed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "lazarus/tokenizers/jinja_parser.h"
#include "lazarus/tokenizers/jinja_value.h"

namespace lazarus::tokenizers::jinja {

/// Bounds on one render; exceeding any throws lazarus::LimitError naming the limit.
struct Limits {
  int64_t max_steps = 1'000'000;  // loop iterations + macro calls + range() items, all together
  int max_call_depth = 64;        // nested macro / caller() calls
  size_t max_output_bytes = 16u << 20;  // rendered text, and any single string or list built
  int max_nesting = 256;                // parser nesting (blocks and expressions)
  int max_expression_depth = 512;       // evaluation depth: operator / filter / postfix chains
                                        // and nested calls (a recursive macro's levels add up)
};

/// A variable scope; lookups fall back to the parent chain, assignments stay local.
class Scope {
 public:
  explicit Scope(Scope* parent = nullptr) : parent_(parent) {}
  /// The variable's value, or undefined when no scope in the chain has it.
  Value lookup(const std::string& name) const;
  void set(const std::string& name, Value v) { vars_[name] = std::move(v); }

 private:
  Scope* parent_;
  std::unordered_map<std::string, Value> vars_;
};

class Interpreter {
 public:
  explicit Interpreter(const Limits& limits) : limits_(limits) {}
  /// Clears every container a template mutated, so reference cycles it built (`l.append(l)`,
  /// `ns.self = ns`) are freed. Values never outlive the render that made them.
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  /// Renders a parsed template with `globals` as the outermost scope.
  std::string render(const std::vector<NodePtr>& program, Scope& globals);

  /// Evaluates one expression node (used by builtins for arguments and by macros for defaults).
  Value eval(const Node& n, Scope& scope);
  /// Renders statements into `out`.
  void exec_block(const std::vector<NodePtr>& body, Scope& scope, std::string& out);

  /// Records a list or namespace mutated in place (the only way to build a reference cycle).
  void note_mutation(const Value& container);
  /// Counts `n` steps against Limits::max_steps.
  void charge_steps(int64_t n);
  /// Throws LimitError when a string or list of `size` would pass the output bound.
  void check_size(size_t size, const char* what) const;
  /// Position prefix "chat template: line L, column C" of the node being evaluated.
  std::string where() const;
  const Limits& limits() const { return limits_; }

  /// Tracks macro nesting; throws LimitError past Limits::max_call_depth.
  struct CallGuard {
    Interpreter& in;
    explicit CallGuard(Interpreter& interp);
    ~CallGuard() { --in.call_depth_; }
  };

 private:
  void exec(const Node& n, Scope& scope, std::string& out);
  Value eval_inner(const Node& n, Scope& scope);
  void exec_for(const Node& n, Scope& scope, std::string& out);
  void exec_set(const Node& n, Scope& scope);
  void exec_call_block(const Node& n, Scope& scope, std::string& out);
  Value define_macro(const Node& n, std::vector<const Node*> params,
                     const std::vector<NodePtr>& body, std::string name);
  Value eval_binary(const Node& n, Scope& scope);
  Value eval_item(const Value& obj, const Value& key);
  Value eval_slice(const Node& n, Scope& scope);
  CallArgs eval_args(const std::vector<NodePtr>& args, Scope& scope);
  [[noreturn]] void fail_at(const Node& n, const std::string& msg) const;

  Limits limits_;
  int64_t steps_ = 0;
  int call_depth_ = 0;
  int eval_depth_ = 0;
  const Node* current_ = nullptr;
  std::vector<std::weak_ptr<Array>> mutated_arrays_;
  std::vector<std::weak_ptr<Object>> mutated_objects_;
};

// ---- builtins (jinja_builtins.cpp) ----

/// Applies filter `name` (trim, tojson, join, map, selectattr, ...). Throws Failure when unknown
/// or misapplied.
Value apply_filter(Interpreter& in, const std::string& name, const Value& operand, CallArgs& args,
                   Scope& scope);
/// Applies test `name` (defined, none, string, divisibleby, ...).
bool apply_test(const std::string& name, const Value& operand, const CallArgs& args);
/// `obj.name`: a dict/namespace entry, or a method bound to a string, list or dict.
Value get_attribute(Interpreter& in, const Value& obj, const std::string& name);
/// Installs range, namespace, raise_exception, strftime_now into `globals`.
void install_globals(Interpreter& in, Scope& globals);

}  // namespace lazarus::tokenizers::jinja
