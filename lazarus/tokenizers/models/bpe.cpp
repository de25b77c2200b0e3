// Byte-pair encoding model, as HF tokenizers' models/bpe: characters (or byte-fallback tokens, or
// unk) are merged by ascending merge rank using a priority queue, so a word of n characters costs
// O(n log n) rather than rescanning; results for repeated words are cached across threads.
#include <algorithm>
#include <array>
#include <cstdio>
#include <mutex>
#include <queue>
#include <shared_mutex>

#include "lazarus/tokenizers/models/model.h"
#include "lazarus/tokenizers/unicode.h"

namespace lazarus::tokenizers {

namespace {

std::uint64_t pair_key(std::uint32_t a, std::uint32_t b) {
  return (static_cast<std::uint64_t>(a) << 32) | b;
}

// Word -> ids (then each token's byte length) cache, sharded so concurrent encodes rarely
// contend.
class WordCache {
 public:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kCapacity = 10000;  // words in all shards together
  static constexpr std::size_t kMaxWordBytes = 256;

  bool get(std::string_view w, std::vector<std::uint32_t>& out,
           std::vector<std::uint32_t>* lens) const {
    const Shard& s = shard(w);
    std::shared_lock lock(s.mu);
    auto it = s.map.find(w);
    if (it == s.map.end()) return false;
    const std::size_t n = it->second.size() / 2;
    out.insert(out.end(), it->second.begin(), it->second.begin() + static_cast<std::ptrdiff_t>(n));
    if (lens)
      lens->insert(lens->end(), it->second.begin() + static_cast<std::ptrdiff_t>(n),
                   it->second.end());
    return true;
  }
  void put(std::string_view w, const std::uint32_t* ids, const std::uint32_t* lens, std::size_t n) {
    if (w.size() > kMaxWordBytes) return;
    Shard& s = shard(w);
    std::unique_lock lock(s.mu);
    if (s.map.size() >= kCapacity / kShards) return;
    std::vector<std::uint32_t> v(ids, ids + n);
    v.insert(v.end(), lens, lens + n);
    s.map.emplace(std::string(w), std::move(v));
  }

 private:
  struct Shard {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, std::vector<std::uint32_t>, StringHash, std::equal_to<>> map;
  };
  const Shard& shard(std::string_view w) const { return shards_[StringHash{}(w) % kShards]; }
  Shard& shard(std::string_view w) { return shards_[StringHash{}(w) % kShards]; }
  std::array<Shard, kShards> shards_;
};

class Bpe final : public Model {
 public:
  Vocab vocab;
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::uint32_t>>
      merges;  // -> rank, new id
  std::optional<std::string> unk_token;
  std::optional<std::uint32_t> unk_id;
  std::string prefix, suffix;  // continuing_subword_prefix, end_of_word_suffix
  bool fuse_unk = false, byte_fallback = false, ignore_merges = false;
  std::array<std::optional<std::uint32_t>, 256> byte_ids;  // "<0xAB>" tokens
  mutable WordCache cache;

  void tokenize(std::string_view word, std::vector<std::uint32_t>& ids,
                std::vector<std::string>* tokens, std::vector<WordRange>* ranges) const override {
    const std::size_t first = ids.size();
    if (ignore_merges) {
      if (auto id = vocab.find(word)) {
        ids.push_back(*id);
        add_strings(ids, first, tokens);
        if (ranges) ranges->emplace_back(0, static_cast<std::uint32_t>(word.size()));
        return;
      }
    }
    thread_local std::vector<std::uint32_t> lens;
    lens.clear();
    if (!cache.get(word, ids, ranges ? &lens : nullptr)) {
      merge_word(word, ids, lens);
      cache.put(word, ids.data() + first, lens.data(), ids.size() - first);
    }
    add_strings(ids, first, tokens);
    if (ranges) {
      std::uint32_t at = 0;
      for (std::uint32_t n : lens) {
        ranges->emplace_back(at, at + n);
        at += n;
      }
    }
  }

  std::optional<std::uint32_t> token_to_id(std::string_view t) const override {
    return vocab.find(t);
  }
  const std::string* id_to_token(std::uint32_t id) const override { return vocab.token(id); }
  std::size_t vocab_size() const override { return vocab.size(); }

 private:
  void add_strings(const std::vector<std::uint32_t>& ids, std::size_t first,
                   std::vector<std::string>* tokens) const {
    if (!tokens) return;
    for (std::size_t i = first; i < ids.size(); ++i) {
      const std::string* s = vocab.token(ids[i]);
      tokens->push_back(s ? *s : std::string());
    }
  }

  struct Symbol {
    std::uint32_t id;
    std::uint32_t len;  // bytes of the word it covers
    int prev, next;
    bool alive;
  };
  struct Candidate {
    std::uint32_t rank;
    int pos;
    std::uint32_t new_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };

  void merge_word(std::string_view w, std::vector<std::uint32_t>& out,
                  std::vector<std::uint32_t>& lens) const {
    std::vector<Symbol> syms;
    syms.reserve(w.size());
    auto push = [&](std::uint32_t id, std::size_t len) {
      const int n = static_cast<int>(syms.size());
      syms.push_back({id, static_cast<std::uint32_t>(len), n - 1, n + 1, true});
    };
    // A plain flag + id (GCC 12 warns spuriously about std::optional<uint32_t> here).
    bool has_pending_unk = false;
    std::uint32_t pending_unk = 0;
    std::size_t pending_len = 0;
    std::string piece;
    for (std::size_t i = 0; i < w.size();) {
      const std::size_t n = unicode::char_len(static_cast<unsigned char>(w[i]));
      const std::size_t end = std::min(w.size(), i + n);
      const bool is_last = end == w.size();
      std::optional<std::uint32_t> id;
      if ((i > 0 && !prefix.empty()) || (is_last && !suffix.empty())) {
        piece.assign(i > 0 ? prefix : std::string());
        piece.append(w.substr(i, end - i));
        if (is_last) piece += suffix;
        id = vocab.find(piece);
      } else {
        piece.assign(w.substr(i, end - i));
        id = vocab.find(piece);
      }
      if (id) {
        if (has_pending_unk) push(pending_unk, pending_len), has_pending_unk = false;
        push(*id, end - i);
      } else {
        bool done = false;
        if (byte_fallback) {
          bool all = true;
          for (unsigned char b : piece) all = all && byte_ids[b].has_value();
          if (all) {
            if (has_pending_unk) push(pending_unk, pending_len), has_pending_unk = false;
            for (unsigned char b : piece) push(*byte_ids[b], 1);
            done = true;
          }
        }
        if (!done && unk_id) {
          if (has_pending_unk && fuse_unk) {
            pending_len += end - i;
          } else {
            if (has_pending_unk) push(pending_unk, pending_len);
            pending_unk = *unk_id;
            pending_len = end - i;
            has_pending_unk = true;
          }
        }
      }
      i = end;
    }
    if (has_pending_unk) push(pending_unk, pending_len);
    if (syms.empty()) return;
    syms.back().next = -1;

    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    auto consider = [&](int pos) {
      const int nx = syms[pos].next;
      if (nx < 0) return;
      auto it = merges.find(pair_key(syms[pos].id, syms[nx].id));
      if (it != merges.end()) queue.push({it->second.first, pos, it->second.second});
    };
    for (int i = 0; i + 1 < static_cast<int>(syms.size()); ++i) consider(i);
    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      Symbol& left = syms[top.pos];
      if (!left.alive || left.next < 0) continue;
      Symbol& right = syms[left.next];
      auto it = merges.find(pair_key(left.id, right.id));
      if (it == merges.end() || it->second.second != top.new_id) continue;  // stale entry
      left.id = top.new_id;
      left.len += right.len;
      right.alive = false;
      left.next = right.next;
      if (left.next >= 0) syms[left.next].prev = top.pos;
      if (left.prev >= 0) consider(left.prev);
      consider(top.pos);
    }
    for (int i = 0; i >= 0; i = syms[i].next) {
      out.push_back(syms[i].id);
      lens.push_back(syms[i].len);
    }
  }
};

}  // namespace

std::unique_ptr<Model> make_bpe(const Json& j, const JsonPath& at) {
  auto m = std::make_unique<Bpe>();
  m->vocab = read_vocab_object(require(j, "vocab", at), at / "vocab");
  m->unk_token = get_opt_string(j, "unk_token", at);
  m->prefix = get_opt_string(j, "continuing_subword_prefix", at).value_or("");
  m->suffix = get_opt_string(j, "end_of_word_suffix", at).value_or("");
  m->fuse_unk = get_bool(j, "fuse_unk", at, false);
  m->byte_fallback = get_bool(j, "byte_fallback", at, false);
  m->ignore_merges = get_bool(j, "ignore_merges", at, false);
  if (const Json* d = optional_field(j, "dropout")) {
    if (!d->is_number() || d->get<double>() < 0.0 || d->get<double>() > 1.0) {
      (at / "dropout").fail("expected a probability in [0, 1], got " + json_preview(*d));
    }
    // Dropout only applies while training; encoding for inference ignores it, as HF does.
  }
  if (m->unk_token) {
    m->unk_id = m->vocab.find(*m->unk_token);
    if (!m->unk_id) (at / "unk_token").fail("token '" + *m->unk_token + "' not in vocab");
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    m->byte_ids[b] = m->vocab.find(name);
  }

  const Json& merges = require_array(j, "merges", at);
  m->merges.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const JsonPath here = (at / "merges")[i];
    const Json& e = merges[i];
    std::string a, b;
    if (e.is_string()) {
      const std::string s = e.get<std::string>();
      const auto sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
        here.fail("expected two tokens separated by one space, got '" + s + "'");
      }
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    } else {
      here.fail("expected \"a b\" or [\"a\", \"b\"], got " + json_preview(e));
    }
    const auto ia = m->vocab.find(a);
    if (!ia) here.fail("token '" + a + "' not in vocab");
    const auto ib = m->vocab.find(b);
    if (!ib) here.fail("token '" + b + "' not in vocab");
    std::string merged = a;
    merged.append(b,
                  (!m->prefix.empty() && b.compare(0, m->prefix.size(), m->prefix) == 0)
                      ? m->prefix.size()
                      : 0,
                  std::string::npos);
    const auto inew = m->vocab.find(merged);
    if (!inew) here.fail("merged token '" + merged + "' not in vocab");
    m->merges[pair_key(*ia, *ib)] = {static_cast<std::uint32_t>(i), *inew};
  }
  return m;
}

}  // namespace lazarus::tokenizers
