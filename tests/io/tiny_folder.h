// Test support: a tiny Llama written as a Hugging Face model folder (config.json,
// model.safetensors, generation_config.json) with a real tokenizer (Mistral's tokenizer.json,
// vocabulary 32000) and the Mistral-instruct chat template. Used by the io, generation and CLI
// tests. LAZARUS_TEST_DATA must name tests/data.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "lazarus/families/llama/llama.h"
#include "lazarus/io/model_folder.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

namespace lazarus::testing {

namespace fs = std::filesystem;

inline fs::path test_data() { return fs::path(LAZARUS_TEST_DATA); }

/// A fresh, empty temporary folder unique to this process.
inline fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("lazarus_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

/// The tiny config: vocabulary of the Mistral tokenizer, 2 layers, hidden 32, GQA.
inline families::LlamaConfig tiny_llama_config(bool tied = false) {
  families::LlamaConfig c = families::LlamaConfig::tiny();
  c.model_type = "llama";
  c.vocab_size = 32000;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 128;
  c.bos_token_id = 1;
  c.eos_token_id = {2};
  c.tie_word_embeddings = tied;
  return c;
}

/// A LlamaForCausalLM with random weights spread enough that greedy text varies.
inline std::unique_ptr<families::LlamaForCausalLM> tiny_llama(bool tied = false,
                                                              uint64_t seed = 7) {
  auto m = std::make_unique<families::LlamaForCausalLM>(tiny_llama_config(tied));
  Generator gen(seed);
  nn::StateDict sd = m->state_dict();
  for (auto& [name, t] : sd) {
    bool norm = name.find("norm") != std::string::npos;
    t = norm ? randn(t.shape(), DType::F32, 1.0, 0.1, &gen)
             : randn(t.shape(), DType::F32, 0.0, 0.3, &gen);
  }
  m->load_state_dict(sd);
  return m;
}

/// Copies the tokenizer files into `dir`: Mistral's tokenizer.json and the Mistral-instruct
/// tokenizer_config.json (which carries a chat template).
inline void copy_tokenizer(const fs::path& dir) {
  fs::copy_file(test_data() / "tokenizers/mistral/tokenizer.json", dir / "tokenizer.json",
                fs::copy_options::overwrite_existing);
  fs::copy_file(test_data() / "chat_templates/mistral_instruct/tokenizer_config.json",
                dir / "tokenizer_config.json", fs::copy_options::overwrite_existing);
}

/// Writes the tiny model as a complete HF folder at `dir` (created) and returns it.
inline fs::path make_tiny_llama_folder(const fs::path& dir, bool tied = false, uint64_t seed = 7) {
  auto m = tiny_llama(tied, seed);
  io::SaveOptions o;
  generation::GenerationConfig g;
  g.bos_token_id = 1;
  g.eos_token_id = {2};
  o.generation = g;
  fs::remove_all(dir);
  io::save_pretrained(*m, dir.string(), o);
  copy_tokenizer(dir);
  return dir;
}

inline void write_text(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(s.data(), std::streamsize(s.size()));
}

inline std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace lazarus::testing
