// Checks that a model loads back unchanged (run by train_json_cli.cmake):
//   model_roundtrip_check folder MODEL_DIR OUT_DIR
//     loads MODEL_DIR (a folder `lazarus train` / `finetune --merge` wrote), saves it with
//     save_pretrained to OUT_DIR, loads that, and requires bit-identical logits on fixed input,
//     bit-identical weights under the same names, the same config.json (torch_dtype aside) and,
//     for a causal LM, the same greedy tokens;
//   model_roundtrip_check config CONFIG_JSON OUT_DIR
//     builds the model a Lazarus model config (or a family's config.json) describes (causal LM, sequence or token
//     classifier, by its head) through the registry with seeded random weights, saves it,
//     loads it back, and requires the same logits and weights.
// Both print "parameters N" (the tensors the loaded model holds) and fail when N differs from the
// count its config gives (ModelConfig::num_parameters). Exits non-zero naming the first mismatch.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lazarus/core/error.h"
#include "lazarus/families/generic/generic.h"
#include "lazarus/families/registry.h"
#include "lazarus/generation/generate.h"
#include "lazarus/io/model_folder.h"
#include "lazarus/tensor/autograd.h"

using namespace lazarus;
namespace fs = std::filesystem;

namespace {

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Tensor fixed_ids(int64_t vocab) {
  // Two rows of 12 ids spread over the vocabulary (deterministic, no padding).
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 24; ++i) ids.push_back((i * 37 + 5) % vocab);
  return from_vector(ids, {2, 12}, DType::I64);
}

Tensor logits_of(nn::Module& m, const Tensor& ids) {
  NoGradGuard ng;
  m.eval();
  if (auto* lm = dynamic_cast<models::CausalLM*>(&m)) return lm->forward(ids).logits;
  if (auto* s = dynamic_cast<models::SequenceClassifier*>(&m)) return s->forward(ids).logits;
  if (auto* t = dynamic_cast<models::TokenClassifier*>(&m)) return t->forward(ids).logits;
  throw Failure("the model is neither a causal LM nor a classifier");
}

void same_tensor(const Tensor& a, const Tensor& b, const std::string& what) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    throw Failure(fmt::format("{}: shape or dtype differs after the round trip", what));
  Tensor x = a.contiguous(), y = b.contiguous();
  if (std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) != 0)
    throw Failure(fmt::format("{}: values differ after the round trip", what));
}

int64_t count_parameters(nn::Module& m) {
  int64_t n = 0;
  for (auto& [name, t] : m.named_parameters()) n += t->numel();
  return n;
}

const config::ModelConfig& config_of(nn::Module& m) {
  if (auto* lm = dynamic_cast<models::CausalLM*>(&m)) return lm->config();
  if (auto* s = dynamic_cast<models::SequenceClassifier*>(&m)) return s->config();
  return dynamic_cast<models::TokenClassifier&>(m).config();
}

// Weights, logits and the parameter count of `a` (before saving) against `b` (loaded back).
void compare(nn::Module& a, nn::Module& b) {
  const int64_t n = count_parameters(b), want = config_of(b).num_parameters();
  std::printf("parameters %lld\n", (long long)n);
  if (n != want)
    throw Failure(fmt::format("the loaded model holds {} parameters, its config gives {}", n, want));
  auto sa = a.state_dict(), sb = b.state_dict();
  if (sa.size() != sb.size())
    throw Failure(fmt::format("{} tensors before saving, {} after loading", sa.size(), sb.size()));
  for (auto& [name, t] : sa) {
    auto it = sb.find(name);
    if (it == sb.end()) throw Failure(fmt::format("{} is missing after loading", name));
    same_tensor(t, it->second, name);
  }
  const Tensor ids = fixed_ids(config_of(a).backbone.embedding.vocab_size);
  Tensor la = logits_of(a, ids), lb = logits_of(b, ids);
  same_tensor(la, lb, "logits");
  std::printf("logits     (%s) identical after the round trip\n",
              fmt::format("{}", fmt::join(la.shape(), ", ")).c_str());
}

std::vector<int64_t> greedy(models::CausalLM& m) {
  generation::GenerationParams p;
  p.max_new_tokens = 8;
  Tensor ids = fixed_ids(m.config().backbone.embedding.vocab_size).contiguous();
  std::vector<int64_t> prompt(ids.data<int64_t>(), ids.data<int64_t>() + 12);
  return generation::generate(m, {prompt}, p).tokens.at(0);
}

void check_folder(const std::string& dir, const std::string& out) {
  io::PretrainedModel a = io::load_pretrained(dir);
  fs::remove_all(out);
  io::save_pretrained(a, out);
  io::PretrainedModel b = io::load_pretrained(out);
  if (a.family != b.family || a.task != b.task)
    throw Failure(fmt::format("family / task changed: {} -> {}", a.family, b.family));
  config::Json ca = a.config, cb = b.config;
  ca.erase("torch_dtype");
  cb.erase("torch_dtype");
  if (ca != cb)
    throw Failure(fmt::format("config.json changed:\n{}\n->\n{}", ca.dump(2), cb.dump(2)));
  compare(a.module(), b.module());
  if (a.model) {
    auto ta = greedy(*a.model), tb = greedy(*b.model);
    if (ta != tb) throw Failure("greedy tokens differ after the round trip");
    std::printf("greedy     %s (identical after the round trip)\n",
                fmt::format("{}", fmt::join(ta, " ")).c_str());
  }
  std::printf("family     %s, task %s\n", b.family.c_str(), families::task_name(b.task));
}

void check_config(const std::string& path, const std::string& out) {
  std::ifstream in(path);
  if (!in) throw Failure(fmt::format("{}: cannot open", path));
  config::Json bare = config::Json::parse(in);
  // A Lazarus model config in the generic family's config.json form (architectures follow the
  // head); a family's config.json as it is.
  config::Json j = families::is_generic_config(bare)
                       ? families::LazarusConfig::from_json(bare, path).to_json()
                       : bare;
  const uint64_t seed = 7;
  std::shared_ptr<nn::Module> model;
  switch (families::task_of(j)) {
    case families::ModelTask::CausalLM: {
      auto m = families::build_causal_lm_seeded(j, seed, path);
      model = std::move(m);
      break;
    }
    case families::ModelTask::SequenceClassification: {
      auto m = families::build_sequence_classifier(j, DType::F32, path);
      m->init_weights(0.02, seed);
      model = std::move(m);
      break;
    }
    case families::ModelTask::TokenClassification: {
      auto m = families::build_token_classifier(j, DType::F32, path);
      m->init_weights(0.02, seed);
      model = std::move(m);
      break;
    }
  }
  fs::remove_all(out);
  if (auto* lm = dynamic_cast<models::CausalLM*>(model.get()))
    io::save_pretrained(*lm, out);
  else if (auto* s = dynamic_cast<models::SequenceClassifier*>(model.get()))
    io::save_pretrained(*s, out);
  else
    io::save_pretrained(dynamic_cast<models::TokenClassifier&>(*model), out);
  io::PretrainedModel b = io::load_pretrained(out);
  compare(*model, b.module());
  std::printf("family     %s, task %s\n", b.family.c_str(), families::task_name(b.task));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 || (std::string(argv[1]) != "folder" && std::string(argv[1]) != "config")) {
    std::fprintf(stderr, "usage: %s folder MODEL_DIR OUT_DIR | config CONFIG_JSON OUT_DIR\n",
                 argv[0]);
    return 2;
  }
  try {
    if (std::string(argv[1]) == "folder")
      check_folder(argv[2], argv[3]);
    else
      check_config(argv[2], argv[3]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_roundtrip_check %s %s: %s\n", argv[1], argv[2], e.what());
    return 1;
  }
  return 0;
}
