// safetensors reading (mmap, validation) and writing (atomic). See safetensors.h.
#include "lazarus/formats/safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lazarus/core/error.h"
#include "lazarus/core/json_limits.h"
#include "lazarus/core/regular_file.h"
#include "lazarus/tensor/backend.h"

namespace lazarus::formats {

namespace fs = std::filesystem;
using json = nlohmann::json;

DType dtype_from_safetensors(const std::string& s, const std::string& where) {
  if (s == "F32") return DType::F32;
  if (s == "F64") return DType::F64;
  if (s == "BF16") return DType::BF16;
  if (s == "F16") return DType::F16;
  if (s == "I32") return DType::I32;
  if (s == "I64") return DType::I64;
  if (s == "BOOL") return DType::Bool;
  static const char* known_unsupported[] = {"U8",  "I8",  "I16",     "U16",
                                            "U32", "U64", "F8_E5M2", "F8_E4M3"};
  for (const char* k : known_unsupported) {
    if (s == k)
      throw LoadError(fmt::format("{}: dtype '{}' is not supported by Lazarus yet", where, s));
  }
  throw LoadError(fmt::format("{}: unknown dtype '{}'", where, s));
}

const char* dtype_to_safetensors(DType dt) {
  switch (dt) {
    case DType::F32:
      return "F32";
    case DType::F64:
      return "F64";
    case DType::BF16:
      return "BF16";
    case DType::F16:
      return "F16";
    case DType::I32:
      return "I32";
    case DType::I64:
      return "I64";
    case DType::Bool:
      return "BOOL";
    default:
      break;
  }
  throw DTypeError(fmt::format("safetensors has no {} tensors (block-quantized weights go to GGUF)",
                               dtype_name(dt)));
}

namespace {

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint64_t json_u64(const json& v, const std::string& where) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
    throw LoadError(fmt::format("{}: expected a non-negative integer, got {}", where, v.dump()));
  }
  return v.get<uint64_t>();
}

}  // namespace

SafetensorsFile::~SafetensorsFile() = default;

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto f = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  f->path_ = path;
  f->file_ = map_file(path, "safetensors file");
  f->parse(path.c_str());
  return f;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::from_bytes(const std::string& bytes,
                                                             const std::string& name) {
  auto f = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  f->path_ = name;
  f->file_ = copy_bytes(bytes);
  f->parse(name.c_str());
  return f;
}

void SafetensorsFile::parse(const char* what) {
  std::string file = what;
  if (file_.size < 8) {
    throw LoadError(fmt::format("{}: file is {} bytes, too short for the 8-byte header length",
                                file, file_.size));
  }
  uint64_t n = read_u64_le(file_.data);
  if (n > kMaxSafetensorsHeader) {
    throw LoadError(fmt::format("{}: header length {} exceeds the {}-byte limit", file, n,
                                kMaxSafetensorsHeader));
  }
  if (n > file_.size - 8) {
    throw LoadError(fmt::format("{}: header length {} exceeds the {} bytes after the length field",
                                file, n, file_.size - 8));
  }
  if (n < 2 || file_.data[8] != '{') {
    throw LoadError(fmt::format("{}: header does not start with '{{'", file));
  }
  data_start_ = 8 + n;
  uint64_t data_len = file_.size - data_start_;
  // No NUL padding (the format pads with spaces), no tensor named twice.
  json h = parse_json_text<json>(
      std::string_view(reinterpret_cast<const char*>(file_.data + 8), size_t(n)), file + ": header",
      16);
  if (!h.is_object()) throw LoadError(fmt::format("{}: header is not a JSON object", file));
  for (auto& [name, info] : h.items()) {
    std::string where = fmt::format("{}: tensor '{}'", file, name);
    if (name == "__metadata__") {
      if (!info.is_object())
        throw LoadError(fmt::format("{}: __metadata__ must be an object of strings", file));
      for (auto& [k, v] : info.items()) {
        if (!v.is_string()) {
          throw LoadError(
              fmt::format("{}: __metadata__['{}'] must be a string, got {}", file, k, v.dump()));
        }
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    if (!info.is_object()) throw LoadError(fmt::format("{}: entry must be an object", where));
    for (const char* key : {"dtype", "shape", "data_offsets"}) {
      if (!info.contains(key)) throw LoadError(fmt::format("{}: missing '{}'", where, key));
    }
    if (!info["dtype"].is_string())
      throw LoadError(fmt::format("{}: dtype must be a string", where));
    SafetensorsEntry e;
    e.name = name;
    e.dtype = dtype_from_safetensors(info["dtype"].get<std::string>(), where);
    const json& shape = info["shape"];
    if (!shape.is_array()) throw LoadError(fmt::format("{}: shape must be an array", where));
    uint64_t numel = 1;
    bool overflow = false;
    for (size_t i = 0; i < shape.size(); ++i) {
      uint64_t d = json_u64(shape[i], fmt::format("{}: shape[{}]", where, i));
      if (d > uint64_t(INT64_MAX)) overflow = true;
      e.shape.push_back(int64_t(std::min<uint64_t>(d, uint64_t(INT64_MAX))));
      if (d != 0 && numel > UINT64_MAX / d)
        overflow = true;
      else
        numel *= d;
    }
    const json& off = info["data_offsets"];
    if (!off.is_array() || off.size() != 2) {
      throw LoadError(fmt::format("{}: data_offsets must be [begin, end]", where));
    }
    e.begin = json_u64(off[0], where + ": data_offsets[0]");
    e.end = json_u64(off[1], where + ": data_offsets[1]");
    size_t es = dtype_size(e.dtype);
    if (overflow || numel > UINT64_MAX / es) {
      throw LoadError(fmt::format("{}: shape {} overflows the byte count", where, shape.dump()));
    }
    if (e.end < e.begin) {
      throw LoadError(
          fmt::format("{}: data_offsets [{}, {}) end before they begin", where, e.begin, e.end));
    }
    if (numel * es != e.end - e.begin) {
      throw LoadError(fmt::format("{}: data_offsets [{}, {}) do not match shape {} x {} = {} bytes",
                                  where, e.begin, e.end, shape_str(e.shape),
                                  info["dtype"].get<std::string>(), numel * es));
    }
    entries_.push_back(std::move(e));
  }
  // The data must be covered exactly: tensors sorted by offset are contiguous from 0 to the end.
  std::vector<const SafetensorsEntry*> sorted;
  for (auto& e : entries_) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t expect = 0;
  for (auto* e : sorted) {
    if (e->begin != expect) {
      throw LoadError(
          fmt::format("{}: tensor '{}': data_offsets [{}, {}) {} (expected to start at {})", file,
                      e->name, e->begin, e->end,
                      e->begin < expect ? "overlap the previous tensor" : "leave a gap", expect));
    }
    expect = e->end;
  }
  if (expect != data_len) {
    throw LoadError(fmt::format("{}: tensors cover {} bytes but the data section has {}", file,
                                expect, data_len));
  }
  for (size_t i = 0; i < entries_.size(); ++i) index_[entries_[i].name] = i;
}

bool SafetensorsFile::contains(const std::string& name) const { return index_.count(name) != 0; }

Tensor SafetensorsFile::tensor(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw LoadError(fmt::format("{}: no tensor named '{}'", path_, name));
  const SafetensorsEntry& e = entries_[it->second];
  size_t nbytes = size_t(e.end - e.begin);
  const unsigned char* p = file_.data + data_start_ + e.begin;
  if (e.dtype == DType::Bool) {  // normalise stray byte values to 0/1 (copies)
    Tensor t = empty(e.shape, e.dtype);
    auto* d = t.data<uint8_t>();
    for (size_t i = 0; i < nbytes; ++i) d[i] = p[i] != 0;
    return t;
  }
  return file_tensor(file_, p, nbytes, e.shape, e.dtype);
}

std::map<std::string, Tensor> SafetensorsFile::tensors() const {
  std::map<std::string, Tensor> out;
  for (auto& e : entries_) out[e.name] = tensor(e.name);
  return out;
}

std::string serialize_safetensors(const std::map<std::string, Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t at = 0;
  std::vector<Tensor> data;
  for (auto& [name, t] : tensors) {
    if (name == "__metadata__")
      throw LoadError("save_safetensors: '__metadata__' is not a tensor name");
    if (!t.defined())
      throw LoadError(fmt::format("save_safetensors: tensor '{}' is undefined", name));
    Tensor c = t.detach().contiguous();
    uint64_t nb = c.nbytes();
    h[name] = {{"dtype", dtype_to_safetensors(c.dtype())},
               {"shape", c.shape()},
               {"data_offsets", {at, at + nb}}};
    at += nb;
    data.push_back(c);
  }
  std::string header = h.dump();
  while ((8 + header.size()) % 8 != 0) header.push_back(' ');  // align the data section to 8
  std::string out;
  out.reserve(8 + header.size() + at);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(char((n >> (8 * i)) & 0xff));
  out += header;
  for (auto& c : data) out.append(static_cast<const char*>(c.raw_data()), c.nbytes());
  return out;
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::string bytes = serialize_safetensors(tensors, metadata);
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw LoadError(fmt::format("{}: cannot write: {}", tmp, std::strerror(errno)));
    f.write(bytes.data(), std::streamsize(bytes.size()));
    f.flush();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw LoadError(fmt::format("{}: write failed", tmp));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw LoadError(fmt::format("{}: rename from temporary file failed: {}", path, ec.message()));
  }
}

SafetensorsIndex read_safetensors_index(const std::string& folder) {
  fs::path dir(folder);
  fs::path index = dir / "model.safetensors.index.json";
  SafetensorsIndex out;
  out.path = index.string();
  std::error_code size_ec;
  uintmax_t index_size = fs::file_size(index, size_ec);
  if (size_ec || index_size > kMaxSafetensorsHeader) {
    throw LoadError(
        fmt::format("{}: {} (larger than any index should be, or unreadable)", index.string(),
                    size_ec ? size_ec.message() : std::to_string(index_size) + " bytes"));
  }
  std::string text = read_regular_file(index.string(), "safetensors index", kMaxSafetensorsHeader);
  json j = parse_json_text<json>(text, index.string(), 16);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
    throw LoadError(fmt::format("{}: missing 'weight_map' object", index.string()));
  }
  if (j["weight_map"].empty())
    throw LoadError(fmt::format("{}: 'weight_map' lists no tensors", index.string()));
  fs::path root = fs::weakly_canonical(dir);
  for (auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string()) {
      throw LoadError(fmt::format("{}: weight_map['{}'] must be a file name, got {}",
                                  index.string(), name, file.dump()));
    }
    std::string f = file.get<std::string>();
    if (f.find('\0') != std::string::npos) {  // "\u0000" in JSON: the OS would cut the name there
      throw LoadError(fmt::format("{}: weight_map['{}'] holds a NUL character: not a file name",
                                  index.string(), name));
    }
    fs::path p(f);
    bool bad = f.empty() || p.is_absolute() || f.find('\\') != std::string::npos;
    for (auto& part : p) bad |= part == "..";
    fs::path full = fs::weakly_canonical(dir / p);
    auto rel = full.lexically_relative(root);
    bad |= rel.empty() || *rel.begin() == "..";
    if (bad) {
      throw LoadError(fmt::format("{}: weight_map['{}'] = '{}' points outside the model folder",
                                  index.string(), name, f));
    }
    out.shards[full.string()].push_back(name);
  }
  return out;
}

void check_shard(const SafetensorsIndex& index, const SafetensorsFile& shard,
                 const std::vector<std::string>& listed) {
  for (const std::string& name : listed) {
    if (!shard.contains(name)) {
      throw LoadError(fmt::format("{}: lists '{}' in {}, which has no such tensor", index.path,
                                  name, shard.path()));
    }
  }
  if (shard.entries().size() != listed.size()) {
    std::vector<std::string> unlisted;
    for (auto& e : shard.entries()) {
      if (std::find(listed.begin(), listed.end(), e.name) == listed.end())
        unlisted.push_back("'" + e.name + "'");
    }
    std::string names;
    for (size_t i = 0; i < unlisted.size() && i < 10; ++i) names += (i ? ", " : "") + unlisted[i];
    if (unlisted.size() > 10) names += fmt::format(" and {} more", unlisted.size() - 10);
    throw LoadError(fmt::format("{}: holds {} tensor(s) the index {} does not list: {}",
                                shard.path(), unlisted.size(), index.path, names));
  }
}

std::map<std::string, Tensor> load_safetensors_folder(const std::string& folder) {
  fs::path dir(folder);
  if (!fs::exists(dir / "model.safetensors.index.json")) {
    fs::path single = dir / "model.safetensors";
    if (!fs::exists(single)) {
      throw LoadError(
          fmt::format("{}: no model.safetensors or model.safetensors.index.json", folder));
    }
    return SafetensorsFile::open(single.string())->tensors();
  }
  SafetensorsIndex index = read_safetensors_index(folder);
  std::vector<std::future<std::shared_ptr<SafetensorsFile>>> jobs;
  for (auto& [shard, names] : index.shards) {
    std::string s = shard;
    jobs.push_back(std::async(std::launch::async, [s] { return SafetensorsFile::open(s); }));
  }
  std::map<std::string, Tensor> out;
  size_t i = 0;
  for (auto& [shard, names] : index.shards) {
    auto f = jobs[i++].get();
    check_shard(index, *f, names);
    for (const std::string& name : names) out[name] = f->tensor(name);
  }
  return out;
}

std::future<std::map<std::string, Tensor>> load_safetensors_folder_async(
    const std::string& folder) {
  return std::async(std::launch::async, [folder] { return load_safetensors_folder(folder); });
}

}  // namespace lazarus::formats
