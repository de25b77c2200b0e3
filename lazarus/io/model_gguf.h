// Models from GGUF files (llama.cpp's format): the architecture and hyper-parameters from the
// metadata, llama.cpp's tensor names mapped onto the family's checkpoint names (with the Q / K row
// order convert_hf_to_gguf.py permutes for llama undone, and Mamba's A = -exp(A_log) and (I, K)
// convolution kernel turned back into HF's A_log and (I, 1, K)), and the weights used in place:
// f32 / f16 / bf16 and the block-quantized types Lazarus computes with stay as they are in the
// file.
#pragma once

#include <string>
#include <vector>

#include "lazarus/config/json_reader.h"
#include "lazarus/io/model_folder.h"

namespace lazarus::formats {
class GgufFile;
}

namespace lazarus::io {

/// True when `path` names a GGUF file (a regular file starting with the "GGUF" magic).
bool is_gguf_file(const std::string& path);

/// The general.architecture values that load ("llama", "mistral", "qwen2", "mamba").
std::vector<std::string> gguf_architectures();

/// The HF-style config.json a GGUF file's metadata describes: general.architecture "llama" (which
/// llama.cpp also writes for Mistral) or "mistral" -> a Llama config, "qwen2" -> Qwen2, "mamba" ->
/// Mamba. ConfigError naming the file and key for a missing, mistyped or unsupported value (an
/// unknown architecture: the message lists the supported ones).
config::Json gguf_model_config(const formats::GgufFile& f);

/// Loads a GGUF model: the model (parameters in the file's dtypes; norms and anything the compute
/// path needs in f32; f16 / bf16 token embeddings widened to f32), the generation ids, and (with
/// `opts.load_tokenizer`) the tokenizer from its tokenizer.ggml.* metadata when the file has one.
/// `opts.dtype` must be f32 (the activations' dtype). LoadError / ConfigError name the file, the
/// tensor or key, and the value.
PretrainedModel load_gguf(const std::string& path, const LoadOptions& opts = {});

}  // namespace lazarus::io
