// safetensors: round trip of every dtype, zero-copy reads, sharded folders, and a suite of
// malformed files that must each give a clear LoadError (never a crash).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "lazarus/core/error.h"
#include "lazarus/formats/safetensors.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

using namespace lazarus;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("lazarus_st_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

// A file image with a hand-written header and `data_len` zero bytes of data.
std::string image(const std::string& header, size_t data_len, int64_t declared = -1) {
  std::string out;
  uint64_t n = declared >= 0 ? uint64_t(declared) : header.size();
  for (int i = 0; i < 8; ++i) out.push_back(char((n >> (8 * i)) & 0xff));
  out += header;
  out.append(data_len, '\0');
  return out;
}

void expect_error(const std::string& bytes, const std::string& needle) {
  try {
    formats::SafetensorsFile::from_bytes(bytes, "bad.safetensors");
    FAIL() << "expected LoadError containing '" << needle << "'";
  } catch (const LoadError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("bad.safetensors"), std::string::npos) << m;
    EXPECT_NE(m.find(needle), std::string::npos) << m;
  }
}

TEST(Safetensors, RoundTripEveryDtype) {
  manual_seed(5);
  std::map<std::string, Tensor> ts;
  ts["a.f32"] = randn({3, 4});
  ts["b.f64"] = randn({2}, DType::F64);
  ts["c.bf16"] = randn({5, 1}, DType::BF16);
  ts["d.f16"] = randn({7}, DType::F16);
  ts["e.i32"] = randint(-5, 5, {4}).to(DType::I32);
  ts["f.i64"] = randint(0, 100, {2, 2});
  ts["g.bool"] = gt(randn({6}), zeros({}));
  ts["h.empty"] = zeros({0, 3});
  ts["i.scalar"] = full({}, 3.5);
  ts["j.view"] = randn({4, 6}).t();  // non-contiguous: written as a contiguous copy
  auto dir = temp_dir("roundtrip");
  std::string path = (dir / "model.safetensors").string();
  formats::save_safetensors(path, ts, {{"format", "pt"}});
  auto f = formats::SafetensorsFile::open(path);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->entries().size(), ts.size());
  for (auto& [name, t] : ts) {
    Tensor r = f->tensor(name);
    EXPECT_EQ(r.dtype(), t.dtype()) << name;
    EXPECT_EQ(r.shape(), t.shape()) << name;
    EXPECT_TRUE(allclose(r.to(DType::F64), t.to(DType::F64), 0, 0)) << name;
  }
  // Data section is 8-byte aligned, so f32 reads are zero-copy views of the mapping.
  Tensor a = f->tensor("a.f32");
  EXPECT_FALSE(a.storage()->owned());
  auto loaded = formats::load_safetensors_folder(dir.string());
  EXPECT_EQ(loaded.size(), ts.size());
  fs::remove_all(dir);
}

TEST(Safetensors, ZeroCopyTensorOutlivesTheFileObject) {
  auto dir = temp_dir("outlive");
  std::string path = (dir / "x.safetensors").string();
  formats::save_safetensors(path, {{"w", arange(0.0, 10.0, 1.0, DType::F32)}});
  Tensor w;
  { w = formats::SafetensorsFile::open(path)->tensor("w"); }
  EXPECT_DOUBLE_EQ(sum(w).item(), 45.0);
  fs::remove_all(dir);
}

TEST(Safetensors, MalformedFiles) {
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  expect_error("abc", "too short");
  expect_error(image("{}", 0, 200'000'000), "exceeds the 100000000-byte limit");
  expect_error(image("{}", 0, 50), "exceeds the");
  expect_error(image("[1]     ", 0), "does not start with '{'");
  expect_error(image("{\"w\":", 0), "invalid JSON");
  expect_error(image("{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}", 0),
               "nested deeper");
  expect_error(image(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8), "missing 'dtype'");
  expect_error(image(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8), "missing 'shape'");
  expect_error(image(R"({"w":{"dtype":"F32","shape":[2]}})", 8), "missing 'data_offsets'");
  expect_error(image(R"({"w":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}})", 8),
               "unknown dtype 'Q9'");
  expect_error(image(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 2),
               "not supported");
  expect_error(image(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
               "non-negative integer");
  expect_error(
      image(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8),
      "overflows");
  expect_error(image(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
               "data_offsets [0, 8) do not match shape (3,) x F32 = 12 bytes");
  expect_error(image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8),
               "end before they begin");
  expect_error(
      image("{" + ok_entry + R"(,"v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
      "overlap");
  expect_error(
      image("{" + ok_entry + R"(,"v":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})", 16),
      "leave a gap");
  expect_error(image("{" + ok_entry + "}", 12), "cover 8 bytes but the data section has 12");
  expect_error(image("{" + ok_entry + "}", 4), "cover 8 bytes but the data section has 4");
  expect_error(image(R"({"__metadata__":{"a":1}})", 0), "must be a string");
  expect_error(image(R"({"w":[1,2]})", 0), "entry must be an object");
  // Silent successes before (issue 20): NUL padding after the JSON (the format pads with
  // spaces), a tensor named twice (nlohmann kept the last).
  expect_error(image("{" + ok_entry + "}" + std::string(6, '\0'), 8), "NUL byte at offset");
  expect_error(image("{" + ok_entry + "," + ok_entry + "}", 8), "key 'w' appears twice");
  // A valid file parses, space padding included.
  EXPECT_NO_THROW(formats::SafetensorsFile::from_bytes(image("{" + ok_entry + "}", 8)));
  EXPECT_NO_THROW(formats::SafetensorsFile::from_bytes(image("{" + ok_entry + "}      ", 8)));
  // A missing file names the path.
  try {
    formats::SafetensorsFile::open("/nonexistent/model.safetensors");
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.safetensors"), std::string::npos);
  }
}

TEST(Safetensors, ShardedFolderAndIndexValidation) {
  auto dir = temp_dir("sharded");
  formats::save_safetensors((dir / "model-00001-of-00002.safetensors").string(), {{"a", ones({2})}});
  formats::save_safetensors((dir / "model-00002-of-00002.safetensors").string(),
                       {{"b", full({3}, 2.0)}});
  write_file(dir / "model.safetensors.index.json",
             R"({"metadata":{"total_size":20},"weight_map":{"a":"model-00001-of-00002.safetensors",
                 "b":"model-00002-of-00002.safetensors"}})");
  auto all = formats::load_safetensors_folder_async(dir.string()).get();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_DOUBLE_EQ(sum(all.at("b")).item(), 6.0);

  auto expect_index_error = [&](const std::string& index, const std::string& needle) {
    write_file(dir / "model.safetensors.index.json", index);
    try {
      formats::load_safetensors_folder(dir.string());
      FAIL() << "expected LoadError containing " << needle;
    } catch (const LoadError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_index_error(R"({"weight_map":{"a":"../model-00001-of-00002.safetensors"}})",
                     "points outside");
  expect_index_error(R"({"weight_map":{"a":"/etc/passwd"}})", "points outside");
  expect_index_error(R"({"weight_map":{"a":"sub/../../x.safetensors"}})", "points outside");
  expect_index_error(R"({"weight_map":{"zz":"model-00001-of-00002.safetensors"}})",
                     "no such tensor");
  expect_index_error(R"({"weight_map":{"a":3}})", "must be a file name");
  expect_index_error(R"({"metadata":{}})", "missing 'weight_map'");
  expect_index_error(R"({"weight_map":{"a":"missing.safetensors"}})", "cannot open");
  expect_index_error("{" + std::string(5000, '['), "nested deeper");
  // "\u0000" inside a name: the OS would cut the name at the NUL and open another file.
  expect_index_error(R"({"weight_map":{"a":"model-00001-of-00002.safetensors\u0000x"}})",
                     "holds a NUL character");
  expect_index_error(std::string(R"({"weight_map":{"a":"model-00001-of-00002.safetensors"}})") +
                         std::string(3, '\0') + "garbage",
                     "NUL byte at offset");
  fs::remove_all(dir);
  EXPECT_THROW(formats::load_safetensors_folder(dir.string()), LoadError);
}

// Only regular files are read: a FIFO would block the open until a writer came (issue 20).
TEST(Safetensors, FifoIsRefusedWithoutWaiting) {
  auto dir = temp_dir("fifo");
  fs::path p = dir / "model.safetensors";
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
  try {
    formats::SafetensorsFile::open(p.string());
    FAIL() << "a FIFO was opened";
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("is a FIFO, not a regular file"), std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

TEST(Safetensors, AtomicWriteLeavesNoPartialFile) {
  auto dir = temp_dir("atomic");
  std::string path = (dir / "m.safetensors").string();
  formats::save_safetensors(path, {{"w", ones({4})}});
  // Saving into a missing folder fails cleanly; the earlier file is untouched.
  EXPECT_THROW(formats::save_safetensors((dir / "nope" / "m.safetensors").string(), {{"w", ones({4})}}),
               LoadError);
  formats::save_safetensors(path, {{"w", full({4}, 7.0)}});
  EXPECT_DOUBLE_EQ(sum(formats::SafetensorsFile::open(path)->tensor("w")).item(), 28.0);
  for (auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  }
  fs::remove_all(dir);
}

// Issue 20: a model file truncated while mapped (another program rewrote it in place) made the
// next read SIGBUS, a crash with no word of why. Now the process stops with a message naming the
// file and exit status kMappedFileChangedExit. Run in a child process, since it must exit.
TEST(Safetensors, FileTruncatedWhileMappedStopsWithAMessage) {
  auto dir = temp_dir("shrink");
  const std::string path = (dir / "model.safetensors").string();
  formats::save_safetensors(path, {{"w", ones({1 << 16})}});  // 256 KiB of data: many pages
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    Tensor w = formats::SafetensorsFile::open(path)->tensor("w");
    if (w.data<float>()[0] != 1.0f) ::_exit(2);
    if (::truncate(path.c_str(), 4096) != 0) ::_exit(3);
    volatile float last = w.data<float>()[(1 << 16) - 1];  // past the new end of the file
    (void)last;
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string err;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) err.append(buf, size_t(n));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_FALSE(WIFSIGNALED(status)) << "killed by signal " << WTERMSIG(status);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), formats::kMappedFileChangedExit) << err;
  EXPECT_NE(err.find("model file " + path + " changed on disk while in use"), std::string::npos)
      << err;
  // In this process the guard is installed too (the test binary has no SIGBUS handler).
  formats::save_safetensors(path, {{"w", ones({4})}});
  EXPECT_DOUBLE_EQ(sum(formats::SafetensorsFile::open(path)->tensor("w")).item(), 4.0);
  EXPECT_TRUE(formats::mapped_file_guard_installed());
  fs::remove_all(dir);
}

}  // namespace
