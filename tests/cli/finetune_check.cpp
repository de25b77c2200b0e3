// Checks what `lazarus finetune` wrote (run by finetune_cli.cmake):
//   finetune_check BASE_DIR ADAPTER_DIR MERGED_DIR RANK
// - adapter_model.safetensors holds exactly PEFT's keys for a Llama with LoRA on the seven default
//   projections ("base_model.model.model.layers.<i>.self_attn.q_proj.lora_A.weight" (r, in) and
//   ".lora_B.weight" (out, r)), the names and shapes written here from the HF Llama layout and
//   config.json, not taken from our modules; every lora_B trained away from its zero init;
// - the merged folder's logits equal the base model's with the adapter applied (within float
//   rounding), and the adapter changes the base model's logits.
// Exits non-zero with a message on the first mismatch.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lazarus/adapters/lora.h"
#include "lazarus/io/model_folder.h"
#include "lazarus/formats/safetensors.h"
#include "lazarus/tensor/ops.h"

using namespace lazarus;
namespace fs = std::filesystem;

namespace {

int fail(const std::string& msg) {
  std::fprintf(stderr, "finetune_check: %s\n", msg.c_str());
  return 1;
}

double max_abs(const Tensor& t) { return amax(abs(t.to(DType::F32))).item(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s BASE_DIR ADAPTER_DIR MERGED_DIR RANK\n", argv[0]);
    return 2;
  }
  const std::string base = argv[1], adapter = argv[2], merged = argv[3];
  const int64_t r = std::stoll(argv[4]);
  try {
    // ---- PEFT key names and shapes ----
    nlohmann::json cfg;
    std::ifstream(fs::path(base) / "config.json") >> cfg;
    const int64_t D = cfg["hidden_size"], F = cfg["intermediate_size"],
                  L = cfg["num_hidden_layers"], H = cfg["num_attention_heads"],
                  Hkv = cfg["num_key_value_heads"].is_number()
                            ? cfg["num_key_value_heads"].get<int64_t>()
                            : H;
    const int64_t Dh = cfg["head_dim"].is_number() ? cfg["head_dim"].get<int64_t>() : D / H;
    // module -> (in, out), HF Llama names.
    std::map<std::string, std::pair<int64_t, int64_t>> want;
    for (int64_t i = 0; i < L; ++i) {
      std::string p = fmt::format("model.layers.{}.", i);
      want[p + "self_attn.q_proj"] = {D, H * Dh};
      want[p + "self_attn.k_proj"] = {D, Hkv * Dh};
      want[p + "self_attn.v_proj"] = {D, Hkv * Dh};
      want[p + "self_attn.o_proj"] = {H * Dh, D};
      want[p + "mlp.gate_proj"] = {D, F};
      want[p + "mlp.up_proj"] = {D, F};
      want[p + "mlp.down_proj"] = {F, D};
    }
    auto file =
        formats::SafetensorsFile::open((fs::path(adapter) / "adapter_model.safetensors").string());
    std::set<std::string> seen;
    for (const auto& e : file->entries()) seen.insert(e.name);
    for (const auto& [mod, io_dims] : want) {
      auto [in, out] = io_dims;
      std::string ka = "base_model.model." + mod + ".lora_A.weight",
                  kb = "base_model.model." + mod + ".lora_B.weight";
      if (!seen.count(ka) || !seen.count(kb)) return fail("missing PEFT key " + ka + " or " + kb);
      Tensor A = file->tensor(ka), B = file->tensor(kb);
      if (A.shape() != Shape{r, in} || B.shape() != Shape{out, r}) {
        return fail(fmt::format("{}: lora_A {} / lora_B {}, want ({}, {}) / ({}, {})", mod,
                                shape_str(A.shape()), shape_str(B.shape()), r, in, out, r));
      }
      if (max_abs(B) == 0) return fail(mod + ": lora_B is still all zeros (nothing trained)");
      seen.erase(ka);
      seen.erase(kb);
    }
    if (!seen.empty()) return fail("unexpected tensor in the adapter: " + *seen.begin());
    nlohmann::json acfg;
    std::ifstream(fs::path(adapter) / "adapter_config.json") >> acfg;
    if (acfg["peft_type"] != "LORA" || acfg["r"] != r || acfg["task_type"] != "CAUSAL_LM")
      return fail("adapter_config.json: " + acfg.dump());

    // ---- merged logits == base + adapter logits ----
    io::PretrainedModel with = io::load_pretrained(base);
    io::PretrainedModel plain = io::load_pretrained(base);
    io::PretrainedModel m = io::load_pretrained(merged);
    adapters::load_peft_adapter(*with.model, adapter);
    with.model->eval();
    plain.model->eval();
    m.model->eval();
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < 24; ++i) ids.push_back((i * 7919 + 13) % int64_t(cfg["vocab_size"]));
    Tensor x = from_vector(ids, {1, int64_t(ids.size())}, DType::I64);
    Tensor a = with.model->forward(x).logits, b = m.model->forward(x).logits,
           c = plain.model->forward(x).logits;
    double scale = max_abs(a), diff = max_abs(a - b), moved = max_abs(a - c);
    std::printf("logits: max |adapter - merged| = %.3g, max |adapter - base| = %.3g (scale %.3g)\n",
                diff, moved, scale);
    if (!(diff <= 1e-5 * scale + 1e-6))
      return fail(fmt::format("merged logits differ from base+adapter by {}", diff));
    if (!(moved > 1e-4 * scale)) return fail("the adapter does not change the base model's logits");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  std::printf("finetune_check: OK\n");
  return 0;
}
