// Post-processor implementations (see post_processors.h). Only the single-sequence templates are
// applied; offsets are not tracked, so ByteLevel's trim_offsets has nothing to do.
#include "lazarus/tokenizers/post_processors.h"

#include <map>
#include <vector>

#include "lazarus/tokenizers/models/model.h"

namespace lazarus::tokenizers {

namespace {

struct Special {
  std::vector<std::uint32_t> ids;
  std::vector<std::string> tokens;
};

// A template: the input sequence ("A"), or a run of special tokens.
struct TemplatePiece {
  bool is_sequence = false;
  Special special;
};

void insert_special(std::vector<TemplatePiece>& pieces, bool front, Special s) {
  TemplatePiece p;
  p.special = std::move(s);
  if (front)
    pieces.insert(pieces.begin(), std::move(p));
  else
    pieces.push_back(std::move(p));
}

class TemplateProc final : public PostProcessor {
 public:
  explicit TemplateProc(std::vector<TemplatePiece> pieces) : pieces_(std::move(pieces)) {}
  void process(Encoding& enc) const override {
    Encoding out;
    for (const auto& p : pieces_) {
      if (p.is_sequence) {
        out.ids.insert(out.ids.end(), enc.ids.begin(), enc.ids.end());
        out.tokens.insert(out.tokens.end(), std::make_move_iterator(enc.tokens.begin()),
                          std::make_move_iterator(enc.tokens.end()));
        out.special_tokens_mask.insert(out.special_tokens_mask.end(),
                                       enc.special_tokens_mask.begin(),
                                       enc.special_tokens_mask.end());
      } else {
        out.ids.insert(out.ids.end(), p.special.ids.begin(), p.special.ids.end());
        out.tokens.insert(out.tokens.end(), p.special.tokens.begin(), p.special.tokens.end());
        out.special_tokens_mask.insert(out.special_tokens_mask.end(), p.special.ids.size(), 1);
      }
    }
    enc = std::move(out);
  }

 private:
  std::vector<TemplatePiece> pieces_;
};

class NoOpProc final : public PostProcessor {
 public:
  void process(Encoding&) const override {}
};

class SequenceProc final : public PostProcessor {
 public:
  explicit SequenceProc(std::vector<std::unique_ptr<PostProcessor>> parts)
      : parts_(std::move(parts)) {}
  void process(Encoding& enc) const override {
    for (const auto& p : parts_) p->process(enc);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

// "sep": ["</s>", 2] style pairs.
Special read_pair(const Json& j, std::string_view key, const JsonPath& at) {
  const Json& v = require(j, key, at);
  if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_number_integer() ||
      v[1].get<std::int64_t>() < 0 || v[1].get<std::int64_t>() >= kMaxTokenId) {
    (at / key).fail("expected [token, id], got " + json_preview(v));
  }
  return {{static_cast<std::uint32_t>(v[1].get<std::int64_t>())}, {v[0].get<std::string>()}};
}

std::unique_ptr<PostProcessor> make_template(const Json& j, const JsonPath& at) {
  std::map<std::string, Special> specials;
  if (const Json* st = optional_field(j, "special_tokens")) {
    if (!st->is_object())
      (at / "special_tokens").fail("expected an object, got " + json_preview(*st));
    for (auto it = st->begin(); it != st->end(); ++it) {
      const JsonPath here = at / "special_tokens" / it.key();
      Special s;
      const Json& ids = require_array(it.value(), "ids", here);
      const Json& toks = require_array(it.value(), "tokens", here);
      if (ids.size() != toks.size()) {
        here.fail("ids and tokens differ in length (" + std::to_string(ids.size()) + " vs " +
                  std::to_string(toks.size()) + ")");
      }
      for (std::size_t k = 0; k < ids.size(); ++k) {
        if (!ids[k].is_number_integer() || ids[k].get<std::int64_t>() < 0 ||
            ids[k].get<std::int64_t>() >= kMaxTokenId) {
          (here / "ids")[k].fail("token id " + json_preview(ids[k]) + " out of range");
        }
        s.ids.push_back(static_cast<std::uint32_t>(ids[k].get<std::int64_t>()));
        s.tokens.push_back(as_string(toks[k], (here / "tokens")[k]));
      }
      specials[it.key()] = std::move(s);
    }
  }
  const Json& single = require_array(j, "single", at);
  std::vector<TemplatePiece> pieces;
  for (std::size_t i = 0; i < single.size(); ++i) {
    const JsonPath here = (at / "single")[i];
    const Json& e = single[i];
    if (const Json* seq = optional_field(e, "Sequence")) {
      const std::string id = get_string(*seq, "id", here / "Sequence");
      if (id != "A")
        (here / "Sequence" / "id")
            .fail("single template may only use sequence A, got '" + id + "'");
      TemplatePiece p;
      p.is_sequence = true;
      pieces.push_back(std::move(p));
    } else if (const Json* sp = optional_field(e, "SpecialToken")) {
      const std::string id = get_string(*sp, "id", here / "SpecialToken");
      auto it = specials.find(id);
      if (it == specials.end()) {
        (here / "SpecialToken" / "id").fail("'" + id + "' missing from special_tokens");
      }
      insert_special(pieces, false, it->second);
    } else {
      here.fail("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}, got " + json_preview(e));
    }
  }
  return std::make_unique<TemplateProc>(std::move(pieces));
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const Json& j, const JsonPath& at) {
  const std::string type = get_string(j, "type", at);
  if (type == "TemplateProcessing") return make_template(j, at);
  if (type == "ByteLevel") return std::make_unique<NoOpProc>();
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    // Single sequence: cls A sep (both layouts agree for one sequence).
    std::vector<TemplatePiece> pieces(1);
    pieces[0].is_sequence = true;
    insert_special(pieces, true, read_pair(j, "cls", at));
    insert_special(pieces, false, read_pair(j, "sep", at));
    return std::make_unique<TemplateProc>(std::move(pieces));
  }
  if (type == "Sequence") {
    const Json& arr = require_array(j, "processors", at);
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      parts.push_back(make_post_processor(arr[i], (at / "processors")[i]));
    }
    return std::make_unique<SequenceProc>(std::move(parts));
  }
  (at / "type").fail("unsupported post_processor type '" + type + "'");
}

}  // namespace lazarus::tokenizers
