// Unit tests of the chat-template Jinja interpreter: syntax, semantics beyond the parity corpus,
// error messages with line/column, and the sandbox limits (runaway loops, recursion, huge output).
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/chat_template.h"

namespace lt = lazarus::tokenizers;
using json = nlohmann::ordered_json;

namespace {

std::string render(const std::string& src, const json& ctx = json::object(),
                   lt::ChatTemplateLimits limits = {}) {
  return lt::ChatTemplate(src, limits).render_context(ctx);
}

// Renders expecting an exception of type E; returns its message.
template <typename E>
std::string error_of(const std::string& src, const json& ctx = json::object(),
                     lt::ChatTemplateLimits limits = {}) {
  try {
    render(src, ctx, limits);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("WRONG EXCEPTION TYPE: ") + e.what();
  }
  return "NO EXCEPTION";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST(Jinja, TextAndOutput) {
  EXPECT_EQ(render(""), "");
  EXPECT_EQ(render("plain"), "plain");
  EXPECT_EQ(render("{{ x }}", {{"x", "v"}}), "v");
  EXPECT_EQ(render("{{ x }}|{{ none }}|{{ y }}", {{"x", nullptr}}), "||");
  EXPECT_EQ(render("a\n"), "a");  // one trailing newline is dropped, as the reference does
}

TEST(Jinja, Literals) {
  EXPECT_EQ(render("{{ [1, 'a', (2, 3), {'k': True}, None, false] }}"),
            "[1, \"a\", [2, 3], {\"k\": true}, null, false]");
  EXPECT_EQ(render("{{ 'it\\'s' }} {{ \"\\u00e9\" }} {{ 'a' 'b' }}"), "it's é ab");
  EXPECT_EQ(render("{{ 1.25 }} {{ 10 }} {{ -3 }}"), "1.25 10 -3");
}

TEST(Jinja, Arithmetic) {
  EXPECT_EQ(render("{{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** -1 }} {{ 'ab' * 3 }}"), "-4 2 0.5 ababab");
  EXPECT_EQ(render("{{ 9223372036854775807 + 1 }}"), "9223372036854775808.0");
  EXPECT_TRUE(contains(error_of<lt::TemplateError>("{{ 1 / 0 }}"), "division by zero"));
  EXPECT_TRUE(contains(error_of<lt::TemplateError>("{{ 'a' - 1 }}"), "operator '-'"));
}

TEST(Jinja, StringMethodsPythonSemantics) {
  EXPECT_EQ(render("{{ '\\n\\nx  \\n'.strip('\\n') }}|{{ 'xxhixx'.lstrip('x') }}|{{ "
                   "'xxhixx'.rstrip('x') }}"),
            "x  |hixx|xxhi");
  EXPECT_EQ(render("{{ 'a-b-c'.split('-', 1) }}|{{ 'abc'.find('c') }}|{{ ', '.join(['a', 'b']) }}"),
            "[\"a\", \"b-c\"]|2|a, b");
  EXPECT_TRUE(contains(error_of<lt::TemplateError>("{{ 'a'.split('') }}"), "empty separator"));
}

TEST(Jinja, FiltersBeyondReference) {
  EXPECT_EQ(render("{{ [1, 2, 3] | count }}|{{ missing | d('x') }}|{{ 'abc' | list }}|{{ [3, 1] | "
                   "max }}{{ [3, 1] | min }}"),
            "3|x|[\"a\", \"b\", \"c\"]|31");
  EXPECT_EQ(render("{{ 2.567 | round(2) }}|{{ 2.5 | round }}|{{ 2.1 | round(0, 'ceil') }}"),
            "2.57|2.0|3.0");
  EXPECT_EQ(render("{{ '<a href=\"x\">&</a>' | e }}|{{ '<b>' | safe }}"),
            "&lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt;|<b>");
  EXPECT_EQ(
      render("{{ [1, 2, 3, 4] | select('even') | list }}|{{ [1, 2, 3] | reject('odd') | list }}"),
      "[2, 4]|[2]");
  EXPECT_EQ(render("{{ ['a', 'B'] | map('upper') | join }}|{{ [1, 2, 3] | sum }}"), "AB|6");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | dictsort }}"), "[[\"a\", 2], [\"b\", 1]]");
}

TEST(Jinja, TestsWithArguments) {
  EXPECT_EQ(render("{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ 2 is equalto 2 }}{{ 2 is "
                   "eq(3) }}{{ 'a' is in ['a'] }}"),
            "truefalsetruefalsetrue");
  EXPECT_EQ(render("{{ 1.5 is float }}{{ 1 is float }}{{ x is callable }}{{ range is callable }}"),
            "truefalsefalsetrue");
}

TEST(Jinja, ToJsonMatchesPythonLayout) {
  json ctx = {{"v", {{"a", {1, 2}}, {"b", "é"}}}};
  EXPECT_EQ(render("{{ v | tojson }}", ctx), "{\"a\": [1, 2], \"b\": \"é\"}");
  EXPECT_EQ(render("{{ v | tojson(indent=2) }}", ctx),
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": \"é\"\n}");
  EXPECT_EQ(render("{{ v | tojson(ensure_ascii=true) }}", ctx),
            "{\"a\": [1, 2], \"b\": \"\\u00e9\"}");
  EXPECT_EQ(render("{{ '😀' | tojson(ensure_ascii=true) }}"), "\"\\ud83d\\ude00\"");
}

TEST(Jinja, ScopingAndMacros) {
  EXPECT_EQ(render("{% macro m() %}{{ outer }}{% endmacro %}{% set outer = 'seen' %}{{ m() }}"),
            "seen");
  EXPECT_EQ(render("{% macro m(a) %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}"),
            "[2]{\"k\": 3}");
  EXPECT_EQ(render("{% set xs = [] %}{% do xs.append(1) %}{% do xs.append(2) %}{{ xs }}"),
            "[1, 2]");
  EXPECT_EQ(render("{% for x in 'ab' %}{{ loop.cycle('o', 'e') }}{{ x }}{% endfor %}"), "oaeb");
}

TEST(Jinja, WhitespaceControl) {
  EXPECT_EQ(render("a   {%- if true %} b {% endif -%}   c"), "a b c");
  EXPECT_EQ(render("  {% if true %}\nx\n  {% endif %}\ny"), "x\ny");  // lstrip_blocks + trim_blocks
  EXPECT_EQ(render("a {{- 'b' -}} \n c"), "abc");
}

TEST(Jinja, SyntaxErrorsNameLineAndColumn) {
  std::string e = error_of<lt::TemplateError>("line one\n{% if x %}\nunclosed");
  EXPECT_TRUE(contains(e, "line 2, column 4")) << e;  // the `if` keyword
  EXPECT_TRUE(contains(e, "'if' block is never closed")) << e;
  e = error_of<lt::TemplateError>("ok\n  {{ a + }}");
  EXPECT_TRUE(contains(e, "line 2, column 10")) << e;
  EXPECT_TRUE(contains(e, "expected an expression")) << e;
  e = error_of<lt::TemplateError>("{% frobnicate %}");
  EXPECT_TRUE(contains(e, "unknown statement 'frobnicate'")) << e;
  e = error_of<lt::TemplateError>("{{ 'unterminated }}");
  EXPECT_TRUE(contains(e, "string literal is never closed")) << e;
  e = error_of<lt::TemplateError>("{# never closed");
  EXPECT_TRUE(contains(e, "comment")) << e;
  e = error_of<lt::TemplateError>("{% endfor %}");
  EXPECT_TRUE(contains(e, "endfor")) << e;
}

TEST(Jinja, RuntimeErrorsNameLineColumnAndConstruct) {
  std::string e = error_of<lt::TemplateError>("\n\n   {{ 'x' | nosuchfilter }}");
  EXPECT_TRUE(contains(e, "line 3")) << e;
  EXPECT_TRUE(contains(e, "filter 'nosuchfilter'")) << e;
  e = error_of<lt::TemplateError>("{{ 5 | upper }}");
  EXPECT_TRUE(contains(e, "filter 'upper'") && contains(e, "needs a string")) << e;
  e = error_of<lt::TemplateError>("{{ x() }}", {{"x", 1}});
  EXPECT_TRUE(contains(e, "call to 'x'")) << e;
  e = error_of<lt::TemplateError>("{% set s = 'a' %}{% set s.x = 1 %}");
  EXPECT_TRUE(contains(e, "namespace")) << e;
}

TEST(Jinja, RaiseException) {
  std::string e = error_of<lt::TemplateRaise>("ab\n{{ raise_exception('Roles must alternate') }}");
  EXPECT_TRUE(contains(e, "line 2")) << e;
  EXPECT_TRUE(contains(e, "raise_exception: Roles must alternate")) << e;
}

TEST(JinjaLimits, RunawayLoopIsLimitError) {
  lt::ChatTemplateLimits lim;
  lim.max_steps = 10'000;
  std::string e = error_of<lazarus::LimitError>(
      "{% for i in range(100) %}{% for j in range(100) %}{% for k in range(100) %}x{% endfor %}{% "
      "endfor %}{% endfor %}",
      json::object(), lim);
  EXPECT_TRUE(contains(e, "loop iterations")) << e;
  e = error_of<lazarus::LimitError>("{% for i in range(1000000000000) %}{% endfor %}");
  EXPECT_TRUE(contains(e, "loop iterations")) << e;
}

TEST(JinjaLimits, EndlessRecursionIsLimitError) {
  lt::ChatTemplateLimits lim;
  lim.max_steps = 100'000;
  std::string e = error_of<lazarus::LimitError>(
      "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", json::object(), lim);
  EXPECT_TRUE(contains(e, "nested deeper than")) << e;
  // Exponential fan-out within the depth bound is stopped by the step budget.
  e = error_of<lazarus::LimitError>(
      "{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) "
      "}}",
      json::object(), lim);
  EXPECT_TRUE(contains(e, "calls")) << e;
  e = error_of<lazarus::LimitError>(
      "{% macro f() %}{% call f() %}{% endcall %}{% endmacro %}{{ f() }}", json::object(), lim);
  EXPECT_FALSE(contains(e, "NO EXCEPTION")) << e;
}

// Long chains parse in a loop into trees as deep as they are long: evaluating or freeing one must
// not recurse once per level (each of these overflowed the stack before).
TEST(JinjaLimits, LongChainsAreLimitErrorsNotCrashes) {
  auto chain = [](const std::string& head, const std::string& link, int n,
                  const std::string& tail = "") {
    std::string s = head;
    for (int i = 0; i < n; ++i) s += link;
    return s + tail;
  };
  const json ctx = {{"a", 1}, {"x", json::array({json::array({1})})}};
  const std::vector<std::string> templates = {
      chain("{{ 1", " + 1", 10'000, " }}"),
      chain("{{ 'a'", " | trim", 20'000, " }}"),
      chain("{% if a", " or a", 20'000, " %}y{% endif %}"),
      chain("{{ [1]", " + [1]", 20'000, " }}"),
      chain("{{ a", ".a", 100'000, " }}"),
      chain("{{ x", "[0]", 100'000, " }}"),
      chain("{{ x", "()", 100'000, " }}"),
      chain("{{ 1", " < 2", 20'000, " }}"),
      chain("{{ 'a'", " ~ 'a'", 20'000, " }}"),
  };
  for (const std::string& t : templates) {
    std::string e = error_of<lazarus::LimitError>(t, ctx);
    EXPECT_TRUE(contains(e, "nested deeper than")) << t.substr(0, 40) << ": " << e;
  }
  // A chain within the bound still renders.
  EXPECT_EQ(render(chain("{{ 1", " + 1", 300, " }}")), "301");
}

TEST(JinjaLimits, DeeplyNestedValueIsFreedWithoutRecursion) {
  // A list nested 400,000 deep by a loop, then dropped: the destructor must not recurse.
  lt::ChatTemplateLimits lim;
  lim.max_steps = 1'000'000;
  EXPECT_EQ(render("{% set ns = namespace(l=[]) %}{% for i in range(400000) %}"
                   "{% set ns.l = [ns.l] %}{% endfor %}{% set ns.l = 0 %}done",
                   json::object(), lim),
            "done");
}

TEST(JinjaLimits, HugeOutputIsLimitError) {
  lt::ChatTemplateLimits lim;
  lim.max_output_bytes = 1 << 20;
  std::string e = error_of<lazarus::LimitError>(
      "{% set s = 'xxxxxxxx' %}{% for i in range(40) %}{% set s = s ~ s %}{% endfor %}{{ s }}",
      json::object(), lim);
  EXPECT_TRUE(contains(e, "output limit")) << e;
  e = error_of<lazarus::LimitError>(
      "{% for i in range(100000) %}{{ 'abcdefghijklmnopqrstuvwxyz' }}{% endfor %}", json::object(),
      lim);
  EXPECT_TRUE(contains(e, "output limit")) << e;
  e = error_of<lazarus::LimitError>("{{ 'x' * 100000000000 }}", json::object(), lim);
  EXPECT_TRUE(contains(e, "output limit")) << e;
}

TEST(JinjaLimits, DeepNestingIsLimitError) {
  std::string deep(5000, '(');
  std::string e =
      error_of<lazarus::LimitError>("{{ " + deep + "1" + std::string(5000, ')') + " }}");
  EXPECT_TRUE(contains(e, "nesting deeper")) << e;
  std::string blocks;
  for (int i = 0; i < 2000; ++i) blocks += "{% if true %}";
  e = error_of<lazarus::LimitError>(blocks);
  EXPECT_TRUE(contains(e, "nesting deeper")) << e;
  json nested = json::array();
  for (int i = 0; i < 2000; ++i) nested = json::array({nested});
  e = error_of<lazarus::LimitError>("{{ x }}", {{"x", nested}});
  EXPECT_TRUE(contains(e, "nested deeper")) << e;
}

TEST(JinjaLimits, SelfReferentialListIsLimitError) {
  std::string e = error_of<lazarus::LimitError>("{% set a = [] %}{% do a.append(a) %}{{ a }}");
  EXPECT_TRUE(contains(e, "nested deeper")) << e;
  // Cycles built by mutation are freed after the render (ASan's leak checker watches this).
  EXPECT_EQ(
      render("{% set ns = namespace() %}{% set ns.me = ns %}{% set l = [] %}{% do l.append(ns) %}"
             "{% set ns.l = l %}{{ ns.me.me.l | length }}"),
      "1");
}

TEST(ChatTemplate, InputsBecomeVariables) {
  lt::ChatTemplate t(
      "{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}"
      "{{ tools | length if tools is defined else 'no tools' }}{{ '+' if add_generation_prompt "
      "}}{{ extra_var }}");
  lt::ChatTemplateInputs in;
  in.messages = json::parse(R"([{"role":"user","content":"hi"}])");
  in.bos_token = "<s>";
  in.add_generation_prompt = true;
  in.extra = {{"extra_var", "!"}};
  EXPECT_EQ(t.render(in), "<s>user:hi;no tools+!");
  in.tools = json::array({json::object()});
  EXPECT_EQ(t.render(in), "<s>user:hi;1+!");
}

TEST(ChatTemplate, ConcurrentRendersAgree) {
  lt::ChatTemplate t("{% for m in messages %}{{ m.content | upper }}{% endfor %}");
  lt::ChatTemplateInputs in;
  in.messages =
      json::parse(R"([{"role":"user","content":"abc"},{"role":"assistant","content":"def"}])");
  std::vector<std::thread> threads;
  std::vector<std::string> outs(8);
  for (int k = 0; k < 8; ++k)
    threads.emplace_back([&, k] {
      for (int r = 0; r < 200; ++r) outs[static_cast<size_t>(k)] = t.render(in);
    });
  for (auto& th : threads) th.join();
  for (const auto& o : outs) EXPECT_EQ(o, "ABCDEF");
}
