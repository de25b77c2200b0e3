// Unigram language-model tokenizer (SentencePiece "unigram"), as HF tokenizers' models/unigram:
// Viterbi over all vocabulary pieces that start at each character, unknown characters scored at
// (min score - 10), consecutive unknowns fused, optional byte fallback for them.
#include <algorithm>
#include <cstdio>
#include <limits>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/models/model.h"
#include "lazarus/tokenizers/unicode.h"

namespace lazarus::tokenizers {

namespace {

constexpr double kUnkPenalty = 10.0;

class Unigram final : public Model {
 public:
  Vocab vocab;
  std::vector<double> scores;  // by id
  std::optional<std::uint32_t> unk_id;
  bool byte_fallback = false;
  double min_score = std::numeric_limits<double>::max();
  std::size_t max_piece_bytes = 0;

  void tokenize(std::string_view s, std::vector<std::uint32_t>& ids,
                std::vector<std::string>* tokens, std::vector<WordRange>* ranges) const override {
    const std::size_t n = s.size();
    struct Node {
      double score = 0.0;
      std::size_t start = 0;
      std::uint32_t id = 0;
      bool set = false;
    };
    std::vector<Node> best(n + 1);
    const double unk_score = min_score - kUnkPenalty;
    for (std::size_t start = 0; start < n;) {
      const double here = best[start].score;
      const std::size_t mblen = unicode::char_len(static_cast<unsigned char>(s[start]));
      bool has_single = false;
      // Prefixes in increasing length, as a trie's common-prefix search yields them.
      for (std::size_t end = start; end < n;) {
        end = std::min(n, end + unicode::char_len(static_cast<unsigned char>(s[end])));
        if (end - start > max_piece_bytes) break;
        if (auto id = vocab.find(s.substr(start, end - start))) {
          const double cand = scores[*id] + here;
          Node& t = best[end];
          if (!t.set || cand > t.score) t = {cand, start, *id, true};
          if (end - start == mblen) has_single = true;
        }
      }
      if (!has_single) {
        if (!unk_id) throw Error("[Unigram] unknown character and the model has no unk_id");
        const double cand = unk_score + here;
        Node& t = best[start + mblen];
        if (!t.set || cand > t.score) t = {cand, start, *unk_id, true};
      }
      start += mblen;
    }
    // Backtrack, fusing runs of unknown pieces.
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // [start, end) in reverse order
    std::vector<bool> is_unk;
    for (std::size_t end = n; end > 0;) {
      const Node& node = best[end];
      const bool unk = unk_id && node.id == *unk_id;
      if (unk && !is_unk.empty() && is_unk.back()) {
        spans.back().first = node.start;
      } else {
        spans.emplace_back(node.start, end);
        is_unk.push_back(unk);
      }
      end = node.start;
    }
    for (std::size_t k = spans.size(); k-- > 0;) {
      const std::string_view piece = s.substr(spans[k].first, spans[k].second - spans[k].first);
      const WordRange range(static_cast<std::uint32_t>(spans[k].first),
                            static_cast<std::uint32_t>(spans[k].second));
      auto id = vocab.find(piece);
      if (!id && byte_fallback) {
        std::vector<std::uint32_t> bytes;
        char name[8];
        for (unsigned char b : piece) {
          std::snprintf(name, sizeof(name), "<0x%02X>", b);
          auto bid = vocab.find(name);
          if (!bid) break;
          bytes.push_back(*bid);
        }
        if (bytes.size() == piece.size()) {
          for (std::uint32_t b : bytes) {
            ids.push_back(b);
            if (tokens) tokens->push_back(*vocab.token(b));
            if (ranges) ranges->push_back(range);  // HF: each byte token spans the whole piece
          }
          continue;
        }
      }
      if (!id) {
        if (!unk_id) throw Error("[Unigram] unknown piece and the model has no unk_id");
        id = unk_id;
      }
      ids.push_back(*id);
      if (tokens) tokens->emplace_back(piece);
      if (ranges) ranges->push_back(range);
    }
  }
  std::optional<std::uint32_t> token_to_id(std::string_view t) const override {
    return vocab.find(t);
  }
  const std::string* id_to_token(std::uint32_t id) const override { return vocab.token(id); }
  std::size_t vocab_size() const override { return vocab.size(); }
};

}  // namespace

std::unique_ptr<Model> make_unigram(const Json& j, const JsonPath& at) {
  auto m = std::make_unique<Unigram>();
  const Json& arr = require_array(j, "vocab", at);
  if (arr.size() >= kMaxTokenId)
    (at / "vocab").fail("too many pieces: " + std::to_string(arr.size()));
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const JsonPath here = (at / "vocab")[i];
    const Json& e = arr[i];
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number()) {
      here.fail("expected [piece, score], got " + json_preview(e));
    }
    std::string piece = e[0].get<std::string>();
    const double score = e[1].get<double>();
    m->max_piece_bytes = std::max(m->max_piece_bytes, piece.size());
    m->min_score = std::min(m->min_score, score);
    if (!m->vocab.find(piece)) m->vocab.add(std::move(piece), static_cast<std::uint32_t>(i));
    m->scores.push_back(score);
  }
  if (arr.empty()) m->min_score = 0.0;
  if (const Json* u = optional_field(j, "unk_id")) {
    if (!u->is_number_integer() || u->get<std::int64_t>() < 0 ||
        u->get<std::int64_t>() >= static_cast<std::int64_t>(arr.size())) {
      (at / "unk_id")
          .fail("id " + json_preview(*u) + " out of range [0, " + std::to_string(arr.size()) + ")");
    }
    m->unk_id = static_cast<std::uint32_t>(u->get<std::int64_t>());
  }
  m->byte_fallback = get_bool(j, "byte_fallback", at, false);
  return m;
}

}  // namespace lazarus::tokenizers
