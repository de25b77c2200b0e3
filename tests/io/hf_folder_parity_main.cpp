// End-to-end driver for the model-folder parity test: for every Hugging Face folder written by
// tests/reference/make_hf_folders.py (PyTorch, its own safetensors writer), loads it with Lazarus
// (f32 and bf16 compute), encodes a prompt with the folder's tokenizer, writes the prompt's
// logits and 24 greedy tokens (cached generation loop), and saves the model with save_pretrained.
// tests/reference/torch_hf_folder.py then loads the same folders in PyTorch and compares logits
// and tokens, and loads the saved folders to check they hold the same weights.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lazarus/generation/generate.h"
#include "lazarus/io/model_folder.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"

using namespace lazarus;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kNewTokens = 24;
const char* kPrompt = "The quick brown fox jumps over the lazy dog. Once upon a time, in a land";

void write_f32(const fs::path& p, const Tensor& t) {
  std::vector<float> v = t.to(DType::F32).contiguous().to_vector<float>();
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
}

nlohmann::json run_case(const fs::path& folder, const fs::path& out) {
  const std::string name = folder.filename().string();
  io::PretrainedModel m = io::load_pretrained(folder.string());
  std::vector<uint32_t> ids32 = m.tokenizer->encode_ids(kPrompt, true);
  std::vector<int64_t> ids(ids32.begin(), ids32.end());
  Tensor input = from_vector(ids, {1, int64_t(ids.size())}, DType::I64);
  NoGradGuard ng;
  write_f32(out / (name + ".logits.f32"), m.model->forward(input).logits);

  generation::GenerationParams p;
  p.max_new_tokens = kNewTokens;  // greedy, no eos: a fixed number of tokens to compare
  auto res = generation::generate(*m.model, {ids}, p, m.tokenizer.get());

  io::LoadOptions bf16;
  bf16.dtype = DType::BF16;
  io::PretrainedModel mb = io::load_pretrained(folder.string(), bf16);
  write_f32(out / (name + ".logits_bf16.f32"), mb.model->forward(input).logits);

  fs::path saved = out / "saved" / name;
  io::save_pretrained(m, saved.string());
  // Loading what we saved gives the same parameters, bit for bit.
  io::PretrainedModel back = io::load_pretrained(saved.string());
  auto a = m.model->state_dict(), b = back.model->state_dict();
  for (auto& [k, t] : a) {
    Tensor x = t.contiguous(), y = b.at(k).contiguous();
    if (x.dtype() != y.dtype() || x.shape() != y.shape() ||
        std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) != 0)
      throw Error(fmt::format("{}: save_pretrained round trip changed '{}'", name, k));
  }
  std::printf("%s: %zu prompt tokens, generated \"%s\"\n", name.c_str(), ids.size(),
              res.text[0].c_str());
  return {{"prompt_ids", ids},
          {"greedy", res.tokens[0]},
          {"text", res.text[0]},
          {"logits", name + ".logits.f32"},
          {"logits_bf16", name + ".logits_bf16.f32"},
          {"vocab_size", m.model->config().backbone.embedding.vocab_size},
          {"saved", saved.string()}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s WORKDIR (holding folders/ from make_hf_folders.py)\n", argv[0]);
    return 2;
  }
  fs::path root = argv[1];
  try {
    nlohmann::json results = nlohmann::json::object();
    std::vector<fs::path> folders;
    for (auto& e : fs::directory_iterator(root / "folders")) folders.push_back(e.path());
    std::sort(folders.begin(), folders.end());
    if (folders.empty()) throw Error("no folders to load");
    for (auto& f : folders) results[f.filename().string()] = run_case(f, root);
    std::ofstream(root / "results.json") << results.dump(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hf_folder_parity_main: %s\n", e.what());
    return 1;
  }
  return 0;
}
