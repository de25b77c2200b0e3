// `lazarus list-models` (also `lazarus --list-models`): the model presets and their hub ids, and
// whether each is in the local cache; `lazarus download NAME`: fetch a model into the HF cache.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>

#include "lazarus/cli/commands.h"
#include "lazarus/families/registry.h"
#include "lazarus/io/hub.h"
#include "lazarus/io/model_folder.h"

namespace lazarus::cli {

namespace {

namespace fs = std::filesystem;

void print_presets(bool show_cache) {
  std::filesystem::path cache = io::hub_cache_dir();
  std::printf("%-18s %-38s %-8s %-8s %s\n", "NAME", "HUGGING FACE REPO", "FAMILY", "SIZE",
              show_cache ? "NOTES (cached = in the local cache)" : "NOTES");
  // By registered family (the registry says which families exist; the hub rows name the
  // model_type each repository's config.json carries).
  std::vector<const io::ModelPreset*> rows;
  for (const auto& f : families::registered_families())
    for (const auto& p : io::model_presets())
      if (std::find(f.model_types.begin(), f.model_types.end(), p.family) != f.model_types.end())
        rows.push_back(&p);
  for (const io::ModelPreset* row : rows) {
    const io::ModelPreset& p = *row;
    std::string notes = p.gated ? "gated: needs HF_TOKEN" : "";
    if (show_cache) {
      bool cached = false;
      try {
        auto snap = io::find_cached_snapshot(p.repo_id, "main", cache);
        cached = snap && io::missing_model_files(*snap).empty();
      } catch (const Error&) {
        // an unreadable cache entry is simply "not cached" in a listing
      }
      if (cached) notes = notes.empty() ? "cached" : "cached; " + notes;
    }
    std::printf("%-18s %-38s %-8s %-8s %s\n", p.name.c_str(), p.repo_id.c_str(), p.family.c_str(),
                p.size.c_str(), notes.c_str());
  }
  // The model that ships with Lazarus: no hub, no cache; the default of generate and chat.
  std::string shipped_family = "?";
  try {
    std::ifstream in(fs::path(io::bundled_models_dir()) / io::kDefaultModelName / "config.json");
    if (in) shipped_family = families::family_for(config::Json::parse(in)).name;
  } catch (const std::exception&) {
    // a listing shows "?" for a shipped model it cannot read; generate reports why
  }
  std::printf("%-18s %-38s %-8s %-8s %s\n", io::kDefaultModelName,
              (io::bundled_models_dir() + "/").c_str(), shipped_family.c_str(), "16 MB",
              "shipped, the default --model: 3.95M parameters trained on Debian's fortunes");
  std::printf(
      "\nArchitecture presets (lazarus info --preset NAME, lazarus train --preset NAME): "
      "lazarus info --list-presets\ncache: %s\nAny hub id (org/name) or model folder works too, e.g. "
      "`lazarus download HuggingFaceTB/SmolLM2-135M`.\n",
      cache.string().c_str());
}

}  // namespace

void register_hub_commands(CLI::App& app) {
  app.add_flag_callback(
      "--list-models",
      [] {
        print_presets(false);
        throw CLI::Success();
      },
      "List the model presets (short names for Hugging Face repositories) and exit");

  CLI::App* list = app.add_subcommand(
      "list-models", "List the model presets: short names for Hugging Face repositories");
  auto cached = std::make_shared<bool>(false);
  list->add_flag("--cached", *cached, "Mark the presets already in the local Hugging Face cache");
  list->footer(
      "Use a preset wherever a model is asked for (`--model smollm2-135m`). Presets marked gated "
      "need a license\naccepted on the hub and HF_TOKEN set to a token of that account.\n\n"
      "Examples:\n  lazarus list-models\n  lazarus list-models --cached");
  list->callback([cached] { print_presets(*cached); });

  struct Opts {
    std::string name, revision = "main", cache_dir, endpoint;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* dl = app.add_subcommand(
      "download",
      "Download a model (a preset or a hub id) into the Hugging Face cache and print its folder");
  dl->add_option("name", o->name, "A preset (see `lazarus list-models`) or a hub id like org/name")
      ->required();
  dl->add_option("--revision", o->revision, "Branch, tag or commit to download")
      ->default_str("main");
  dl->add_option("--cache-dir", o->cache_dir,
                 "Cache root (default: $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)");
  dl->add_option("--endpoint", o->endpoint,
                 "Hub URL (default: $HF_ENDPOINT or https://huggingface.co)");
  dl->add_flag("--quiet,-q", o->quiet, "No progress bar");
  dl->footer(
      "Fetches config.json, generation_config.json, the tokenizer files and the safetensors "
      "weights\n(model.safetensors, or the shards named by model.safetensors.index.json) into the "
      "cache layout\nthe Python huggingface_hub uses, so both share one cache. An interrupted "
      "download resumes\nwhere it stopped when run again.\n\n"
      "Environment: HF_TOKEN (gated or private models), HF_ENDPOINT (a mirror), HF_HUB_CACHE / "
      "HF_HOME\n(the cache), HF_HUB_OFFLINE=1 (use only the cache).\n\n"
      "Examples:\n  lazarus download smollm2-135m\n"
      "  HF_TOKEN=hf_... lazarus download llama3.2-1b\n"
      "  lazarus download HuggingFaceTB/SmolLM2-135M --revision main --cache-dir /data/hf");
  dl->callback([o] {
    io::HubOptions opt;
    opt.revision = o->revision;
    opt.cache_dir = o->cache_dir;
    opt.endpoint = o->endpoint;
    if (o->quiet) opt.progress = io::HubOptions::Progress::Never;
    const io::ModelPreset* preset = io::find_preset(o->name);
    std::string repo = preset ? preset->repo_id : o->name;
    std::filesystem::path folder = io::download_model(repo, opt);
    std::printf("%s\n", folder.string().c_str());
  });
}

}  // namespace lazarus::cli
