// Where models come from: presets, the environment, the HF cache layout, and downloads from a
// local server that answers like the hub (tests/io/fake_hub.h; no network). Checked against
// references nobody here wrote where there is one: coreutils' sha256sum for the digests.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "fake_hub.h"
#include "lazarus/io/hub.h"
#include "lazarus/formats/safetensors.h"
#include "lazarus/io/sha256.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

using namespace lazarus;
using lazarus::testing::FakeHub;
using lazarus::testing::FakeRepo;
namespace fs = std::filesystem;

namespace {

const char* kHubVars[] = {"HF_HUB_CACHE",   "HUGGINGFACE_HUB_CACHE", "HF_HOME",
                          "XDG_CACHE_HOME", "HF_ENDPOINT",           "HF_TOKEN",
                          "HF_TOKEN_PATH",  "HF_HUB_OFFLINE"};

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

// The reference digest: coreutils' sha256sum.
std::string coreutils_sha256(const std::string& bytes) {
  fs::path p = fs::temp_directory_path() / fmt::format("lazarus_sha_{}", ::getpid());
  write_file(p, bytes);
  std::string cmd = "sha256sum '" + p.string() + "'";
  std::FILE* f = ::popen(cmd.c_str(), "r");
  char buf[128] = {0};
  size_t n = f ? std::fread(buf, 1, 64, f) : 0;
  if (f) ::pclose(f);
  fs::remove(p);
  EXPECT_EQ(n, 64u) << "sha256sum did not run";
  return std::string(buf, n);
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    c = char(x & 0xff);
  }
  return s;
}

std::string commit_id(char c) { return std::string(40, c); }

// Every test starts from an environment without the hub's variables and with HOME in a temporary
// folder, so a developer's real cache and token are never read.
class Hub : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : kHubVars) save_and_unset(v);
    save_and_unset("HOME");
    root_ =
        fs::temp_directory_path() /
        fmt::format("lazarus_hub_{}_{}",
                    ::testing::UnitTest::GetInstance()->current_test_info()->name(), ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_ / "home");
    ::setenv("HOME", (root_ / "home").c_str(), 1);
    cache_ = root_ / "cache";
  }
  void TearDown() override {
    for (auto& [k, v] : saved_) {
      if (v)
        ::setenv(k.c_str(), v->c_str(), 1);
      else
        ::unsetenv(k.c_str());
    }
    fs::remove_all(root_);
  }
  void save_and_unset(const char* v) {
    const char* cur = std::getenv(v);
    saved_.push_back({v, cur ? std::optional<std::string>(cur) : std::nullopt});
    ::unsetenv(v);
  }

  io::HubOptions options(const FakeHub& hub) const {
    io::HubOptions o;
    o.cache_dir = cache_.string();
    o.endpoint = hub.url();
    o.progress = io::HubOptions::Progress::Never;
    return o;
  }

  // A small real checkpoint: config, tokenizer files, safetensors weights (or shards + index).
  FakeRepo tiny_model(bool sharded = false) {
    FakeRepo r;
    r.commit = commit_id('a');
    r.files["config.json"] = R"({"model_type": "llama", "hidden_size": 8})";
    r.files["generation_config.json"] = R"({"eos_token_id": 2})";
    r.files["tokenizer.json"] = R"({"version": "1.0", "model": {"type": "BPE"}})";
    r.files["tokenizer_config.json"] = R"({"bos_token": "<s>"})";
    r.files["README.md"] = "not needed";
    r.files["pytorch_model.bin"] = "not needed either";
    std::map<std::string, Tensor> a = {{"model.embed_tokens.weight", randn({256, 300})},
                                       {"model.norm.weight", randn({300})}};
    std::map<std::string, Tensor> b = {{"lm_head.weight", randn({128, 300})}};
    if (!sharded) {
      std::map<std::string, Tensor> all = a;
      all.insert(b.begin(), b.end());
      add_lfs(r, "model.safetensors", formats::serialize_safetensors(all));
    } else {
      add_lfs(r, "model-00001-of-00002.safetensors", formats::serialize_safetensors(a));
      add_lfs(r, "model-00002-of-00002.safetensors", formats::serialize_safetensors(b));
      r.files["model.safetensors.index.json"] = R"({"metadata": {}, "weight_map": {
          "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
          "model.norm.weight": "model-00001-of-00002.safetensors",
          "lm_head.weight": "model-00002-of-00002.safetensors"}})";
    }
    return r;
  }
  static void add_lfs(FakeRepo& r, const std::string& name, const std::string& bytes) {
    r.files[name] = bytes;
    r.lfs_sha[name] = coreutils_sha256(bytes);
  }

  static size_t count(const std::vector<FakeHub::Seen>& log, const std::string& method,
                      const std::string& path_part) {
    size_t n = 0;
    for (const auto& s : log)
      n += s.method == method && s.path.find(path_part) != std::string::npos;
    return n;
  }

  // Checks a downloaded snapshot against the repository: the Python hub's layout, every file
  // byte-identical, LFS blobs named by their sha256, no leftovers.
  void expect_python_layout(const fs::path& snap, const std::string& repo_id, const FakeRepo& r,
                            const std::vector<std::string>& expected) {
    std::string folder = "models--" + repo_id;
    folder.replace(folder.find('/'), 1, "--");
    fs::path repo_dir = cache_ / folder;
    EXPECT_EQ(fs::weakly_canonical(snap), fs::weakly_canonical(repo_dir / "snapshots" / r.commit));
    EXPECT_EQ(read_file(repo_dir / "refs" / "main"), r.commit);
    for (const auto& name : expected) {
      fs::path p = snap / name;
      ASSERT_TRUE(fs::is_symlink(p)) << name;
      fs::path target = fs::read_symlink(p);
      EXPECT_EQ(target.string().rfind("../../blobs/", 0), 0u) << target;
      EXPECT_EQ(read_file(p), r.files.at(name)) << name;
      if (r.lfs_sha.count(name)) {
        EXPECT_EQ(target.filename().string(), r.lfs_sha.at(name));
      }
    }
    size_t n_snapshot = 0;
    for (auto& e : fs::recursive_directory_iterator(snap)) n_snapshot += !e.is_directory();
    EXPECT_EQ(n_snapshot, expected.size());
    for (auto& e : fs::recursive_directory_iterator(repo_dir))
      EXPECT_EQ(e.path().string().find(".incomplete"), std::string::npos) << e.path();
  }

  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
  fs::path root_, cache_;
};

const std::vector<std::string> kTinyFiles = {"config.json", "generation_config.json",
                                             "tokenizer.json", "tokenizer_config.json",
                                             "model.safetensors"};

}  // namespace

TEST(Sha256, MatchesCoreutils) {
  for (size_t n : {0, 1, 3, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 100003}) {
    std::string bytes = random_bytes(n, uint32_t(n) + 7);
    std::string want = coreutils_sha256(bytes);
    EXPECT_EQ(io::sha256_hex(bytes), want) << n << " bytes";
    io::Sha256 s;  // the same bytes in uneven pieces
    for (size_t i = 0; i < n;) {
      size_t k = std::min(n - i, (i % 7) * 13 + 1);
      s.update(bytes.data() + i, k);
      i += k;
    }
    EXPECT_EQ(s.hex_digest(), want) << n << " bytes in pieces";
  }
}

TEST_F(Hub, CacheDirFollowsTheEnvironment) {
  EXPECT_EQ(io::hub_cache_dir(), root_ / "home" / ".cache" / "huggingface" / "hub");
  ::setenv("XDG_CACHE_HOME", "/x/xdg", 1);
  EXPECT_EQ(io::hub_cache_dir(), fs::path("/x/xdg/huggingface/hub"));
  ::setenv("HF_HOME", "/x/hfhome", 1);
  EXPECT_EQ(io::hub_cache_dir(), fs::path("/x/hfhome/hub"));
  ::setenv("HUGGINGFACE_HUB_CACHE", "/x/legacy", 1);
  EXPECT_EQ(io::hub_cache_dir(), fs::path("/x/legacy"));
  ::setenv("HF_HUB_CACHE", "/x/hubcache", 1);
  EXPECT_EQ(io::hub_cache_dir(), fs::path("/x/hubcache"));
}

TEST_F(Hub, EndpointTokenAndOfflineFollowTheEnvironment) {
  EXPECT_EQ(io::hub_endpoint(), "https://huggingface.co");
  ::setenv("HF_ENDPOINT", "http://mirror.local:8080//", 1);
  EXPECT_EQ(io::hub_endpoint(), "http://mirror.local:8080");

  EXPECT_FALSE(io::hub_token().has_value());
  write_file(root_ / "home" / ".cache" / "huggingface" / "token", "hf_fromfile\n");
  EXPECT_EQ(io::hub_token().value_or(""), "hf_fromfile");
  write_file(root_ / "tok", "hf_frompath\n");
  ::setenv("HF_TOKEN_PATH", (root_ / "tok").c_str(), 1);
  EXPECT_EQ(io::hub_token().value_or(""), "hf_frompath");
  ::setenv("HF_TOKEN", "hf_fromenv", 1);
  EXPECT_EQ(io::hub_token().value_or(""), "hf_fromenv");

  EXPECT_FALSE(io::hub_offline());
  for (const char* on : {"1", "true", "YES", "on"}) {
    ::setenv("HF_HUB_OFFLINE", on, 1);
    EXPECT_TRUE(io::hub_offline()) << on;
  }
  for (const char* off : {"0", "false", "no"}) {
    ::setenv("HF_HUB_OFFLINE", off, 1);
    EXPECT_FALSE(io::hub_offline()) << off;
  }
}

TEST(HubNames, PresetsMapToValidRepoIds) {
  std::set<std::string> names;
  for (const auto& p : io::model_presets()) {
    EXPECT_NO_THROW(io::validate_repo_id(p.repo_id)) << p.name;
    EXPECT_TRUE(names.insert(p.name).second) << "duplicate " << p.name;
    EXPECT_NE(p.repo_id.find('/'), std::string::npos) << p.name;
  }
  for (const char* required :
       {"tinyllama", "smollm2-135m", "smollm2-360m", "smollm2-1.7b", "llama3.2-1b", "llama3.2-3b",
        "llama3.1-8b", "mistral-7b", "mamba-130m"})
    EXPECT_TRUE(names.count(required)) << required;
  ASSERT_NE(io::find_preset("SmolLM2-135M"), nullptr);
  EXPECT_EQ(io::find_preset("smollm2-135m")->repo_id, "HuggingFaceTB/SmolLM2-135M-Instruct");
  EXPECT_EQ(io::find_preset("mamba-130m")->repo_id, "state-spaces/mamba-130m-hf");
  EXPECT_EQ(io::find_preset("nope"), nullptr);
}

TEST(HubNames, BadRepoIdsAndRevisionsAreRejected) {
  for (const char* ok : {"gpt2", "org/name", "HuggingFaceTB/SmolLM2-1.7B", "a_b/c.d-e"})
    EXPECT_NO_THROW(io::validate_repo_id(ok)) << ok;
  std::vector<std::pair<std::string, std::string>> bad = {
      {"", "empty"},
      {"a/b/c", "at most one '/'"},
      {"org/", "empty part"},
      {"/name", "empty part"},
      {"org/na me", "not allowed"},
      {"org/na%2Fme", "not allowed"},
      {"org/-name", "starts or ends"},
      {"org/name.", "starts or ends"},
      {"org/a--b", "\"--\""},
      {"org/a..b", "\"..\""},
      {"org/" + std::string(97, 'x'), "97 characters"}};
  for (const auto& [id, why] : bad) {
    try {
      io::validate_repo_id(id);
      ADD_FAILURE() << "accepted '" << id << "'";
    } catch (const io::HubError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("list-models"), std::string::npos) << e.what();
    }
  }
  for (const std::string ok :
       {"main", "v1.0", "refs/pr/1", "0123456789abcdef0123456789abcdef01234567"})
    EXPECT_NO_THROW(io::validate_revision(ok)) << ok;
  for (const char* r : {"", "../main", "a/../b", "/main", "main/", "a b", "a\nb", "a?b"})
    EXPECT_THROW(io::validate_revision(r), io::HubError) << r;
}

TEST(HubNames, FileNamesFromTheHubCannotLeaveTheFolder) {
  for (const char* ok : {"model-00001-of-00002.safetensors", "sub/dir/file.json", "a..b"})
    EXPECT_EQ(io::checked_repo_file(ok, "index"), ok);
  std::vector<std::pair<std::string, std::string>> bad = {{"../x.safetensors", "'..'"},
                                                          {"a/../../b", "'..'"},
                                                          {"/etc/passwd", "absolute"},
                                                          {"a//b", "empty"},
                                                          {"./a", "'.'"},
                                                          {"a\\..\\b", "backslash"},
                                                          {"", "empty"},
                                                          {"a\nb", "control"},
                                                          {"C:x", "':'"},
                                                          {"dir/", "ends with '/'"}};
  for (const auto& [name, why] : bad) {
    try {
      io::checked_repo_file(name, "model.safetensors.index.json");
      ADD_FAILURE() << "accepted '" << name << "'";
    } catch (const io::HubError& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(why), std::string::npos) << msg;
      EXPECT_NE(msg.find("model.safetensors.index.json"), std::string::npos) << msg;
    }
  }
}

TEST_F(Hub, ResolvesAnExistingFolderAndRejectsMissingPaths) {
  fs::path folder = root_ / "my_model";
  write_file(folder / "config.json", "{}");
  EXPECT_EQ(io::resolve_model(folder.string()), folder);
  try {
    io::resolve_model((folder / "config.json").string());
    ADD_FAILURE();
  } catch (const io::HubError& e) {
    EXPECT_NE(std::string(e.what()).find("is a file"), std::string::npos) << e.what();
  }
  for (std::string p : {"./nope", "/nope/model", "a/b/c", "nope/"}) {
    try {
      io::resolve_model(p);
      ADD_FAILURE() << p;
    } catch (const io::HubError& e) {
      EXPECT_NE(std::string(e.what()).find("no such model folder"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(io::resolve_model(""), io::HubError);
}

TEST_F(Hub, ResolvesFromACacheTreeAtTheRevisionAsked) {
  // A cache as the Python hub leaves it: refs, snapshots linking into blobs.
  fs::path repo = cache_ / "models--HuggingFaceTB--SmolLM2-135M-Instruct";
  std::string main_commit = commit_id('1'), tag_commit = commit_id('2');
  write_file(repo / "blobs" / "cfg1", "{\"a\": 1}");
  write_file(repo / "blobs" / "w1", "weights");
  for (const auto& c : {main_commit, tag_commit}) {
    fs::create_directories(repo / "snapshots" / c);
    fs::create_symlink("../../blobs/cfg1", repo / "snapshots" / c / "config.json");
    fs::create_symlink("../../blobs/w1", repo / "snapshots" / c / "model.safetensors");
  }
  write_file(repo / "refs" / "main", main_commit);
  write_file(repo / "refs" / "v1", tag_commit + "\n");

  ::setenv("HF_HUB_CACHE", cache_.c_str(), 1);
  ::setenv("HF_HUB_OFFLINE", "1", 1);  // proves nothing is fetched
  EXPECT_EQ(io::resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct"),
            repo / "snapshots" / main_commit);
  EXPECT_EQ(io::resolve_model("smollm2-135m"), repo / "snapshots" / main_commit);  // the preset
  io::HubOptions o;
  o.revision = "v1";
  EXPECT_EQ(io::resolve_model("smollm2-135m", o), repo / "snapshots" / tag_commit);
  o.revision = tag_commit;
  EXPECT_EQ(io::resolve_model("smollm2-135m", o), repo / "snapshots" / tag_commit);
  o.revision = "v2";
  EXPECT_THROW(io::resolve_model("smollm2-135m", o), io::HubError);

  // The same through HF_HOME (<HF_HOME>/hub) instead of HF_HUB_CACHE.
  ::unsetenv("HF_HUB_CACHE");
  fs::create_directories(root_ / "hfhome");
  fs::rename(cache_, root_ / "hfhome" / "hub");
  ::setenv("HF_HOME", (root_ / "hfhome").c_str(), 1);
  EXPECT_EQ(io::resolve_model("smollm2-135m"), root_ / "hfhome" / "hub" /
                                                   "models--HuggingFaceTB--SmolLM2-135M-Instruct" /
                                                   "snapshots" / main_commit);
}

TEST_F(Hub, OfflineNamesWhatIsMissing) {
  ::setenv("HF_HUB_CACHE", cache_.c_str(), 1);
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  try {
    io::resolve_model("tinyllama");
    ADD_FAILURE();
  } catch (const io::HubError& e) {
    std::string msg = e.what();
    for (const char* part :
         {"HF_HUB_OFFLINE", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "preset 'tinyllama'",
          "not in the cache", "models--TinyLlama--TinyLlama-1.1B-Chat-v1.0", "lazarus download"})
      EXPECT_NE(msg.find(part), std::string::npos) << part << " in: " << msg;
  }
  // A snapshot with an index whose second shard never arrived.
  fs::path snap = cache_ / "models--org--sharded" / "snapshots" / commit_id('3');
  write_file(snap / "config.json", "{}");
  write_file(snap / "model.safetensors.index.json",
             R"({"weight_map": {"a": "model-00001-of-00002.safetensors",
                                "b": "model-00002-of-00002.safetensors"}})");
  write_file(snap / "model-00001-of-00002.safetensors", "x");
  write_file(cache_ / "models--org--sharded" / "refs" / "main", commit_id('3'));
  try {
    io::resolve_model("org/sharded");
    ADD_FAILURE();
  } catch (const io::HubError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("lacks model-00002-of-00002.safetensors"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("model-00001-of-00002.safetensors"), std::string::npos) << msg;
  }
  // A ref whose content would lead outside the cache.
  write_file(cache_ / "models--org--evil" / "refs" / "main", "../../../etc");
  EXPECT_THROW(io::resolve_model("org/evil"), io::HubError);
}

TEST_F(Hub, DownloadsIntoThePythonCacheLayout) {
  FakeHub hub;
  FakeRepo repo = tiny_model();
  hub.add_repo("org/tiny", repo);
  fs::path snap = io::download_model("org/tiny", options(hub));
  expect_python_layout(snap, "org/tiny", repo, kTinyFiles);
  // Only what a model needs is fetched; the LFS file came through the redirect.
  auto log = hub.log();
  EXPECT_EQ(count(log, "GET", "README.md") + count(log, "GET", "pytorch_model.bin"), 0u);
  EXPECT_EQ(count(log, "GET", "/cdn/" + repo.lfs_sha["model.safetensors"]), 1u);
  // The weights load.
  auto st = formats::SafetensorsFile::open((snap / "model.safetensors").string());
  EXPECT_EQ(st->entries().size(), 3u);

  // resolve_model now finds it in the cache without a request; download_model checks the hub
  // (HEAD) but moves no bytes again.
  hub.clear_log();
  io::HubOptions o = options(hub);
  EXPECT_EQ(io::resolve_model("org/tiny", o), snap);
  EXPECT_TRUE(hub.log().empty());
  EXPECT_EQ(io::download_model("org/tiny", o), snap);
  EXPECT_EQ(count(hub.log(), "GET", "/resolve/") + count(hub.log(), "GET", "/cdn/"), 0u);
}

TEST_F(Hub, DownloadsShardsThroughTheIndexWithOrWithoutTheApi) {
  for (bool api : {true, false}) {
    FakeHub hub;
    hub.set_api(api);
    FakeRepo repo = tiny_model(/*sharded=*/true);
    hub.add_repo("org/sharded", repo);
    fs::remove_all(cache_);
    fs::path snap = io::download_model("org/sharded", options(hub));
    expect_python_layout(snap, "org/sharded", repo,
                         {"config.json", "generation_config.json", "tokenizer.json",
                          "tokenizer_config.json", "model.safetensors.index.json",
                          "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"});
    EXPECT_TRUE(io::missing_model_files(snap).empty());
    size_t tensors = 0;
    for (const char* shard :
         {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"})
      tensors += formats::SafetensorsFile::open((snap / shard).string())->entries().size();
    EXPECT_EQ(tensors, 3u) << "api " << api;
  }
}

TEST_F(Hub, DroppedConnectionResumesWithRangeInTheSameCall) {
  FakeHub hub;
  FakeRepo repo = tiny_model();
  hub.add_repo("org/tiny", repo);
  // Two drops: the second transfer resumes at the first cut and is cut again.
  uint64_t cut1 = 100'003, cut2 = 250'001;
  ASSERT_LT(cut2, repo.files["model.safetensors"].size());
  hub.drop("model.safetensors", {cut1, cut2});
  fs::path snap = io::download_model("org/tiny", options(hub));
  expect_python_layout(snap, "org/tiny", repo, kTinyFiles);
  std::vector<std::string> ranges;
  for (const auto& s : hub.log())
    if (s.path.rfind("/cdn/", 0) == 0) ranges.push_back(s.range);
  EXPECT_EQ(ranges, (std::vector<std::string>{"", fmt::format("bytes={}-", cut1),
                                              fmt::format("bytes={}-", cut2)}));
}

TEST_F(Hub, InterruptedDownloadResumesOnTheNextRun) {
  FakeHub hub;
  FakeRepo repo = tiny_model();
  hub.add_repo("org/tiny", repo);
  uint64_t cut = 77'777;
  hub.drop("model.safetensors", {cut});
  io::HubOptions o = options(hub);
  o.max_attempts = 1;
  try {
    io::download_model("org/tiny", o);
    ADD_FAILURE() << "a dropped connection with one attempt must fail";
  } catch (const io::HubError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("run the same command again to resume"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(cut) + " bytes"), std::string::npos) << msg;
  }
  fs::path part =
      cache_ / "models--org--tiny" / "blobs" / (repo.lfs_sha["model.safetensors"] + ".incomplete");
  ASSERT_TRUE(fs::exists(part));
  EXPECT_EQ(fs::file_size(part), cut);
  EXPECT_FALSE(
      fs::exists(cache_ / "models--org--tiny" / "snapshots" / repo.commit / "model.safetensors"));

  hub.clear_log();
  fs::path snap = io::download_model("org/tiny", o);
  expect_python_layout(snap, "org/tiny", repo, kTinyFiles);
  EXPECT_EQ(count(hub.log(), "GET", "/cdn/"), 1u);
  for (const auto& s : hub.log())
    if (s.path.rfind("/cdn/", 0) == 0) {
      EXPECT_EQ(s.range, fmt::format("bytes={}-", cut));
    }
}

TEST_F(Hub, CorruptPartialFileIsCaughtByTheChecksum) {
  FakeHub hub;
  FakeRepo repo = tiny_model();
  hub.add_repo("org/tiny", repo);
  hub.drop("model.safetensors", {5000});
  io::HubOptions o = options(hub);
  o.max_attempts = 1;
  EXPECT_THROW(io::download_model("org/tiny", o), io::HubError);
  fs::path part =
      cache_ / "models--org--tiny" / "blobs" / (repo.lfs_sha["model.safetensors"] + ".incomplete");
  write_file(part, std::string(5000, 'x'));  // not the bytes the server sent
  try {
    io::download_model("org/tiny", o);
    ADD_FAILURE() << "a corrupt resume must be detected";
  } catch (const io::HubError& e) {
    EXPECT_NE(std::string(e.what()).find("sha256"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(part));
  EXPECT_FALSE(
      fs::exists(cache_ / "models--org--tiny" / "blobs" / repo.lfs_sha["model.safetensors"]));
  fs::path snap = io::download_model("org/tiny", o);  // and a clean run then succeeds
  expect_python_layout(snap, "org/tiny", repo, kTinyFiles);
}

TEST_F(Hub, MissingRepositoryGivesAClearMessage) {
  FakeHub hub;
  for (bool api : {true, false}) {
    hub.set_api(api);
    try {
      io::download_model("org/missing", options(hub));
      ADD_FAILURE();
    } catch (const io::HubError& e) {
      std::string msg = e.what();
      EXPECT_EQ(e.status(), 404);
      EXPECT_NE(msg.find("'org/missing' was not found"), std::string::npos) << msg;
      EXPECT_NE(msg.find("HF_TOKEN"), std::string::npos) << msg;
    }
  }
  // A near-miss of a preset name gets a suggestion.
  try {
    io::download_model("smolm2-135m", options(hub));
    ADD_FAILURE();
  } catch (const io::HubError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean the preset 'smollm2-135m'"),
              std::string::npos)
        << e.what();
  }
  // No file is left behind for a repository that does not exist.
  EXPECT_FALSE(fs::exists(cache_ / "models--org--missing" / "snapshots"));
}

TEST_F(Hub, PrivateRepositoryNeedsTheToken) {
  FakeHub hub;
  FakeRepo repo = tiny_model();
  repo.token = "hf_secret";
  hub.add_repo("org/private", repo);
  io::HubOptions o = options(hub);
  try {
    io::download_model("org/private", o);
    ADD_FAILURE();
  } catch (const io::HubError& e) {
    std::string msg = e.what();
    EXPECT_EQ(e.status(), 401);
    EXPECT_NE(msg.find("private"), std::string::npos) << msg;
    EXPECT_NE(msg.find("no token was sent: set HF_TOKEN"), std::string::npos) << msg;
  }
  o.token = "hf_wrong";
  try {
    io::download_model("org/private", o);
    ADD_FAILURE();
  } catch (const io::HubError& e) {
    EXPECT_NE(std::string(e.what()).find("does not give access"), std::string::npos) << e.what();
  }
  // The token from HF_TOKEN is sent as a Bearer header to the hub, not to the CDN.
  o.token.reset();
  ::setenv("HF_TOKEN", "hf_secret", 1);
  hub.clear_log();
  fs::path snap = io::download_model("org/private", o);
  expect_python_layout(snap, "org/private", repo, kTinyFiles);
  for (const auto& s : hub.log()) {
    if (s.path.rfind("/org/private/", 0) == 0 || s.path.rfind("/api/", 0) == 0) {
      EXPECT_EQ(s.auth, "Bearer hf_secret") << s.path;
    } else {
      EXPECT_EQ(s.auth, "") << s.path;  // the redirect target is another "host" on the real hub
    }
  }
}

TEST_F(Hub, GatedRepositorySaysToAcceptTheLicense) {
  FakeHub hub;
  FakeRepo repo = tiny_model();
  repo.token = "hf_accepted";
  repo.gated = true;
  hub.add_repo("meta/gated", repo);
  try {
    io::download_model("meta/gated", options(hub));
    ADD_FAILURE();
  } catch (const io::HubError& e) {
    std::string msg = e.what();
    EXPECT_EQ(e.status(), 403);
    EXPECT_NE(msg.find("gated"), std::string::npos) << msg;
    EXPECT_NE(msg.find("accept its license at " + hub.url() + "/meta/gated"), std::string::npos)
        << msg;
  }
}

TEST_F(Hub, HostileAnswersAreRejected) {
  FakeHub hub;
  // An index whose shard name climbs out of the snapshot.
  FakeRepo evil = tiny_model(/*sharded=*/true);
  evil.files["model.safetensors.index.json"] =
      R"({"weight_map": {"a": "../../../../evil.safetensors"}})";
  evil.files["../../../../evil.safetensors"] = "pwned";
  hub.add_repo("org/evil", evil);
  try {
    io::download_model("org/evil", options(hub));
    ADD_FAILURE();
  } catch (const io::HubError& e) {
    EXPECT_NE(std::string(e.what()).find("'..' leaves the model folder"), std::string::npos)
        << e.what();
  }
  for (auto& e : fs::recursive_directory_iterator(root_))
    EXPECT_NE(e.path().filename(), "evil.safetensors") << e.path();
  EXPECT_FALSE(fs::exists(root_.parent_path() / "evil.safetensors"));

  // An ETag that would name a file outside blobs/.
  FakeRepo repo = tiny_model();
  hub.add_repo("org/etag", repo);
  hub.set_bad_etag("config.json", "\"../../../escape\"");
  try {
    io::download_model("org/etag", options(hub));
    ADD_FAILURE();
  } catch (const io::HubError& e) {
    EXPECT_NE(std::string(e.what()).find("malformed ETag"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(cache_ / "escape"));

  // A redirect loop is bounded.
  io::HubOptions o = options(hub);
  o.max_redirects = 3;
  try {
    io::download_model("loop/model", o);
    ADD_FAILURE();
  } catch (const io::HubError& e) {
    EXPECT_NE(std::string(e.what()).find("more than 3 redirects"), std::string::npos) << e.what();
  }
  EXPECT_LE(hub.log().size(), 20u);
}

TEST_F(Hub, BadOptionsAreRejectedBeforeAnyRequest) {
  FakeHub hub;
  hub.add_repo("org/tiny", tiny_model());
  for (int which = 0; which < 4; ++which) {
    io::HubOptions o = options(hub);
    if (which == 0) o.max_attempts = 0;
    if (which == 1) o.max_redirects = -1;
    if (which == 2) o.stall_timeout_s = 0;
    if (which == 3) o.endpoint = "ftp://example.org";
    EXPECT_THROW(io::download_model("org/tiny", o), io::HubError) << which;
  }
  io::HubOptions o = options(hub);
  o.revision = "../../etc";
  EXPECT_THROW(io::download_model("org/tiny", o), io::HubError);
  EXPECT_THROW(io::resolve_model("org/tiny", o), io::HubError);
  EXPECT_TRUE(hub.log().empty());
}

TEST_F(Hub, RepositoryWithoutSafetensorsSaysSo) {
  FakeHub hub;
  FakeRepo repo;
  repo.commit = commit_id('c');
  repo.files["config.json"] = "{}";
  repo.files["pytorch_model.bin"] = "pickle";
  hub.add_repo("org/old", repo);
  try {
    io::download_model("org/old", options(hub));
    ADD_FAILURE();
  } catch (const io::HubError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("no safetensors weights"), std::string::npos) << msg;
    EXPECT_NE(msg.find("pytorch_model.bin"), std::string::npos) << msg;
  }
}

TEST_F(Hub, OfflineAndUnreachableHubsNeverHang) {
  FakeHub hub;
  hub.add_repo("org/tiny", tiny_model());
  io::HubOptions o = options(hub);
  o.offline = true;
  EXPECT_THROW(io::download_model("org/tiny", o), io::HubError);
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  o.offline.reset();
  EXPECT_THROW(io::resolve_model("org/tiny", o), io::HubError);
  EXPECT_TRUE(hub.log().empty());
  ::unsetenv("HF_HUB_OFFLINE");

  // Nothing listens on this port any more.
  std::string dead;
  {
    FakeHub gone;
    dead = gone.url();
  }
  o.endpoint = dead;
  o.max_attempts = 1;
  try {
    io::download_model("org/tiny", o);
    ADD_FAILURE();
  } catch (const io::HubError& e) {
    EXPECT_NE(std::string(e.what()).find("HF_HUB_OFFLINE=1"), std::string::npos) << e.what();
  }
}

TEST_F(Hub, ResolveDownloadsThroughTheEnvironmentAndDrawsProgress) {
  FakeHub hub;
  FakeRepo repo = tiny_model();
  hub.add_repo("org/tiny", repo);
  ::setenv("HF_ENDPOINT", hub.url().c_str(), 1);
  ::setenv("HF_HOME", (root_ / "hfhome").c_str(), 1);
  io::HubOptions o;
  o.progress = io::HubOptions::Progress::Always;
  ::testing::internal::CaptureStderr();
  fs::path snap = io::resolve_model("org/tiny", o);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(snap, root_ / "hfhome" / "hub" / "models--org--tiny" / "snapshots" / repo.commit);
  EXPECT_EQ(read_file(snap / "model.safetensors"), repo.files["model.safetensors"]);
  EXPECT_NE(err.find("[download] model.safetensors"), std::string::npos) << err;
  EXPECT_NE(err.find("100%"), std::string::npos) << err;
  EXPECT_NE(err.find("/s"), std::string::npos) << err;
}

#ifdef LAZARUS_CLI
// `lazarus download` end to end: a separate process, configured only by the environment.
TEST_F(Hub, CliDownloadPrintsTheSnapshotFolder) {
  FakeHub hub;
  FakeRepo repo = tiny_model();
  hub.add_repo("org/tiny", repo);
  auto run = [&](const std::string& args, std::string& out, std::string& err) {
    std::string cmd = fmt::format("HF_ENDPOINT='{}' HF_HUB_CACHE='{}' '{}' {} 2>'{}'", hub.url(),
                                  cache_.string(), LAZARUS_CLI, args, (root_ / "err").string());
    std::FILE* f = ::popen(cmd.c_str(), "r");
    out.clear();
    char buf[4096];
    size_t n;
    while (f && (n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    int rc = f ? ::pclose(f) : -1;
    err = read_file(root_ / "err");
    return rc;
  };
  std::string out, err;
  EXPECT_EQ(run("download org/tiny", out, err), 0) << err;
  EXPECT_EQ(out, (cache_ / "models--org--tiny" / "snapshots" / repo.commit).string() + "\n");
  EXPECT_NE(err.find("[download] model.safetensors"), std::string::npos) << err;  // not a tty
  EXPECT_EQ(
      read_file(cache_ / "models--org--tiny" / "snapshots" / repo.commit / "model.safetensors"),
      repo.files["model.safetensors"]);
  EXPECT_NE(run("download org/missing --quiet", out, err), 0);
  EXPECT_NE(err.find("error: 'org/missing' was not found"), std::string::npos) << err;
  EXPECT_EQ(run("list-models --cached", out, err), 0) << err;
  EXPECT_NE(out.find("smollm2-135m"), std::string::npos) << out;
}
#endif
