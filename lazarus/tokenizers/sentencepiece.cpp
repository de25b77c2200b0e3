// SentencePiece ModelProto reader and converter (see sentencepiece.h).
#include "lazarus/tokenizers/sentencepiece.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/models/model.h"
#include "lazarus/tokenizers/precompiled.h"
#include "lazarus/tokenizers/unicode.h"

namespace lazarus::tokenizers {

namespace {

// A protobuf wire-format reader over [pos, end) of the whole file, for error offsets.
class Wire {
 public:
  Wire(std::string_view data, std::size_t begin, std::size_t end, const std::string& name,
       std::string where)
      : data_(data), pos_(begin), end_(end), name_(name), where_(std::move(where)) {}

  bool done() const { return pos_ >= end_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw LoadError(name_ + ": byte " + std::to_string(pos_) + " (" + where_ + "): " + what +
                    " (not a SentencePiece model, or a truncated one)");
  }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= end_) fail("truncated varint");
      const auto b = static_cast<unsigned char>(data_[pos_++]);
      v |= std::uint64_t{b & 0x7Fu} << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
  }

  // Reads a tag: field number and wire type.
  std::pair<std::uint32_t, int> tag() {
    const std::uint64_t t = varint();
    if ((t >> 3) == 0 || (t >> 3) > 0x1FFFFFFF)
      fail("invalid field number " + std::to_string(t >> 3));
    return {static_cast<std::uint32_t>(t >> 3), static_cast<int>(t & 7)};
  }

  // A length-delimited payload as [begin, end).
  std::pair<std::size_t, std::size_t> bytes() {
    const std::uint64_t n = varint();
    if (n > end_ - pos_) {
      fail("length " + std::to_string(n) + " runs past the end (" + std::to_string(end_ - pos_) +
           " bytes left)");
    }
    const std::size_t b = pos_;
    pos_ += static_cast<std::size_t>(n);
    return {b, pos_};
  }

  std::uint32_t fixed32() {
    if (end_ - pos_ < 4) fail("truncated 32-bit value");
    std::uint32_t v;
    std::memcpy(&v, data_.data() + pos_, 4);  // little endian on every target we build for
    pos_ += 4;
    return v;
  }

  void skip(int wire_type) {
    switch (wire_type) {
      case 0:
        varint();
        return;
      case 1:
        if (end_ - pos_ < 8) fail("truncated 64-bit value");
        pos_ += 8;
        return;
      case 2:
        bytes();
        return;
      case 5:
        fixed32();
        return;
      default:
        fail("unsupported wire type " + std::to_string(wire_type));
    }
  }

  void expect(int got, int want, const char* field) {
    if (got != want) {
      fail(std::string("field ") + field + " has wire type " + std::to_string(got) + ", expected " +
           std::to_string(want));
    }
  }

  Wire sub(std::pair<std::size_t, std::size_t> r, std::string where) const {
    return Wire(data_, r.first, r.second, name_, std::move(where));
  }
  std::string_view slice(std::pair<std::size_t, std::size_t> r) const {
    return data_.substr(r.first, r.second - r.first);
  }

 private:
  std::string_view data_;
  std::size_t pos_, end_;
  const std::string& name_;
  std::string where_;
};

SentencePieceModel::Piece read_piece(Wire w) {
  SentencePieceModel::Piece p;
  while (!w.done()) {
    const auto [field, type] = w.tag();
    if (field == 1) {
      w.expect(type, 2, "piece");
      p.piece = std::string(w.slice(w.bytes()));
    } else if (field == 2) {
      w.expect(type, 5, "score");
      const std::uint32_t bits = w.fixed32();
      std::memcpy(&p.score, &bits, 4);
    } else if (field == 3) {
      w.expect(type, 0, "type");
      const std::uint64_t t = w.varint();
      if (t < 1 || t > 6) w.fail("piece type " + std::to_string(t) + " is not 1..6");
      p.type = static_cast<SentencePieceModel::PieceType>(t);
    } else {
      w.skip(type);
    }
  }
  return p;
}

}  // namespace

SentencePieceModel SentencePieceModel::parse(std::string_view data, const std::string& name) {
  SentencePieceModel m;
  Wire top(data, 0, data.size(), name, "ModelProto");
  if (data.empty()) top.fail("empty file");
  bool has_trainer = false;
  while (!top.done()) {
    const auto [field, type] = top.tag();
    if (field == 1) {
      top.expect(type, 2, "pieces");
      if (m.pieces.size() >= kMaxTokenId)
        top.fail("more than " + std::to_string(kMaxTokenId) + " pieces");
      m.pieces.push_back(
          read_piece(top.sub(top.bytes(), "pieces[" + std::to_string(m.pieces.size()) + "]")));
    } else if (field == 2) {
      top.expect(type, 2, "trainer_spec");
      has_trainer = true;
      Wire w = top.sub(top.bytes(), "trainer_spec");
      while (!w.done()) {
        const auto [f, t] = w.tag();
        if (f == 3) {
          w.expect(t, 0, "model_type");
          const std::uint64_t v = w.varint();
          if (v < 1 || v > 4) w.fail("model_type " + std::to_string(v) + " is not 1..4");
          m.model_type = static_cast<ModelType>(v);
        } else if (f == 35) {
          w.expect(t, 0, "byte_fallback");
          m.byte_fallback = w.varint() != 0;
        } else if (f == 24) {
          w.expect(t, 0, "treat_whitespace_as_suffix");
          m.treat_whitespace_as_suffix = w.varint() != 0;
        } else {
          w.skip(t);
        }
      }
    } else if (field == 3) {
      top.expect(type, 2, "normalizer_spec");
      Wire w = top.sub(top.bytes(), "normalizer_spec");
      while (!w.done()) {
        const auto [f, t] = w.tag();
        if (f == 1) {
          w.expect(t, 2, "name");
          m.normalizer_name = std::string(w.slice(w.bytes()));
        } else if (f == 2) {
          w.expect(t, 2, "precompiled_charsmap");
          m.precompiled_charsmap = std::string(w.slice(w.bytes()));
        } else if (f == 3) {
          w.expect(t, 0, "add_dummy_prefix");
          m.add_dummy_prefix = w.varint() != 0;
        } else if (f == 4) {
          w.expect(t, 0, "remove_extra_whitespaces");
          m.remove_extra_whitespaces = w.varint() != 0;
        } else if (f == 5) {
          w.expect(t, 0, "escape_whitespaces");
          m.escape_whitespaces = w.varint() != 0;
        } else {
          w.skip(t);
        }
      }
    } else {
      top.skip(type);
    }
  }
  if (m.pieces.empty()) throw LoadError(name + ": no pieces (not a SentencePiece model?)");
  if (!has_trainer) throw LoadError(name + ": no trainer_spec (not a SentencePiece model?)");
  return m;
}

Json sentencepiece_bpe_merges(const std::vector<SentencePieceModel::Piece>& pieces) {
  // SentencePiece merges the adjacent pair whose concatenation is the highest-scoring piece.
  using PT = SentencePieceModel::PieceType;
  std::unordered_map<std::string_view, std::uint32_t> normal;
  for (std::size_t i = 0; i < pieces.size(); ++i)
    if (pieces[i].type == PT::Normal)
      normal.emplace(pieces[i].piece, static_cast<std::uint32_t>(i));
  struct Merge {
    float score;
    std::uint32_t id;
    std::size_t split;
  };
  std::vector<Merge> merges;
  for (const auto& [piece, id] : normal) {
    for (std::size_t k = 1; k < piece.size(); ++k) {
      if ((static_cast<unsigned char>(piece[k]) & 0xC0) == 0x80) continue;
      if (normal.count(piece.substr(0, k)) && normal.count(piece.substr(k))) {
        const float score = pieces[id].score;  // NaN ranks last: the sort needs a strict order
        merges.push_back({std::isnan(score) ? -INFINITY : score, id, k});
      }
    }
  }
  std::sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.id != b.id) return a.id < b.id;
    return a.split < b.split;
  });
  Json out = Json::array();
  for (const Merge& mg : merges) {
    const std::string& s = pieces[mg.id].piece;
    out.push_back({s.substr(0, mg.split), s.substr(mg.split)});
  }
  return out;
}

Json sentencepiece_to_tokenizer_json(std::string_view data, const std::string& name,
                                     SpmFlavor flavor) {
  return sentencepiece_to_tokenizer_json(SentencePieceModel::parse(data, name), name, flavor);
}

Json sentencepiece_to_tokenizer_json(const SentencePieceModel& m, const std::string& name,
                                     SpmFlavor flavor) {
  using PT = SentencePieceModel::PieceType;
  using MT = SentencePieceModel::ModelType;
  if (m.model_type != MT::Bpe && m.model_type != MT::Unigram) {
    throw LoadError(name + ": trainer_spec.model_type " +
                    std::string(m.model_type == MT::Word ? "WORD" : "CHAR") +
                    " is not supported (only UNIGRAM and BPE)");
  }
  if (m.treat_whitespace_as_suffix) {
    throw LoadError(name + ": trainer_spec.treat_whitespace_as_suffix is not supported");
  }
  std::unordered_map<std::string, std::uint32_t> ids;
  std::optional<std::uint32_t> unk_id;
  Json added = Json::array();
  for (std::size_t i = 0; i < m.pieces.size(); ++i) {
    const auto& p = m.pieces[i];
    const std::string where = name + ": pieces[" + std::to_string(i) + "]";
    if (p.piece.empty()) throw LoadError(where + ": empty piece");
    if (unicode::find_invalid(p.piece) != std::string::npos)
      throw LoadError(where + ": piece is not valid UTF-8");
    if (!ids.emplace(p.piece, static_cast<std::uint32_t>(i)).second)
      throw LoadError(where + ": duplicate piece '" + p.piece + "'");
    if (p.type == PT::Unknown && !unk_id) unk_id = static_cast<std::uint32_t>(i);
    if (p.type == PT::Unknown || p.type == PT::Control || p.type == PT::UserDefined) {
      // As transformers' converter: control and unknown pieces are special added tokens,
      // user-defined ones plain added tokens (matched whole, never normalized).
      added.push_back({{"id", i},
                       {"content", p.piece},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", p.type != PT::UserDefined}});
    }
  }
  if (!unk_id) throw LoadError(name + ": no piece of type UNKNOWN");
  Json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = {{"type", "SentencePieceNormalizer"},
                     {"precompiled_charsmap", base64_encode(m.precompiled_charsmap)},
                     {"add_dummy_prefix", m.add_dummy_prefix},
                     {"remove_extra_whitespaces", m.remove_extra_whitespaces},
                     {"escape_whitespaces", m.escape_whitespaces}};
  j["pre_tokenizer"] = nullptr;
  if (flavor == SpmFlavor::Transformers) {
    if (!m.escape_whitespaces)
      throw LoadError(name +
                      ": normalizer_spec.escape_whitespaces = false has no transformers form");
    Json parts = Json::array();
    if (!m.precompiled_charsmap.empty()) {
      parts.push_back({{"type", "Precompiled"},
                       {"precompiled_charsmap", base64_encode(m.precompiled_charsmap)}});
    }
    if (m.remove_extra_whitespaces) {
      parts.push_back({{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}});
    }
    j["normalizer"] = {{"type", "Sequence"}, {"normalizers", parts}};
    j["pre_tokenizer"] = {{"type", "Metaspace"},
                          {"replacement", "\xE2\x96\x81"},
                          {"prepend_scheme", m.add_dummy_prefix ? "always" : "never"},
                          {"split", m.model_type == SentencePieceModel::ModelType::Unigram}};
  }
  j["post_processor"] = nullptr;
  j["decoder"] = {
      {"type", "Sequence"},
      {"decoders",
       {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
        {{"type", "ByteFallback"}},
        {{"type", "Fuse"}},
        {{"type", "Strip"},
         {"content", " "},
         {"start", m.add_dummy_prefix ? 1 : 0},
         {"stop", 0}}}}};
  if (m.model_type == MT::Unigram) {
    Json vocab = Json::array();
    for (const auto& p : m.pieces) vocab.push_back({p.piece, static_cast<double>(p.score)});
    j["model"] = {{"type", "Unigram"},
                  {"unk_id", *unk_id},
                  {"vocab", std::move(vocab)},
                  {"byte_fallback", m.byte_fallback}};
    return j;
  }
  Json vocab = Json::object();
  for (std::size_t i = 0; i < m.pieces.size(); ++i) vocab[m.pieces[i].piece] = i;
  Json jm = sentencepiece_bpe_merges(m.pieces);
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", m.pieces[*unk_id].piece},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", true},
                {"byte_fallback", m.byte_fallback},
                {"ignore_merges", false},
                {"vocab", std::move(vocab)},
                {"merges", std::move(jm)}};
  return j;
}

}  // namespace lazarus::tokenizers
