// config::FieldTable on a toy config: one declaration per field drives reading (required keys,
// aliases that must agree, restated keys, neutral and ignored keys, unknown keys as warnings),
// writing (table order, optional as null, token ids) and validation messages.
#include <gtest/gtest.h>

#include "lazarus/config/field_table.h"

using namespace lazarus;
using config::Json;

namespace {

struct Toy {
  std::string model_type = "toy";
  int64_t hidden_size = 8;
  int64_t num_hidden_layers = 2;
  std::optional<int64_t> head_dim;
  double eps = 1e-5;
  config::ActivationType hidden_act = config::ActivationType::SiLU;
  std::vector<int64_t> eos_token_id = {2};
  bool operator==(const Toy&) const = default;
};

const config::FieldTable<Toy>& toy_table() {
  static const config::FieldTable<Toy> t = [] {
    config::FieldTable<Toy> t;
    t.add("model_type", &Toy::model_type)
        .check([](const std::string& v) { return v == "toy"; }, "is not 'toy'");
    t.add("hidden_size", &Toy::hidden_size).required().positive();
    t.add("num_hidden_layers", &Toy::num_hidden_layers).alias("n_layer").positive();
    t.add("head_dim", &Toy::head_dim).check([](int64_t v) { return v % 2 == 0; }, "must be even");
    t.add("eps", &Toy::eps).in_open(0, 1);
    t.add("hidden_act", &Toy::hidden_act);
    t.add("eos_token_id", &Toy::eos_token_id).token_ids().check_with([](const Toy& c, int64_t id) {
      return id < c.hidden_size ? std::string() : fmt::format("is past {}", c.hidden_size);
    });
    t.restates("width", "hidden_size", [](const Toy& c) { return Json(c.hidden_size); });
    t.restates(
        "total", "hidden_size * num_hidden_layers =",
        [](const Toy& c) { return Json(c.hidden_size * c.num_hidden_layers); },
        /*write=*/true);
    t.neutral("fancy", {false}, "fancy mode");
    t.ignore({"note"});
    t.common([](config::JsonReader& r) { r.skip("transformers_version"); });
    return t;
  }();
  return t;
}

Toy read(const std::string& text, std::vector<std::string>* warnings = nullptr) {
  config::ConfigWarnings w;
  Toy c;
  toy_table().read(Json::parse(text), c, "toy.json");
  toy_table().validate(c);
  if (warnings) *warnings = w.list();
  return c;
}

std::string error_of(const std::string& text) {
  try {
    read(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(FieldTable, WritesInTableOrderAndReadsBack) {
  Toy c;
  c.head_dim = 4;
  c.eos_token_id = {1, 3};
  Json j = toy_table().write(c);
  EXPECT_EQ(j.dump(), R"({"model_type":"toy","hidden_size":8,"num_hidden_layers":2,"head_dim":4,)"
                      R"("eps":1e-05,"hidden_act":"silu","eos_token_id":[1,3],"total":16})");
  Toy back;
  toy_table().read(j, back);
  EXPECT_EQ(back, c);
  c.head_dim.reset();
  c.eos_token_id = {2};
  j = toy_table().write(c);
  EXPECT_TRUE(j["head_dim"].is_null());
  EXPECT_EQ(j["eos_token_id"], 2);  // one id is written as a number, as HF does
}

TEST(FieldTable, KeyPolicy) {
  // Aliases: read when the key is absent, must agree when both are given.
  EXPECT_EQ(read(R"({"hidden_size": 8, "n_layer": 5})").num_hidden_layers, 5);
  EXPECT_EQ(read(R"({"hidden_size": 8, "n_layer": 5, "num_hidden_layers": 5})").num_hidden_layers,
            5);
  std::string m = error_of(R"({"hidden_size": 8, "n_layer": 5, "num_hidden_layers": 4})");
  EXPECT_NE(m.find("toy.json.n_layer: 5 disagrees with toy.json.num_hidden_layers: 4"),
            std::string::npos)
      << m;
  // Restated keys must agree with the fields they repeat.
  EXPECT_EQ(error_of(R"({"hidden_size": 8, "width": 8, "total": 16})"), "");
  m = error_of(R"({"hidden_size": 8, "width": 9})");
  EXPECT_NE(m.find("toy.json.width: 9 does not match hidden_size 8"), std::string::npos) << m;
  m = error_of(R"({"hidden_size": 8, "total": 10})");
  EXPECT_NE(m.find("total: 10 does not match hidden_size * num_hidden_layers = 16"),
            std::string::npos)
      << m;
  // Required keys.
  m = error_of(R"({"eps": 0.1})");
  EXPECT_NE(m.find("toy.json.hidden_size: missing required field"), std::string::npos) << m;
  // Neutral keys: only the neutral value or null.
  EXPECT_EQ(error_of(R"({"hidden_size": 8, "fancy": false})"), "");
  EXPECT_EQ(error_of(R"({"hidden_size": 8, "fancy": null})"), "");
  m = error_of(R"({"hidden_size": 8, "fancy": true})");
  EXPECT_NE(m.find("toy.json.fancy: true is not supported (fancy mode; only false is)"),
            std::string::npos)
      << m;
  // Ignored and common keys are silent; unknown keys are warnings, in file order.
  std::vector<std::string> w;
  read(
      R"({"zeta": [1, 2], "hidden_size": 8, "note": "x", "transformers_version": "4", "alpha": 1})",
      &w);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("toy.json: unknown key 'zeta' (= [1,2]) ignored"), std::string::npos) << w[0];
  EXPECT_NE(w[1].find("unknown key 'alpha'"), std::string::npos) << w[1];
  // Without a collector, warnings are dropped (and reading still succeeds).
  Toy c;
  EXPECT_NO_THROW(toy_table().read(Json::parse(R"({"hidden_size": 8, "zeta": 1})"), c));
  // Types: wrong types name the key and the value.
  m = error_of(R"({"hidden_size": "8"})");
  EXPECT_NE(m.find("toy.json.hidden_size: expected an integer, got string \"8\""),
            std::string::npos)
      << m;
  // Token ids: a number, a list or null.
  EXPECT_EQ(read(R"({"hidden_size": 8, "eos_token_id": 3})").eos_token_id,
            (std::vector<int64_t>{3}));
  EXPECT_EQ(read(R"({"hidden_size": 8, "eos_token_id": [3, 4]})").eos_token_id,
            (std::vector<int64_t>{3, 4}));
  EXPECT_TRUE(read(R"({"hidden_size": 8, "eos_token_id": null})").eos_token_id.empty());
}

TEST(FieldTable, ChecksNameTheKeyAndTheValue) {
  auto msg = [](const Toy& c) {
    try {
      toy_table().validate(c);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  Toy c;
  EXPECT_EQ(msg(c), "");
  c.hidden_size = 0;
  EXPECT_EQ(msg(c), "hidden_size: 0 must be > 0");
  c = Toy{};
  c.head_dim = 3;
  EXPECT_EQ(msg(c), "head_dim: 3 must be even");
  c = Toy{};
  c.eps = 1.5;
  EXPECT_EQ(msg(c), "eps: 1.5 must be in (0, 1)");
  c = Toy{};
  c.model_type = "llama";
  EXPECT_EQ(msg(c), "model_type: 'llama' is not 'toy'");
  c = Toy{};
  c.eos_token_id = {1, 9};
  EXPECT_EQ(msg(c), "eos_token_id: 9 is past 8");
}
