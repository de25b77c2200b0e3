// Added-token matching (see added_vocabulary.h); follows HF tokenizers' added_vocabulary.rs.
#include "lazarus/tokenizers/added_vocabulary.h"

#include <algorithm>

#include "lazarus/tokenizers/models/model.h"
#include "lazarus/tokenizers/normalizers.h"
#include "lazarus/tokenizers/unicode.h"

namespace lazarus::tokenizers {

namespace {

char32_t last_char(std::string_view s) {
  std::size_t p = s.size() - 1;
  while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
  char32_t c;
  unicode::decode(s, p, c);
  return c;
}

}  // namespace

void AddedVocabulary::insert(std::vector<Node>& trie, std::string_view pattern, int token) {
  if (trie.empty()) trie.emplace_back();
  int node = 0;
  for (unsigned char b : pattern) {
    auto& next = trie[node].next;
    auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(b, -1));
    if (it != next.end() && it->first == b) {
      node = it->second;
    } else {
      const int fresh = static_cast<int>(trie.size());
      next.insert(it, {b, fresh});
      trie.emplace_back();  // invalidates `next`; not used after this
      node = fresh;
    }
  }
  if (trie[node].token < 0) trie[node].token = token;
}

AddedVocabulary::AddedVocabulary(const Json& arr, const JsonPath& at,
                                 const Normalizer* normalizer) {
  if (!arr.is_array()) at.fail("expected an array, got " + json_preview(arr));
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const JsonPath here = at[i];
    const Json& e = arr[i];
    AddedToken t;
    t.id = get_id(e, "id", here);
    if (t.id >= kMaxTokenId)
      (here / "id").fail("token id " + std::to_string(t.id) + " out of range");
    t.content = get_string(e, "content", here);
    if (unicode::find_invalid(t.content) != std::string::npos)
      (here / "content").fail("not valid UTF-8");
    t.single_word = get_bool(e, "single_word", here, false);
    t.lstrip = get_bool(e, "lstrip", here, false);
    t.rstrip = get_bool(e, "rstrip", here, false);
    t.special = get_bool(e, "special", here, false);
    t.normalized = get_bool(e, "normalized", here, !t.special);
    const std::size_t index = tokens_.size();
    if (auto dup = by_id_.find(t.id); dup != by_id_.end()) {
      // HF only warns and lets one token shadow the other: refuse instead.
      (here / "id").fail("id " + std::to_string(t.id) + " is given to both '" +
                         tokens_[dup->second].content + "' (added_tokens[" +
                         std::to_string(dup->second) + "]) and '" + t.content + "'");
    }
    by_id_[t.id] = index;
    by_content_[t.content] = index;
    tokens_.push_back(std::move(t));
  }
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    if (t.content.empty()) continue;
    if (t.normalized) {
      std::string pattern = t.content;
      if (normalizer) normalizer->normalize(pattern);
      if (!pattern.empty()) insert(norm_trie_, pattern, static_cast<int>(i));
    } else {
      insert(raw_trie_, t.content, static_cast<int>(i));
    }
  }
}

const AddedToken* AddedVocabulary::by_id(std::uint32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::by_content(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

std::vector<Segment> AddedVocabulary::split(std::string_view s, bool normalized_set) const {
  const std::vector<Node>& trie = normalized_set ? norm_trie_ : raw_trie_;
  std::vector<Segment> out;
  if (trie.empty() || s.empty()) {
    out.push_back({0, s.size(), -1});
    return out;
  }
  std::size_t emitted = 0;  // end of the last segment pushed
  std::size_t i = 0;
  while (i < s.size()) {
    // Longest match starting at i.
    int node = 0, best = -1;
    std::size_t best_end = 0;
    for (std::size_t k = i; k < s.size(); ++k) {
      const auto& next = trie[node].next;
      const auto b = static_cast<unsigned char>(s[k]);
      auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(b, -1));
      if (it == next.end() || it->first != b) break;
      node = it->second;
      if (trie[node].token >= 0) best = trie[node].token, best_end = k + 1;
    }
    if (best < 0) {
      ++i;
      continue;
    }
    const AddedToken& t = tokens_[static_cast<std::size_t>(best)];
    std::size_t start = i, stop = best_end;
    if (t.single_word) {
      char32_t c;
      const bool start_ok = start == 0 || !unicode::is_alphanumeric(last_char(s.substr(0, start)));
      const bool stop_ok =
          stop == s.size() || (unicode::decode(s, stop, c), !unicode::is_alphanumeric(c));
      if (!start_ok || !stop_ok) {
        i = best_end;  // matches do not overlap: the search resumes after this one
        continue;
      }
    }
    if (t.lstrip) {
      std::size_t ns = start;
      while (ns > 0) {
        std::size_t p = ns - 1;
        while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
        char32_t c;
        unicode::decode(s, p, c);
        if (!unicode::is_whitespace(c)) break;
        ns = p;
      }
      start = std::max(ns, emitted);
    }
    if (t.rstrip) {
      while (stop < s.size()) {
        char32_t c;
        const std::size_t n = unicode::decode(s, stop, c);
        if (!unicode::is_whitespace(c)) break;
        stop += n;
      }
    }
    if (emitted < start) out.push_back({emitted, start, -1});
    out.push_back({start, stop, best});
    emitted = stop;
    i = std::max(stop, i + 1);
  }
  if (emitted < s.size()) out.push_back({emitted, s.size(), -1});
  return out;
}

}  // namespace lazarus::tokenizers
