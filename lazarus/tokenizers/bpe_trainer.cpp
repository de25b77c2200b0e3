// Byte-level BPE training. The merge loop is HF tokenizers' BpeTrainer algorithm: pair counts
// weighted by word frequency, a max-heap of pairs whose stale entries are refreshed when popped,
// and after each merge only the words that held the pair are rewritten (their pair-count deltas
// applied), so a merge costs the words it touches, not the corpus.
#include "lazarus/tokenizers/bpe_trainer.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "lazarus/core/regular_file.h"
#include "lazarus/core/error.h"
#include "lazarus/tokenizers/json_util.h"
#include "lazarus/tokenizers/pre_tokenizers.h"
#include "lazarus/tokenizers/tokenizer.h"
#include "lazarus/tokenizers/unicode.h"

namespace lazarus::tokenizers {
namespace {

using Pair = std::pair<std::uint32_t, std::uint32_t>;

std::uint64_t key(const Pair& p) { return (std::uint64_t{p.first} << 32) | p.second; }
Pair unkey(std::uint64_t k) {
  return {static_cast<std::uint32_t>(k >> 32), static_cast<std::uint32_t>(k)};
}

struct HeapEntry {
  Pair pair;
  std::int64_t count;
  std::vector<std::size_t> where;  // words that may hold the pair (a superset)
};

// Max count first; on equal counts the smaller pair (HF's `Merge` ordering).
struct HeapLess {
  bool operator()(const HeapEntry& a, const HeapEntry& b) const {
    if (a.count != b.count) return a.count < b.count;
    return a.pair > b.pair;
  }
};

// Replaces every (a, b) in `w`, left to right, by `merged`, and records pair-count deltas for the
// neighbours (HF's Word::merge: the merged pair itself is not decremented; it leaves the heap).
void merge_word(std::vector<std::uint32_t>& w, std::uint32_t a, std::uint32_t b,
                std::uint32_t merged, std::vector<std::pair<Pair, int>>& changes) {
  std::size_t i = 0;
  while (i < w.size()) {
    if (w[i] == a && i + 1 < w.size() && w[i + 1] == b) {
      if (i > 0) {
        changes.push_back({{w[i - 1], a}, -1});
        changes.push_back({{w[i - 1], merged}, 1});
      }
      w[i] = merged;
      w.erase(w.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      if (i + 1 < w.size()) {
        changes.push_back({{b, w[i + 1]}, -1});
        changes.push_back({{merged, w[i + 1]}, 1});
      }
    }
    ++i;
  }
}

std::vector<std::string> split_chars(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n =
        std::min(unicode::char_len(static_cast<unsigned char>(s[i])), s.size() - i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace

struct BpeTrainer::State {
  std::unique_ptr<PreTokenizer> pre;
  std::unordered_map<std::string, std::int64_t> words;
  std::int64_t total = 0;
};

BpeTrainer::BpeTrainer(BpeTrainerOptions options)
    : options_(std::move(options)), state_(std::make_unique<State>()) {
  if (options_.vocab_size == 0) throw Error("[train-tokenizer] vocab_size must be > 0");
  if (options_.min_frequency < 0)
    throw Error("[train-tokenizer] min_frequency must be >= 0, got " +
                std::to_string(options_.min_frequency));
  std::unordered_set<std::string> seen;
  for (const auto& t : options_.special_tokens) {
    if (t.empty()) throw Error("[train-tokenizer] a special token is empty");
    if (unicode::find_invalid(t) != std::string_view::npos)
      throw Error("[train-tokenizer] special token is not valid UTF-8");
    if (!seen.insert(t).second)
      throw Error("[train-tokenizer] special token '" + t + "' given twice");
  }
  const std::string file = "bpe_trainer";
  const Json j = {{"type", "ByteLevel"},
                  {"add_prefix_space", options_.add_prefix_space},
                  {"trim_offsets", true},
                  {"use_regex", true}};
  state_->pre = make_pre_tokenizer(j, JsonPath{&file, "pre_tokenizer"});
}

BpeTrainer::~BpeTrainer() = default;
BpeTrainer::BpeTrainer(BpeTrainer&&) noexcept = default;
BpeTrainer& BpeTrainer::operator=(BpeTrainer&&) noexcept = default;

void BpeTrainer::feed(std::string_view text) {
  if (const auto bad = unicode::find_invalid(text); bad != std::string_view::npos)
    throw EncodeError("[train-tokenizer] text is not valid UTF-8 (byte " + std::to_string(bad) +
                      ")");
  if (text.empty()) return;
  std::vector<Piece> pieces{Piece{std::string(text), true, {}}};
  state_->pre->pre_tokenize(pieces);
  for (auto& p : pieces) {
    ++state_->words[p.text];
    ++state_->total;
  }
}

void BpeTrainer::feed_file(const std::string& path) {
  require_regular_file(path, "training text file");  // not a FIFO or /dev/zero
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LoadError(path + ": cannot open");
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (!in.eof()) line.push_back('\n');
    try {
      feed(line);
    } catch (const Error& e) {
      throw LoadError(path + ":" + std::to_string(n) + ": " + e.what());
    }
  }
  if (in.bad()) throw LoadError(path + ": read error");
}

std::size_t BpeTrainer::distinct_words() const { return state_->words.size(); }
std::int64_t BpeTrainer::total_words() const { return state_->total; }

std::string BpeTrainer::train(const std::function<void(std::size_t, std::size_t)>& progress) const {
  // Vocabulary: special tokens, then the alphabet sorted by code point (as HF does).
  std::vector<std::string> id_to_token;
  std::unordered_map<std::string, std::uint32_t> token_to_id;
  auto add_token = [&](const std::string& t) {
    auto [it, fresh] = token_to_id.emplace(t, static_cast<std::uint32_t>(id_to_token.size()));
    if (fresh) id_to_token.push_back(t);
    return it->second;
  };
  for (const auto& t : options_.special_tokens) add_token(t);

  // Deterministic word order (the result does not depend on it; error-free iteration does).
  std::vector<std::pair<std::string, std::int64_t>> word_list(state_->words.begin(),
                                                              state_->words.end());
  std::sort(word_list.begin(), word_list.end());

  std::map<char32_t, std::string> alphabet;
  auto note_char = [&](const std::string& c) {
    char32_t cp = 0;
    unicode::decode(c, 0, cp);
    alphabet.emplace(cp, c);
  };
  if (options_.full_byte_alphabet)
    for (const auto& c : unicode::byte_to_unicode()) note_char(c);
  for (const auto& [w, n] : word_list)
    for (const auto& c : split_chars(w)) note_char(c);
  for (const auto& [cp, c] : alphabet) add_token(c);

  // Words as symbol ids; pair counts and where each pair occurs.
  std::vector<std::vector<std::uint32_t>> words;
  std::vector<std::int64_t> counts;
  words.reserve(word_list.size());
  for (const auto& [w, n] : word_list) {
    std::vector<std::uint32_t> ids;
    for (const auto& c : split_chars(w)) ids.push_back(token_to_id.at(c));
    words.push_back(std::move(ids));
    counts.push_back(n);
  }
  std::unordered_map<std::uint64_t, std::int64_t> pair_counts;
  std::unordered_map<std::uint64_t, std::vector<std::size_t>> where;
  for (std::size_t wi = 0; wi < words.size(); ++wi) {
    const auto& w = words[wi];
    for (std::size_t i = 0; i + 1 < w.size(); ++i) {
      const std::uint64_t k = key({w[i], w[i + 1]});
      pair_counts[k] += counts[wi];
      auto& v = where[k];
      if (v.empty() || v.back() != wi) v.push_back(wi);
    }
  }
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, HeapLess> heap;
  for (auto& [k, v] : where) heap.push({unkey(k), pair_counts[k], std::move(v)});
  where.clear();

  const std::size_t budget =
      options_.vocab_size > id_to_token.size() ? options_.vocab_size - id_to_token.size() : 0;
  std::vector<Pair> merges;
  std::vector<std::pair<Pair, int>> changes;
  std::unordered_map<std::uint64_t, std::vector<std::size_t>> new_where;
  while (id_to_token.size() < options_.vocab_size && !heap.empty()) {
    HeapEntry top = heap.top();
    heap.pop();
    const std::int64_t now = pair_counts[key(top.pair)];
    if (top.count != now) {
      top.count = now;
      heap.push(std::move(top));
      continue;
    }
    if (top.count < 1 || top.count < options_.min_frequency) break;

    const auto [a, b] = top.pair;
    const std::uint32_t merged = add_token(id_to_token[a] + id_to_token[b]);
    merges.push_back(top.pair);
    new_where.clear();
    for (const std::size_t wi : top.where) {
      changes.clear();
      merge_word(words[wi], a, b, merged, changes);
      for (const auto& [p, delta] : changes) {
        const std::uint64_t k = key(p);
        pair_counts[k] += delta * counts[wi];
        if (delta > 0) {
          auto& v = new_where[k];
          if (v.empty() || v.back() != wi) v.push_back(wi);
        }
      }
    }
    // New pairs (they all contain `merged`) enter the heap once, with the words holding them.
    std::vector<std::uint64_t> fresh;
    fresh.reserve(new_where.size());
    for (const auto& [k, v] : new_where) fresh.push_back(k);
    std::sort(fresh.begin(), fresh.end());
    for (const std::uint64_t k : fresh) {
      const std::int64_t c = pair_counts[k];
      if (c > 0) heap.push({unkey(k), c, std::move(new_where[k])});
    }
    if (progress && (merges.size() % 64 == 0)) progress(merges.size(), budget);
  }
  if (progress) progress(merges.size(), merges.size());

  // tokenizer.json in the layout HF writes (ordered keys via an ordered_json).
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  for (const auto& t : options_.special_tokens) {
    added.push_back({{"id", token_to_id.at(t)},
                     {"content", t},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < id_to_token.size(); ++i) vocab[id_to_token[i]] = i;
  nlohmann::ordered_json merge_list = nlohmann::ordered_json::array();
  for (const auto& [a, b] : merges)
    merge_list.push_back(nlohmann::ordered_json::array({id_to_token[a], id_to_token[b]}));
  const nlohmann::ordered_json byte_level = {{"type", "ByteLevel"},
                                             {"add_prefix_space", options_.add_prefix_space},
                                             {"trim_offsets", true},
                                             {"use_regex", true}};
  nlohmann::ordered_json out;
  out["version"] = "1.0";
  out["truncation"] = nullptr;
  out["padding"] = nullptr;
  out["added_tokens"] = added;
  out["normalizer"] = nullptr;
  out["pre_tokenizer"] = byte_level;
  out["post_processor"] = byte_level;
  out["decoder"] = byte_level;
  out["model"] = {{"type", "BPE"},
                  {"dropout", nullptr},
                  {"unk_token", nullptr},
                  {"continuing_subword_prefix", nullptr},
                  {"end_of_word_suffix", nullptr},
                  {"fuse_unk", false},
                  {"byte_fallback", false},
                  {"ignore_merges", false},
                  {"vocab", vocab},
                  {"merges", merge_list}};
  return out.dump(2);
}

}  // namespace lazarus::tokenizers
