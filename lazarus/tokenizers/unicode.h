// UTF-8 and Unicode helpers shared by the tokenizer pipeline: decoding, validation, the character
// classes Rust's `char` methods define (which Hugging Face's tokenizers rely on), normalization
// forms through utf8proc, and GPT-2's byte <-> printable-character table.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lazarus::tokenizers::unicode {

/// Decodes the code point starting at `s[i]` (which must be valid UTF-8) and returns its byte
/// length.
std::size_t decode(std::string_view s, std::size_t i, char32_t& cp);
/// Byte length of the UTF-8 character whose lead byte is `lead` (1 for stray continuation bytes).
std::size_t char_len(unsigned char lead);
/// Appends the UTF-8 encoding of `cp` to `out`.
void append(std::string& out, char32_t cp);
/// Index of the first byte that is not part of a valid UTF-8 sequence, or npos when all is valid.
std::size_t find_invalid(std::string_view s);
/// Converts bytes to valid UTF-8 the way Rust's `String::from_utf8_lossy` does: each maximal
/// invalid subsequence becomes one U+FFFD.
std::string from_bytes_lossy(std::string_view bytes);

/// Rust `char::is_whitespace` (the Unicode White_Space property).
bool is_whitespace(char32_t c);
/// Rust `char::is_alphabetic` approximated by general category (L*, Nl, Mn/Mc alphabetic marks).
bool is_alphabetic(char32_t c);
/// Rust `char::is_numeric` (general categories Nd, Nl, No).
bool is_numeric(char32_t c);
/// Rust `char::is_alphanumeric`.
bool is_alphanumeric(char32_t c);
/// Unicode punctuation (general categories P*), as HF's `is_punctuation`.
bool is_punctuation(char32_t c);
/// Rust regex's `\w`: alphabetic, marks, decimal digits, connector punctuation, join controls.
bool is_word_char(char32_t c);
/// Nonspacing mark (Mn), as HF's StripAccents removes.
bool is_nonspacing_mark(char32_t c);
/// Any combining mark (Mn, Mc, Me), as HF's StripAccents normalizer removes.
bool is_mark(char32_t c);
/// Control character in the sense of BERT's cleaning (Cc/Cf except \t \n \r).
bool is_bert_control(char32_t c);
/// CJK ideograph ranges as BERT's handle_chinese_chars uses.
bool is_cjk(char32_t c);

enum class NormForm { NFC, NFD, NFKC, NFKD };
/// Normalizes valid UTF-8 text to the given form (throws lazarus::Error on utf8proc failure).
std::string normalize(std::string_view s, NormForm form);
/// Per-character full lowercase mapping, as Rust's `char::to_lowercase` (no final-sigma context).
std::string lowercase(std::string_view s);

/// GPT-2 byte-level table: byte -> the UTF-8 encoding of its printable stand-in character.
const std::array<std::string, 256>& byte_to_unicode();
/// Inverse of byte_to_unicode for one code point; returns -1 when `cp` is not a stand-in.
int unicode_to_byte(char32_t cp);

}  // namespace lazarus::tokenizers::unicode
