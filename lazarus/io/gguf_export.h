// `lazarus convert`: Hugging Face Llama folders written as GGUF files the way llama.cpp's
// convert_hf_to_gguf.py (and, for the quantized mixes, llama-quantize) writes them, and GGUF
// files of plain float weights written back as Hugging Face folders.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lazarus::io {

/// What a conversion wrote.
struct ConvertReport {
  std::map<std::string, int> tensors_by_type;  // "q4_K" -> count
  uint64_t file_bytes = 0;
  std::vector<std::string> notes;  // what the caller may want to show
};

/// The --type names export_gguf accepts: f32, f16, bf16, q8_0 (convert_hf_to_gguf --outtype),
/// q4_0, q4_1, q4_K_M, q4_K_S, q5_K_M, q5_K_S, q6_K (llama-quantize's ftypes; q4_K and q5_K are
/// its aliases of q4_K_M and q5_K_M).
std::vector<std::string> gguf_export_types();

/// Writes the Hugging Face folder `folder` (a Llama or Mistral causal LM: config.json, weights,
/// optionally tokenizer.json / tokenizer_config.json / chat_template.jinja) as a GGUF v3 file at
/// `out` (a temporary file beside it, then a rename):
///  - metadata: general.architecture "llama", general.type, general.name (the folder's name),
///    general.file_type (llama_ftype), general.quantization_version 2 when quantized, the llama.*
///    hyper-parameters convert_hf_to_gguf writes (block_count, context_length, embedding_length,
///    feed_forward_length, attention.head_count(_kv), rope.freq_base,
///    attention.layer_norm_rms_epsilon, attention.key_length / value_length when head_dim is not
///    hidden / heads, vocab_size, rope.dimension_count), and the tokenizer
///    (tokenizers::gguf_vocab_from_hf; none when the folder has no tokenizer.json);
///  - tensors under llama.cpp's names (token_embd, blk.N.attn_q, ..., output_norm, output; no
///    output when the embeddings are tied), q_proj / k_proj rows permuted per head as
///    convert_hf_to_gguf's LlamaModel.permute does, norms and other 1-D tensors f32, matrices in
///    the type `type` gives (quant_mix.h for the quantized ones; a matrix that cannot take its
///    type, rows not a multiple of 32, is written f16 as llama.cpp does), alignment 32.
/// Throws ConfigError for an unsupported architecture or config (biases, rope scaling, sliding
/// window, another family), DTypeError for an unknown `type`, LoadError for the folder's files.
ConvertReport export_gguf(const std::string& folder, const std::string& out, const std::string& type);

/// Writes the GGUF model `gguf` as a Hugging Face folder `out` (save_pretrained: config.json,
/// model.safetensors with each tensor in the file's dtype, generation_config.json) plus a
/// tokenizer.json / tokenizer_config.json built from its tokenizer.ggml.* metadata
/// (tokenizers::hf_tokenizer_from_gguf: the pipeline Lazarus tokenizes a GGUF with; a
/// SentencePiece model's tokenizer.model is not recreated, and HF-specific fields the GGUF never
/// held, e.g. the exact normalizer or post-processor of the original folder, are not restored).
/// Only f32 / f16 / bf16 weights: DTypeError naming the tensor for a quantized one.
ConvertReport export_hf(const std::string& gguf, const std::string& out);

}  // namespace lazarus::io
