// Common config.json keys (see hf_config.h).
#include "lazarus/families/hf_config.h"

#include <set>

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus::families {

namespace {
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
std::string field_of(const std::string& path, const char* key) {
  return path.empty() ? std::string(key) : path + "." + key;
}
}  // namespace

ModelTask task_of(const config::Json& j) {
  std::optional<ModelTask> task;
  std::string first;
  if (!j.is_object() || !j.contains("architectures") || !j["architectures"].is_array())
    return ModelTask::CausalLM;
  for (auto& a : j["architectures"]) {
    if (!a.is_string()) continue;
    const std::string name = a.get<std::string>();
    ModelTask t = ends_with(name, "ForSequenceClassification") ? ModelTask::SequenceClassification
                  : ends_with(name, "ForTokenClassification")  ? ModelTask::TokenClassification
                                                               : ModelTask::CausalLM;
    if (task && *task != t) {
      throw ConfigError(fmt::format(
          "config.json: architectures: '{}' and '{}' are different tasks ({} vs {}); a folder "
          "holds one model",
          first, name, task_name(*task), task_name(t)));
    }
    if (!task) first = name;
    task = t;
  }
  return task.value_or(ModelTask::CausalLM);
}

const char* task_name(ModelTask t) {
  switch (t) {
    case ModelTask::CausalLM:
      return "causal-lm";
    case ModelTask::SequenceClassification:
      return "sequence-classification";
    case ModelTask::TokenClassification:
      return "token-classification";
  }
  return "?";
}

void ClassificationLabels::validate(const std::string& path) const {
  if (id2label.empty())
    throw ConfigError(fmt::format("{}: 0 must be >= 1 (a classifier needs at least one label)",
                                  field_of(path, "num_labels")));
  std::set<std::string> seen;
  for (size_t i = 0; i < id2label.size(); ++i) {
    if (!seen.insert(id2label[i]).second)
      throw ConfigError(fmt::format("{}: label '{}' is used by two ids (the second is {})",
                                    field_of(path, "id2label"), id2label[i], i));
  }
  if (problem_type && *problem_type != "regression" &&
      *problem_type != "single_label_classification" &&
      *problem_type != "multi_label_classification") {
    throw ConfigError(fmt::format(
        "{}: '{}' is not a problem type (expected regression, single_label_classification or "
        "multi_label_classification, or null)",
        field_of(path, "problem_type"), *problem_type));
  }
}

ClassificationLabels ClassificationLabels::from_json(const config::Json& j,
                                                     const std::string& path) {
  ClassificationLabels c;
  std::optional<int64_t> num_labels;
  if (j.contains("num_labels") && !j["num_labels"].is_null()) {
    const config::Json& v = j["num_labels"];
    if (!v.is_number_integer() || v.get<int64_t>() < 1)
      throw ConfigError(fmt::format("{}: {} must be an integer >= 1 (the number of classes)",
                                    field_of(path, "num_labels"), v.dump()));
    num_labels = v.get<int64_t>();
    if (*num_labels > 1'000'000)
      throw ConfigError(fmt::format("{}: {} classes is more than any classifier head should have",
                                    field_of(path, "num_labels"), *num_labels));
  }
  const std::string id2label_f = field_of(path, "id2label");
  bool have_names = j.contains("id2label") && !j["id2label"].is_null();
  if (have_names) {
    const config::Json& m = j["id2label"];
    if (!m.is_object() || m.empty())
      throw ConfigError(
          fmt::format("{}: expected a non-empty object {{\"0\": \"LABEL_0\", ...}}, got {}",
                      id2label_f, m.dump()));
    const size_t n = m.size();
    std::vector<std::optional<std::string>> names(n);
    for (auto it = m.begin(); it != m.end(); ++it) {
      const std::string& k = it.key();
      size_t id = 0;
      bool digits = !k.empty() && k.size() <= 9 &&
                    k.find_first_not_of("0123456789") == std::string::npos &&
                    (k == "0" || k[0] != '0');
      if (digits) id = std::stoul(k);
      if (!digits || id >= n)
        throw ConfigError(fmt::format(
            "{}: key '{}' is not a label id in 0..{} (the keys must be the ids 0 .. n-1)",
            id2label_f, k, n - 1));
      if (!it.value().is_string())
        throw ConfigError(fmt::format("{}.{}: expected a string (the label's name), got {}",
                                      id2label_f, k, it.value().dump()));
      names[id] = it.value().get<std::string>();
    }
    c.id2label.clear();
    for (auto& nm : names) c.id2label.push_back(*nm);  // n distinct ids < n: all present
    if (num_labels && *num_labels != int64_t(n))
      throw ConfigError(
          fmt::format("{}: num_labels is {} but id2label has {} entries (they must agree)",
                      field_of(path, "num_labels"), *num_labels, n));
  } else if (num_labels) {
    c.id2label.clear();
    for (int64_t i = 0; i < *num_labels; ++i) c.id2label.push_back(fmt::format("LABEL_{}", i));
  } else {
    throw ConfigError(
        fmt::format("{}: missing; a classifier's config.json gives its classes as id2label "
                    "({{\"0\": \"negative\", \"1\": \"positive\"}}) or num_labels",
                    field_of(path, "num_labels")));
  }
  if (j.contains("label2id") && !j["label2id"].is_null()) {
    const std::string f = field_of(path, "label2id");
    const config::Json& m = j["label2id"];
    if (!m.is_object())
      throw ConfigError(
          fmt::format("{}: expected an object {{\"LABEL_0\": 0, ...}}, got {}", f, m.dump()));
    bool inverse = m.size() == c.id2label.size();
    for (size_t i = 0; inverse && i < c.id2label.size(); ++i) {
      auto it = m.find(c.id2label[i]);
      inverse = it != m.end() && it->is_number_integer() && it->get<int64_t>() == int64_t(i);
    }
    if (!inverse)
      throw ConfigError(fmt::format("{}: {} is not the inverse of id2label ({})", f, m.dump(), [&] {
        config::Json o = config::Json::object();
        for (size_t i = 0; i < c.id2label.size(); ++i) o[std::to_string(i)] = c.id2label[i];
        return o.dump();
      }()));
  }
  if (j.contains("problem_type") && !j["problem_type"].is_null()) {
    if (!j["problem_type"].is_string())
      throw ConfigError(fmt::format("{}: expected a string, got {}", field_of(path, "problem_type"),
                                    j["problem_type"].dump()));
    c.problem_type = j["problem_type"].get<std::string>();
  }
  c.validate(path);
  return c;
}

void ClassificationLabels::write_json(config::Json& j) const {
  config::Json id2 = config::Json::object(), l2id = config::Json::object();
  for (size_t i = 0; i < id2label.size(); ++i) {
    id2[std::to_string(i)] = id2label[i];
    l2id[id2label[i]] = int64_t(i);
  }
  j["id2label"] = id2;
  j["label2id"] = l2id;
  j["problem_type"] = config::opt_json(problem_type);
}

void accept_hf_common_keys(config::JsonReader& r) {
  // Bookkeeping and legacy generation defaults (generation_config.json supersedes the latter).
  // torch_dtype (dtype since transformers 4.56) is the storage dtype; a family that keeps it
  // reads it first.
  static const char* kIgnored[] = {"transformers_version",
                                   "_name_or_path",
                                   "torch_dtype",
                                   "dtype",
                                   "use_cache",
                                   "pretraining_tp",
                                   "is_llama_config",
                                   "transformers.js_config",
                                   "torchscript",
                                   "return_dict",
                                   "output_hidden_states",
                                   "output_attentions",
                                   "use_bfloat16",
                                   "tf_legacy_loss",
                                   "chunk_size_feed_forward",
                                   "is_decoder",
                                   "tie_encoder_decoder",
                                   "finetuning_task",
                                   "id2label",
                                   "label2id",
                                   "problem_type",
                                   "tokenizer_class",
                                   "prefix",
                                   "sep_token_id",
                                   "decoder_start_token_id",
                                   "task_specific_params",
                                   "cross_attention_hidden_size",
                                   "max_length",
                                   "min_length",
                                   "do_sample",
                                   "early_stopping",
                                   "num_beams",
                                   "num_beam_groups",
                                   "diversity_penalty",
                                   "temperature",
                                   "top_k",
                                   "top_p",
                                   "typical_p",
                                   "repetition_penalty",
                                   "length_penalty",
                                   "no_repeat_ngram_size",
                                   "encoder_no_repeat_ngram_size",
                                   "bad_words_ids",
                                   "num_return_sequences",
                                   "output_scores",
                                   "return_dict_in_generate",
                                   "forced_bos_token_id",
                                   "forced_eos_token_id",
                                   "remove_invalid_values",
                                   "exponential_decay_length_penalty",
                                   "suppress_tokens",
                                   "begin_suppress_tokens"};
  for (const char* k : kIgnored) r.skip(k);

  // Keys that change the math unless they hold their neutral value (null is always neutral). A
  // family that implements one reads it itself, before this runs: only unread keys are checked.
  // Every offending key is named in one error.
  std::vector<std::string> errors;
  auto neutral = [&](const char* key, std::vector<config::Json> ok, const char* why) {
    if (!r.has(key) || r.has_read(key)) return;
    const config::Json& v = r.raw(key);
    if (v.is_null()) return;
    std::string oks;
    for (auto& o : ok) {
      if (v == o) return;
      oks += (oks.empty() ? "" : " or ") + o.dump();
    }
    errors.push_back(fmt::format("{}: {} is not supported ({}; only {} is)", r.field(key), v.dump(),
                                 why, oks.empty() ? std::string("null") : oks));
  };
  using J = config::Json;
  neutral("rope_interleaved", {false}, "interleaved rotary pairs");
  neutral("pruned_heads", {J::object()}, "pruned attention heads");
  neutral("is_encoder_decoder", {false}, "encoder-decoder models");
  neutral("add_cross_attention", {false}, "cross-attention");
  neutral("use_sliding_window", {false}, "sliding-window attention switched on by this flag");
  neutral("use_mrope", {false}, "multimodal rotary embeddings");
  neutral("partial_rotary_factor", {1.0}, "rotary embeddings on part of each head");
  neutral("num_experts", {0}, "mixture-of-experts layers");
  neutral("num_local_experts", {0}, "mixture-of-experts layers");
  neutral("n_routed_experts", {0}, "mixture-of-experts layers");
  neutral("num_experts_per_tok", {}, "mixture-of-experts routing");
  neutral("moe_intermediate_size", {}, "mixture-of-experts layers");
  neutral("shared_expert_intermediate_size", {}, "a shared expert");
  neutral("qk_layernorm", {false}, "q/k normalisation");
  neutral("qk_norm", {false}, "q/k normalisation");
  neutral("use_qk_norm", {false}, "q/k normalisation");
  neutral("attn_logit_softcapping", {}, "attention logit soft-capping");
  neutral("final_logit_softcapping", {}, "final logit soft-capping");
  neutral("query_pre_attn_scalar", {}, "a query scale other than 1/sqrt(head_dim)");
  neutral("attention_multiplier", {}, "a query scale other than 1/sqrt(head_dim)");
  neutral("embedding_multiplier", {1.0}, "scaled embeddings");
  neutral("residual_multiplier", {1.0}, "scaled residual branches");
  neutral("logits_scaling", {1.0}, "scaled logits");
  // transformers >= 4.53 lists each layer's attention; all "full_attention" is the plain model.
  if (r.has("layer_types") && !r.has_read("layer_types")) {
    const config::Json& v = r.raw("layer_types");
    bool full = v.is_null() || v.is_array();
    if (v.is_array())
      for (auto& t : v) full = full && t == "full_attention";
    if (!full)
      errors.push_back(fmt::format(
          "{}: {} is not supported (per-layer attention types; only \"full_attention\" layers are)",
          r.field("layer_types"), v.dump().substr(0, 120)));
  }
  if (!errors.empty()) {
    std::string msg;
    for (auto& e : errors) msg += (msg.empty() ? "" : "; ") + e;
    throw ConfigError(msg);
  }
  if (r.has("quantization_config")) {
    throw ConfigError(fmt::format(
        "{}: quantized checkpoints ({}) are not supported yet; use an unquantized (f32/bf16/f16) "
        "checkpoint",
        r.field("quantization_config"), r.raw("quantization_config").dump()));
  }
}

config::ModelConfig decoder_model_config(const DecoderShape& s) {
  using namespace config;
  ModelConfig m;
  BackboneConfig& b = m.backbone;
  b.embedding.vocab_size = s.vocab_size;
  b.embedding.max_position_embeddings = s.max_position_embeddings;
  b.embedding.padding_idx = s.padding_idx;
  b.hidden_size = s.hidden_size;
  b.num_layers = s.num_hidden_layers;
  b.final_norm = NormConfig{NormType::RMSNorm, s.rms_norm_eps, false};
  BlockConfig& blk = b.block;
  blk.norm = b.final_norm;
  AttentionConfig& a = blk.attention;
  a.set_heads(s.num_attention_heads, s.num_key_value_heads);
  a.head_dim = s.head_dim;
  a.sliding_window = s.sliding_window;
  a.dropout = s.attention_dropout;
  a.position.type = PositionEmbeddingType::RoPE;
  a.position.rope.theta = s.rope_theta;
  blk.ffn.type = s.hidden_act == ActivationType::SiLU ? FFNType::SwiGLU : FFNType::Gated;
  blk.ffn.activation = s.hidden_act;
  blk.ffn.intermediate_size = s.intermediate_size;
  m.head.tie_word_embeddings = s.tie_word_embeddings;
  return m;
}

}  // namespace lazarus::families
