// Classifier model folders (LlamaForSequenceClassification / LlamaForTokenClassification and
// Mistral's): save_pretrained -> load_pretrained round trips bit for bit, config.json in HF's form,
// and malformed label fields that must each give a ConfigError naming the file and the field.
// (Parity of the math with PyTorch: io.hf_classifier_torch_parity.)
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "lazarus/core/error.h"
#include "lazarus/families/llama/llama_classifiers.h"
#include "lazarus/families/registry.h"
#include "lazarus/io/model_folder.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "tiny_folder.h"

using namespace lazarus;
using namespace lazarus::testing;
using config::Json;

namespace {

template <class E, class F>
void expect_error(F fn, std::vector<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing '" << needles[0] << "'";
  } catch (const E& e) {
    std::string m = e.what();
    for (auto& n : needles)
      EXPECT_NE(m.find(n), std::string::npos) << "'" << n << "' not in: " << m;
  }
}

bool same_parameters(nn::Module& a, nn::Module& b) {
  auto x = a.state_dict(), y = b.state_dict();
  if (x.size() != y.size()) return false;
  for (auto& [k, t] : x) {
    if (!y.count(k)) return false;
    Tensor p = t.contiguous(), q = y.at(k).contiguous();
    if (p.dtype() != q.dtype() || p.shape() != q.shape() ||
        std::memcmp(p.raw_data(), q.raw_data(), p.nbytes()) != 0)
      return false;
  }
  return true;
}

families::ClassificationLabels three_labels() {
  families::ClassificationLabels l;
  l.id2label = {"negative", "neutral", "positive"};
  return l;
}

Tensor batch() { return from_vector<int64_t>({5, 17, 42, 9, 7, 21, 0, 0}, {2, 4}, DType::I64); }

class ClassifierFolder : public ::testing::Test {
 protected:
  void SetUp() override { root_ = fresh_dir("classifier_folder"); }
  void TearDown() override { fs::remove_all(root_); }
  // A saved sequence classifier folder whose config.json `edit` then changes.
  fs::path broken(const std::string& name, const std::function<void(Json&)>& edit) {
    fs::path d = root_ / name;
    if (!fs::exists(d)) {
      auto cfg = tiny_llama_config();
      cfg.pad_token_id = 0;
      families::LlamaForSequenceClassification m(cfg, three_labels());
      io::save_pretrained(m, d.string());
    }
    Json j = Json::parse(read_text(d / "config.json"));
    edit(j);
    write_text(d / "config.json", j.dump(2));
    return d;
  }
  fs::path root_;
};

TEST_F(ClassifierFolder, SequenceClassifierRoundTrip) {
  auto cfg = tiny_llama_config();
  cfg.pad_token_id = 0;
  families::ClassificationLabels labels = three_labels();
  labels.problem_type = "single_label_classification";
  families::LlamaForSequenceClassification m(cfg, labels, DType::F32, /*seed=*/3);
  io::save_pretrained(m, (root_ / "seq").string());

  Json j = Json::parse(read_text(root_ / "seq" / "config.json"));
  EXPECT_EQ(j["architectures"], Json::array({"LlamaForSequenceClassification"}));
  EXPECT_EQ(j["id2label"]["2"], "positive");
  EXPECT_EQ(j["label2id"]["neutral"], 1);
  EXPECT_EQ(j["problem_type"], "single_label_classification");
  EXPECT_EQ(j["pad_token_id"], 0);

  io::PretrainedModel back = io::load_pretrained((root_ / "seq").string());
  ASSERT_EQ(back.task, families::ModelTask::SequenceClassification);
  ASSERT_TRUE(back.sequence_classifier);
  EXPECT_FALSE(back.model);
  EXPECT_EQ(*back.labels, labels);
  EXPECT_TRUE(same_parameters(m, *back.sequence_classifier));
  auto sd = back.module().state_dict();
  EXPECT_TRUE(sd.count("score.weight"));
  EXPECT_FALSE(sd.count("score.bias"));  // HF: score without bias
  EXPECT_FALSE(sd.count("lm_head.weight"));
  EXPECT_EQ(back.model_config().head.num_labels, 3);

  NoGradGuard ng;
  m.eval();
  Tensor labels_t = from_vector<int64_t>({2, 0}, {2}, DType::I64);
  auto a = m.forward(batch(), Tensor(), labels_t);
  auto b = back.sequence_classifier->forward(batch(), Tensor(), labels_t);
  EXPECT_EQ(a.logits.shape(), (Shape{2, 3}));
  EXPECT_TRUE(same_parameters(m, *back.sequence_classifier));
  EXPECT_EQ(std::memcmp(a.logits.contiguous().raw_data(), b.logits.contiguous().raw_data(),
                        a.logits.nbytes()),
            0);
  EXPECT_EQ(a.loss.item(), b.loss.item());

  // Saving the loaded folder again (into the same place) keeps config.json byte for byte.
  std::string before = read_text(root_ / "seq" / "config.json");
  io::save_pretrained(back, (root_ / "seq2").string());
  EXPECT_EQ(read_text(root_ / "seq2" / "config.json"), before);

  // A classifier is not a causal LM: the commands that generate say so.
  expect_error<ConfigError>([&] { back.causal_lm(); },
                            {"LlamaForSequenceClassification", "causal LM"});
}

TEST_F(ClassifierFolder, TokenClassifierRoundTripMistral) {
  auto cfg = tiny_llama_config();
  cfg.model_type = "mistral";
  cfg.sliding_window = 3;
  families::ClassificationLabels labels;
  labels.id2label = {"O", "B-PER", "I-PER", "B-LOC"};
  families::LlamaForTokenClassification m(cfg, labels, 0.25);
  EXPECT_EQ(m.config().head.dropout, 0.25);
  io::save_pretrained(m, (root_ / "tok").string());
  Json j = Json::parse(read_text(root_ / "tok" / "config.json"));
  EXPECT_EQ(j["architectures"], Json::array({"MistralForTokenClassification"}));
  EXPECT_EQ(j["classifier_dropout"], 0.25);

  io::PretrainedModel back = io::load_pretrained((root_ / "tok").string());
  ASSERT_EQ(back.task, families::ModelTask::TokenClassification);
  ASSERT_TRUE(back.token_classifier);
  EXPECT_TRUE(same_parameters(m, *back.token_classifier));
  EXPECT_TRUE(back.module().state_dict().count("score.bias"));  // HF: score with bias
  EXPECT_EQ(back.token_classifier->config().head.dropout, 0.25);
  NoGradGuard ng;
  EXPECT_EQ(back.token_classifier->forward(batch()).logits.shape(), (Shape{2, 4, 4}));

  // Without classifier_dropout / hidden_dropout transformers uses 0.1.
  j.erase("classifier_dropout");
  EXPECT_EQ(families::model_config_for(j).head.dropout, 0.1);
  j["hidden_dropout"] = 0.05;
  EXPECT_EQ(families::model_config_for(j).head.dropout, 0.05);
}

TEST_F(ClassifierFolder, PoolsAtTheLastTokenThatIsNotPad) {
  auto cfg = tiny_llama_config();
  cfg.pad_token_id = 0;
  families::LlamaForSequenceClassification m(cfg, three_labels());
  m.eval();
  NoGradGuard ng;
  // Right padding and left padding pool the same real tokens as the unpadded row.
  Tensor row = from_vector<int64_t>({5, 17, 42}, {1, 3}, DType::I64);
  Tensor one = m.forward(row).logits;
  Tensor right = m.forward(from_vector<int64_t>({5, 17, 42, 0, 0}, {1, 5}, DType::I64),
                           from_vector<int64_t>({1, 1, 1, 0, 0}, {1, 5}, DType::I64))
                     .logits;
  EXPECT_LT(amax(abs(right - one)).item(), 1e-5);
  // Without pad_token_id a batch of several rows is refused, as transformers does.
  cfg.pad_token_id.reset();
  families::LlamaForSequenceClassification nopad(cfg, three_labels());
  expect_error<Error>([&] { nopad.forward(batch()); }, {"pad_token_id", "2 rows"});
  EXPECT_EQ(nopad.forward(row).logits.shape(), (Shape{1, 3}));
}

TEST_F(ClassifierFolder, ProblemTypes) {
  auto cfg = tiny_llama_config();
  cfg.pad_token_id = 0;
  families::ClassificationLabels one;
  one.id2label = {"score"};
  families::LlamaForSequenceClassification reg(cfg, one);
  EXPECT_EQ(reg.problem_type_for(zeros({2}, DType::F32)), "regression");
  families::LlamaForSequenceClassification cls(cfg, three_labels());
  EXPECT_EQ(cls.problem_type_for(zeros({2}, DType::I64)), "single_label_classification");
  EXPECT_EQ(cls.problem_type_for(zeros({2, 3}, DType::F32)), "multi_label_classification");
  NoGradGuard ng;
  EXPECT_TRUE(reg.forward(batch(), Tensor(), from_vector<float>({0.5f, 1.5f}, {2}, DType::F32))
                  .loss.defined());
  EXPECT_TRUE(cls.forward(batch(), Tensor(), zeros({2, 3}, DType::F32)).loss.defined());
  auto labels = three_labels();
  labels.problem_type = "single_label_classification";
  families::LlamaForSequenceClassification single(cfg, labels);
  expect_error<DTypeError>([&] { single.forward(batch(), Tensor(), zeros({2}, DType::F32)); },
                           {"single_label_classification", "integer"});
}

TEST_F(ClassifierFolder, MalformedLabelFieldsNameTheField) {
  auto load_error = [&](const std::string& name, const std::function<void(Json&)>& edit,
                        std::vector<std::string> needles) {
    fs::path d = broken(name, edit);
    needles.push_back((d / "config.json").string());
    expect_error<ConfigError>([&] { io::load_pretrained(d.string()); }, needles);
    // `lazarus info` reads the same config without building anything: the same error.
    Json j = Json::parse(read_text(d / "config.json"));
    expect_error<ConfigError>([&] { families::model_config_for(j); }, {needles[0]});
  };
  load_error("missing",
             [](Json& j) {
               j.erase("id2label");
               j.erase("label2id");
             },
             {"num_labels: missing", "id2label"});
  load_error("negative",
             [](Json& j) {
               j.erase("id2label");
               j.erase("label2id");
               j["num_labels"] = -2;
             },
             {"num_labels: -2 must be an integer >= 1"});
  load_error("zero",
             [](Json& j) {
               j.erase("id2label");
               j.erase("label2id");
               j["num_labels"] = 0;
             },
             {"num_labels: 0"});
  load_error("string", [](Json& j) { j["num_labels"] = "3"; }, {"num_labels: \"3\""});
  load_error("disagree", [](Json& j) { j["num_labels"] = 5; },
             {"num_labels", "5", "id2label has 3 entries"});
  load_error("gap",
             [](Json& j) {
               j["id2label"].erase("1");
               j["id2label"]["7"] = "x";
             },
             {"id2label: key '7'"});
  load_error("not_a_number", [](Json& j) { j["id2label"]["one"] = "x"; }, {"id2label: key 'one'"});
  load_error("name_type", [](Json& j) { j["id2label"]["1"] = 3; },
             {"id2label.1: expected a string"});
  load_error("duplicate",
             [](Json& j) {
               j["id2label"]["1"] = "negative";
               j.erase("label2id");
             },
             {"id2label: label 'negative' is used by two ids"});
  load_error("label2id", [](Json& j) { j["label2id"]["neutral"] = 2; },
             {"label2id", "not the inverse of id2label"});
  load_error("problem_type", [](Json& j) { j["problem_type"] = "ranking"; },
             {"problem_type: 'ranking'"});
  load_error("two_tasks", [](Json& j) { j["architectures"].push_back("LlamaForCausalLM"); },
             {"architectures", "LlamaForSequenceClassification", "LlamaForCausalLM"});
  load_error("dropout",
             [](Json& j) {
               j["architectures"] = Json::array({"LlamaForTokenClassification"});
               j["classifier_dropout"] = 1.5;
             },
             {"classifier_dropout: 1.5"});
  // A classifier key that would change the math is refused (an unknown one is only a warning).
  load_error("math", [](Json& j) { j["num_experts_per_tok"] = 2; },
             {"num_experts_per_tok: 2 is not supported"});
  // A family without classifiers says so.
  Json mamba = {{"model_type", "mamba"},
                {"architectures", {"MambaForSequenceClassification"}},
                {"vocab_size", 64},
                {"hidden_size", 32},
                {"num_hidden_layers", 1}};
  expect_error<ConfigError>([&] { families::model_config_for(mamba); },
                            {"mamba", "sequence-classification"});
}

#ifdef LAZARUS_CLI
// `lazarus info --model` describes a classifier folder; `lazarus generate` refuses it clearly.
TEST_F(ClassifierFolder, Cli) {
  auto run = [](const std::string& args, int* rc) {
    std::string cmd = std::string(LAZARUS_CLI) + " " + args + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    *rc = ::pclose(p);
    return out;
  };
  fs::path d = broken("cli", [](Json&) {});
  int rc = 0;
  std::string out = run("info --model " + d.string(), &rc);
  EXPECT_EQ(rc, 0) << out;
  for (const char* needle :
       {"LlamaForSequenceClassification", "labels     3: 0=negative, 1=neutral, 2=positive",
        "classifier: 3 labels", "last token that is not pad_token_id 0"})
    EXPECT_NE(out.find(needle), std::string::npos) << needle << " not in:\n" << out;
  out = run("generate --model " + d.string() + " --prompt hi", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("causal LM"), std::string::npos) << out;
}
#endif

}  // namespace
