// Tokenizers from GGUF metadata: the tokenizer.ggml.* keys of a llama.cpp model file, read as
// llama.cpp's llama-vocab.cpp reads them and turned into the tokenizer.json pipeline that splits
// text the same way, so a GGUF needs no tokenizer.json beside it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

}  // namespace lazarus::tokenizers
