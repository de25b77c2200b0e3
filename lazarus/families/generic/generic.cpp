// The generic family (see generic.h).
#include "lazarus/families/generic/generic.h"

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus::families {

namespace {

std::string where(const std::string& path, const std::string& key) {
  return path.empty() ? key : fmt::format("{}: {}", path, key);
}

std::optional<int64_t> read_id(const config::Json& v, const std::string& path,
                               const std::string& key) {
  if (v.is_null()) return std::nullopt;
  if (!v.is_number_integer())
    throw ConfigError(fmt::format("{}: must be an integer or null, got {}", where(path, key),
                                  v.dump()));
  return v.get<int64_t>();
}

// Keys PretrainedConfig writes that change nothing here.
const char* const kBookkeeping[] = {"transformers_version", "_name_or_path", "torch_dtype",
                                    "use_cache"};

}  // namespace

ModelTask LazarusConfig::task() const {
  const auto& h = model.head;
  if (h.type == config::HeadType::LM) return ModelTask::CausalLM;
  if (h.type == config::HeadType::Classifier && h.pooling == config::PoolingType::None)
    return ModelTask::TokenClassification;
  return ModelTask::SequenceClassification;
}

std::string LazarusConfig::architecture() const {
  switch (task()) {
    case ModelTask::SequenceClassification:
      return "LazarusForSequenceClassification";
    case ModelTask::TokenClassification:
      return "LazarusForTokenClassification";
    case ModelTask::CausalLM:
      break;
  }
  return "LazarusForCausalLM";
}

void LazarusConfig::validate(const std::string& path) const {
  model.validate();
  const int64_t V = model.backbone.embedding.vocab_size;
  auto check_id = [&](const char* key, int64_t id) {
    if (id < 0 || id >= V)
      throw ConfigError(fmt::format("{}: {} is outside the vocabulary of {} (vocab_size)",
                                    where(path, key), id, V));
  };
  if (bos_token_id) check_id("bos_token_id", *bos_token_id);
  if (pad_token_id) check_id("pad_token_id", *pad_token_id);
  for (int64_t id : eos_token_id) check_id("eos_token_id", id);
  if (task() == ModelTask::CausalLM) {
    if (labels)
      throw ConfigError(fmt::format("{}: an LM head has no labels (num_labels / id2label)",
                                    where(path, "head")));
    return;
  }
  if (!labels)
    throw ConfigError(fmt::format("{}: a {} head needs its labels (num_labels or id2label)",
                                  where(path, "head"), config::to_string(model.head.type)));
  labels->validate(path);
  const int64_t want = model.head.output_size(V);
  if (labels->num_labels() != want)
    throw ConfigError(fmt::format(
        "{}: {} labels, but the {} head has {} outputs (head.{})", where(path, "num_labels"),
        labels->num_labels(), config::to_string(model.head.type), want,
        model.head.type == config::HeadType::Classifier ? "num_labels" : "num_outputs"));
}

config::Json LazarusConfig::to_json() const {
  config::Json j = config::Json::object();
  j["architectures"] = config::Json::array({architecture()});
  j["model_type"] = kGenericModelType;
  j["vocab_size"] = model.backbone.embedding.vocab_size;
  j["tie_word_embeddings"] = model.head.tie_word_embeddings;
  j["bos_token_id"] = bos_token_id ? config::Json(*bos_token_id) : config::Json(nullptr);
  j["eos_token_id"] = eos_token_id.empty()       ? config::Json(nullptr)
                      : eos_token_id.size() == 1 ? config::Json(eos_token_id[0])
                                                 : config::Json(eos_token_id);
  j["pad_token_id"] = pad_token_id ? config::Json(*pad_token_id) : config::Json(nullptr);
  if (labels) labels->write_json(j);
  config::Json mc = model.to_json();
  for (auto it = mc.begin(); it != mc.end(); ++it) j[it.key()] = it.value();
  return j;
}

LazarusConfig LazarusConfig::from_json(const config::Json& j, const std::string& path) {
  if (!j.is_object())
    throw ConfigError(fmt::format("{}: expected a JSON object, got {}",
                                  path.empty() ? "config" : path, j.type_name()));
  LazarusConfig c;
  config::Json rest = j;  // what is left is the ModelConfig
  auto take = [&](const char* key) -> std::optional<config::Json> {
    if (!rest.contains(key)) return std::nullopt;
    config::Json v = rest[key];
    rest.erase(key);
    return v;
  };
  for (const char* k : kBookkeeping) take(k);
  if (auto mt = take("model_type"); mt && *mt != kGenericModelType)
    throw ConfigError(fmt::format("{}: must be \"{}\" for a Lazarus model config, got {}",
                                  where(path, "model_type"), kGenericModelType, mt->dump()));
  auto archs = take("architectures");
  auto vocab = take("vocab_size");
  auto tie = take("tie_word_embeddings");
  if (auto v = take("bos_token_id")) c.bos_token_id = read_id(*v, path, "bos_token_id");
  if (auto v = take("pad_token_id")) c.pad_token_id = read_id(*v, path, "pad_token_id");
  if (auto v = take("eos_token_id"); v && !v->is_null()) {
    if (v->is_array()) {
      for (auto& e : *v) {
        auto id = read_id(e, path, "eos_token_id");
        if (!id)
          throw ConfigError(fmt::format("{}: list entries must be integers, got {}",
                                        where(path, "eos_token_id"), v->dump()));
        c.eos_token_id.push_back(*id);
      }
    } else {
      c.eos_token_id.push_back(*read_id(*v, path, "eos_token_id"));
    }
  }
  config::Json label_keys = config::Json::object();
  for (const char* k : {"num_labels", "id2label", "label2id", "problem_type"})
    if (auto v = take(k)) label_keys[k] = *v;

  c.model = config::ModelConfig::from_json(rest, path);

  // The HF keys repeat what the ModelConfig says: they must agree with it.
  const int64_t V = c.model.backbone.embedding.vocab_size;
  if (vocab && (!vocab->is_number_integer() || vocab->get<int64_t>() != V))
    throw ConfigError(fmt::format("{}: {} disagrees with backbone.embedding.vocab_size {}",
                                  where(path, "vocab_size"), vocab->dump(), V));
  if (tie && (!tie->is_boolean() || tie->get<bool>() != c.model.head.tie_word_embeddings))
    throw ConfigError(fmt::format("{}: {} disagrees with head.tie_word_embeddings {}",
                                  where(path, "tie_word_embeddings"), tie->dump(),
                                  c.model.head.tie_word_embeddings));
  if (c.model.head.type != config::HeadType::LM) {
    if (label_keys.empty()) {
      c.labels = LazarusConfig::of(c.model).labels;  // LABEL_i, as transformers names them
    } else {
      c.labels = ClassificationLabels::from_json(label_keys, path);
    }
  } else if (!label_keys.empty()) {
    throw ConfigError(fmt::format("{}: an LM head has no labels, got '{}'", where(path, "head"),
                                  label_keys.begin().key()));
  }
  if (archs) {
    const std::string want = c.architecture();
    if (!archs->is_array() || archs->size() != 1 || !(*archs)[0].is_string() ||
        (*archs)[0].get<std::string>() != want)
      throw ConfigError(fmt::format("{}: {} does not match the head (a {} head is [\"{}\"])",
                                    where(path, "architectures"), archs->dump(),
                                    config::to_string(c.model.head.type), want));
  }
  c.validate(path);
  return c;
}

LazarusConfig LazarusConfig::of(const config::ModelConfig& mc) {
  LazarusConfig c;
  c.model = mc;
  if (mc.head.type != config::HeadType::LM) {
    ClassificationLabels l;
    const int64_t n = mc.head.output_size(mc.backbone.embedding.vocab_size);
    l.id2label.clear();
    for (int64_t i = 0; i < n; ++i) l.id2label.push_back(fmt::format("LABEL_{}", i));
    if (mc.head.type == config::HeadType::Regression) l.problem_type = "regression";
    c.labels = l;
  }
  return c;
}

namespace {
const LazarusConfig& validated(const LazarusConfig& c) {
  c.validate();
  if (c.task() != ModelTask::CausalLM)
    throw ConfigError(fmt::format(
        "head.type: a causal LM needs an 'lm' head, got '{}' (a {} model: build a "
        "SequenceClassifier or TokenClassifier for it)",
        config::to_string(c.model.head.type), task_name(c.task())));
  return c;
}
}  // namespace

LazarusForCausalLM::LazarusForCausalLM(const LazarusConfig& cfg, DType dtype, uint64_t seed)
    : models::CausalLM(validated(cfg).model, dtype), cfg_(cfg) {
  init_weights(0.02, seed);
}

bool is_generic_config(const config::Json& j) {
  if (!j.is_object()) return false;
  if (j.contains("model_type")) return j["model_type"] == kGenericModelType;
  return j.contains("backbone") && j["backbone"].is_object();
}

}  // namespace lazarus::families
