// Model names -> local folders: presets, the environment the Python hub reads, the HF cache
// layout, and the resolution order. The download itself is in hub_download.cpp.
#include "lazarus/io/hub.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "lazarus/core/json_limits.h"
#include "lazarus/io/hub_internal.h"

namespace lazarus::io {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::vector<ModelPreset>& model_presets() {
  // Chat-tuned variants by default (what `lazarus chat` wants); "-base" names the pretrained ones.
  static const std::vector<ModelPreset> presets = {
      {"tinyllama", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "llama", "2.2 GB", false,
       "TinyLlama 1.1B chat (Llama 2 architecture, 22 layers, GQA)"},
      {"smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct", "llama", "270 MB", false,
       "SmolLM2 135M instruct"},
      {"smollm2-135m-base", "HuggingFaceTB/SmolLM2-135M", "llama", "270 MB", false,
       "SmolLM2 135M pretrained"},
      {"smollm2-360m", "HuggingFaceTB/SmolLM2-360M-Instruct", "llama", "720 MB", false,
       "SmolLM2 360M instruct"},
      {"smollm2-360m-base", "HuggingFaceTB/SmolLM2-360M", "llama", "720 MB", false,
       "SmolLM2 360M pretrained"},
      {"smollm2-1.7b", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "llama", "3.4 GB", false,
       "SmolLM2 1.7B instruct"},
      {"smollm2-1.7b-base", "HuggingFaceTB/SmolLM2-1.7B", "llama", "3.4 GB", false,
       "SmolLM2 1.7B pretrained"},
      {"llama3.2-1b", "meta-llama/Llama-3.2-1B-Instruct", "llama", "2.5 GB", true,
       "Llama 3.2 1B instruct (llama3 RoPE scaling, tied embeddings)"},
      {"llama3.2-1b-base", "meta-llama/Llama-3.2-1B", "llama", "2.5 GB", true,
       "Llama 3.2 1B pretrained"},
      {"llama3.2-3b", "meta-llama/Llama-3.2-3B-Instruct", "llama", "6.4 GB", true,
       "Llama 3.2 3B instruct"},
      {"llama3.1-8b", "meta-llama/Llama-3.1-8B-Instruct", "llama", "16 GB", true,
       "Llama 3.1 8B instruct"},
      {"mistral-7b", "mistralai/Mistral-7B-Instruct-v0.3", "mistral", "14.5 GB", true,
       "Mistral 7B instruct v0.3"},
      {"qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B-Instruct", "qwen2", "990 MB", false,
       "Qwen2.5 0.5B instruct (q/k/v biases, tied embeddings)"},
      {"qwen2.5-0.5b-base", "Qwen/Qwen2.5-0.5B", "qwen2", "990 MB", false,
       "Qwen2.5 0.5B pretrained"},
      {"qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B-Instruct", "qwen2", "3.1 GB", false,
       "Qwen2.5 1.5B instruct"},
      {"qwen2.5-1.5b-base", "Qwen/Qwen2.5-1.5B", "qwen2", "3.1 GB", false,
       "Qwen2.5 1.5B pretrained"},
      {"qwen3-0.6b", "Qwen/Qwen3-0.6B", "qwen3", "1.5 GB", false,
       "Qwen3 0.6B (thinking by default; --var enable_thinking=false)"},
      {"qwen3-1.7b", "Qwen/Qwen3-1.7B", "qwen3", "4.1 GB", false,
       "Qwen3 1.7B (thinking by default; --var enable_thinking=false)"},
      {"mixtral-8x7b", "mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral", "93 GB", true,
       "Mixtral 8x7B instruct (8 experts, top 2; 46.7B parameters, 12.9B active)"},
      {"mamba-130m", "state-spaces/mamba-130m-hf", "mamba", "517 MB", false,
       "Mamba 130M (transformers layout)"},
      {"mamba-370m", "state-spaces/mamba-370m-hf", "mamba", "1.5 GB", false,
       "Mamba 370M (transformers layout)"},
      {"mamba-790m", "state-spaces/mamba-790m-hf", "mamba", "3.2 GB", false,
       "Mamba 790M (transformers layout)"},
      {"mamba-1.4b", "state-spaces/mamba-1.4b-hf", "mamba", "5.5 GB", false,
       "Mamba 1.4B (transformers layout)"},
      {"mamba-2.8b", "state-spaces/mamba-2.8b-hf", "mamba", "11 GB", false,
       "Mamba 2.8B (transformers layout)"},
  };
  return presets;
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

fs::path home_dir() {
  if (const char* h = env("HOME")) return h;
  return fs::temp_directory_path();
}

fs::path hf_home() {
  if (const char* h = env("HF_HOME")) return h;
  if (const char* x = env("XDG_CACHE_HOME")) return fs::path(x) / "huggingface";
  return home_dir() / ".cache" / "huggingface";
}

bool is_hex40(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// Looks like a filesystem path rather than a hub id: then a missing folder is the error.
bool looks_like_path(const std::string& s) {
  return s.front() == '/' || s.front() == '.' || s.front() == '~' ||
         s.find('\\') != std::string::npos || s.back() == '/' ||
         std::count(s.begin(), s.end(), '/') > 1;
}

}  // namespace

namespace detail {

std::string printable(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  if (s.size() > 200) out += "...";
  return out;
}

std::string preset_hint(const std::string& name) {
  std::string best;
  size_t best_d = 4;
  for (const auto& p : model_presets()) {
    size_t d = edit_distance(lower(name), p.name);
    if (d < best_d) best_d = d, best = p.name;
  }
  return best.empty() ? "" : fmt::format(" (did you mean the preset '{}'?)", best);
}

HubError offline_error(const std::string& repo_id, const std::string& revision,
                       const fs::path& cache_dir, const std::optional<fs::path>& snapshot,
                       const std::vector<std::string>& missing) {
  const ModelPreset* preset = nullptr;
  for (const auto& p : model_presets())
    if (p.repo_id == repo_id) preset = &p;
  std::string what = snapshot ? fmt::format("the cached snapshot {} lacks {}", snapshot->string(),
                                            fmt::join(missing, ", "))
                              : fmt::format("it is not in the cache (looked for {})",
                                            repo_cache_folder(cache_dir, repo_id).string());
  return HubError(fmt::format(
      "offline mode (HF_HUB_OFFLINE=1): cannot use '{}'{} at revision '{}': {}. Unset "
      "HF_HUB_OFFLINE to download it, run `lazarus download {}` where the hub is reachable, or "
      "point HF_HUB_CACHE / HF_HOME at a cache that has it",
      repo_id, preset ? fmt::format(" (preset '{}')", preset->name) : std::string(), revision, what,
      repo_id));
}

}  // namespace detail

using detail::preset_hint;
using detail::printable;

const ModelPreset* find_preset(std::string_view name) {
  std::string key = lower(name);
  for (const auto& p : model_presets())
    if (p.name == key) return &p;
  return nullptr;
}

fs::path hub_cache_dir() {
  if (const char* c = env("HF_HUB_CACHE")) return c;
  if (const char* c = env("HUGGINGFACE_HUB_CACHE")) return c;
  return hf_home() / "hub";
}

std::string hub_endpoint() {
  std::string e = env("HF_ENDPOINT") ? env("HF_ENDPOINT") : "https://huggingface.co";
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

std::optional<std::string> hub_token() {
  if (const char* t = env("HF_TOKEN")) return std::string(t);
  fs::path p = env("HF_TOKEN_PATH") ? fs::path(env("HF_TOKEN_PATH")) : hf_home() / "token";
  std::ifstream f(p);
  std::string line;
  if (f && std::getline(f, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (!line.empty()) return line;
  }
  return std::nullopt;
}

bool hub_offline() {
  const char* v = env("HF_HUB_OFFLINE");
  if (!v) return false;
  std::string s = lower(v);
  return s == "1" || s == "true" || s == "yes" || s == "on";
}

void validate_repo_id(const std::string& repo_id) {
  auto bad = [&](const std::string& why) {
    return HubError(fmt::format(
        "'{}' is not a model folder, a preset or a hub id: {}{}. Pass an existing folder, a "
        "preset (`lazarus list-models`) or a hub id like HuggingFaceTB/SmolLM2-135M-Instruct",
        printable(repo_id), why, preset_hint(repo_id)));
  };
  if (repo_id.empty()) throw bad("the name is empty");
  size_t slash = repo_id.find('/');
  std::vector<std::string> parts;
  if (slash == std::string::npos) {
    parts = {repo_id};
  } else {
    parts = {repo_id.substr(0, slash), repo_id.substr(slash + 1)};
    if (parts[1].find('/') != std::string::npos) throw bad("a hub id has at most one '/'");
  }
  for (const auto& p : parts) {
    if (p.empty()) throw bad("an empty part around '/'");
    if (p.size() > 96)
      throw bad(fmt::format("a part is {} characters long (at most 96)", p.size()));
    for (char c : p) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
        throw bad(fmt::format("character '{}' is not allowed (letters, digits, '-', '_', '.')",
                              printable(std::string(1, c))));
    }
    if (p.front() == '-' || p.front() == '.' || p.back() == '-' || p.back() == '.')
      throw bad("a part starts or ends with '-' or '.'");
  }
  if (repo_id.find("--") != std::string::npos || repo_id.find("..") != std::string::npos)
    throw bad("\"--\" and \"..\" are not allowed");
}

void validate_revision(const std::string& revision) {
  bool ok = !revision.empty() && revision.size() <= 255 && revision.front() != '/' &&
            revision.back() != '/' && revision.find("..") == std::string::npos &&
            revision.find("//") == std::string::npos;
  for (char c : revision)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
                c == '/');
  if (!ok)
    throw HubError(fmt::format(
        "revision '{}' is not a branch, tag or commit name (letters, digits, '-', '_', '.', '/')",
        printable(revision)));
}

std::string checked_repo_file(const std::string& name, const std::string& where) {
  auto bad = [&](const char* why) {
    return HubError(fmt::format("{}: file name '{}' rejected: {}", where, printable(name), why));
  };
  if (name.empty()) throw bad("empty");
  if (name.size() > 1024) throw bad("longer than 1024 characters");
  if (name.front() == '/') throw bad("absolute path");
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) throw bad("control character");
    if (c == '\\') throw bad("backslash");
    if (c == ':') throw bad("':' (drive or scheme)");
  }
  std::stringstream ss(name);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty() || part == ".") throw bad("empty or '.' path component");
    if (part == "..") throw bad("'..' leaves the model folder");
  }
  if (name.back() == '/') throw bad("ends with '/'");
  return name;
}

fs::path repo_cache_folder(const fs::path& cache_dir, const std::string& repo_id) {
  validate_repo_id(repo_id);
  std::string folder = "models--" + repo_id;
  size_t slash = folder.find('/');
  if (slash != std::string::npos) folder.replace(slash, 1, "--");
  return cache_dir / folder;
}

std::optional<fs::path> find_cached_snapshot(const std::string& repo_id,
                                             const std::string& revision,
                                             const fs::path& cache_dir) {
  validate_revision(revision);
  fs::path repo = repo_cache_folder(cache_dir, repo_id);
  std::error_code ec;
  if (!fs::is_directory(repo, ec)) return std::nullopt;
  if (is_hex40(revision) && fs::is_directory(repo / "snapshots" / revision, ec))
    return repo / "snapshots" / revision;
  std::ifstream ref(repo / "refs" / revision);
  std::string commit;
  if (!ref || !std::getline(ref, commit)) return std::nullopt;
  while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back())))
    commit.pop_back();
  // The ref's content becomes a path component: accept only what a commit id looks like.
  if (commit.empty() || commit.size() > 128 ||
      !std::all_of(commit.begin(), commit.end(),
                   [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }))
    throw HubError(fmt::format("{}: not a commit id: '{}'", (repo / "refs" / revision).string(),
                               printable(commit)));
  fs::path snap = repo / "snapshots" / commit;
  if (!fs::is_directory(snap, ec)) return std::nullopt;
  return snap;
}

std::vector<std::string> missing_model_files(const fs::path& folder) {
  std::vector<std::string> missing;
  std::error_code ec;
  if (!fs::exists(folder / "config.json", ec)) missing.push_back("config.json");
  fs::path index = folder / "model.safetensors.index.json";
  // model.safetensors first, as transformers and load_safetensors_folder do.
  if (fs::exists(folder / "model.safetensors", ec)) {
    // complete
  } else if (fs::exists(index, ec)) {
    std::ifstream f(index, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    json j = parse_json_text<json, HubError>(text, index.string(), 64);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw HubError(
          fmt::format("{}: expected an object with a \"weight_map\" object", index.string()));
    std::set<std::string> shards;
    for (const auto& [tensor, shard] : j["weight_map"].items()) {
      if (!shard.is_string())
        throw HubError(fmt::format("{}: weight_map['{}'] is not a file name", index.string(),
                                   printable(tensor)));
      shards.insert(checked_repo_file(shard.get<std::string>(), index.string()));
    }
    for (const auto& s : shards)
      if (!fs::exists(folder / s, ec)) missing.push_back(s);
  } else {
    missing.push_back("model.safetensors (or model.safetensors.index.json and its shards)");
  }
  return missing;
}

fs::path resolve_model(const std::string& name_or_path, const HubOptions& options) {
  if (name_or_path.empty())
    throw HubError(
        "model: the name is empty; pass a model folder, a preset (`lazarus list-models`) or a hub "
        "id like HuggingFaceTB/SmolLM2-135M-Instruct");
  std::string expanded = name_or_path;
  if (expanded == "~" || expanded.rfind("~/", 0) == 0)
    expanded = home_dir().string() + expanded.substr(1);
  std::error_code ec;
  if (fs::exists(expanded, ec)) {
    if (!fs::is_directory(expanded, ec))
      throw HubError(
          fmt::format("{}: is a file; pass the model folder that holds config.json and the weights",
                      name_or_path));
    return fs::path(expanded);
  }
  if (looks_like_path(name_or_path))
    throw HubError(fmt::format("{}: no such model folder", printable(name_or_path)));

  const ModelPreset* preset = find_preset(name_or_path);
  std::string repo_id = preset ? preset->repo_id : name_or_path;
  validate_repo_id(repo_id);
  validate_revision(options.revision);
  fs::path cache = options.cache_dir.empty() ? hub_cache_dir() : fs::path(options.cache_dir);

  std::optional<fs::path> snap = find_cached_snapshot(repo_id, options.revision, cache);
  std::vector<std::string> missing;
  if (snap) {
    missing = missing_model_files(*snap);
    if (missing.empty()) return *snap;
  }
  if (options.offline.value_or(hub_offline()))
    throw detail::offline_error(repo_id, options.revision, cache, snap, missing);
  return download_model(repo_id, options);
}

}  // namespace lazarus::io
