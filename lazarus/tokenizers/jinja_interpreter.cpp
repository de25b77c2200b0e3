// Tree-walking interpreter of the chat-template Jinja subset. Scoping follows @huggingface/jinja:
// `if` bodies share the enclosing scope, a `for` loop gets one scope for all its iterations, and a
// macro body runs in a child of the caller's scope. Every error names the line, column and
// construct.
#include "lazarus/tokenizers/jinja_interpreter.h"

#include <cmath>

namespace lazarus::tokenizers::jinja {

namespace {
struct BreakSignal {};
struct ContinueSignal {};

bool numeric(const Value& v) { return v.is_number() || v.kind == ValueKind::Bool; }

// `in` membership uses strict equality, as the reference does (JS ===).
bool strict_equals(const Value& a, const Value& b) {
  if (numeric(a) && numeric(b)) {
    if (a.kind == ValueKind::Bool || b.kind == ValueKind::Bool)
      return a.kind == b.kind && a.b == b.b;
    return a.is_int() && b.is_int() ? a.i == b.i : a.as_double() == b.as_double();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case ValueKind::Undefined:
    case ValueKind::None:
      return true;
    case ValueKind::String:
      return a.s == b.s;
    case ValueKind::Array:
      return a.arr == b.arr;
    case ValueKind::Object:
    case ValueKind::Namespace:
      return a.obj == b.obj;
    case ValueKind::Function:
      return a.fn == b.fn;
    default:
      return false;
  }
}

double floor_mod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}
}  // namespace

Value Scope::lookup(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent_) {
    auto it = s->vars_.find(name);
    if (it != s->vars_.end()) return it->second;
  }
  return Value::undefined();
}

Interpreter::CallGuard::CallGuard(Interpreter& interp) : in(interp) {
  if (++in.call_depth_ > in.limits_.max_call_depth) {
    --in.call_depth_;
    throw lazarus::LimitError(in.where() + ": macro calls nested deeper than " +
                              std::to_string(in.limits_.max_call_depth) + " (runaway recursion?)");
  }
  in.charge_steps(1);
}

Interpreter::~Interpreter() {
  for (auto& w : mutated_arrays_)
    if (auto a = w.lock()) a->clear();
  for (auto& w : mutated_objects_)
    if (auto o = w.lock()) o->items.clear();
}

void Interpreter::note_mutation(const Value& container) {
  if (container.arr) mutated_arrays_.push_back(container.arr);
  if (container.obj) mutated_objects_.push_back(container.obj);
}

std::string Interpreter::where() const {
  if (!current_) return "chat template";
  return "chat template: line " + std::to_string(current_->line) + ", column " +
         std::to_string(current_->col);
}

void Interpreter::charge_steps(int64_t n) {
  steps_ += n;
  if (steps_ > limits_.max_steps)
    throw lazarus::LimitError(where() + ": more than " + std::to_string(limits_.max_steps) +
                              " loop iterations and calls (runaway loop?)");
}

void Interpreter::check_size(size_t size, const char* what) const {
  if (size > limits_.max_output_bytes)
    throw lazarus::LimitError(where() + ": " + what + " would exceed the output limit of " +
                              std::to_string(limits_.max_output_bytes) + " bytes");
}

void Interpreter::fail_at(const Node& n, const std::string& msg) const {
  throw TemplateError("chat template: line " + std::to_string(n.line) + ", column " +
                      std::to_string(n.col) + ": " + describe(n) + ": " + msg);
}

std::string Interpreter::render(const std::vector<NodePtr>& program, Scope& globals) {
  std::string out;
  try {
    exec_block(program, globals, out);
  } catch (const BreakSignal&) {
    throw TemplateError("chat template: 'break' outside a for loop");
  } catch (const ContinueSignal&) {
    throw TemplateError("chat template: 'continue' outside a for loop");
  }
  return out;
}

void Interpreter::exec_block(const std::vector<NodePtr>& body, Scope& scope, std::string& out) {
  for (const auto& n : body) {
    exec(*n, scope, out);
    check_size(out.size(), "rendered text");
  }
}

void Interpreter::exec(const Node& n, Scope& scope, std::string& out) {
  current_ = &n;
  try {
    switch (n.kind) {
      case NodeKind::Text:
        out += n.str;
        return;
      case NodeKind::Output: {
        Value v = eval(*n.a, scope);
        current_ = &n;
        out += to_output(v);
        return;
      }
      case NodeKind::If:
        exec_block(truthy(eval(*n.a, scope)) ? n.body : n.orelse, scope, out);
        return;
      case NodeKind::For:
        exec_for(n, scope, out);
        return;
      case NodeKind::Set:
        exec_set(n, scope);
        return;
      case NodeKind::Macro: {
        std::vector<const Node*> params;
        for (const auto& p : n.items) params.push_back(p.get());
        scope.set(n.str, define_macro(n, params, n.body, n.str));
        return;
      }
      case NodeKind::CallBlock:
        exec_call_block(n, scope, out);
        return;
      case NodeKind::FilterBlock: {
        std::string inner;
        exec_block(n.body, scope, inner);
        current_ = &n;
        CallArgs args = eval_args(n.items, scope);
        out += to_output(apply_filter(*this, n.str, Value::string(std::move(inner)), args, scope));
        return;
      }
      case NodeKind::Do:
        eval(*n.a, scope);
        return;
      case NodeKind::Break:
        throw BreakSignal{};
      case NodeKind::Continue:
        throw ContinueSignal{};
      default:
        fail_at(n, "is not a statement");
    }
  } catch (const Failure& f) {
    fail_at(n, f.message);
  }
}

void Interpreter::exec_for(const Node& n, Scope& scope, std::string& out) {
  Scope loop_scope(&scope);
  Value iterable = eval(*n.b, loop_scope);
  current_ = &n;
  Array items;
  switch (iterable.kind) {
    case ValueKind::Array:
      items = *iterable.arr;
      break;  // a snapshot: appends inside do not extend it
    case ValueKind::Object:
    case ValueKind::Namespace:
      for (const auto& kv : iterable.obj->items) items.push_back(Value::string(kv.first));
      break;
    case ValueKind::String:
      for (auto& ch : utf8_chars(iterable.s)) items.push_back(Value::string(std::move(ch)));
      break;
    case ValueKind::Undefined:
      break;
    default:
      fail_at(n, "cannot iterate over " + type_name(iterable));
  }
  auto bind = [&](Scope& target, const Value& item) {
    if (n.a->kind == NodeKind::Name) {
      target.set(n.a->str, item);
      return;
    }
    const auto& names = n.a->items;
    if (!item.is_array())
      fail_at(n, "cannot unpack " + type_name(item) + " into " + std::to_string(names.size()) +
                     " names");
    if (item.arr->size() != names.size())
      fail_at(n, "cannot unpack " + std::to_string(item.arr->size()) + " values into " +
                     std::to_string(names.size()) + " names");
    for (size_t k = 0; k < names.size(); ++k) target.set(names[k]->str, (*item.arr)[k]);
  };
  if (n.c) {  // loop filter: `for x in xs if cond`
    Array kept;
    for (const Value& item : items) {
      charge_steps(1);
      Scope test_scope(&loop_scope);
      bind(test_scope, item);
      if (truthy(eval(*n.c, test_scope))) kept.push_back(item);
    }
    items = std::move(kept);
  }
  const int64_t len = static_cast<int64_t>(items.size());
  bool no_iteration = true;
  for (int64_t k = 0; k < len; ++k) {
    current_ = &n;
    charge_steps(1);
    Object loop;
    loop.set("index", Value::integer(k + 1));
    loop.set("index0", Value::integer(k));
    loop.set("revindex", Value::integer(len - k));
    loop.set("revindex0", Value::integer(len - k - 1));
    loop.set("first", Value::boolean(k == 0));
    loop.set("last", Value::boolean(k == len - 1));
    loop.set("length", Value::integer(len));
    loop.set("previtem", k > 0 ? items[static_cast<size_t>(k - 1)] : Value::undefined());
    loop.set("nextitem", k + 1 < len ? items[static_cast<size_t>(k + 1)] : Value::undefined());
    loop.set("cycle", Value::function("loop.cycle", [k](CallArgs& args, Scope&) {
               if (args.positional.empty()) throw Failure{"loop.cycle() needs at least one value"};
               return args.positional[static_cast<size_t>(k) % args.positional.size()];
             }));
    loop_scope.set("loop", Value::object(std::move(loop)));
    bind(loop_scope, items[static_cast<size_t>(k)]);
    try {
      exec_block(n.body, loop_scope, out);
    } catch (const ContinueSignal&) {
      continue;
    } catch (const BreakSignal&) {
      break;
    }
    no_iteration = false;
  }
  if (no_iteration) exec_block(n.orelse, loop_scope, out);
}

void Interpreter::exec_set(const Node& n, Scope& scope) {
  Value rhs;
  if (n.b) {
    rhs = eval(*n.b, scope);
  } else {
    std::string inner;
    exec_block(n.body, scope, inner);
    rhs = Value::string(std::move(inner));
  }
  current_ = &n;
  const Node& target = *n.a;
  if (target.kind == NodeKind::Name) {
    scope.set(target.str, std::move(rhs));
  } else if (target.kind == NodeKind::Tuple) {
    if (!rhs.is_array()) fail_at(n, "cannot unpack " + type_name(rhs));
    if (rhs.arr->size() != target.items.size())
      fail_at(n, "cannot unpack " + std::to_string(rhs.arr->size()) + " values into " +
                     std::to_string(target.items.size()) + " names");
    for (size_t k = 0; k < target.items.size(); ++k) {
      if (target.items[k]->kind != NodeKind::Name) fail_at(n, "can only unpack into plain names");
      scope.set(target.items[k]->str, (*rhs.arr)[k]);
    }
  } else {  // Attr: ns.x = ...
    Value obj = eval(*target.a, scope);
    if (obj.kind != ValueKind::Namespace)
      fail_at(n, "cannot assign attribute '" + target.str + "' on " + type_name(obj) +
                     " (only on a namespace())");
    note_mutation(obj);
    obj.obj->set(target.str, std::move(rhs));
  }
}

Value Interpreter::define_macro(const Node& n, std::vector<const Node*> params,
                                const std::vector<NodePtr>& body, std::string name) {
  const Node* site = &n;
  return Value::function(name,
                         [this, site, params, &body, name](CallArgs& args, Scope& caller_scope) {
                           CallGuard guard(*this);
                           Scope macro_scope(&caller_scope);
                           std::vector<std::pair<std::string, Value>> kwargs = args.keyword;
                           std::vector<const Node*> pending_defaults;
                           for (size_t k = 0; k < params.size(); ++k) {
                             const std::string& pname = params[k]->str;
                             Value v;
                             bool given = false;
                             if (k < args.positional.size()) {
                               v = args.positional[k];
                               given = true;
                             } else {
                               for (auto it = kwargs.begin(); it != kwargs.end(); ++it)
                                 if (it->first == pname) {
                                   v = it->second;
                                   kwargs.erase(it);
                                   given = true;
                                   break;
                                 }
                             }
                             if (!given && params[k]->kind == NodeKind::Kwarg)
                               pending_defaults.push_back(params[k]);
                             macro_scope.set(pname, v);
                           }
                           Array varargs;
                           for (size_t k = params.size(); k < args.positional.size(); ++k)
                             varargs.push_back(args.positional[k]);
                           macro_scope.set("varargs", Value::array(std::move(varargs)));
                           Object kw;
                           for (auto& [k, v] : kwargs) kw.set(k, v);
                           macro_scope.set("kwargs", Value::object(std::move(kw)));
                           for (const Node* p : pending_defaults)
                             macro_scope.set(p->str, eval(*p->a, macro_scope));
                           std::string out;
                           const Node* saved = current_;
                           current_ = site;
                           try {
                             exec_block(body, macro_scope, out);
                           } catch (const BreakSignal&) {
                             fail_at(*site, "'break' outside a for loop");
                           } catch (const ContinueSignal&) {
                             fail_at(*site, "'continue' outside a for loop");
                           }
                           current_ = saved;
                           return Value::string(std::move(out));
                         });
}

void Interpreter::exec_call_block(const Node& n, Scope& scope, std::string& out) {
  const Node& call = *n.a;
  std::vector<const Node*> params;
  for (const auto& p : n.items) params.push_back(p.get());
  Value caller = define_macro(n, params, n.body, "caller");
  CallArgs args = eval_args(call.items, scope);
  Value fn = eval(*call.a, scope);
  current_ = &n;
  if (fn.kind != ValueKind::Function) fail_at(n, "cannot call " + type_name(fn));
  Scope call_scope(&scope);
  call_scope.set("caller", caller);
  out += to_output(fn.fn->call(args, call_scope));
}

CallArgs Interpreter::eval_args(const std::vector<NodePtr>& args, Scope& scope) {
  CallArgs out;
  for (const auto& a : args) {
    if (a->kind == NodeKind::Kwarg) {
      for (const auto& kv : out.keyword)
        if (kv.first == a->str) fail_at(*a, "given more than once");
      out.keyword.emplace_back(a->str, eval(*a->a, scope));
    } else {
      out.positional.push_back(eval(*a, scope));
    }
  }
  return out;
}

Value Interpreter::eval(const Node& n, Scope& scope) {
  const Node* saved = current_;
  current_ = &n;
  // Chains such as `1 + 1 + ...` or `x|trim|trim...` parse in a loop into a tree as deep as they
  // are long, and evaluating one recurses once per level: bounded like the parser's nesting.
  struct Depth {
    int& d;
    ~Depth() { --d; }
  } depth{++eval_depth_};
  if (eval_depth_ > limits_.max_expression_depth) {
    throw lazarus::LimitError(where() + ": an expression nested deeper than " +
                              std::to_string(limits_.max_expression_depth) +
                              " levels (a chain of operators, filters, attributes or calls?)");
  }
  Value v;
  try {
    v = eval_inner(n, scope);
  } catch (const Failure& f) {
    fail_at(n, f.message);
  }
  current_ = &n;
  if (v.is_string()) check_size(v.s.size(), "a string");
  if (v.is_array()) check_size(v.arr->size(), "a list");
  current_ = saved;
  return v;
}

Value Interpreter::eval_inner(const Node& n, Scope& scope) {
  switch (n.kind) {
    case NodeKind::Literal:
      return n.value;
    case NodeKind::Name:
      return scope.lookup(n.str);
    case NodeKind::List:
    case NodeKind::Tuple: {
      Array a;
      for (const auto& item : n.items) a.push_back(eval(*item, scope));
      return Value::array(std::move(a));
    }
    case NodeKind::Dict: {
      Object o;
      for (size_t k = 0; k + 1 < n.items.size(); k += 2) {
        Value key = eval(*n.items[k], scope);
        if (!key.is_string()) throw Failure{"dict keys must be strings, got " + type_name(key)};
        o.set(key.s, eval(*n.items[k + 1], scope));
      }
      return Value::object(std::move(o));
    }
    case NodeKind::Attr:
      return get_attribute(*this, eval(*n.a, scope), n.str);
    case NodeKind::Item: {
      Value obj = eval(*n.a, scope);
      return eval_item(obj, eval(*n.b, scope));
    }
    case NodeKind::Slice:
      return eval_slice(n, scope);
    case NodeKind::Call: {
      CallArgs args = eval_args(n.items, scope);
      Value fn = eval(*n.a, scope);
      if (fn.kind != ValueKind::Function)
        throw Failure{"cannot call " + type_name(fn) + " (not a function)"};
      return fn.fn->call(args, scope);
    }
    case NodeKind::Filter: {
      Value operand = eval(*n.a, scope);
      CallArgs args = eval_args(n.items, scope);
      return apply_filter(*this, n.str, operand, args, scope);
    }
    case NodeKind::Test: {
      Value operand = eval(*n.a, scope);
      CallArgs args = eval_args(n.items, scope);
      return Value::boolean(apply_test(n.str, operand, args) != n.negate);
    }
    case NodeKind::Unary: {
      Value v = eval(*n.a, scope);
      if (n.str == "not") return Value::boolean(!truthy(v));
      if (!numeric(v)) throw Failure{"needs a number, got " + type_name(v)};
      bool neg = n.str == "-";
      if (v.kind == ValueKind::Float) return Value::number(neg ? -v.f : v.f);
      int64_t x = v.kind == ValueKind::Bool ? (v.b ? 1 : 0) : v.i;
      if (neg && x == INT64_MIN) return Value::number(-static_cast<double>(x));
      return Value::integer(neg ? -x : x);
    }
    case NodeKind::Binary:
      return eval_binary(n, scope);
    case NodeKind::Cond:
      if (truthy(eval(*n.a, scope))) return eval(*n.b, scope);
      return n.c ? eval(*n.c, scope) : Value::undefined();
    default:
      throw Failure{"is not an expression"};
  }
}

Value Interpreter::eval_item(const Value& obj, const Value& key) {
  if (obj.is_mapping_like()) {
    if (!key.is_string()) throw Failure{"dict keys are strings, got " + type_name(key)};
    if (const Value* v = obj.obj->find(key.s)) return *v;
    return obj.is_object() ? get_attribute(*this, obj, key.s) : Value::undefined();
  }
  if (obj.is_array() || obj.is_string()) {
    if (key.is_int()) {
      if (obj.is_array()) {
        int64_t len = static_cast<int64_t>(obj.arr->size());
        int64_t k = key.i < 0 ? key.i + len : key.i;
        return k >= 0 && k < len ? (*obj.arr)[static_cast<size_t>(k)] : Value::undefined();
      }
      auto chars = utf8_chars(obj.s);
      int64_t len = static_cast<int64_t>(chars.size());
      int64_t k = key.i < 0 ? key.i + len : key.i;
      return k >= 0 && k < len ? Value::string(chars[static_cast<size_t>(k)]) : Value::undefined();
    }
    if (key.is_string()) return get_attribute(*this, obj, key.s);
    throw Failure{"index must be an integer, got " + type_name(key)};
  }
  return Value::undefined();
}

Value Interpreter::eval_slice(const Node& n, Scope& scope) {
  Value obj = eval(*n.a, scope);
  auto bound = [&](const NodePtr& p, const char* which) -> std::pair<bool, int64_t> {
    if (!p) return {false, 0};
    Value v = eval(*p, scope);
    if (v.is_undefined() || v.is_none()) return {false, 0};
    if (!v.is_int())
      throw Failure{std::string("slice ") + which + " must be an integer, got " + type_name(v)};
    return {true, v.i};
  };
  auto [has_start, start] = bound(n.b, "start");
  auto [has_stop, stop] = bound(n.c, "stop");
  auto [has_step, step] = bound(n.d, "step");
  if (!has_step) step = 1;
  if (step == 0) throw Failure{"slice step cannot be zero"};
  std::vector<std::string> chars;
  int64_t len = 0;
  if (obj.is_array()) {
    len = static_cast<int64_t>(obj.arr->size());
  } else if (obj.is_string()) {
    chars = utf8_chars(obj.s);
    len = static_cast<int64_t>(chars.size());
  } else {
    throw Failure{"cannot slice " + type_name(obj)};
  }
  // Python slice semantics.
  if (step > 0) {
    start = !has_start ? 0 : start < 0 ? std::max<int64_t>(start + len, 0) : std::min(start, len);
    stop = !has_stop ? len : stop < 0 ? std::max<int64_t>(stop + len, 0) : std::min(stop, len);
  } else {
    start = !has_start  ? len - 1
            : start < 0 ? std::max<int64_t>(start + len, -1)
                        : std::min(start, len - 1);
    stop = !has_stop ? -1 : stop < 0 ? std::max<int64_t>(stop + len, -1) : std::min(stop, len - 1);
  }
  Array out_arr;
  std::string out_str;
  for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
    if (obj.is_array()) {
      out_arr.push_back((*obj.arr)[static_cast<size_t>(k)]);
    } else {
      out_str += chars[static_cast<size_t>(k)];
    }
  }
  return obj.is_array() ? Value::array(std::move(out_arr)) : Value::string(std::move(out_str));
}

Value Interpreter::eval_binary(const Node& n, Scope& scope) {
  const std::string& op = n.str;
  Value left = eval(*n.a, scope);
  if (op == "and") return truthy(left) ? eval(*n.b, scope) : left;
  if (op == "or") return truthy(left) ? left : eval(*n.b, scope);
  Value right = eval(*n.b, scope);
  if (op == "==") return Value::boolean(loose_equals(left, right));
  if (op == "!=") return Value::boolean(!loose_equals(left, right));
  if (op == "in" || op == "not in") {
    bool negate = op == "not in";
    bool found = false;
    if (right.is_undefined()) {
      found = false;
    } else if (right.is_array()) {
      for (const Value& e : *right.arr)
        if (strict_equals(e, left)) {
          found = true;
          break;
        }
    } else if (right.is_string() && left.is_string()) {
      found = right.s.find(left.s) != std::string::npos;
    } else if (right.is_mapping_like() && left.is_string()) {
      found = right.obj->find(left.s) != nullptr;
    } else {
      throw Failure{"cannot test " + type_name(left) + " in " + type_name(right)};
    }
    return Value::boolean(found != negate);
  }
  if (left.is_undefined() || right.is_undefined())
    throw Failure{"cannot apply to an undefined value (" + type_name(left) + " " + op + " " +
                  type_name(right) + ")"};
  if (left.is_none() || right.is_none())
    throw Failure{"cannot apply to none (" + type_name(left) + " " + op + " " + type_name(right) +
                  ")"};
  if (op == "~") {
    std::string l = to_concat_string(left), r = to_concat_string(right);
    check_size(l.size() + r.size(), "a string");
    return Value::string(l + r);
  }
  if (numeric(left) && numeric(right)) {
    bool as_int = left.kind != ValueKind::Float && right.kind != ValueKind::Float;
    int64_t li = left.kind == ValueKind::Bool ? left.b : left.i;
    int64_t ri = right.kind == ValueKind::Bool ? right.b : right.i;
    double lf = left.as_double(), rf = right.as_double();
    if (op == "<") return Value::boolean(lf < rf);
    if (op == ">") return Value::boolean(lf > rf);
    if (op == "<=") return Value::boolean(lf <= rf);
    if (op == ">=") return Value::boolean(lf >= rf);
    if (op == "+" || op == "-" || op == "*") {
      if (as_int) {
        int64_t r = 0;
        bool overflow = op == "+"   ? __builtin_add_overflow(li, ri, &r)
                        : op == "-" ? __builtin_sub_overflow(li, ri, &r)
                                    : __builtin_mul_overflow(li, ri, &r);
        if (!overflow) return Value::integer(r);
      }
      return Value::number(op == "+" ? lf + rf : op == "-" ? lf - rf : lf * rf);
    }
    if (op == "/") {
      if (rf == 0) throw Failure{"division by zero"};
      return Value::number(lf / rf);
    }
    if (op == "//" || op == "%") {
      if (rf == 0) throw Failure{op == "//" ? "integer division by zero" : "modulo by zero"};
      if (as_int && !(li == INT64_MIN && ri == -1)) {
        int64_t q = li / ri, r = li % ri;
        if (r != 0 && ((r < 0) != (ri < 0))) {
          --q;
          r += ri;
        }
        return Value::integer(op == "//" ? q : r);
      }
      return Value::number(op == "//" ? std::floor(lf / rf) : floor_mod(lf, rf));
    }
    if (op == "**") {
      if (lf == 0 && rf < 0) throw Failure{"0 cannot be raised to a negative power"};
      double r = std::pow(lf, rf);
      if (!std::isfinite(r)) throw Failure{"result is not a finite number"};
      if (as_int && ri >= 0 && std::fabs(r) < 9.0e18)
        return Value::integer(static_cast<int64_t>(r));
      return Value::number(r);
    }
  }
  if (op == "+" && left.is_array() && right.is_array()) {
    check_size(left.arr->size() + right.arr->size(), "a list");
    Array a = *left.arr;
    a.insert(a.end(), right.arr->begin(), right.arr->end());
    return Value::array(std::move(a));
  }
  if (op == "+" && (left.is_string() || right.is_string())) {
    std::string l = to_concat_string(left), r = to_concat_string(right);
    check_size(l.size() + r.size(), "a string");
    return Value::string(l + r);
  }
  if (op == "*" && ((left.is_string() && right.is_int()) || (left.is_int() && right.is_string()))) {
    const std::string& s = left.is_string() ? left.s : right.s;
    int64_t times = left.is_int() ? left.i : right.i;
    if (times <= 0 || s.empty()) return Value::string("");
    if (static_cast<uint64_t>(times) > limits_.max_output_bytes / s.size() + 1)
      check_size(limits_.max_output_bytes + 1, "a repeated string");
    check_size(s.size() * static_cast<size_t>(times), "a repeated string");
    std::string out;
    for (int64_t k = 0; k < times; ++k) out += s;
    return Value::string(std::move(out));
  }
  if (left.is_string() && right.is_string() &&
      (op == "<" || op == ">" || op == "<=" || op == ">=")) {
    int c = left.s.compare(right.s);
    return Value::boolean(op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0);
  }
  throw Failure{"unsupported between " + type_name(left) + " and " + type_name(right)};
}

}  // namespace lazarus::tokenizers::jinja
