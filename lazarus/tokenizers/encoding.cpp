// Encoding operations (see encoding.h); semantics follow HF tokenizers' tokenizer/encoding.rs
// and utils/truncation.rs / utils/padding.rs.
#include "lazarus/tokenizers/encoding.h"

#include <algorithm>

#include "lazarus/tokenizers/tokenizer.h"

namespace lazarus::tokenizers {

Encoding Encoding::from_tokens(std::vector<std::uint32_t> ids, std::vector<std::string> tokens,
                               std::uint32_t type_id, std::vector<Offset> offsets) {
  Encoding e;
  if (offsets.size() != ids.size()) offsets.assign(ids.size(), Offset{0, 0});
  e.offsets = std::move(offsets);
  e.special_tokens_mask.assign(ids.size(), 0);
  e.type_ids.assign(ids.size(), type_id);
  e.attention_mask.assign(ids.size(), 1);
  if (tokens.size() != ids.size()) tokens.resize(ids.size());
  e.ids = std::move(ids);
  e.tokens = std::move(tokens);
  return e;
}

namespace {
template <class T>
void append(std::vector<T>& a, const std::vector<T>& b) {
  a.insert(a.end(), b.begin(), b.end());
}
}  // namespace

void Encoding::merge_with(const Encoding& other) {
  std::vector<Encoding> merged;
  for (const Encoding& mine : overflowing) {
    Encoding n = mine;
    n.merge_with(other);
    merged.push_back(std::move(n));
    for (const Encoding& theirs : other.overflowing) {
      Encoding m = mine;
      m.merge_with(theirs);
      merged.push_back(std::move(m));
    }
  }
  for (const Encoding& theirs : other.overflowing) {
    Encoding n = *this;
    n.overflowing.clear();
    n.merge_with(theirs);
    merged.push_back(std::move(n));
  }
  append(ids, other.ids);
  append(tokens, other.tokens);
  append(offsets, other.offsets);
  append(special_tokens_mask, other.special_tokens_mask);
  append(type_ids, other.type_ids);
  append(attention_mask, other.attention_mask);
  overflowing = std::move(merged);
}

namespace {
Encoding slice(const Encoding& e, std::size_t b, std::size_t end) {
  Encoding s;
  s.ids.assign(e.ids.begin() + b, e.ids.begin() + end);
  s.tokens.assign(e.tokens.begin() + b, e.tokens.begin() + end);
  if (e.offsets.size() == e.ids.size())
    s.offsets.assign(e.offsets.begin() + b, e.offsets.begin() + end);
  s.special_tokens_mask.assign(e.special_tokens_mask.begin() + b,
                               e.special_tokens_mask.begin() + end);
  s.type_ids.assign(e.type_ids.begin() + b, e.type_ids.begin() + end);
  s.attention_mask.assign(e.attention_mask.begin() + b, e.attention_mask.begin() + end);
  return s;
}
}  // namespace

void Encoding::truncate(std::size_t max_len, std::size_t stride, Direction direction) {
  const std::size_t n = ids.size();
  if (max_len >= n) return;
  if (max_len == 0) {
    Encoding all = std::move(*this);
    *this = Encoding{};
    overflowing.push_back(std::move(all));
    return;
  }
  if (stride >= max_len) {
    throw EncodeError("[truncate] stride (" + std::to_string(stride) +
                      ") must be smaller than the length kept (" + std::to_string(max_len) + ")");
  }
  const std::size_t step = max_len - stride;
  // Each part holds up to max_len tokens and a new one starts every `step` tokens.
  const std::size_t n_parts = (n > max_len ? (n - max_len + step - 1) / step : 0) + 1;
  if (n_parts > kMaxEncodedTokens / max_len) {
    throw EncodeError("[truncate] " + std::to_string(n) + " tokens in parts of " +
                      std::to_string(max_len) + " with stride " + std::to_string(stride) +
                      " would make " + std::to_string(n_parts) + " overflowing parts (more than " +
                      std::to_string(kMaxEncodedTokens) + " tokens in all)");
  }
  std::vector<std::pair<std::size_t, std::size_t>> parts;
  if (direction == Direction::Right) {
    for (std::size_t start = 0; start < n; start += step) {
      const std::size_t stop = std::min(start + max_len, n);
      parts.emplace_back(start, stop);
      if (stop == n) break;
    }
  } else {
    for (std::size_t k = 0; k < n; k += step) {
      const std::size_t stop = n - k;
      const std::size_t start = stop < max_len ? 0 : stop - max_len;
      parts.emplace_back(start, stop);
      if (start == 0) break;
    }
  }
  Encoding head = slice(*this, parts[0].first, parts[0].second);
  for (std::size_t i = 1; i < parts.size(); ++i)
    head.overflowing.push_back(slice(*this, parts[i].first, parts[i].second));
  *this = std::move(head);
}

void Encoding::pad(std::size_t length, const PaddingParams& p) {
  for (Encoding& o : overflowing) o.pad(length, p);
  if (ids.size() >= length) return;
  const std::size_t k = length - ids.size();
  auto grow = [&](auto& v, auto value) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    if (p.direction == Direction::Left)
      v.insert(v.begin(), k, static_cast<T>(value));
    else
      v.insert(v.end(), k, static_cast<T>(value));
  };
  grow(ids, p.pad_id);
  grow(type_ids, p.pad_type_id);
  grow(tokens, p.pad_token);
  if (offsets.size() + k == ids.size()) grow(offsets, Offset{0, 0});
  grow(special_tokens_mask, 1);
  grow(attention_mask, 0);
}

void truncate_encodings(Encoding& a, Encoding* pair, const TruncationParams& p) {
  using S = TruncationParams::Strategy;
  if (p.max_length == 0) {
    a.truncate(0, p.stride, p.direction);
    if (pair) pair->truncate(0, p.stride, p.direction);
    return;
  }
  const std::size_t total = a.size() + (pair ? pair->size() : 0);
  if (total <= p.max_length) return;
  const std::size_t to_remove = total - p.max_length;
  if (p.strategy == S::LongestFirst) {
    if (!pair) {
      a.truncate(total - to_remove, p.stride, p.direction);
      return;
    }
    std::size_t n1 = a.size(), n2 = pair->size();
    const bool swap = n1 > n2;
    if (swap) std::swap(n1, n2);
    if (n1 > p.max_length)
      n2 = n1;
    else
      n2 = std::max(n1, p.max_length - n1);
    if (n1 + n2 > p.max_length) {
      n1 = p.max_length / 2;
      n2 = n1 + p.max_length % 2;
    }
    if (swap) std::swap(n1, n2);
    a.truncate(n1, p.stride, p.direction);
    pair->truncate(n2, p.stride, p.direction);
    return;
  }
  Encoding* target = &a;
  if (p.strategy == S::OnlySecond) {
    if (!pair) throw EncodeError("[truncate] strategy only_second needs a second sequence");
    target = pair;
  }
  if (target->size() <= to_remove) {
    throw EncodeError(
        "[truncate] the " + std::string(p.strategy == S::OnlyFirst ? "first" : "second") +
        " sequence (" + std::to_string(target->size()) + " tokens) is too short to remove " +
        std::to_string(to_remove) + " tokens; use longest_first or a larger max_length");
  }
  target->truncate(target->size() - to_remove, p.stride, p.direction);
}

void pad_encodings(std::span<Encoding> encodings, const PaddingParams& p) {
  if (encodings.empty()) return;
  std::size_t length = 0;
  if (p.length) {
    length = *p.length;
  } else {
    for (const Encoding& e : encodings) length = std::max(length, e.size());
  }
  if (p.pad_to_multiple_of && *p.pad_to_multiple_of > 0 && length % *p.pad_to_multiple_of)
    length += *p.pad_to_multiple_of - length % *p.pad_to_multiple_of;
  // Every encoding and overflowing part grows to `length`.
  std::size_t parts = 0;
  auto count = [&](const Encoding& e, auto&& self) -> void {
    ++parts;
    for (const Encoding& o : e.overflowing) self(o, self);
  };
  for (const Encoding& e : encodings) count(e, count);
  if (length > 0 && parts > kMaxEncodedTokens / length) {
    throw EncodeError("[pad] padding " + std::to_string(parts) + " sequences to " +
                      std::to_string(length) + " tokens would make more than " +
                      std::to_string(kMaxEncodedTokens) + " tokens");
  }
  for (Encoding& e : encodings) e.pad(length, p);
}

}  // namespace lazarus::tokenizers
