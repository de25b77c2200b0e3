// Bad input never crashes: malformed tokenizer.json files and invalid UTF-8 text each raise a typed
// lazarus error whose message names the file, the field and the offending value.
#include <gtest/gtest.h>

#include <string>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/tokenizer.h"

namespace lazarus::tokenizers {
namespace {

// A valid minimal BPE tokenizer.json with `patch` spliced over its top-level fields.
std::string bpe_json(const std::string& model_fields = "", const std::string& top_fields = "") {
  return R"({"version":"1.0",)" + top_fields +
         R"("model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"<unk>":3},"merges":["a b"])" +
         model_fields + "}}";
}

template <class E>
std::string error_of(const std::string& json) {
  try {
    Tokenizer::from_json(json, "tokenizer.json");
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("WRONG TYPE: ") + e.what();
  }
  return "NO ERROR";
}

#define EXPECT_LOAD_ERROR(json, needle)                                       \
  do {                                                                        \
    const std::string msg = error_of<LoadError>(json);                        \
    EXPECT_NE(msg.find(needle), std::string::npos) << "message was: " << msg; \
  } while (0)

TEST(TokenizerLoad, MinimalFileLoads) {
  const Tokenizer t = Tokenizer::from_json(bpe_json());
  EXPECT_EQ(t.encode_ids("ab", false), (std::vector<std::uint32_t>{2}));
}

TEST(TokenizerLoad, MissingOrMalformedModel) {
  EXPECT_LOAD_ERROR(R"({"version":"1.0"})", "tokenizer.json: model: missing");
  EXPECT_LOAD_ERROR(R"({"model":[]})", "tokenizer.json: model: expected an object");
  EXPECT_LOAD_ERROR(R"({"model":{"type":"Magic","vocab":{}}})",
                    "model.type: unsupported model type 'Magic'");
  EXPECT_LOAD_ERROR(R"({"model":{"type":"BPE","merges":[]}})", "model.vocab: missing");
  EXPECT_LOAD_ERROR(R"([1,2,3])", "expected a JSON object");
}

TEST(TokenizerLoad, UnknownPipelineTypes) {
  EXPECT_LOAD_ERROR(bpe_json("", R"("normalizer":{"type":"Sparkle"},)"),
                    "normalizer.type: unsupported normalizer type 'Sparkle'");
  EXPECT_LOAD_ERROR(
      bpe_json("", R"("pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Nope"}]},)"),
      "pre_tokenizer.pretokenizers[0].type: unsupported pre_tokenizer type 'Nope'");
  EXPECT_LOAD_ERROR(bpe_json("", R"("decoder":{"type":"Backwards"},)"),
                    "decoder.type: unsupported decoder type 'Backwards'");
  EXPECT_LOAD_ERROR(bpe_json("", R"("post_processor":{"type":"Glue"},)"),
                    "post_processor.type: unsupported post_processor type 'Glue'");
  EXPECT_LOAD_ERROR(
      bpe_json(
          "",
          R"("pre_tokenizer":{"type":"Split","pattern":{"Regex":"(unclosed"},"behavior":"Isolated"},)"),
      "invalid regex '(unclosed'");
  EXPECT_LOAD_ERROR(
      bpe_json(
          "",
          R"("pre_tokenizer":{"type":"Split","pattern":{"String":" "},"behavior":"Sideways"},)"),
      "pre_tokenizer.behavior: unknown split behavior 'Sideways'");
  EXPECT_LOAD_ERROR(bpe_json("", R"("pre_tokenizer":{"type":"Metaspace","replacement":"ab"},)"),
                    "pre_tokenizer.replacement: expected one character");
  EXPECT_LOAD_ERROR(
      bpe_json("", R"("normalizer":{"type":"Replace","pattern":{"Glob":"*"},"content":""},)"),
      "normalizer.pattern: expected {\"String\": ...}");
  EXPECT_LOAD_ERROR(
      bpe_json(
          "",
          R"("normalizer":{"type":"Lowercase","extra":1,"type2":null},"decoder":{"type":"Strip","content":" ","start":-1},)"),
      "decoder: start/stop must be >= 0");
}

TEST(TokenizerLoad, MergesNamingUnknownTokens) {
  const std::string base = R"({"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":)";
  EXPECT_LOAD_ERROR(base + R"(["a b","x y"]}})",
                    "tokenizer.json: model.merges[1]: token 'x' not in vocab");
  EXPECT_LOAD_ERROR(base + R"([["a","b"],["b","a"]]}})",
                    "model.merges[1]: merged token 'ba' not in vocab");
  EXPECT_LOAD_ERROR(base + R"(["a b c"]}})",
                    "model.merges[0]: expected two tokens separated by one space");
  EXPECT_LOAD_ERROR(base + R"([["a"]]}})", "model.merges[0]: expected \"a b\" or [\"a\", \"b\"]");
  EXPECT_LOAD_ERROR(base + R"([7]}})", "model.merges[0]");
}

TEST(TokenizerLoad, IdsOutOfRange) {
  EXPECT_LOAD_ERROR(R"({"model":{"type":"BPE","vocab":{"a":-1},"merges":[]}})",
                    "model.vocab.a: token id -1 out of range");
  EXPECT_LOAD_ERROR(R"({"model":{"type":"BPE","vocab":{"a":99999999999},"merges":[]}})",
                    "out of range");
  EXPECT_LOAD_ERROR(R"({"model":{"type":"BPE","vocab":{"a":"zero"},"merges":[]}})",
                    "model.vocab.a: token id \"zero\" out of range");
  EXPECT_LOAD_ERROR(bpe_json("", R"("added_tokens":[{"id":4000000000,"content":"<x>"}],)"),
                    "added_tokens[0].id: token id 4000000000 out of range");
  EXPECT_LOAD_ERROR(bpe_json("", R"("added_tokens":[{"id":5}],)"),
                    "added_tokens[0].content: missing");
  EXPECT_LOAD_ERROR(bpe_json(R"(,"unk_token":"<nope>")"),
                    "model.unk_token: token '<nope>' not in vocab");
  EXPECT_LOAD_ERROR(R"({"model":{"type":"Unigram","vocab":[["a",-1.0]],"unk_id":5}})",
                    "model.unk_id: id 5 out of range");
  EXPECT_LOAD_ERROR(R"({"model":{"type":"Unigram","vocab":[["a"]]}})",
                    "model.vocab[0]: expected [piece, score]");
  EXPECT_LOAD_ERROR(R"({"model":{"type":"WordPiece","vocab":{"a":0}}})",
                    "model.unk_token: token '[UNK]' not in vocab");
  EXPECT_LOAD_ERROR(
      bpe_json(
          "",
          R"("post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}}],"special_tokens":{}},)"),
      "post_processor.single[0].SpecialToken.id: '<s>' missing from special_tokens");
  EXPECT_LOAD_ERROR(
      bpe_json(
          "",
          R"("post_processor":{"type":"BertProcessing","sep":["[SEP]",-3],"cls":["[CLS]",1]},)"),
      "post_processor.sep: expected [token, id]");
}

TEST(TokenizerLoad, DeeplyNestedAndBrokenJson) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_LOAD_ERROR(deep, "JSON nested deeper than 64 levels");
  const std::string deep_in_field =
      R"({"model":)" + std::string(70, '{') + std::string(70, '}') + "}";
  EXPECT_LOAD_ERROR(deep_in_field, "nested deeper");
  EXPECT_LOAD_ERROR(R"({"model":{"type":"BPE",)", "tokenizer.json: invalid JSON");
  EXPECT_LOAD_ERROR("", "invalid JSON");
  EXPECT_LOAD_ERROR("\xff\xfe{}", "invalid JSON");
  // Brackets inside strings do not count as nesting.
  const std::string in_string =
      R"({"model":{"type":"BPE","vocab":{")" + std::string(200, '[') + R"(":0},"merges":[]}})";
  EXPECT_NO_THROW(Tokenizer::from_json(in_string));
}

TEST(TokenizerLoad, FilesAndFolders) {
  try {
    Tokenizer::from_file("/nonexistent/tokenizer.json");
    FAIL() << "no error";
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tokenizer.json: cannot open"),
              std::string::npos)
        << e.what();
  }
  try {
    Tokenizer::from_file(LAZARUS_TOKENIZER_DATA);  // a folder without tokenizer.json
    FAIL() << "no error";
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("no tokenizer.json in this folder"), std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(Tokenizer::from_file(std::string(LAZARUS_TOKENIZER_DATA) + "/mistral"));
}

TEST(TokenizerEncode, InvalidUtf8IsAClearError) {
  const Tokenizer t = Tokenizer::from_file(std::string(LAZARUS_TOKENIZER_DATA) + "/qwen3");
  for (const std::string& bad :
       {std::string("abc\xff"), std::string("\xE4\xBD"), std::string("x\xC0\xAFy"),
        std::string("\xED\xA0\x80"), std::string("\xF4\x90\x80\x80"),
        std::string("ok \x80 continuation")}) {
    try {
      t.encode(bad);
      FAIL() << "no error for " << bad;
    } catch (const EncodeError& e) {
      EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
    }
  }
  try {
    t.encode("ab\xff");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("byte 2 = 0xFF"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(t.encode(std::string("nul\0inside", 10)));
}

TEST(TokenizerLoad, GarbageNeverCrashes) {
  // Mutations of a valid file: every outcome is a value or a lazarus::Error.
  const std::string base =
      bpe_json(R"(,"unk_token":"<unk>","byte_fallback":true)",
               R"("added_tokens":[{"id":3,"content":"<unk>","special":true}],)"
               R"("normalizer":{"type":"NFC"},"decoder":{"type":"ByteFallback"},)");
  std::uint32_t seed = 7;
  for (int i = 0; i < 3000; ++i) {
    std::string s = base;
    for (int k = 0; k < 3; ++k) {
      seed = seed * 1664525u + 1013904223u;
      const std::size_t pos = seed % s.size();
      s[pos] = "{}[]\",:0a-9 \\ntrue"[(seed >> 16) % 19];
    }
    try {
      const Tokenizer t = Tokenizer::from_json(s);
      (void)t.decode(t.encode_ids("ab ba abc"));
    } catch (const Error&) {
    }
  }
}

// Issue 20: lengths from the file that would make encode allocate without bound (a Fixed padding
// of 10^8 tokens ended in std::bad_alloc and terminate) and ids that wrapped to 32 bits.
TEST(TokenizerLoad, HugeLengthsAndPadIdsAreRefused) {
  const std::string pad = R"("padding":{"strategy":{"Fixed":100000000},"pad_id":0},)";
  EXPECT_LOAD_ERROR(bpe_json("", pad), "tokenizer.json: padding.strategy.Fixed: out of range: 100000000");
  EXPECT_LOAD_ERROR(bpe_json("", R"("padding":{"pad_to_multiple_of":1099511627776},)"),
                    "padding.pad_to_multiple_of: out of range: 1099511627776");
  EXPECT_LOAD_ERROR(bpe_json("", R"("truncation":{"max_length":100000000,"stride":0},)"),
                    "truncation.max_length: out of range: 100000000");
  EXPECT_LOAD_ERROR(bpe_json("", R"("truncation":{"max_length":10,"stride":18446744073709551615},)"),
                    "truncation.stride: out of range: 18446744073709551615");
  // 2^32 + 5 used to wrap to 5.
  EXPECT_LOAD_ERROR(bpe_json("", R"("padding":{"pad_id":4294967301},)"),
                    "padding.pad_id: out of range: 4294967301");
  EXPECT_LOAD_ERROR(bpe_json("", R"("padding":{"pad_type_id":4294967301},)"),
                    "padding.pad_type_id: out of range: 4294967301");
  EXPECT_LOAD_ERROR(bpe_json("", R"("padding":{"pad_id":70},)"),
                    "padding.pad_id: token id 70 is not in the vocabulary");
  // The largest accepted length still loads, and an added token is a valid pad id.
  const Tokenizer t = Tokenizer::from_json(bpe_json(
      "", R"("padding":{"strategy":{"Fixed":16777216},"pad_id":4},)"
          R"("added_tokens":[{"id":4,"content":"<pad>","special":true}],)"));
  ASSERT_TRUE(t.padding());
  EXPECT_EQ(*t.padding()->length, std::size_t{1} << 24);
  // The setters apply the same bounds.
  Tokenizer s = Tokenizer::from_json(bpe_json());
  PaddingParams p;
  p.length = std::size_t{100000000};
  EXPECT_THROW(s.set_padding(p), ConfigError);
  p.length.reset();
  p.pad_to_multiple_of = std::size_t{1} << 40;
  EXPECT_THROW(s.set_padding(p), ConfigError);
  TruncationParams tp;
  tp.max_length = std::size_t{1} << 40;
  EXPECT_THROW(s.set_truncation(tp), ConfigError);
}

TEST(TokenizerLoad, AddedTokensSharingAnIdAreRefused) {
  EXPECT_LOAD_ERROR(
      bpe_json("", R"("added_tokens":[{"id":7,"content":"<x>"},{"id":7,"content":"<y>"}],)"),
      "tokenizer.json: added_tokens[1].id: id 7 is given to both '<x>' (added_tokens[0]) and "
      "'<y>'");
}

TEST(TokenizerEncode, OverflowingPartsAreBounded) {
  // A stride one short of max_length starts a new part at every token: n * max_length tokens.
  Tokenizer t = Tokenizer::from_json(bpe_json());
  TruncationParams tp;
  // 70000 tokens in parts of 2^16 one token apart: 4465 parts, 2.9e8 tokens.
  tp.max_length = 1u << 16;
  tp.stride = tp.max_length - 1;
  t.set_truncation(tp);
  const std::string text(70000, 'a');
  try {
    (void)t.encode(text, false);
    ADD_FAILURE() << "no error";
  } catch (const EncodeError& e) {
    EXPECT_NE(std::string(e.what()).find("overflowing parts"), std::string::npos) << e.what();
  }
  // Padding every overflowing part to a long fixed length is bounded too.
  tp.max_length = 1;
  tp.stride = 0;
  t.set_truncation(tp);
  PaddingParams pp;
  pp.length = std::size_t{1} << 24;
  t.set_padding(pp);
  try {
    (void)t.encode("aaaaaaaaaa", false);
    ADD_FAILURE() << "no error";
  } catch (const EncodeError& e) {
    EXPECT_NE(std::string(e.what()).find("[pad] padding 10 sequences to 16777216 tokens"),
              std::string::npos)
        << e.what();
  }
  t.set_padding(std::nullopt);
  // A modest stride still gives its parts.
  tp.max_length = 4;
  tp.stride = 1;
  t.set_truncation(tp);
  const Encoding e = t.encode("aaaaaaaaaa", false);
  EXPECT_EQ(e.ids.size(), 4u);
  EXPECT_EQ(e.overflowing.size(), 2u);
}

}  // namespace
}  // namespace lazarus::tokenizers
