// Hugging Face tokenizer files -> the tokenizer.ggml.* keys llama.cpp's convert_hf_to_gguf.py
// writes (see gguf_vocab.h: gguf_vocab_from_hf). Read to learn from convert_hf_to_gguf.py and
// gguf-py's vocab.py; tests/reference/gguf_vocab_from_hf.py is an independent Python version.
#include <algorithm>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/gguf_vocab.h"
#include "lazarus/tokenizers/gguf_vocab_detail.h"

namespace lazarus::tokenizers {

using Json = nlohmann::json;
using namespace gguf_vocab_detail;

namespace {

// convert_hf_to_gguf's does_token_look_special.
bool looks_special(const std::string& t) {
  auto wrapped = [&](std::string_view a, std::string_view b) {
    return t.size() >= a.size() + b.size() && t.starts_with(a) && t.ends_with(b);
  };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || wrapped("<|", "|>") ||
         wrapped("<\xEF\xBD\x9C", "\xEF\xBD\x9C>") || wrapped("<unused", ">");
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) s.replace(p, from.size(), to);
  return s;
}

// A merge as "a b" (tokenizer.json spells merges as "a b" strings or [a, b] pairs; a space inside
// a part of a pair is written U+0120 as byte-level BPE does).
std::string merge_string(const Json& m, const std::string& where) {
  if (m.is_string()) return m.get<std::string>();
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
    return replace_all(m[0].get<std::string>(), " ", "\xC4\xA0") + " " +
           replace_all(m[1].get<std::string>(), " ", "\xC4\xA0");
  throw LoadError(fmt::format("{}: model.merges: {} is not a merge", where, m.dump()));
}

// The Split regexes and other steps of a tokenizer.json pre-tokenizer, flattened.
void flatten_pre(const Json& p, std::vector<Json>& out) {
  if (p.is_null()) return;
  if (p.value("type", "") == "Sequence" && p.contains("pretokenizers")) {
    for (const Json& q : p["pretokenizers"]) flatten_pre(q, out);
    return;
  }
  out.push_back(p);
}

// Which llama.cpp pre-tokenizer splits as this byte-level tokenizer.json does.
std::string recognise_pre(const Json& tj, const std::string& where) {
  std::vector<Json> steps;
  flatten_pre(tj.value("pre_tokenizer", Json()), steps);
  std::vector<std::string> regexes;
  bool byte_level_regex = false, digits = false, other = false;
  for (const Json& s : steps) {
    const std::string type = s.value("type", "");
    if (type == "Split" && s.contains("pattern") && s["pattern"].contains("Regex")) {
      regexes.push_back(s["pattern"]["Regex"].get<std::string>());
    } else if (type == "ByteLevel") {
      byte_level_regex = byte_level_regex || s.value("use_regex", true);
    } else if (type == "Digits" && s.value("individual_digits", false)) {
      digits = true;
    } else {
      other = true;
    }
  }
  if (!other) {
    if (regexes.size() == 1 && regexes[0] == kLlama3Regex && !byte_level_regex && !digits) return "llama-bpe";
    if (regexes.size() == 1 && regexes[0] == kQwen2Regex && !byte_level_regex && !digits) return "qwen2";
    if (regexes.empty() && byte_level_regex && !digits) return "gpt-2";
    if (regexes.empty() && byte_level_regex && digits) return "smollm";
    if (!byte_level_regex && !digits && regexes.size() == std::size(kDefaultRegexes) &&
        std::equal(regexes.begin(), regexes.end(), std::begin(kDefaultRegexes)))
      return "default";
  }
  throw LoadError(fmt::format(
      "{}: the pre-tokenizer {} is not one llama.cpp's tokenizer.ggml.pre names that Lazarus "
      "recognises (Llama 3's, Qwen2's, GPT-2's byte-level, SmolLM's digits + byte-level, "
      "llama.cpp's default)",
      where, tj.value("pre_tokenizer", Json()).dump().substr(0, 300)));
}

}  // namespace

std::vector<std::pair<std::string, formats::GgufValue>> gguf_vocab_from_hf(
    const Json& tj, const Json& cfg_in, std::int64_t n_vocab, const std::string& where) {
  using formats::GgufValue;
  const Json cfg = cfg_in.is_object() ? cfg_in : Json::object();
  if (!tj.is_object() || !tj.contains("model") || !tj["model"].is_object())
    throw LoadError(fmt::format("{}: tokenizer.json has no model", where));
  const Json& model = tj["model"];
  const std::string type = model.value("type", "BPE");
  if (type != "BPE" || !model.contains("vocab") || !model["vocab"].is_object()) {
    throw LoadError(fmt::format(
        "{}: tokenizer.json model type '{}' is not converted to GGUF (BPE models are: byte-level "
        "as \"gpt2\", byte-fallback as \"llama\")",
        where, type));
  }
  const bool spm = model.value("byte_fallback", false);
  const Json added = tj.value("added_tokens", Json::array());
  std::vector<std::optional<std::string>> reverse(size_t(std::max<int64_t>(n_vocab, 0)));
  auto put = [&](const Json& id, const std::string& text) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= n_vocab) {
      throw LoadError(fmt::format("{}: token '{}' has id {}, outside the model's vocabulary of {}",
                                  where, text, id.dump(), n_vocab));
    }
    reverse[id.get<size_t>()] = text;
  };
  for (const auto& [text, id] : model["vocab"].items()) put(id, text);
  std::unordered_map<std::string, const Json*> added_by_text;
  for (const Json& a : added) {
    put(a.value("id", Json()), a.value("content", ""));
    added_by_text[a.value("content", "")] = &a;
  }
  std::vector<std::string> tokens(reverse.size());
  std::vector<int32_t> types(reverse.size(), int32_t(TokenType::Unused));
  std::vector<float> scores;
  const auto merges = model.value("merges", Json::array());
  if (spm) {
    std::unordered_map<std::string, size_t> first_merge;
    for (size_t r = 0; r < merges.size(); ++r) {
      const std::string m = merge_string(merges[r], where);
      const size_t sp = m.find(' ');
      if (sp == std::string::npos) throw LoadError(fmt::format("{}: merge '{}' has no space", where, m));
      first_merge.emplace(m.substr(0, sp) + m.substr(sp + 1), r);
    }
    scores.assign(reverse.size(), -10000.0f);
    const std::string unk = model.value("unk_token", Json()).is_string() ? model["unk_token"].get<std::string>() : "";
    for (size_t i = 0; i < reverse.size(); ++i) {
      tokens[i] = reverse[i].value_or(fmt::format("[PAD{}]", i));
      if (!reverse[i]) continue;
      const std::string& t = *reverse[i];
      const auto ad = added_by_text.find(t);
      if (ad != added_by_text.end()) {
        // As convert_hf_to_gguf's added-token pass: CONTROL or USER_DEFINED, score -1000, even
        // for an unknown token listed among the added tokens.
        const bool special = ad->second->value("special", false) || looks_special(t);
        types[i] = int32_t(special ? TokenType::Control : TokenType::UserDefined);
        if (!special) tokens[i] = replace_all(t, kSpace, " ");
        scores[i] = -1000.0f;
      } else if (t == unk) {
        types[i] = int32_t(TokenType::Unknown), scores[i] = 0;
      } else if (t.size() == 6 && t.starts_with("<0x") && t.ends_with(">")) {
        types[i] = int32_t(TokenType::Byte), scores[i] = 0;
      } else {
        types[i] = int32_t(TokenType::Normal);
        const auto it = first_merge.find(t);
        scores[i] = -float(it != first_merge.end() ? it->second : merges.size() + i);
      }
    }
  } else {
    for (size_t i = 0; i < reverse.size(); ++i) {
      tokens[i] = reverse[i].value_or(fmt::format("[PAD{}]", i));
      if (!reverse[i]) continue;
      const std::string& t = *reverse[i];
      const auto ad = added_by_text.find(t);
      if (ad == added_by_text.end()) {
        types[i] = int32_t(TokenType::Normal);
      } else if (ad->second->value("special", false) || looks_special(t)) {
        types[i] = int32_t(TokenType::Control);
      } else {
        types[i] = int32_t(TokenType::UserDefined);
        tokens[i] = replace_all(t, kSpace, " ");
      }
    }
  }
  std::vector<std::pair<std::string, GgufValue>> out;
  out.emplace_back(kModel, GgufValue::string(spm ? "llama" : "gpt2"));
  out.emplace_back(kPre, GgufValue::string(spm ? "default" : recognise_pre(tj, where)));
  out.emplace_back(kTokens, GgufValue::string_array(tokens));
  if (spm) out.emplace_back(kScores, GgufValue::f32_array(scores));
  out.emplace_back(kTokenType, GgufValue::i32_array(types));
  if (!spm) {
    std::vector<std::string> ms;
    ms.reserve(merges.size());
    for (const Json& m : merges) ms.push_back(merge_string(m, where));
    out.emplace_back(kMerges, GgufValue::string_array(std::move(ms)));
  }
  // Special tokens (gguf-py's SpecialVocab): ids of the config's *_token strings among the added
  // tokens; add_* flags from the post-processor, then the config's explicit flags.
  auto content = [](const Json& v) -> std::string {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    return "";
  };
  std::vector<std::pair<std::string, bool>> add;
  auto set_add = [&](const std::string& typ, bool flag) {
    for (auto& [t, f] : add)
      if (t == typ) return void(f = flag);
    add.emplace_back(typ, flag);
  };
  const Json pp = tj.value("post_processor", Json());
  std::vector<Json> procs;
  if (pp.is_object()) {
    if (pp.contains("processors") && pp["processors"].is_array()) procs.assign(pp["processors"].begin(), pp["processors"].end());
    else procs.push_back(pp);
  }
  for (const Json& proc : procs) {
    if (proc.value("type", "") != "TemplateProcessing" || !proc.contains("single")) continue;
    const Json& single = proc["single"];
    if (!single.is_array() || single.size() < 2) continue;
    auto special_id = [](const Json& step) -> std::string {
      if (step.is_object() && step.contains("SpecialToken") && step["SpecialToken"].contains("id"))
        return step["SpecialToken"]["id"].get<std::string>();
      return "";
    };
    const std::string first = special_id(single.front()), last = special_id(single.back());
    if (!first.empty()) set_add("bos", first == content(cfg.value("bos_token", Json())));
    if (!last.empty()) set_add("eos", last == content(cfg.value("eos_token", Json())));
  }
  const std::pair<const char*, const char*> kinds[] = {{"bos", "bos"},     {"eos", "eos"},
                                                       {"unk", "unknown"}, {"sep", "seperator"},
                                                       {"pad", "padding"}, {"cls", "cls"},
                                                       {"mask", "mask"}};
  for (const auto& [typ, key] : kinds) {
    const Json flag = cfg.value(std::string("add_") + typ + "_token", Json());
    if (flag.is_boolean()) set_add(typ, flag.get<bool>());
    const std::string c = content(cfg.value(std::string(typ) + "_token", Json()));
    if (c.empty()) continue;
    for (const Json& a : added) {
      if (a.value("content", "") == c) {
        out.emplace_back(fmt::format("tokenizer.ggml.{}_token_id", key),
                         GgufValue::u32(a["id"].get<uint32_t>()));
        break;
      }
    }
  }
  for (const auto& [typ, flag] : add)
    out.emplace_back(fmt::format("tokenizer.ggml.add_{}_token", typ), GgufValue::boolean(flag));
  if (const Json t = cfg.value("chat_template", Json()); t.is_string()) {
    out.emplace_back(kChatTemplate, GgufValue::string(t.get<std::string>()));
  } else if (t.is_array()) {  // named templates: "default" as tokenizer.chat_template
    for (const Json& e : t) {
      if (!e.is_object() || !e.contains("name") || !e.contains("template")) continue;
      const std::string name = e["name"].get<std::string>();
      out.emplace_back(name == "default" ? std::string(kChatTemplate) : std::string(kChatTemplate) + "." + name,
                       GgufValue::string(e["template"].get<std::string>()));
    }
  }
  return out;
}

}  // namespace lazarus::tokenizers
