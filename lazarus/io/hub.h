// Where models come from: a local folder, the Hugging Face cache, a preset short name, or a
// download from the hub (libcurl) into the cache layout the Python `huggingface_hub` uses, so
// Python tools and Lazarus share one cache:
//   <cache>/models--org--name/refs/<revision>          the commit a branch or tag points to
//   <cache>/models--org--name/snapshots/<commit>/<file> relative links into blobs/
//   <cache>/models--org--name/blobs/<etag>              file contents (etag = sha256 for LFS files)
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lazarus/core/error.h"

namespace lazarus::io {

/// A hub or cache failure: not found, access denied, offline, interrupted, malformed answer.
/// `status()` is the HTTP status when there was one (0 otherwise).
class HubError : public LoadError {
 public:
  explicit HubError(const std::string& msg, long status = 0) : LoadError(msg), status_(status) {}
  long status() const { return status_; }

 private:
  long status_;
};

/// A short name for a published model (`lazarus list-models`).
struct ModelPreset {
  std::string name;         // "smollm2-135m"
  std::string repo_id;      // "HuggingFaceTB/SmolLM2-135M-Instruct"
  std::string family;       // "llama", "mistral", "mamba"
  std::string size;         // approximate download size, for the listing
  bool gated = false;       // the hub asks to accept a license first (needs HF_TOKEN)
  std::string description;  // one line
};

/// Every preset, in listing order.
const std::vector<ModelPreset>& model_presets();
/// The preset called `name` (case-insensitive), or nullptr.
const ModelPreset* find_preset(std::string_view name);

/// How to reach the hub and the cache. Empty / unset fields fall back to the environment
/// variables the Python hub reads, then to its defaults.
struct HubOptions {
  enum class Progress { Auto, Always, Never };

  /// Branch, tag or 40-hex commit.
  std::string revision = "main";
  /// Cache root; empty: hub_cache_dir().
  std::string cache_dir;
  /// Hub base URL; empty: $HF_ENDPOINT, else https://huggingface.co.
  std::string endpoint;
  /// Access token sent as `Authorization: Bearer`; unset: hub_token().
  std::optional<std::string> token;
  /// Never touch the network; unset: $HF_HUB_OFFLINE.
  std::optional<bool> offline;
  /// Progress bar on stderr: Auto draws it when stderr is a terminal and prints one line per file
  /// otherwise; Never prints nothing.
  Progress progress = Progress::Auto;
  /// Tries per file; a dropped connection resumes where it stopped (HTTP Range).
  int max_attempts = 5;
  /// Redirects followed per request.
  int max_redirects = 10;
  /// Seconds to establish a connection.
  long connect_timeout_s = 30;
  /// A transfer slower than 1 byte/s for this many seconds is treated as dropped.
  long stall_timeout_s = 60;
};

/// The cache root: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
/// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
std::filesystem::path hub_cache_dir();
/// $HF_ENDPOINT without a trailing slash, else "https://huggingface.co".
std::string hub_endpoint();
/// $HF_TOKEN, else the first line of $HF_TOKEN_PATH or $HF_HOME/token (~/.cache/huggingface/token).
std::optional<std::string> hub_token();
/// True when $HF_HUB_OFFLINE is 1/true/yes/on.
bool hub_offline();

/// Throws HubError unless `repo_id` is a hub id ("name" or "org/name"; letters, digits, '-', '_',
/// '.'; at most 96 characters a part; no "--" or ".."; no leading or trailing '-' or '.').
void validate_repo_id(const std::string& repo_id);
/// Throws HubError unless `revision` is a safe branch, tag or commit name.
void validate_revision(const std::string& revision);
/// Checks a file name taken from the hub (a sibling, an index shard): relative, no "..", no empty
/// or "." parts, no backslashes or control characters. Returns it; throws HubError naming `where`.
std::string checked_repo_file(const std::string& name, const std::string& where);

/// <cache>/models--org--name.
std::filesystem::path repo_cache_folder(const std::filesystem::path& cache_dir,
                                        const std::string& repo_id);
/// The snapshot folder of `repo_id` at `revision` in the cache (through refs/<revision>, or the
/// commit itself), or nullopt when the cache does not have it.
std::optional<std::filesystem::path> find_cached_snapshot(const std::string& repo_id,
                                                          const std::string& revision,
                                                          const std::filesystem::path& cache_dir);
/// What a model folder lacks to be loaded: "config.json", the weights ("model.safetensors or
/// model.safetensors.index.json"), or the shards its index names. Empty when complete.
std::vector<std::string> missing_model_files(const std::filesystem::path& folder);

/// Downloads what a model needs (config.json, generation_config.json, tokenizer files, the
/// safetensors weights and the shards of their index) from
/// `{endpoint}/{repo_id}/resolve/{commit}/{file}` into the cache, skipping files already there,
/// and returns the snapshot folder. The file list comes from `{endpoint}/api/models/{repo_id}/
/// revision/{revision}`; when the endpoint lacks that API, the known names are probed instead.
/// Throws HubError with what to do (not found, private or gated, offline, interrupted too often).
std::filesystem::path download_model(const std::string& repo_id, const HubOptions& options = {});

/// A local model folder for `name_or_path`, in this order: an existing folder; a preset short
/// name or a hub id found complete in the cache; else downloaded (unless offline, which throws
/// naming what is missing).
std::filesystem::path resolve_model(const std::string& name_or_path,
                                    const HubOptions& options = {});

}  // namespace lazarus::io
