// Vocabulary storage and the model factory (see model.h).
#include "lazarus/tokenizers/models/model.h"

namespace lazarus::tokenizers {

void Vocab::add(std::string token, std::uint32_t id) {
  auto [it, inserted] = map_.insert_or_assign(std::move(token), id);
  if (by_id_.size() <= id) by_id_.resize(static_cast<std::size_t>(id) + 1, nullptr);
  by_id_[id] = &it->first;  // node-based map: key addresses are stable
}

std::optional<std::uint32_t> Vocab::find(std::string_view token) const {
  auto it = map_.find(token);
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

const std::string* Vocab::token(std::uint32_t id) const {
  return id < by_id_.size() ? by_id_[id] : nullptr;
}

Vocab read_vocab_object(const Json& obj, const JsonPath& at) {
  if (!obj.is_object()) at.fail("expected an object {token: id}, got " + json_preview(obj));
  Vocab v;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const Json& id = it.value();
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 ||
        id.get<std::int64_t>() >= static_cast<std::int64_t>(kMaxTokenId)) {
      (at / it.key())
          .fail("token id " + json_preview(id) + " out of range [0, " +
                std::to_string(kMaxTokenId) + ")");
    }
    v.add(it.key(), static_cast<std::uint32_t>(id.get<std::int64_t>()));
  }
  return v;
}

std::unique_ptr<Model> make_model(const Json& j, const JsonPath& at) {
  if (!j.is_object()) at.fail("expected an object, got " + json_preview(j));
  std::string type;
  if (const Json* t = optional_field(j, "type")) {
    type = as_string(*t, at / "type");
  } else if (optional_field(j, "merges")) {
    type = "BPE";  // very old files omit the type
  } else {
    (at / "type").fail("missing");
  }
  if (type == "BPE") return make_bpe(j, at);
  if (type == "WordPiece") return make_wordpiece(j, at);
  if (type == "Unigram") return make_unigram(j, at);
  if (type == "WordLevel") return make_wordlevel(j, at);
  (at / "type").fail("unsupported model type '" + type + "'");
}

}  // namespace lazarus::tokenizers
