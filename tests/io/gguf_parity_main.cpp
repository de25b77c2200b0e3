// Driver for tests/reference/check_llama_cpp_gguf.py --lazarus: loads a GGUF file with
// io::load_pretrained (nothing else given), or an HF folder quantized at load time, and for each
// prompt of the request prints the last prompt position's logits and the greedy continuation
// (generation::generate, no eos stop).
//   gguf_parity_main FILE.gguf|FOLDER [q8_0|q4_0|q4_1|q4_K|q5_K|q6_K|q4_K_M|...] < {"prompts": [[ids...], ...], "steps": N}
// prints {"results": [{"prompt": [...], "logits": [...], "greedy": [...]}], "weight_types": {...}}.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "lazarus/generation/generate.h"
#include "lazarus/core/error.h"
#include "lazarus/io/model_folder.h"
#include "lazarus/tensor/autograd.h"

using namespace lazarus;

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: %s FILE.gguf|FOLDER [q8_0|q4_0|q4_1|q4_K|q5_K|q6_K|q4_K_M|...] < request.json\n", argv[0]);
    return 2;
  }
  try {
    const auto req = nlohmann::json::parse(std::string(std::istreambuf_iterator<char>(std::cin), {}));
    io::LoadOptions lo;
    if (argc == 3) {
      auto mix = io::quant_mix_from_string(argv[2]);
      if (!mix) throw ConfigError(std::string("not a quantization: ") + argv[2]);
      lo.quantize = *mix;
    }
    io::PretrainedModel m = io::load_pretrained(argv[1], lo);
    NoGradGuard ng;
    nlohmann::json out;
    for (const auto& pj : req.at("prompts")) {
      std::vector<int64_t> ids = pj.get<std::vector<int64_t>>();
      Tensor input = from_vector(ids, {1, int64_t(ids.size())}, DType::I64);
      Tensor logits = m.model->last_logits(input).to(DType::F32).contiguous();
      generation::GenerationParams p;
      p.max_new_tokens = req.at("steps").get<int64_t>();
      auto res = generation::generate(*m.model, {ids}, p);
      out["results"].push_back(
          {{"prompt", ids}, {"logits", logits.to_vector<float>()}, {"greedy", res.tokens[0]}});
    }
    std::map<std::string, std::string> types;
    for (auto& [name, t] : m.model->state_dict()) types[name] = std::string(dtype_name(t.dtype()));
    out["weight_types"] = types;
    std::cout << out.dump() << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gguf_parity_main: %s\n", e.what());
    return 1;
  }
  return 0;
}
