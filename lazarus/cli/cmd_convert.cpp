// `lazarus convert`: a Hugging Face Llama folder to a GGUF file (as llama.cpp's
// convert_hf_to_gguf.py + llama-quantize write it), or an f32 / f16 / bf16 GGUF back to a folder.
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lazarus/cli/commands.h"
#include "lazarus/core/error.h"
#include "lazarus/io/gguf_export.h"
#include "lazarus/io/model_gguf.h"

namespace lazarus::cli {

void register_convert_command(CLI::App& app) {
  struct Opts {
    std::string model, to, type = "f16", out;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Convert a Hugging Face Llama folder to a GGUF file (llama.cpp's format), or an "
                 "f32 / f16 / bf16 GGUF file back to a Hugging Face folder");
  cmd->add_option("model", o->model,
                  "A Hugging Face model folder (Llama or Mistral; config.json, safetensors\n"
                  "weights, tokenizer.json), or a .gguf file with --to hf")
      ->required();
  cmd->add_option("--to", o->to, "gguf or hf")->required()->check(CLI::IsMember({"gguf", "hf"}));
  cmd->add_option(
         "--type", o->type,
         "With --to gguf: the weight types. f32, f16, bf16, q8_0 as convert_hf_to_gguf.py\n"
         "--outtype writes them (norms f32); q4_0, q4_1, q4_K_M, q4_K_S, q5_K_M, q5_K_S, q6_K\n"
         "(q4_K, q5_K: the _M mixes) as llama-quantize writes those ftypes without an\n"
         "importance matrix: the output matrix q6_K, the _M mixes' attn_v / ffn_down q6_K in\n"
         "llama.cpp's use_more_bits layers, q4_K_S's in q5_K, rows that are not a multiple of\n"
         "256 in q8_0 (llama.cpp: q5_0 / q5_1 for q4_K / q5_K) and of 32 in f16 (see\n"
         "docs/loading.md)")
      ->capture_default_str();
  cmd->add_option("-o,--output", o->out, "The .gguf file (--to gguf) or folder (--to hf) to write")
      ->required();
  cmd->footer(
      "The GGUF gets llama.cpp's tensor names, the Q / K row permutation of\n"
      "convert_hf_to_gguf.py, general.* and llama.* keys, and the tokenizer as tokenizer.ggml.*\n"
      "(byte-level BPE as \"gpt2\" with merges, byte-fallback BPE as \"llama\" with scores rebuilt\n"
      "from the merge ranks; tokenizer.model is not read) with the chat template. It is written\n"
      "to a temporary file, then renamed.\n"
      "--to hf writes config.json, model.safetensors (each tensor in the file's float type) and\n"
      "generation_config.json, and a tokenizer.json / tokenizer_config.json rebuilt from the\n"
      "tokenizer.ggml.* keys: it tokenizes as Lazarus tokenizes the GGUF, but is not the original\n"
      "folder's file (normalizer and post-processor details the GGUF does not hold are lost; no\n"
      "tokenizer.model). Quantized GGUF files are refused (dequantizing does not give the\n"
      "original weights).\n"
      "Examples:\n"
      "  lazarus convert path/to/TinyLlama --to gguf --type q4_K_M -o tinyllama-q4_K_M.gguf\n"
      "  lazarus convert model-f16.gguf --to hf -o model-hf");
  cmd->callback([o] {
    io::ConvertReport r;
    if (o->to == "gguf") {
      if (io::is_gguf_file(o->model))
        throw ConfigError(fmt::format("[convert] {} is already a GGUF file (--to hf writes a folder)", o->model));
      set_activity("converting " + o->model + " to GGUF");
      r = io::export_gguf(o->model, o->out, o->type);
    } else {
      if (!io::is_gguf_file(o->model))
        throw ConfigError(fmt::format("[convert] --to hf: {} is not a GGUF file", o->model));
      set_activity("converting " + o->model + " to a Hugging Face folder");
      r = io::export_hf(o->model, o->out);
    }
    for (const auto& n : r.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
    std::vector<std::string> parts;
    for (const auto& [t, n] : r.tensors_by_type) parts.push_back(fmt::format("{} {}", n, t));
    std::printf("wrote %s: tensors %s%s\n", o->out.c_str(), fmt::format("{}", fmt::join(parts, ", ")).c_str(),
                r.file_bytes ? fmt::format(", {} bytes", r.file_bytes).c_str() : "");
  });
}

}  // namespace lazarus::cli
