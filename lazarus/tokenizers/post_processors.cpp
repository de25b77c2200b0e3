// Post-processor implementations (see post_processors.h), following HF tokenizers'
// processors/*.rs (ByteLevel's and Roberta's trim_offsets: processors/byte_level.rs
// process_offsets).
#include "lazarus/tokenizers/post_processors.h"

#include <map>
#include <vector>

#include "lazarus/tokenizers/models/model.h"
#include "lazarus/tokenizers/tokenizer.h"
#include "lazarus/tokenizers/unicode.h"

namespace lazarus::tokenizers {

namespace {

// HF process_offsets: a token's leading / trailing spaces ('Ġ' or whitespace) are cut from its
// offsets, except the single leading space add_prefix_space put on the first token.
void trim_offsets(Encoding& e, bool add_prefix_space) {
  auto is_space = [](char32_t c) { return c == 0x120 || unicode::is_whitespace(c); };
  for (std::size_t i = 0; i < e.tokens.size() && i < e.offsets.size(); ++i) {
    const std::string& t = e.tokens[i];
    std::vector<char32_t> cs;
    for (std::size_t k = 0; k < t.size();) {
      char32_t c;
      k += unicode::decode(t, k, c);
      cs.push_back(c);
    }
    std::size_t lead = 0, trail = 0;
    while (lead < cs.size() && is_space(cs[lead])) ++lead;
    while (trail < cs.size() && is_space(cs[cs.size() - 1 - trail])) ++trail;
    auto& [b, en] = e.offsets[i];
    if (lead > 0) {
      const bool is_first = i == 0 || b == 0;
      if (is_first && add_prefix_space && lead == 1) lead = 0;
      b = std::min(b + lead, en);
    }
    if (trail > 0 && en >= trail) en = std::max(en - trail, b);
  }
  for (Encoding& o : e.overflowing) trim_offsets(o, add_prefix_space);
}

struct Special {
  std::vector<std::uint32_t> ids;
  std::vector<std::string> tokens;
};

// A template piece: sequence A or B, or a run of special tokens, with its type id. `type_id` < 0
// keeps the sequence's own type ids (Bert/Roberta processing).
struct TemplatePiece {
  int sequence = -1;  // 0 = A, 1 = B, -1 = special tokens
  int type_id = 0;
  Special special;
};

TemplatePiece special_piece(Special s, int type_id) {
  TemplatePiece p;
  p.special = std::move(s);
  p.type_id = type_id;
  return p;
}

TemplatePiece sequence_piece(int seq, int type_id) {
  TemplatePiece p;
  p.sequence = seq;
  p.type_id = type_id;
  return p;
}

class TemplateProc final : public PostProcessor {
 public:
  // `keep_without_special`: Bert/Roberta return the sequences untouched without special tokens.
  // `trim`: Roberta's trim_offsets (with its add_prefix_space), applied first.
  TemplateProc(std::vector<TemplatePiece> single, std::vector<TemplatePiece> pair, bool has_pair,
               bool keep_without_special = false, bool trim = false, bool prefix_space = false)
      : single_(std::move(single)),
        pair_(std::move(pair)),
        has_pair_(has_pair),
        keep_(keep_without_special),
        trim_(trim),
        prefix_space_(prefix_space) {}

  void process_encodings(std::vector<Encoding>& encs, bool add_special) const override {
    if (trim_)
      for (Encoding& e : encs) trim_offsets(e, prefix_space_);
    if (!add_special && keep_) return;
    if (encs.size() == 2 && !has_pair_)
      throw EncodeError("[encode] the post-processor has no template for a pair of sequences");
    const auto& pieces = encs.size() == 2 ? pair_ : single_;
    std::vector<Encoding> out;
    for (const auto& p : pieces) {
      if (p.sequence >= 0) {
        Encoding& e = encs[static_cast<std::size_t>(p.sequence)];
        if (p.type_id >= 0) e.type_ids.assign(e.ids.size(), static_cast<std::uint32_t>(p.type_id));
        out.push_back(e);
      } else if (add_special) {
        Encoding s = Encoding::from_tokens(p.special.ids, p.special.tokens,
                                           static_cast<std::uint32_t>(std::max(p.type_id, 0)));
        s.special_tokens_mask.assign(s.ids.size(), 1);
        out.push_back(std::move(s));
      }
    }
    encs = std::move(out);
  }

  std::size_t added_tokens(bool is_pair) const override {
    std::size_t n = 0;
    for (const auto& p : is_pair ? pair_ : single_) n += p.special.ids.size();
    return n;
  }

 private:
  std::vector<TemplatePiece> single_, pair_;
  bool has_pair_, keep_, trim_, prefix_space_;
};

// ByteLevel: no special tokens; trims offsets when trim_offsets is set.
class ByteLevelProc final : public PostProcessor {
 public:
  ByteLevelProc(bool trim, bool prefix_space) : trim_(trim), prefix_space_(prefix_space) {}
  void process_encodings(std::vector<Encoding>& encs, bool) const override {
    if (trim_)
      for (Encoding& e : encs) trim_offsets(e, prefix_space_);
  }
  std::size_t added_tokens(bool) const override { return 0; }

 private:
  bool trim_, prefix_space_;
};

class SequenceProc final : public PostProcessor {
 public:
  explicit SequenceProc(std::vector<std::unique_ptr<PostProcessor>> parts)
      : parts_(std::move(parts)) {}
  void process_encodings(std::vector<Encoding>& encs, bool add_special) const override {
    for (const auto& p : parts_) p->process_encodings(encs, add_special);
  }
  std::size_t added_tokens(bool is_pair) const override {
    std::size_t n = 0;
    for (const auto& p : parts_) n += p->added_tokens(is_pair);
    return n;
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
  auto read_template = [&](const char* key) {
    const Json& arr = require_array(j, key, at);
    std::vector<TemplatePiece> pieces;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const JsonPath here = (at / key)[i];
      const Json& e = arr[i];
      if (const Json* seq = optional_field(e, "Sequence")) {
        const std::string id = get_string(*seq, "id", here / "Sequence");
        if (id != "A" && (id != "B" || std::string_view(key) == "single")) {
          (here / "Sequence" / "id")
              .fail("expected " + std::string(std::string_view(key) == "single" ? "A" : "A or B") +
                    ", got '" + id + "'");
        }
        const std::int64_t type = get_int(*seq, "type_id", here / "Sequence", 0);
        if (type < 0 || type > 255) (here / "Sequence" / "type_id").fail("out of range");
        pieces.push_back(sequence_piece(id == "A" ? 0 : 1, static_cast<int>(type)));
      } else if (const Json* sp = optional_field(e, "SpecialToken")) {
        const std::string id = get_string(*sp, "id", here / "SpecialToken");
        auto it = specials.find(id);
        if (it == specials.end()) {
          (here / "SpecialToken" / "id").fail("'" + id + "' missing from special_tokens");
        }
        const std::int64_t type = get_int(*sp, "type_id", here / "SpecialToken", 0);
        if (type < 0 || type > 255) (here / "SpecialToken" / "type_id").fail("out of range");
        pieces.push_back(special_piece(it->second, static_cast<int>(type)));
      } else {
        here.fail("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}, got " +
                  json_preview(e));
      }
    }
    return pieces;
  };
  auto single = read_template("single");
  const bool has_pair = optional_field(j, "pair") != nullptr;
  auto pair = has_pair ? read_template("pair") : std::vector<TemplatePiece>{};
  return std::make_unique<TemplateProc>(std::move(single), std::move(pair), has_pair);
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const Json& j, const JsonPath& at) {
  const std::string type = get_string(j, "type", at);
  if (type == "TemplateProcessing") return make_template(j, at);
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelProc>(get_bool(j, "trim_offsets", at, true),
                                           get_bool(j, "add_prefix_space", at, true));
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    // Bert: [CLS] A [SEP] / [CLS] A [SEP] B [SEP], the sequences keeping their type ids (0 for A,
    // 1 for B) and untouched without special tokens; the second [SEP] has type 1.
    // Roberta: <s> A </s> / <s> A </s> </s> B </s>, every type id 0 (with or without specials).
    const Special cls = read_pair(j, "cls", at), sep = read_pair(j, "sep", at);
    const bool bert = type == "BertProcessing";
    const int seq_type = bert ? -1 : 0;
    std::vector<TemplatePiece> single{special_piece(cls, 0), sequence_piece(0, seq_type),
                                      special_piece(sep, 0)};
    std::vector<TemplatePiece> pair = single;
    if (!bert) pair.push_back(special_piece(sep, 0));
    pair.push_back(sequence_piece(1, seq_type));
    pair.push_back(special_piece(sep, bert ? 1 : 0));
    const bool trim = !bert && get_bool(j, "trim_offsets", at, true);
    const bool prefix_space = !bert && get_bool(j, "add_prefix_space", at, true);
    return std::make_unique<TemplateProc>(std::move(single), std::move(pair), true, bert, trim,
                                          prefix_space);
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

Encoding post_process(const PostProcessor* pp, std::vector<Encoding> encs, bool add_special) {
  if (pp) pp->process_encodings(encs, add_special);
  if (encs.size() == 1) return std::move(encs[0]);
  Encoding out;
  for (const Encoding& e : encs) out.merge_with(e);
  return out;
}

}  // namespace lazarus::tokenizers
