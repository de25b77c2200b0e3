// Writes a Llama with random weights as a Hugging Face model folder (config.json,
// model.safetensors, generation_config.json) beside a real tokenizer, so `lazarus generate`,
// `lazarus chat` and `lazarus info --model` can be tried without downloading anything. The text
// is gibberish (the weights are random); the speed is real.
//
//   example_make_model_folder OUT_DIR [tiny|small] [TOKENIZER_DIR] [CHAT_TEMPLATE_CONFIG]
//
// tiny:  2 layers, hidden 64 (2.1 M parameters, mostly the embedding and head)
// small: the SmolLM2-135M shape (30 layers, hidden 576, 9 heads / 3 KV heads, tied head) with the
//        tokenizer's 32000-token vocabulary: 124.5 M parameters
// TOKENIZER_DIR defaults to tests/data/tokenizers/mistral, CHAT_TEMPLATE_CONFIG to
// tests/data/chat_templates/mistral_instruct/tokenizer_config.json (run from the repository root).
#include <cstdio>
#include <filesystem>
#include <string>

#include "lazarus/families/llama/llama.h"
#include "lazarus/io/model_folder.h"

using namespace lazarus;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc < 2 || argc > 5) {
    std::fprintf(stderr,
                 "usage: %s OUT_DIR [tiny|small] [TOKENIZER_DIR] [CHAT_TEMPLATE_CONFIG]\n",
                 argv[0]);
    return 2;
  }
  const std::string out = argv[1], size = argc > 2 ? argv[2] : "tiny";
  const fs::path tok = argc > 3 ? argv[3] : "tests/data/tokenizers/mistral";
  const fs::path chat = argc > 4 ? argv[4]
                                 : "tests/data/chat_templates/mistral_instruct/"
                                   "tokenizer_config.json";
  try {
    families::LlamaConfig c = families::LlamaConfig::tiny();
    c.vocab_size = 32000;
    c.bos_token_id = 1;
    c.eos_token_id = {2};
    if (size == "tiny") {
      c.max_position_embeddings = 512;
    } else if (size == "small") {
      c.hidden_size = 576;
      c.intermediate_size = 1536;
      c.num_hidden_layers = 30;
      c.num_attention_heads = 9;
      c.num_key_value_heads = 3;
      c.max_position_embeddings = 2048;
      c.rope_theta = 100000.0;
      c.tie_word_embeddings = true;
    } else {
      throw ConfigError("size: '" + size + "' is not tiny or small");
    }
    families::LlamaForCausalLM model(c, DType::F32, /*seed=*/1);
    io::SaveOptions o;
    generation::GenerationConfig g;
    g.bos_token_id = 1;
    g.eos_token_id = {2};
    o.generation = g;
    io::save_pretrained(model, out, o);
    fs::copy_file(tok / "tokenizer.json", fs::path(out) / "tokenizer.json",
                  fs::copy_options::overwrite_existing);
    fs::copy_file(chat, fs::path(out) / "tokenizer_config.json",
                  fs::copy_options::overwrite_existing);
    std::printf("wrote %s: %lld parameters, random weights, tokenizer from %s\n", out.c_str(),
                static_cast<long long>(model.num_parameters()), tok.string().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
