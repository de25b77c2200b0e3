// Byte-for-byte agreement of our chat-template renderer with @huggingface/jinja. The reference
// outputs are produced at test time by tests/reference/render_chat_templates.mjs (a CTest fixture)
// from the real templates in tests/data/chat_templates/ over conversations.json and
// jinja_features.json; this test renders the same inputs and compares.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/chat_template.h"
#include "lazarus/tokenizers/tokenizer_config.h"

namespace lt = lazarus::tokenizers;
using json = nlohmann::ordered_json;

namespace {

json read_json(const std::filesystem::path& p) {
  std::ifstream f(p);
  if (!f) throw std::runtime_error("cannot open " + p.string());
  return json::parse(f);
}

const json& reference() {
  static json ref = read_json(LAZARUS_CHAT_TEMPLATE_REFERENCE);
  return ref;
}

std::string data_dir() { return LAZARUS_CHAT_TEMPLATE_DATA; }

// Our render of one case; {ok, output} or {ok=false, error, raised}.
struct Outcome {
  bool ok = false;
  bool raised = false;
  std::string text;
};

template <typename F>
Outcome run(F&& f) {
  Outcome o;
  try {
    o.text = f();
    o.ok = true;
  } catch (const lt::TemplateRaise& e) {
    o.raised = true;
    o.text = e.what();
  } catch (const lazarus::Error& e) {
    o.text = e.what();
  }
  return o;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Compares one render with the reference's; returns "" when they agree.
std::string compare(const json& ref, const Outcome& ours) {
  bool ref_ok = ref.at("ok").get<bool>();
  if (ref_ok && ours.ok) {
    const std::string& want = ref.at("output").get_ref<const std::string&>();
    if (want == ours.text) return "";
    size_t k = 0;
    while (k < want.size() && k < ours.text.size() && want[k] == ours.text[k]) ++k;
    size_t from = k > 60 ? k - 60 : 0;
    return "output differs at byte " + std::to_string(k) + " of " + std::to_string(want.size()) +
           "\n  reference: ..." + json(want.substr(from, 160)).dump() + "\n  ours:      ..." +
           json(ours.text.substr(from, 160)).dump();
  }
  if (ref_ok)
    return "reference rendered " + json(ref.at("output")).dump() + " but we failed: " + ours.text;
  const std::string& err = ref.at("error").get_ref<const std::string&>();
  if (ours.ok) return "reference failed (" + err + ") but we rendered " + json(ours.text).dump();
  // Both refused. A template's own raise_exception must carry the same message; other reference
  // errors come from the reference's own wording, so only the refusal itself is compared.
  if (ours.raised && !ends_with(ours.text, "raise_exception: " + err))
    return "raise_exception message differs\n  reference: " + err + "\n  ours: " + ours.text;
  return "";
}

}  // namespace

TEST(ChatTemplateParity, RealTemplatesOverConversations) {
  json conversations = read_json(data_dir() + "/conversations.json");
  std::map<std::string, json> by_name;
  for (const auto& c : conversations) by_name[c.at("name").get<std::string>()] = c;
  std::map<std::string, lt::TokenizerConfig> configs;
  size_t compared = 0, refusals = 0;
  for (const auto& ref : reference().at("templates")) {
    std::string tmpl = ref.at("template").get<std::string>();
    std::string case_name = ref.at("case").get<std::string>();
    bool agp = ref.at("add_generation_prompt").get<bool>();
    if (!configs.count(tmpl)) configs[tmpl] = lt::TokenizerConfig::load(data_dir() + "/" + tmpl);
    const lt::TokenizerConfig& cfg = configs[tmpl];
    const json& conv = by_name.at(case_name);
    Outcome ours = run([&] {
      lt::ChatTemplate t(cfg.chat_template());
      lt::ChatTemplateInputs in;
      in.messages = conv.at("messages");
      in.add_generation_prompt = agp;
      in.bos_token = cfg.bos_token;
      in.eos_token = cfg.eos_token;
      if (conv.contains("tools")) in.tools = conv.at("tools");
      if (conv.contains("extra")) in.extra = conv.at("extra");
      return t.render(in);
    });
    std::string diff = compare(ref, ours);
    EXPECT_EQ(diff, "") << tmpl << " / " << case_name << " / add_generation_prompt=" << agp << ": "
                        << diff;
    ++compared;
    if (!ref.at("ok").get<bool>()) ++refusals;
  }
  // The corpus must really exercise every template, including refusals.
  EXPECT_GE(compared, 200u);
  EXPECT_GE(refusals, 10u);
  EXPECT_EQ(configs.size(), 5u) << "expected llama3, llama3_1, mistral_instruct, qwen3, gemma3";
}

TEST(ChatTemplateParity, JinjaFeatures) {
  json features = read_json(data_dir() + "/jinja_features.json");
  std::map<std::string, json> by_name;
  for (const auto& f : features) by_name[f.at("name").get<std::string>()] = f;
  size_t compared = 0;
  for (const auto& ref : reference().at("features")) {
    const json& f = by_name.at(ref.at("name").get<std::string>());
    Outcome ours = run([&] {
      return lt::ChatTemplate(f.at("template").get<std::string>()).render_context(f.at("context"));
    });
    std::string diff = compare(ref, ours);
    EXPECT_EQ(diff, "") << "feature " << f.at("name").get<std::string>() << ": " << diff;
    ++compared;
  }
  EXPECT_EQ(compared, features.size());
}
