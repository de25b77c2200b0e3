// Loading a model folder as transformers' AutoTokenizer does: tokenizer.json (or a SentencePiece
// tokenizer.model converted to the same pipeline), then tokenizer_config.json on top.
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "lazarus/tokenizers/json_util.h"
#include "lazarus/core/regular_file.h"
#include "lazarus/tokenizers/sentencepiece.h"
#include "lazarus/tokenizers/tokenizer_impl.h"

namespace lazarus::tokenizers {

namespace {

constexpr std::uintmax_t kMaxFileBytes = 1ull << 30;

std::string read_file(const std::string& path) {
  return read_regular_file(path, "tokenizer file", kMaxFileBytes);
}

bool file_exists(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec);
}

// One piece of a TemplateProcessing template as tokenizer.json spells it.
Json template_piece(const std::string& kind, const std::string& id, int type_id) {
  return Json{{kind, {{"id", id}, {"type_id", type_id}}}};
}

}  // namespace

// transformers (TokenizersBackend / PreTrainedTokenizerFast.__init__ and update_post_processor):
// the special tokens the config names are added to the vocabulary when missing; when the config
// sets add_bos_token or add_eos_token (or tokenizer.json has no post-processor) the post-processor
// is replaced by TemplateProcessing "[bos:0] $A:0 [eos:0]" / "... [bos:1] $B:1 [eos:1]", where a
// flag that is absent counts as false and a flag whose token is unset is dropped.
void Tokenizer::Impl::apply_config(Json& root, const TokenizerConfig& cfg) {
  const JsonPath at{&file, "(from tokenizer_config.json)"};
  // Special tokens in transformers' order (SPECIAL_TOKENS_ATTRIBUTES).
  const std::pair<const std::optional<std::string>*, std::optional<NamedToken>*> named[] = {
      {&cfg.bos_token, &bos},
      {&cfg.eos_token, &eos},
      {&cfg.unk_token, &unk},
      {&cfg.pad_token, &pad}};
  auto lookup = [&](const std::string& t) -> std::optional<std::uint32_t> {
    if (const AddedToken* a = added.by_content(t)) return a->id;
    return model->token_to_id(t);
  };
  Json* added_json = nullptr;
  for (const auto& [token, slot] : named) {
    if (!token->has_value() || lookup(**token)) continue;
    if (!added_json) {
      if (!root.contains("added_tokens") || root["added_tokens"].is_null())
        root["added_tokens"] = Json::array();
      added_json = &root["added_tokens"];
    }
    // HF's AddedVocabulary::add_tokens: the next id after the added tokens, or the model's size.
    const std::uint32_t model_size = static_cast<std::uint32_t>(model->vocab_size());
    std::optional<std::uint32_t> max_added;
    for (std::size_t i = 0; i < added.size(); ++i)
      max_added = std::max(max_added.value_or(0), added.at(static_cast<int>(i)).id);
    const std::uint32_t id =
        !max_added ? model_size : (*max_added >= model_size ? *max_added + 1 : model_size);
    added_json->push_back({{"id", id},
                           {"content", **token},
                           {"single_word", false},
                           {"lstrip", false},
                           {"rstrip", false},
                           {"normalized", false},
                           {"special", true}});
    added = AddedVocabulary(*added_json, JsonPath{&file, "added_tokens"}, normalizer.get());
  }
  for (const auto& [token, slot] : named) {
    if (!token->has_value()) continue;
    if (auto id = lookup(**token)) *slot = NamedToken{**token, *id};
  }
  const bool explicit_flags =
      cfg.raw.contains("add_bos_token") || cfg.raw.contains("add_eos_token");
  if (!explicit_flags && post_processor) return;
  const bool add_bos = cfg.add_bos_token.value_or(false) && bos.has_value();
  const bool add_eos = cfg.add_eos_token.value_or(false) && eos.has_value();
  Json single = Json::array(), pair = Json::array(), specials = Json::object();
  if (add_bos) single.push_back(template_piece("SpecialToken", bos->token, 0));
  single.push_back(template_piece("Sequence", "A", 0));
  if (add_eos) single.push_back(template_piece("SpecialToken", eos->token, 0));
  pair = single;
  if (add_bos) pair.push_back(template_piece("SpecialToken", bos->token, 1));
  pair.push_back(template_piece("Sequence", "B", 1));
  if (add_eos) pair.push_back(template_piece("SpecialToken", eos->token, 1));
  for (const auto* t : {add_bos ? &*bos : nullptr, add_eos ? &*eos : nullptr}) {
    if (t) specials[t->token] = {{"id", t->token}, {"ids", {t->id}}, {"tokens", {t->token}}};
  }
  root["post_processor"] = {{"type", "TemplateProcessing"},
                            {"single", single},
                            {"pair", pair},
                            {"special_tokens", specials}};
  post_processor = make_post_processor(root["post_processor"], at / "post_processor");
}

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    return Tokenizer(Impl::build(parse_json_bounded(read_file(path), path), path));
  }
  const std::filesystem::path dir(path);
  const auto json_file = dir / "tokenizer.json";
  const auto spm_file = dir / "tokenizer.model";
  const auto cfg_file = dir / "tokenizer_config.json";
  std::shared_ptr<Impl> impl;
  Json root;
  std::string name;
  if (file_exists(json_file)) {
    name = json_file.string();
    root = parse_json_bounded(read_file(name), name);
  } else if (file_exists(spm_file)) {
    name = spm_file.string();
    root = sentencepiece_to_tokenizer_json(read_file(name), name);
  } else {
    throw LoadError(path +
                    ": no tokenizer.json in this folder (nor a SentencePiece tokenizer.model)");
  }
  impl = Impl::build(root, name);
  if (file_exists(cfg_file)) {
    auto cfg = std::make_shared<TokenizerConfig>(TokenizerConfig::load(dir));
    impl->apply_config(root, *cfg);
    impl->config = std::move(cfg);
  }
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_files(const std::string& tokenizer_json, const std::string& config_json) {
  return from_json(parse_json_bounded(read_file(tokenizer_json), tokenizer_json),
                   TokenizerConfig::load(config_json), tokenizer_json);
}

Tokenizer Tokenizer::from_json(Json root, const TokenizerConfig& config, const std::string& name) {
  auto impl = Impl::build(root, name);
  auto cfg = std::make_shared<TokenizerConfig>(config);
  impl->apply_config(root, *cfg);  // may add tokens and a post-processor to `root`
  impl->config = std::move(cfg);
  return Tokenizer(std::move(impl));
}

const TokenizerConfig* Tokenizer::config() const { return impl_->config.get(); }
std::optional<NamedToken> Tokenizer::bos_token() const { return impl_->bos; }
std::optional<NamedToken> Tokenizer::eos_token() const { return impl_->eos; }
std::optional<NamedToken> Tokenizer::pad_token() const { return impl_->pad; }
std::optional<NamedToken> Tokenizer::unk_token() const { return impl_->unk; }
std::optional<std::int64_t> Tokenizer::model_max_length() const {
  return impl_->config ? impl_->config->model_max_length : std::nullopt;
}

}  // namespace lazarus::tokenizers
