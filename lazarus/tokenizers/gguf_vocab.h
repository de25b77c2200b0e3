// Tokenizers from GGUF metadata: the tokenizer.ggml.* keys of a llama.cpp model file, read as
// llama.cpp's llama-vocab.cpp reads them and turned into the tokenizer.json pipeline that splits
// text the same way, so a GGUF needs no tokenizer.json beside it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lazarus/formats/gguf.h"
#include "lazarus/tokenizers/tokenizer.h"

namespace lazarus::tokenizers {

/// The tokenizer of a GGUF file, from its tokenizer.ggml.* keys alone.
///
/// tokenizer.ggml.model "gpt2": byte-level BPE over `tokens` and `merges` ("a b", first = applied
/// first), the text split first by the pre-tokenizer tokenizer.ggml.pre names (one of
/// gguf_pre_tokenizer_names(); absent means "default", as in llama.cpp), each mapped to the
/// pipeline Hugging Face uses for those models. "llama": SentencePiece-style BPE over `tokens` and
/// `scores` (the adjacent pair whose concatenation scores highest merges first), falling back to
/// <0xXX> byte tokens, spaces written "▁", and a "▁" put in front of each text between special
/// tokens unless tokenizer.ggml.add_space_prefix is false. `token_type` CONTROL and UNKNOWN tokens
/// become special added tokens, USER_DEFINED ones plain added tokens; both are matched whole in
/// text, before anything else.
///
/// config() holds the rest, with llama.cpp's defaults where a key is absent: the bos / eos / unk /
/// pad tokens (tokenizer.ggml.{bos,eos,unknown,padding}_token_id), add_bos_token / add_eos_token
/// (encode() with special tokens adds them), clean_up_tokenization_spaces, and the chat templates:
/// tokenizer.chat_template as "default", tokenizer.chat_template.NAME as NAME.
///
/// Throws LoadError "<file>: key '<key>': ..." for a missing or mistyped key, an unsupported model
/// or pre-tokenizer (naming the supported ones), scores or token types whose count differs from
/// the token count, an unknown token type, a duplicate token, a merge that is not two tokens of
/// the vocabulary whose concatenation is one too, and a special token id out of range.
Tokenizer tokenizer_from_gguf(const formats::GgufFile& f);

/// The ids that end generation as llama.cpp collects them: eos, eot and eom
/// (tokenizer.ggml.{eos,eot,eom}_token_id, eos with llama.cpp's default) and the tokens whose text
/// llama.cpp takes for an end-of-turn marker (<|eot_id|>, <|im_end|>, <end_of_turn>,
/// <|endoftext|>, ...); ascending. Throws as tokenizer_from_gguf.
std::vector<std::uint32_t> gguf_eog_token_ids(const formats::GgufFile& f);

/// The tokenizer.ggml.pre values known for "gpt2" vocabularies.
std::vector<std::string> gguf_pre_tokenizer_names();

/// The tokenizer.ggml.* keys (and tokenizer.chat_template) that llama.cpp's convert_hf_to_gguf.py
/// writes for a Hugging Face tokenizer (tokenizer.json, tokenizer_config.json; the latter may be
/// null), for ids 0..n_vocab-1 (n_vocab: config.json's vocab_size; ids past the tokenizer's are
/// "[PAD<i>]", UNUSED). A BPE model with byte_fallback is written as "llama" (SentencePiece):
/// pieces with scores rebuilt from the merge ranks (a piece scores minus the rank of the first
/// merge that makes it; tokenizer.model itself is not read), types UNKNOWN / CONTROL / BYTE /
/// NORMAL, added tokens CONTROL (special) or USER_DEFINED; tokenizer.ggml.pre "default". A
/// byte-level BPE is written as "gpt2" with its merges, its pre-tokenizer recognised by its
/// splitting rules (one of: llama-bpe, qwen2, gpt-2, smollm, default; llama.cpp itself hashes a
/// test encoding). bos / eos / unk / pad ids from tokenizer_config.json's *_token strings among
/// the added tokens, add_bos / add_eos from a TemplateProcessing post-processor and the config's
/// flags, the chat template from the config. Throws LoadError naming `where` for another model
/// type (Unigram, WordPiece), an unrecognised pre-tokenizer, or an id at or past n_vocab.
std::vector<std::pair<std::string, formats::GgufValue>> gguf_vocab_from_hf(
    const nlohmann::json& tokenizer_json, const nlohmann::json& tokenizer_config,
    std::int64_t n_vocab, const std::string& where);

/// A tokenizer.json and tokenizer_config.json that tokenize as tokenizer_from_gguf(f) does (the
/// pipeline Lazarus builds from the metadata; SentencePiece merges rebuilt from the scores), for
/// writing a GGUF's tokenizer back as Hugging Face files.
struct HfTokenizerFiles {
  nlohmann::json tokenizer;
  nlohmann::json tokenizer_config;
};
HfTokenizerFiles hf_tokenizer_from_gguf(const formats::GgufFile& f);

}  // namespace lazarus::tokenizers
