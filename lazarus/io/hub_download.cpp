// Downloading a model from the hub with libcurl into the Python hub's cache layout: HEAD for the
// etag and commit, GET into blobs/<etag>.incomplete with HTTP Range resume, sha256 check for LFS
// files, atomic rename, then relative links under snapshots/<commit>/.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <curl/curl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lazarus/core/json_limits.h"
#include "lazarus/core/version.h"
#include "lazarus/io/hub.h"
#include "lazarus/io/hub_internal.h"
#include "lazarus/io/sha256.h"

namespace lazarus::io {

namespace fs = std::filesystem;
using json = nlohmann::json;
using detail::printable;

namespace {

// What Lazarus fetches from a repository besides the weights.
const char* const kSupportFiles[] = {"config.json",
                                     "generation_config.json",
                                     "tokenizer.json",
                                     "tokenizer_config.json",
                                     "special_tokens_map.json",
                                     "tokenizer.model",
                                     "vocab.json",
                                     "merges.txt",
                                     "added_tokens.json",
                                     "chat_template.jinja",
                                     "chat_template.json"};
constexpr size_t kMaxApiBody = 64u << 20;  // a repo listing; real ones are far smaller
constexpr size_t kMaxErrorBody = 16u << 10;

std::once_flag g_curl_once;

bool is_hex(const std::string& s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string percent_encode(const std::string& s, bool keep_slash) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/'))
      out += char(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) b /= 1000, ++u;
  return u == 0 ? fmt::format("{:.0f} B", b) : fmt::format("{:.1f} {}", b, units[u]);
}

std::string human_seconds(double s) {
  if (s < 60) return fmt::format("{:.0f}s", s);
  if (s < 3600) return fmt::format("{}m{:02d}s", int(s) / 60, int(s) % 60);
  return fmt::format("{}h{:02d}m", int(s) / 3600, (int(s) % 3600) / 60);
}

// The progress bar of one file on stderr: bytes, percentage, rate, ETA; redrawn at most 10x/s.
struct ProgressBar {
  std::string label;
  uint64_t total = 0;  // 0 when unknown
  uint64_t resumed = 0;
  bool bar = false;    // redraw in place (a terminal)
  bool lines = false;  // one line when done (not a terminal)
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now(), last;
  uint64_t done = 0;

  void draw(bool final) {
    if (!bar) return;
    auto now = std::chrono::steady_clock::now();
    if (!final && now - last < std::chrono::milliseconds(100)) return;
    last = now;
    double secs = std::chrono::duration<double>(now - start).count();
    double rate = secs > 0 ? double(done - resumed) / secs : 0;
    std::string line = fmt::format("\r{}  {}", label, human_bytes(double(done)));
    if (total > 0) {
      double frac = std::min(1.0, double(done) / double(total));
      int filled = int(frac * 24);
      line += fmt::format(" / {}  [{}{}] {:3.0f}%", human_bytes(double(total)),
                          std::string(filled, '#'), std::string(24 - filled, '.'), frac * 100);
    }
    line += fmt::format("  {}/s", human_bytes(rate));
    if (total > 0 && rate > 0 && !final)
      line += "  ETA " + human_seconds(double(total - std::min(total, done)) / rate);
    std::fprintf(stderr, "%s   %s", line.c_str(), final ? "\n" : "");
    std::fflush(stderr);
  }
  void finish() {
    if (bar) {
      draw(true);
    } else if (lines) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr, "%s  %s in %.1f s\n", label.c_str(), human_bytes(double(done)).c_str(),
                   secs);
    }
  }
};

struct Response {
  CURLcode code = CURLE_OK;
  std::string curl_error;
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names, of the last response
  std::string body;                            // API answers and error bodies (bounded)
  std::string redirect_url;                    // Location, resolved, when not followed
  bool body_truncated = false;

  std::string header(const std::string& k) const {
    auto it = headers.find(k);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Where a GET's bytes go: memory (bounded) or a file being resumed at `offset`.
struct Sink {
  Response* resp = nullptr;
  size_t body_limit = kMaxErrorBody;
  std::FILE* file = nullptr;
  uint64_t offset = 0;
  bool decided = false, to_file = false;
  std::string abort_reason;
  ProgressBar* progress = nullptr;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or 100-continue)
    s->resp->headers.clear();
    size_t sp = line.find(' ');
    s->resp->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string::npos && s->resp->headers.size() < 256) {
    std::string key = line.substr(0, colon), value = line.substr(colon + 1);
    for (char& c : key) c = char(std::tolower(static_cast<unsigned char>(c)));
    size_t b = value.find_first_not_of(" \t");
    value = b == std::string::npos ? "" : value.substr(b);
    s->resp->headers[key] = value;
  }
  return size * n;
}

// "bytes START-END/TOTAL" -> START, or -1.
int64_t content_range_start(const std::string& v) {
  if (v.rfind("bytes ", 0) != 0) return -1;
  char* end = nullptr;
  unsigned long long x = std::strtoull(v.c_str() + 6, &end, 10);
  if (end == v.c_str() + 6 || *end != '-') return -1;
  return int64_t(x);
}

size_t on_write(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  size_t bytes = size * n;
  if (!s->decided) {
    s->decided = true;
    long st = s->resp->status;
    if (s->file && (st == 200 || st == 206)) {
      s->to_file = true;
      if (st == 206) {
        int64_t start = content_range_start(s->resp->header("content-range"));
        if (start != int64_t(s->offset)) {
          s->abort_reason =
              fmt::format("server resumed at byte {} instead of {}", start, s->offset);
          return 0;
        }
      } else if (s->offset > 0) {  // the server ignored Range: start over
        if (::ftruncate(::fileno(s->file), 0) != 0 || std::fseek(s->file, 0, SEEK_SET) != 0) {
          s->abort_reason = "cannot truncate the partial file";
          return 0;
        }
        s->offset = 0;
        if (s->progress) s->progress->resumed = 0, s->progress->done = 0;
      }
    }
  }
  if (s->to_file) {
    if (std::fwrite(data, 1, bytes, s->file) != bytes) {
      s->abort_reason = fmt::format("write failed: {}", std::strerror(errno));
      return 0;
    }
    return bytes;
  }
  if (s->resp->body.size() + bytes > s->body_limit) {
    if (s->body_limit == kMaxErrorBody) {  // an error page: keep its start
      s->resp->body_truncated = true;
      s->resp->body.append(data, std::min(bytes, s->body_limit - s->resp->body.size()));
      return bytes;
    }
    s->abort_reason = fmt::format("answer larger than {} bytes", s->body_limit);
    return 0;
  }
  s->resp->body.append(data, bytes);
  return bytes;
}

int on_progress(void* user, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* s = static_cast<Sink*>(user);
  if (s->progress && s->to_file) {
    s->progress->done = s->offset + uint64_t(dlnow);
    s->progress->draw(false);
  }
  return 0;
}

// One hub session: the options resolved once, the repository, and HTTP helpers.
class HubClient {
 public:
  HubClient(std::string repo_id, const HubOptions& o) : repo_(std::move(repo_id)), opt_(o) {
    std::call_once(g_curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (o.max_attempts < 1 || o.max_redirects < 0 || o.connect_timeout_s < 1 ||
        o.stall_timeout_s < 1)
      throw HubError(fmt::format(
          "hub options: max_attempts {} (>= 1), max_redirects {} (>= 0), connect_timeout_s {} and "
          "stall_timeout_s {} (>= 1) out of range",
          o.max_attempts, o.max_redirects, o.connect_timeout_s, o.stall_timeout_s));
    endpoint_ = o.endpoint.empty() ? hub_endpoint() : o.endpoint;
    while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
    if (endpoint_.rfind("http://", 0) != 0 && endpoint_.rfind("https://", 0) != 0)
      throw HubError(fmt::format("hub endpoint '{}' is not an http(s) URL (check HF_ENDPOINT)",
                                 printable(endpoint_)));
    token_ = o.token ? o.token : hub_token();
    if (token_ && token_->empty()) token_.reset();
    if (token_ && token_->find_first_of("\r\n") != std::string::npos)
      throw HubError("HF_TOKEN contains a line break; set it to the token alone");
    bool tty = ::isatty(2);
    bar_ = o.progress == HubOptions::Progress::Always ||
           (o.progress == HubOptions::Progress::Auto && tty);
    lines_ = o.progress == HubOptions::Progress::Auto && !tty;
  }

  const std::string& endpoint() const { return endpoint_; }
  bool has_token() const { return token_.has_value(); }

  std::string resolve_url(const std::string& revision, const std::string& file) const {
    return fmt::format("{}/{}/resolve/{}/{}", endpoint_, repo_, percent_encode(revision, false),
                       percent_encode(file, true));
  }

  // One request. HEAD does not follow redirects (their headers carry the LFS etag); GET does.
  Response request(const std::string& url, bool head, Sink* sink_in = nullptr,
                   uint64_t range_from = 0) const {
    Response r;
    Sink local;
    Sink* sink = sink_in ? sink_in : &local;
    sink->resp = &r;
    std::unique_ptr<CURL, void (*)(CURL*)> h(curl_easy_init(), curl_easy_cleanup);
    if (!h) throw HubError("libcurl: cannot create a handle");
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_slist* headers = nullptr;
    if (token_) headers = curl_slist_append(headers, ("Authorization: Bearer " + *token_).c_str());
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> hold(headers, curl_slist_free_all);
    CURL* c = h.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_USERAGENT, (std::string("lazarus/") + kVersion).c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, head ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, long(opt_.max_redirects));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, opt_.connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, opt_.stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, sink);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, sink);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (head) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    std::string range = fmt::format("{}-", range_from);
    if (range_from > 0) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
    r.code = curl_easy_perform(c);
    r.curl_error = errbuf[0] ? errbuf : curl_easy_strerror(r.code);
    if (!sink->abort_reason.empty()) r.curl_error = sink->abort_reason;
    char* redirect = nullptr;
    if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &redirect) == CURLE_OK && redirect)
      r.redirect_url = redirect;
    if (r.code == CURLE_TOO_MANY_REDIRECTS)
      throw HubError(fmt::format("{}: more than {} redirects; the hub or a proxy is misconfigured",
                                 url, opt_.max_redirects));
    return r;
  }

  // The error to report for an HTTP failure, saying what to do.
  HubError http_error(const Response& r, const std::string& url, const std::string& revision,
                      const std::string& file) const {
    std::string code = r.header("x-error-code"), server = printable(r.header("x-error-message"));
    std::string token_note =
        token_ ? "the token that was sent (HF_TOKEN or the token file) does not give access"
               : "no token was sent: set HF_TOKEN to an access token (or log in with "
                 "`huggingface-cli login`, which writes ~/.cache/huggingface/token)";
    std::string msg;
    long s = r.status;
    if (code == "GatedRepo" || (s == 403 && code.empty())) {
      msg = fmt::format(
          "'{}' is gated or access is denied (HTTP {}): accept its license at {}/{} while logged "
          "in, then use a token of that account; {}",
          repo_, s, endpoint_, repo_, token_note);
    } else if (code == "RepoNotFound" || s == 401) {
      msg = fmt::format(
          "'{}' was not found at {}, or it is private (HTTP {}): check the name{}; if it is "
          "private or gated, {}",
          repo_, endpoint_, s, detail::preset_hint(repo_), token_note);
    } else if (code == "RevisionNotFound") {
      msg = fmt::format("'{}' has no revision '{}' (HTTP {})", repo_, revision, s);
    } else if (code == "EntryNotFound") {
      msg =
          fmt::format("'{}' has no file '{}' at revision '{}' (HTTP {})", repo_, file, revision, s);
    } else if (s == 404) {
      msg = fmt::format(
          "'{}': {} not found (HTTP 404 from {}): check the name{} and the revision '{}'", repo_,
          file.empty() ? "the repository" : "'" + file + "'", url, detail::preset_hint(repo_),
          revision);
    } else if (s == 429) {
      msg =
          fmt::format("{}: rate limited (HTTP 429); wait a minute and run the command again", url);
    } else if (s >= 500) {
      msg = fmt::format("{}: the hub answered HTTP {}; try again later", url, s);
    } else {
      msg = fmt::format("{}: unexpected HTTP {}", url, s);
    }
    if (!server.empty()) msg += fmt::format(" (server says: {})", server);
    return HubError(msg, s);
  }

  HubError transport_error(const Response& r, const std::string& url) const {
    return HubError(fmt::format(
        "{}: {} (curl error {}); check the network, a proxy (https_proxy) or HF_ENDPOINT, or set "
        "HF_HUB_OFFLINE=1 to use only the cache",
        url, r.curl_error, int(r.code)));
  }

  struct FileMeta {
    std::string etag;  // normalized: no quotes, no W/
    std::optional<uint64_t> size;
    std::string commit;
  };

  // HEAD resolve/<revision>/<file>, following same-hub redirects (a renamed repository) until a
  // response carries the etag. nullopt for a 404 when `optional`.
  std::optional<FileMeta> head(const std::string& revision, const std::string& file,
                               bool optional) const {
    std::string url = resolve_url(revision, file), first = url;
    for (int hops = 0;; ++hops) {
      Response r;
      for (int attempt = 1;; ++attempt) {  // HEAD is cheap: retry transport errors
        r = request(url, /*head=*/true);
        if (r.code == CURLE_OK || attempt >= opt_.max_attempts) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
      }
      if (r.code != CURLE_OK) throw transport_error(r, url);
      bool linked = !r.header("x-linked-etag").empty();
      if (r.status >= 300 && r.status < 400 && !linked) {
        if (hops >= opt_.max_redirects)
          throw HubError(
              fmt::format("{}: more than {} redirects; the hub or a proxy is "
                          "misconfigured",
                          first, opt_.max_redirects));
        if (r.redirect_url.empty())
          throw HubError(fmt::format("{}: HTTP {} without a Location", url, r.status));
        url = r.redirect_url;
        continue;
      }
      if (r.status >= 400) {
        if (optional && r.status == 404) return std::nullopt;
        throw http_error(r, url, revision, file);
      }
      FileMeta m;
      m.etag = linked ? r.header("x-linked-etag") : r.header("etag");
      if (m.etag.rfind("W/", 0) == 0) m.etag = m.etag.substr(2);
      m.etag.erase(std::remove(m.etag.begin(), m.etag.end(), '"'), m.etag.end());
      // The etag names a file in blobs/: only plain names.
      if (m.etag.empty() || m.etag.size() > 128 ||
          !std::all_of(m.etag.begin(), m.etag.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
          }))
        throw HubError(fmt::format(
            "{}: missing or malformed ETag '{}': this does not look like a Hugging Face hub", url,
            printable(m.etag)));
      std::string sz = r.header(linked ? "x-linked-size" : "content-length");
      if (!sz.empty()) {
        char* end = nullptr;
        errno = 0;
        unsigned long long v = std::strtoull(sz.c_str(), &end, 10);
        if (errno || *end || end == sz.c_str())
          throw HubError(fmt::format("{}: malformed size '{}'", url, printable(sz)));
        m.size = v;
      }
      m.commit = r.header("x-repo-commit");
      return m;
    }
  }

  // GET into `blob` (via blob.incomplete, resumed with Range after drops), verified, renamed.
  void fetch_blob(const std::string& commit, const std::string& file, const FileMeta& meta,
                  const fs::path& blob) const {
    fs::path part = blob;
    part += ".incomplete";
    std::string url = resolve_url(commit, file);
    ProgressBar bar;
    bar.label = fmt::format("[download] {}", file);
    bar.total = meta.size.value_or(0);
    bar.bar = bar_;
    bar.lines = lines_;
    std::string last_error;
    bool ok = false;
    for (int attempt = 1; attempt <= opt_.max_attempts && !ok; ++attempt) {
      std::error_code ec;
      uint64_t have = fs::exists(part, ec) ? fs::file_size(part, ec) : 0;
      if (meta.size && have > *meta.size) {
        fs::resize_file(part, 0, ec);
        have = 0;
      }
      if (meta.size && have == *meta.size && have > 0) {
        ok = true;  // a previous run got every byte but stopped before the rename
        break;
      }
      std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(part.c_str(), "ab"),
                                                        std::fclose);
      if (!f)
        throw HubError(fmt::format("{}: cannot write: {}", part.string(), std::strerror(errno)));
      Sink sink;
      sink.file = f.get();
      sink.offset = have;
      sink.progress = &bar;
      bar.resumed = bar.done = have;
      Response r = request(url, /*head=*/false, &sink, have);
      if (std::fflush(f.get()) != 0)
        throw HubError(fmt::format("{}: write failed: {}", part.string(), std::strerror(errno)));
      f.reset();
      uint64_t now = fs::file_size(part, ec);
      if (r.code == CURLE_OK && r.status == 416 && meta.size && have == *meta.size) {
        ok = true;
      } else if (r.code == CURLE_OK && (r.status == 200 || r.status == 206)) {
        if (!meta.size || now == *meta.size)
          ok = true;
        else
          last_error = fmt::format("got {} of {} bytes", now, *meta.size);
      } else if (r.code == CURLE_OK && (r.status == 416)) {
        fs::resize_file(part, 0, ec);  // our partial file does not match the server's: restart
        last_error = "HTTP 416 for the resume offset";
      } else if (r.code == CURLE_OK && r.status != 429 && r.status < 500) {
        throw http_error(r, url, commit, file);
      } else {
        last_error = r.code == CURLE_OK ? fmt::format("HTTP {}", r.status) : r.curl_error;
      }
      if (!ok && attempt < opt_.max_attempts) {
        if (bar.bar || bar.lines)
          std::fprintf(stderr, "\n[download] %s: interrupted at %llu bytes (%s); resuming\n",
                       file.c_str(), (unsigned long long)now, last_error.c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
      }
    }
    if (!ok)
      throw HubError(fmt::format(
          "{}: download interrupted {} times (last: {}); run the same command again to resume "
          "from the {} bytes kept in {}",
          url, opt_.max_attempts, last_error, fs::exists(part) ? fs::file_size(part) : 0,
          part.string()));
    bar.finish();
    // LFS files are named by their sha256: check the bytes before they enter the cache.
    if (is_hex(meta.etag, 64)) {
      std::string got = sha256_hex_file(part);
      if (got != meta.etag) {
        std::error_code ec;
        fs::remove(part, ec);
        throw HubError(fmt::format(
            "{}: sha256 {} does not match the hub's {}; the partial download was deleted, run the "
            "command again",
            url, got, meta.etag));
      }
    }
    std::error_code ec;
    fs::rename(part, blob, ec);
    if (ec)
      throw HubError(fmt::format("{}: cannot rename into place: {}", blob.string(), ec.message()));
  }

  // GET a small JSON answer (the API), or nullopt for a plain 404 (an endpoint without the API).
  std::optional<json> get_json(const std::string& url, const std::string& revision) const {
    Sink sink;
    sink.body_limit = kMaxApiBody;
    Response r;
    for (int attempt = 1;; ++attempt) {
      r = request(url, /*head=*/false, &sink);
      if (r.code == CURLE_OK || attempt >= opt_.max_attempts) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
      sink = Sink();
      sink.body_limit = kMaxApiBody;
    }
    if (r.code != CURLE_OK) throw transport_error(r, url);
    if (r.status == 404 && r.header("x-error-code").empty()) return std::nullopt;
    if (r.status >= 400) throw http_error(r, url, revision, "");
    return parse_json_text<json, HubError>(r.body, url + ": the answer", 64);
  }

  const std::string& repo() const { return repo_; }

 private:
  std::string repo_;
  HubOptions opt_;
  std::string endpoint_;
  std::optional<std::string> token_;
  bool bar_ = false, lines_ = false;
};

void write_file_atomic(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  fs::path tmp = path;
  tmp += fmt::format(".tmp.{}", ::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f) throw HubError(fmt::format("{}: cannot write", tmp.string()));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec)
    throw HubError(fmt::format("{}: cannot rename into place: {}", path.string(), ec.message()));
}

// snapshots/<commit>/<file> -> ../../blobs/<etag> (relative, as the Python hub makes them);
// a copy where the filesystem has no symlinks.
void link_into_snapshot(const fs::path& blob, const fs::path& target) {
  fs::create_directories(target.parent_path());
  fs::path tmp = target;
  tmp += fmt::format(".tmp-link.{}", ::getpid());
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_symlink(blob.lexically_relative(target.parent_path()), tmp, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(blob, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec)
      throw HubError(fmt::format("{}: cannot link or copy: {}", target.string(), ec.message()));
  }
  fs::rename(tmp, target, ec);
  if (ec)
    throw HubError(fmt::format("{}: cannot rename into place: {}", target.string(), ec.message()));
}

// An exclusive lock shared with the Python hub (<cache>/.locks/models--x/<etag>.lock), so two
// processes never write the same blob.
class BlobLock {
 public:
  explicit BlobLock(const fs::path& path) {
    fs::create_directories(path.parent_path());
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw HubError(fmt::format("{}: cannot open lock: {}", path.string(), std::strerror(errno)));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      std::fprintf(stderr, "[download] waiting for another process holding %s\n", path.c_str());
      if (::flock(fd_, LOCK_EX) != 0) {
        ::close(fd_);
        throw HubError(fmt::format("{}: cannot lock: {}", path.string(), std::strerror(errno)));
      }
    }
  }
  ~BlobLock() { ::close(fd_); }
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  int fd_ = -1;
};

std::set<std::string> index_shards(const fs::path& index_file, const std::string& where) {
  std::ifstream f(index_file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  json j = parse_json_text<json, HubError>(text, where, 64);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw HubError(fmt::format("{}: expected an object with a \"weight_map\" object", where));
  std::set<std::string> shards;
  for (const auto& [tensor, shard] : j["weight_map"].items()) {
    if (!shard.is_string())
      throw HubError(
          fmt::format("{}: weight_map['{}'] is not a file name", where, printable(tensor)));
    shards.insert(checked_repo_file(shard.get<std::string>(), where));
  }
  if (shards.empty()) throw HubError(fmt::format("{}: weight_map names no shard", where));
  return shards;
}

}  // namespace

fs::path download_model(const std::string& repo_id, const HubOptions& options) {
  validate_repo_id(repo_id);
  validate_revision(options.revision);
  fs::path cache =
      fs::absolute(options.cache_dir.empty() ? hub_cache_dir() : fs::path(options.cache_dir));
  if (options.offline.value_or(hub_offline())) {
    auto snap = find_cached_snapshot(repo_id, options.revision, cache);
    std::vector<std::string> missing =
        snap ? missing_model_files(*snap) : std::vector<std::string>{};
    if (snap && missing.empty()) return *snap;
    throw detail::offline_error(repo_id, options.revision, cache, snap, missing);
  }
  HubClient hub(repo_id, options);
  fs::path repo_dir = repo_cache_folder(cache, repo_id);

  // 1. The commit and the files to fetch: the API listing, else probing the known names.
  std::string commit;
  std::set<std::string> listed;
  bool have_listing = false;
  std::string api = fmt::format("{}/api/models/{}/revision/{}", hub.endpoint(), repo_id,
                                percent_encode(options.revision, false));
  if (auto j = hub.get_json(api, options.revision)) {
    if (!j->is_object() || !(*j)["sha"].is_string() || !(*j)["siblings"].is_array())
      throw HubError(fmt::format("{}: expected \"sha\" and \"siblings\" in the answer", api));
    commit = (*j)["sha"].get<std::string>();
    for (const auto& s : (*j)["siblings"])
      if (s.is_object() && s.contains("rfilename") && s["rfilename"].is_string())
        listed.insert(s["rfilename"].get<std::string>());
    have_listing = true;
  }
  // The commit names a folder: check it like a ref.
  auto check_commit = [&](const std::string& c, const std::string& from) {
    if (c.empty() || c.size() > 128 ||
        !std::all_of(c.begin(), c.end(), [](char ch) { return std::isalnum((unsigned char)ch); }))
      throw HubError(fmt::format("{}: missing or malformed commit id '{}'", from, printable(c)));
  };
  std::map<std::string, HubClient::FileMeta> metas;  // file -> etag/size
  if (have_listing) {
    check_commit(commit, api);
    if (!listed.count("config.json"))
      throw HubError(
          fmt::format("'{}' at revision '{}' has no config.json: it is not a model "
                      "repository Lazarus can load",
                      repo_id, options.revision));
  } else {
    auto m = hub.head(options.revision, "config.json", /*optional=*/false);
    commit = m->commit;
    check_commit(commit, hub.resolve_url(options.revision, "config.json") + " (X-Repo-Commit)");
    metas["config.json"] = *m;
  }
  auto exists_remote = [&](const std::string& f) -> bool {
    if (have_listing) return listed.count(f) > 0;
    if (metas.count(f)) return true;
    auto m = hub.head(commit, f, /*optional=*/true);
    if (m) metas[f] = *m;
    return m.has_value();
  };

  fs::path snapshot = repo_dir / "snapshots" / commit;
  fs::path blobs = repo_dir / "blobs";
  fs::path locks = cache / ".locks" / repo_dir.filename();
  fs::create_directories(blobs);
  auto fetch = [&](const std::string& file) {
    checked_repo_file(file, repo_id);
    if (!metas.count(file)) metas[file] = *hub.head(commit, file, /*optional=*/false);
    const auto& m = metas[file];
    fs::path blob = blobs / m.etag;
    std::error_code ec;
    auto complete = [&] {
      return fs::exists(blob, ec) && (!m.size || fs::file_size(blob, ec) == *m.size);
    };
    if (!complete()) {
      BlobLock lock(locks / (m.etag + ".lock"));
      if (!complete()) hub.fetch_blob(commit, file, m, blob);
    }
    link_into_snapshot(blob, snapshot / file);
  };

  // 2. config first (cheap, proves access), then the weights, then tokenizer and the rest.
  fetch("config.json");
  if (exists_remote("model.safetensors")) {
    fetch("model.safetensors");
  } else if (exists_remote("model.safetensors.index.json")) {
    fetch("model.safetensors.index.json");
    std::string where = fmt::format("{}/model.safetensors.index.json", repo_id);
    for (const auto& shard : index_shards(snapshot / "model.safetensors.index.json", where)) {
      if (have_listing && !listed.count(shard))
        throw HubError(fmt::format("{}: names shard '{}', which the repository does not have",
                                   where, printable(shard)));
      fetch(shard);
    }
  } else {
    std::string files;
    for (const auto& f : listed) files += (files.empty() ? "" : ", ") + f;
    throw HubError(fmt::format(
        "'{}' at revision '{}' has no safetensors weights (model.safetensors or "
        "model.safetensors.index.json){}; Lazarus reads safetensors only: pick a repository that "
        "has them (many have a refs/pr/N revision with a safetensors conversion)",
        repo_id, options.revision, files.empty() ? "" : " — it has: " + printable(files)));
  }
  for (const char* f : kSupportFiles)
    if (std::string(f) != "config.json" && exists_remote(f)) fetch(f);

  // 3. The branch or tag now points at this commit (the Python hub writes it the same way).
  if (options.revision != commit) write_file_atomic(repo_dir / "refs" / options.revision, commit);
  return snapshot;
}

}  // namespace lazarus::io
