// Llama-family classifiers with transformers' semantics (see llama_classifiers.h).
#include "lazarus/families/llama/llama_classifiers.h"

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/losses/losses.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::families {

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// config.json without the classifier keys LlamaConfig does not know (id2label, label2id and
// problem_type are common keys it already accepts).
config::Json without_classifier_keys(const config::Json& j) {
  config::Json c = j;
  if (c.is_object()) {
    for (const char* k : {"num_labels", "classifier_dropout", "hidden_dropout"}) c.erase(k);
  }
  return c;
}

// The architecture a saved config.json names: the config's own when it is one of `task`'s,
// else the family's class for the model type.
std::vector<std::string> architectures_for(const LlamaConfig& c, const char* suffix) {
  for (const std::string& a : c.architectures)
    if (ends_with(a, suffix)) return c.architectures;
  return {std::string(c.model_type == "mistral" ? "Mistral" : "Llama") + suffix};
}

const LlamaConfig& validated(const LlamaConfig& c, const ClassificationLabels& l) {
  c.validate();
  l.validate();
  return c;
}

}  // namespace

// ---- sequence classification ----

config::ModelConfig LlamaForSequenceClassification::model_config(const LlamaConfig& cfg,
                                                                 const ClassificationLabels& l) {
  config::ModelConfig m = cfg.to_model_config();
  config::HeadConfig h;
  h.type = config::HeadType::Classifier;
  h.num_labels = l.num_labels();
  h.bias = false;
  h.pooling = config::PoolingType::Last;
  m.head = h;
  return m;
}

LlamaForSequenceClassification::LlamaForSequenceClassification(const LlamaConfig& cfg,
                                                               const ClassificationLabels& labels,
                                                               DType dtype, uint64_t seed)
    : models::SequenceClassifier(model_config(validated(cfg, labels), labels), dtype),
      llama_cfg_(cfg),
      labels_(labels) {
  init_weights(cfg.initializer_range, seed);
}

std::pair<LlamaConfig, ClassificationLabels> LlamaForSequenceClassification::read_config(
    const config::Json& j, const std::string& path) {
  LlamaConfig c = LlamaConfig::from_json(without_classifier_keys(j), path);
  return {c, ClassificationLabels::from_json(j, path)};
}

config::Json LlamaForSequenceClassification::to_json() const {
  config::Json j = llama_cfg_.to_json();
  j["architectures"] = architectures_for(llama_cfg_, "ForSequenceClassification");
  labels_.write_json(j);
  return j;
}

std::string LlamaForSequenceClassification::problem_type_for(const Tensor& labels) const {
  if (labels_.problem_type) return *labels_.problem_type;
  if (labels_.num_labels() == 1) return "regression";
  return is_floating(labels.dtype()) ? "multi_label_classification" : "single_label_classification";
}

Tensor LlamaForSequenceClassification::pooling_mask(const Tensor& input_ids,
                                                    const Tensor& attention_mask) const {
  (void)attention_mask;  // transformers pools by pad_token_id, not by the attention mask
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  std::vector<int64_t> keep(B * T, 0);
  if (!llama_cfg_.pad_token_id) {
    if (B != 1) {
      throw Error(fmt::format(
          "[LlamaForSequenceClassification] a batch of {} rows needs pad_token_id in config.json "
          "to find each row's last token (set it, or classify one row at a time)",
          B));
    }
    keep[T - 1] = 1;
  } else {
    const std::vector<int64_t> ids = input_ids.to(DType::I64).contiguous().to_vector<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      int64_t last = 0;  // argmax of an all-zero row is 0
      for (int64_t t = 0; t < T; ++t)
        if (ids[b * T + t] != *llama_cfg_.pad_token_id) last = t;
      keep[b * T + last] = 1;
    }
  }
  return from_vector(keep, {B, T}, DType::I64);
}

Tensor LlamaForSequenceClassification::loss(const Tensor& logits, const Tensor& labels) const {
  const std::string pt = problem_type_for(labels);
  if (pt == "regression") return losses::regression_loss(logits, labels);
  if (pt == "single_label_classification") {
    if (is_floating(labels.dtype()))
      throw DTypeError(fmt::format(
          "[LlamaForSequenceClassification] problem_type single_label_classification needs "
          "integer class ids as labels, got {}",
          dtype_name(labels.dtype())));
    return losses::sequence_classification_loss(logits, labels.reshape({labels.numel()}));
  }
  return losses::multi_label_loss(logits, labels);
}

// ---- token classification ----

config::ModelConfig LlamaForTokenClassification::model_config(const LlamaConfig& cfg,
                                                              const ClassificationLabels& l,
                                                              std::optional<double> dropout) {
  config::ModelConfig m = cfg.to_model_config();
  config::HeadConfig h;
  h.type = config::HeadType::Classifier;
  h.num_labels = l.num_labels();
  h.bias = true;
  h.pooling = config::PoolingType::None;
  h.dropout = dropout.value_or(0.1);
  m.head = h;
  return m;
}

LlamaForTokenClassification::LlamaForTokenClassification(const LlamaConfig& cfg,
                                                         const ClassificationLabels& labels,
                                                         std::optional<double> classifier_dropout,
                                                         DType dtype, uint64_t seed)
    : models::TokenClassifier(model_config(validated(cfg, labels), labels, classifier_dropout),
                              dtype),
      llama_cfg_(cfg),
      labels_(labels),
      classifier_dropout_(classifier_dropout) {
  init_weights(cfg.initializer_range, seed);
}

LlamaForTokenClassification::Parsed LlamaForTokenClassification::read_config(
    const config::Json& j, const std::string& path) {
  Parsed p{LlamaConfig::from_json(without_classifier_keys(j), path),
           ClassificationLabels::from_json(j, path), std::nullopt};
  // transformers: classifier_dropout, else hidden_dropout, else 0.1.
  for (const char* k : {"classifier_dropout", "hidden_dropout"}) {
    if (p.classifier_dropout || !j.contains(k) || j[k].is_null()) continue;
    const std::string f = path.empty() ? std::string(k) : path + "." + k;
    double d = config::JsonReader::convert<double>(j[k], f);
    if (!(d >= 0.0 && d < 1.0))
      throw ConfigError(fmt::format("{}: {} must be in [0, 1)", f, j[k].dump()));
    p.classifier_dropout = d;
  }
  return p;
}

config::Json LlamaForTokenClassification::to_json() const {
  config::Json j = llama_cfg_.to_json();
  j["architectures"] = architectures_for(llama_cfg_, "ForTokenClassification");
  labels_.write_json(j);
  if (classifier_dropout_) j["classifier_dropout"] = *classifier_dropout_;
  return j;
}

}  // namespace lazarus::families
