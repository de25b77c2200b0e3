// tokenizer_config.json: special tokens, add_bos/add_eos flags, chat templates and the other
// settings Hugging Face keeps beside tokenizer.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace lazarus::tokenizers {

struct TokenizerConfig {
  /// Special tokens; a string or an AddedToken object {"content": ...} in the file, null = unset.
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<std::string> pad_token;
  std::optional<std::string> unk_token;
  std::optional<bool> add_bos_token;
  std::optional<bool> add_eos_token;
  std::optional<bool> clean_up_tokenization_spaces;
  /// Maximum sequence length; HF writes 1e30 for "no limit", which becomes INT64_MAX here.
  std::optional<int64_t> model_max_length;
  std::optional<std::string> tokenizer_class;
  /// Chat templates by name. A plain string in the file is stored as "default"; a list of
  /// {"name", "template"} keeps its names.
  std::map<std::string, std::string> chat_templates;
  /// The whole file, for fields this struct does not model.
  nlohmann::json raw = nlohmann::json::object();

  /// Reads the fields from parsed JSON. `origin` (a file name) starts every error message.
  /// Throws LoadError naming the field and the offending value.
  static TokenizerConfig from_json(const nlohmann::json& j,
                                   const std::string& origin = "tokenizer_config.json");

  /// Loads a tokenizer_config.json file, or a model folder holding one. In a folder, a
  /// chat_template.jinja (or chat_template.json) file, when present, provides the "default"
  /// template as in newer HF layouts. Throws LoadError when missing, unreadable or malformed.
  static TokenizerConfig load(const std::filesystem::path& file_or_dir);

  /// True when at least one chat template is known.
  bool has_chat_template() const { return !chat_templates.empty(); }

  /// The template source called `name`; empty name picks "default" (or the only template).
  /// Throws ConfigError listing the available names when there is no such template.
  const std::string& chat_template(const std::string& name = "") const;
};

}  // namespace lazarus::tokenizers
