// Driver for the classifier-folder parity test: loads every folder written by
// tests/reference/torch_hf_classifier.py (LlamaForSequenceClassification, *ForTokenClassification,
// Mistral's), runs its batch with labels, writes the logits and loss, and saves the model twice
// (from the loaded folder, and from the model alone). A saved folder must load back with every
// parameter equal bit for bit; the PyTorch script then checks logits, loss and the saved folders.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lazarus/io/model_folder.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"

using namespace lazarus;
namespace fs = std::filesystem;

namespace {

Tensor to_tensor(const nlohmann::json& rows, DType dt) {
  std::vector<double> v;
  std::vector<int64_t> shape = {int64_t(rows.size())};
  for (auto& r : rows) {
    if (r.is_array()) {
      if (shape.size() == 1) shape.push_back(int64_t(r.size()));
      for (auto& x : r) v.push_back(x.get<double>());
    } else {
      v.push_back(r.get<double>());
    }
  }
  return from_vector(v, shape, DType::F64).to(dt);
}

void expect_same_parameters(const std::string& name, io::PretrainedModel& a,
                            io::PretrainedModel& b) {
  auto x = a.module().state_dict(), y = b.module().state_dict();
  if (x.size() != y.size()) throw Error(fmt::format("{}: saved folder has other parameters", name));
  for (auto& [k, t] : x) {
    Tensor p = t.contiguous(), q = y.at(k).contiguous();
    if (p.dtype() != q.dtype() || p.shape() != q.shape() ||
        std::memcmp(p.raw_data(), q.raw_data(), p.nbytes()) != 0)
      throw Error(fmt::format("{}: save_pretrained round trip changed '{}'", name, k));
  }
}

nlohmann::json run_case(const std::string& name, const nlohmann::json& c, const fs::path& root) {
  io::PretrainedModel m = io::load_pretrained((root / "folders" / name).string());
  Tensor ids = to_tensor(c["input_ids"], DType::I64);
  Tensor mask = to_tensor(c["attention_mask"], DType::I64);
  Tensor labels =
      to_tensor(c["labels"], c["labels_floating"].get<bool>() ? DType::F32 : DType::I64);
  NoGradGuard ng;
  models::ModelOutput out = m.sequence_classifier
                                ? m.sequence_classifier->forward(ids, mask, labels)
                                : m.token_classifier->forward(ids, mask, labels);
  fs::path saved = root / "saved" / name, saved_model = root / "saved_from_model" / name;
  io::save_pretrained(m, saved.string());
  if (m.sequence_classifier)
    io::save_pretrained(*m.sequence_classifier, saved_model.string());
  else
    io::save_pretrained(*m.token_classifier, saved_model.string());
  for (const fs::path& p : {saved, saved_model}) {
    io::PretrainedModel back = io::load_pretrained(p.string());
    if (back.task != m.task || back.labels != m.labels)
      throw Error(fmt::format("{}: {} loads as another task or other labels", name, p.string()));
    expect_same_parameters(name, m, back);
  }
  std::printf("%s: %s, %lld labels, loss %.6f\n", name.c_str(), families::task_name(m.task),
              (long long)m.labels->num_labels(), out.loss.item());
  return {{"logits", out.logits.to(DType::F32).contiguous().to_vector<float>()},
          {"loss", out.loss.item()},
          {"saved", saved.string()},
          {"saved_from_model", saved_model.string()}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s WORKDIR (with cases.json and folders/)\n", argv[0]);
    return 2;
  }
  fs::path root = argv[1];
  try {
    nlohmann::json cases;
    std::ifstream(root / "cases.json") >> cases;
    if (cases.empty()) throw Error("no cases");
    nlohmann::json results = nlohmann::json::object();
    for (auto& [name, c] : cases.items()) results[name] = run_case(name, c, root);
    std::ofstream(root / "results.json") << results.dump(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hf_classifier_parity_main: %s\n", e.what());
    return 1;
  }
  return 0;
}
