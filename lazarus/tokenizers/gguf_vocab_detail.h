// What the GGUF tokenizer reader (gguf_vocab.cpp) and writer (gguf_vocab_from_hf.cpp) share: the
// tokenizer.ggml.* key names, the token types, and the pre-tokenizer regexes as HF spells them.
#pragma once

#include <string>
#include <string_view>

#include "lazarus/tokenizers/sentencepiece.h"

namespace lazarus::tokenizers::gguf_vocab_detail {

using TokenType = SentencePieceModel::PieceType;  // GGUF token_type uses the same numbers

inline const std::string kSpace = "\xE2\x96\x81";  // "▁", SentencePiece's space

// The regexes, as HF's tokenizer.json files for these models spell them.
inline constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// llama.cpp's own default (no HF model uses it): four splits in a row.
inline constexpr std::string_view kDefaultRegexes[] = {
    R"([\p{P}\$\+<=>\^~\|]+)",
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))",
    R"(\p{N}+)",
    R"([0-9][0-9][0-9])",
};

inline constexpr const char* kModel = "tokenizer.ggml.model";
inline constexpr const char* kPre = "tokenizer.ggml.pre";
inline constexpr const char* kTokens = "tokenizer.ggml.tokens";
inline constexpr const char* kScores = "tokenizer.ggml.scores";
inline constexpr const char* kTokenType = "tokenizer.ggml.token_type";
inline constexpr const char* kMerges = "tokenizer.ggml.merges";
inline constexpr const char* kChatTemplate = "tokenizer.chat_template";

}  // namespace lazarus::tokenizers::gguf_vocab_detail
