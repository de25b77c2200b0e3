// Unit checks that need no reference: UTF-8 helpers, streaming decode invariants, long inputs
// (100 kB words must not go quadratic), clean_up_tokenization_spaces, vocabulary lookups.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include "lazarus/tokenizers/regex.h"
#include "lazarus/tokenizers/tokenizer.h"
#include "lazarus/tokenizers/unicode.h"

namespace lazarus::tokenizers {
namespace {

const std::string kData = LAZARUS_TOKENIZER_DATA;
const std::string kFffd = "\xEF\xBF\xBD";

const Tokenizer& tok(const std::string& name) {
  static std::map<std::string, Tokenizer> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, Tokenizer::from_file(kData + "/" + name)).first;
  return it->second;
}

TEST(Unicode, LossyConversionReplacesMaximalSubparts) {
  using unicode::from_bytes_lossy;
  EXPECT_EQ(from_bytes_lossy("ok"), "ok");
  EXPECT_EQ(from_bytes_lossy("\xE4\xBD"), kFffd);  // truncated 3-byte sequence
  EXPECT_EQ(from_bytes_lossy("\xE4\xBD"
                             "A"),
            kFffd + "A");
  EXPECT_EQ(from_bytes_lossy("\xF0\x80"), kFffd + kFffd);              // 0x80 cannot follow 0xF0
  EXPECT_EQ(from_bytes_lossy("\xC0\xAF"), kFffd + kFffd);              // overlong
  EXPECT_EQ(from_bytes_lossy("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // surrogate
  EXPECT_EQ(from_bytes_lossy("\xF0\x9F\xA4\x96"), "\xF0\x9F\xA4\x96");
  EXPECT_EQ(unicode::find_invalid("caf\xC3\xA9"), std::string::npos);
  EXPECT_EQ(unicode::find_invalid("caf\xC3"), 3u);
}

TEST(Unicode, ByteLevelTableIsABijection) {
  const auto& t = unicode::byte_to_unicode();
  for (int b = 0; b < 256; ++b) {
    char32_t cp;
    unicode::decode(t[b], 0, cp);
    EXPECT_EQ(unicode::unicode_to_byte(cp), b);
  }
  EXPECT_EQ(t[' '], "\xC4\xA0");  // 'Ġ'
}

TEST(Regex, WhitespaceClassIsRustsWhiteSpace) {
  // \s must not take U+180E (not White_Space since Unicode 6.3) but must take U+0085 and U+3000.
  Regex re(R"(\s+)", "test");
  EXPECT_TRUE(re.find_all("a\xE1\xA0\x8E"
                          "b")
                  .empty());
  EXPECT_EQ(re.find_all("a\xC2\x85\xE3\x80\x80"
                        "b")
                .size(),
            1u);
  EXPECT_EQ(rewrite_onig_pattern(R"([^\s\p{L}])"),
            "[^\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
            "\\x{205F}\\x{3000}\\p{L}]");
  Regex lit(regex_escape("a.b\\E("), "test");
  EXPECT_EQ(lit.find_all("xa.b\\E(y").size(), 1u);
}

// Decoding one id at a time never emits half a character, and the pieces add up to the full decode.
TEST(DecodeStream, PiecesAreValidAndAddUp) {
  const std::string text =
      "Streaming \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD and \xE4\xBB\x8A\xE5\xA4\xA9 caf\xC3\xA9 "
      "\xF0\x9F\x91\xA8\xE2\x80\x8D"
      "\xF0\x9F\x91\xA9 <|im_start|> done.";
  for (const char* name : {"llama3_1", "mistral", "qwen3", "synthetic/unigram_bytefallback.json",
                           "synthetic/wordpiece_bert.json", "synthetic/bpe_metaspace_first.json"}) {
    const Tokenizer& t = tok(name);
    const auto ids = t.encode_ids(text, true);
    for (const bool skip : {false, true}) {
      auto stream = t.decode_stream(skip);
      std::string all;
      for (auto id : ids) {
        const std::string piece = stream.step(id);
        EXPECT_EQ(unicode::find_invalid(piece), std::string::npos) << name;
        EXPECT_EQ(piece.find(kFffd), std::string::npos) << name << ": emitted U+FFFD mid-stream";
        all += piece;
      }
      all += stream.finish();
      EXPECT_EQ(all, t.decode(ids, skip)) << name;
    }
  }
}

TEST(DecodeStream, IncompleteBytesAreHeldThenFlushedLossily) {
  const Tokenizer& t = tok("mistral");
  const auto e4 = *t.token_to_id("<0xE4>"), bd = *t.token_to_id("<0xBD>"),
             a0 = *t.token_to_id("<0xA0>");
  auto stream = t.decode_stream();
  EXPECT_EQ(stream.step(e4), "");
  EXPECT_EQ(stream.step(bd), "");
  EXPECT_EQ(stream.step(a0), "");  // complete, but a byte run is only final when it ends
  const auto hello = *t.token_to_id("\xE2\x96\x81Hello");
  EXPECT_EQ(stream.step(hello), "\xE4\xBD\xA0 Hello");  // 你 Hello
  EXPECT_EQ(stream.finish(), "");
  // ByteFallback decodes a run whole: one stray byte turns the entire run into U+FFFDs, so the
  // stream must not have emitted the valid start of the run early.
  const std::vector<std::uint32_t> run = {e4, bd, a0, e4};
  auto s2 = t.decode_stream();
  std::string got;
  for (auto id : run) got += s2.step(id);
  got += s2.finish();
  EXPECT_EQ(got, t.decode(run));
  EXPECT_EQ(got, kFffd + kFffd + kFffd + kFffd);
}

// A 100 kB word: the merge loop is a priority queue (O(n log n)); this would take minutes if it
// rescanned the word after each merge. Round-trips exactly.
TEST(LongInput, HundredKilobyteWordRoundTrips) {
  std::string word;
  std::uint32_t seed = 1;
  for (int i = 0; i < 100000; ++i) {
    seed = seed * 1103515245u + 12345u;
    word += static_cast<char>('a' + (seed >> 16) % 26);
  }
  for (const char* name : {"llama3", "qwen3", "mistral"}) {
    const auto start = std::chrono::steady_clock::now();
    const auto ids = tok(name).encode_ids(word, false);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(tok(name).decode(ids), word) << name;
    EXPECT_LT(ids.size(), word.size());
    std::printf("[long] %s: 100 kB word -> %zu tokens in %.3f s\n", name, ids.size(), secs);
  }
  // Mistral has no pre-tokenizer: a whole 100 kB paragraph with spaces is one BPE word.
  std::string prose;
  while (prose.size() < 100000)
    prose += "The quick brown fox jumps over the lazy dog, again and again. ";
  EXPECT_EQ(tok("mistral").decode(tok("mistral").encode_ids(prose, false)), prose);
}

TEST(Decode, CleanUpTokenizationSpaces) {
  const Tokenizer& t = tok("llama3");
  const auto ids =
      t.encode_ids("Hello , world . Is n't it ? I 'm sure ! They 're here , we 've seen", false);
  EXPECT_EQ(t.decode(ids, false, true),
            "Hello, world. Isn't it? I'm sure! They're here, we've seen");
  EXPECT_EQ(t.decode(ids, false, false),
            "Hello , world . Is n't it ? I 'm sure ! They 're here , we 've seen");
}

TEST(Decode, UnknownIdsAreSkippedLikeHuggingFace) {
  const Tokenizer& t = tok("llama3");
  const std::vector<std::uint32_t> ids = {9906, 999999999, 1917};
  EXPECT_EQ(t.decode(ids), "Hello world");
}

TEST(Vocab, Lookups) {
  const Tokenizer& t = tok("llama3_1");
  EXPECT_EQ(t.token_to_id("<|begin_of_text|>"), 128000u);
  EXPECT_EQ(t.id_to_token(9906), "Hello");
  EXPECT_TRUE(t.is_special(128009));
  EXPECT_FALSE(t.is_special(9906));
  EXPECT_EQ(t.vocab_size(false), 128000u);
  EXPECT_EQ(t.vocab_size(true), 128256u);
  EXPECT_FALSE(t.id_to_token(500000).has_value());
  const Tokenizer& q = tok("qwen3");
  EXPECT_FALSE(q.is_special(*q.token_to_id("<think>")));  // added but not special
  EXPECT_TRUE(q.is_special(*q.token_to_id("<|im_end|>")));
}

TEST(Encode, BatchMatchesSingle) {
  const Tokenizer& t = tok("qwen3");
  std::vector<std::string> texts;
  for (int i = 0; i < 50; ++i)
    texts.push_back("item " + std::to_string(i) + " <|im_end|> \xE4\xBD\xA0\xE5\xA5\xBD");
  const auto batch = t.encode_batch(texts, true, 3);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(batch[i].ids, t.encode(texts[i]).ids);
    EXPECT_EQ(batch[i].tokens, t.encode(texts[i]).tokens);
  }
  EXPECT_TRUE(t.encode_batch({}, true).empty());
  // An error inside the batch propagates.
  EXPECT_THROW(t.encode_batch({"ok", "bad\xff", "ok"}, true, 2), EncodeError);
}

TEST(Encode, SpecialTokensMask) {
  const Tokenizer& t = tok("llama3_1");
  const Encoding e = t.encode("Hi");
  ASSERT_EQ(e.ids.size(), 2u);
  EXPECT_EQ(e.special_tokens_mask, (std::vector<std::uint8_t>{1, 0}));
  EXPECT_TRUE(t.encode("", false).ids.empty());
  EXPECT_EQ(t.encode("", true).ids, (std::vector<std::uint32_t>{128000}));
}

}  // namespace
}  // namespace lazarus::tokenizers
