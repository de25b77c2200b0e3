// A local HTTP server that answers like the Hugging Face hub, for the download tests (no network):
//   GET  /api/models/{repo}/revision/{rev}     {"sha", "siblings": [{"rfilename"}]}
//   HEAD/GET /{repo}/resolve/{rev}/{file}      ETag, X-Repo-Commit, Content-Length, Range -> 206
//   *.safetensors resolve with 302 to /cdn/{sha256} carrying X-Linked-Etag / X-Linked-Size, as
//   the hub does for LFS files. Errors carry X-Error-Code like the hub (RepoNotFound, GatedRepo,
//   RevisionNotFound, EntryNotFound). Faults on request: drop the connection after N bytes of a
//   file, answer a redirect loop, serve a hostile ETag, hide the API.
// Plain POSIX sockets, one connection at a time, `Connection: close`.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace lazarus::testing {

struct FakeRepo {
  std::string commit;                          // 40 hex
  std::map<std::string, std::string> files;    // name -> bytes
  std::map<std::string, std::string> lfs_sha;  // name -> sha256 (files served through /cdn)
  std::string token;   // non-empty: "Authorization: Bearer <token>" required
  bool gated = false;  // missing/wrong token -> 403 GatedRepo instead of 401
};

class FakeHub {
 public:
  struct Seen {
    std::string method, path, range, auth;
  };

  FakeHub() {
    listen_on(fd_, port_);
    listen_on(cdn_fd_, cdn_port_);
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeHub() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
    ::close(cdn_fd_);
  }

  /// The hub's base URL (HF_ENDPOINT).
  std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }
  /// Where LFS files are redirected: another port, so another origin for the client.
  std::string cdn_url() const { return fmt::format("http://127.0.0.1:{}", cdn_port_); }

  void add_repo(const std::string& id, FakeRepo r) {
    std::lock_guard<std::mutex> g(mu_);
    repos_[id] = std::move(r);
  }
  /// Drop the connection of successive GETs of `file` at these absolute byte offsets, in order.
  void drop(const std::string& file, std::vector<uint64_t> offsets) {
    std::lock_guard<std::mutex> g(mu_);
    drops_[file] = std::move(offsets);
  }
  void set_api(bool on) { api_ = on; }
  void set_bad_etag(const std::string& file, const std::string& etag) {
    std::lock_guard<std::mutex> g(mu_);
    bad_etag_[file] = etag;
  }
  std::vector<Seen> log() {
    std::lock_guard<std::mutex> g(mu_);
    return log_;
  }
  void clear_log() {
    std::lock_guard<std::mutex> g(mu_);
    log_.clear();
  }

 private:
  struct Request {
    std::string method, path;
    std::map<std::string, std::string> headers;
  };
  struct Reply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;        // Content-Length is its size (HEAD sends the headers only)
    int64_t cut_after = -1;  // send only this many body bytes, then close
  };

  static void listen_on(int& fd, int& port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0)
      throw std::runtime_error("fake hub: cannot listen");
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }

  void loop() {
    while (!stop_) {
      pollfd p[2] = {{fd_, POLLIN, 0}, {cdn_fd_, POLLIN, 0}};
      if (::poll(p, 2, 50) <= 0) continue;
      int c = ::accept((p[0].revents & POLLIN) ? fd_ : cdn_fd_, nullptr, nullptr);
      if (c < 0) continue;
      timeval tv{5, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      Request req;
      if (read_request(c, req)) {
        Reply rep = handle(req);
        send_reply(c, req, rep);
      }
      ::shutdown(c, SHUT_RDWR);
      ::close(c);
    }
  }

  static bool read_request(int c, Request& req) {
    std::string buf;
    char tmp[4096];
    while (buf.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(c, tmp, sizeof tmp, 0);
      if (n <= 0 || buf.size() > 65536) return false;
      buf.append(tmp, size_t(n));
    }
    size_t eol = buf.find("\r\n");
    std::string first = buf.substr(0, eol);
    size_t s1 = first.find(' '), s2 = first.rfind(' ');
    if (s1 == std::string::npos || s2 == s1) return false;
    req.method = first.substr(0, s1);
    req.path = first.substr(s1 + 1, s2 - s1 - 1);
    size_t pos = eol + 2, end = buf.find("\r\n\r\n");
    while (pos < end) {
      size_t e = buf.find("\r\n", pos);
      std::string line = buf.substr(pos, e - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string k = line.substr(0, colon);
        for (char& ch : k) ch = char(std::tolower(static_cast<unsigned char>(ch)));
        std::string v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(' '));
        req.headers[k] = v;
      }
      pos = e + 2;
    }
    return true;
  }

  static void send_all(int c, const char* p, size_t n) {
    while (n > 0) {
      ssize_t k = ::send(c, p, n, MSG_NOSIGNAL);
      if (k <= 0) return;
      p += k;
      n -= size_t(k);
    }
  }

  static const char* reason(int s) {
    switch (s) {
      case 200:
        return "OK";
      case 206:
        return "Partial Content";
      case 302:
        return "Found";
      case 401:
        return "Unauthorized";
      case 403:
        return "Forbidden";
      case 404:
        return "Not Found";
      case 416:
        return "Range Not Satisfiable";
      default:
        return "Other";
    }
  }

  static void send_reply(int c, const Request& req, const Reply& rep) {
    std::string head = fmt::format("HTTP/1.1 {} {}\r\n", rep.status, reason(rep.status));
    bool has_len = false;
    for (const auto& [k, v] : rep.headers) {
      head += k + ": " + v + "\r\n";
      if (k == "Content-Length") has_len = true;
    }
    if (!has_len) head += fmt::format("Content-Length: {}\r\n", rep.body.size());
    head += "Connection: close\r\n\r\n";
    send_all(c, head.data(), head.size());
    if (req.method == "HEAD") return;
    size_t n =
        rep.cut_after >= 0 ? std::min(rep.body.size(), size_t(rep.cut_after)) : rep.body.size();
    send_all(c, rep.body.data(), n);
  }

  static Reply error(int status, const std::string& code) {
    Reply r;
    r.status = status;
    if (!code.empty()) r.headers.push_back({"X-Error-Code", code});
    r.headers.push_back({"X-Error-Message", code.empty() ? "error" : code});
    r.body = "{\"error\":\"" + code + "\"}";
    return r;
  }

  // Serves `bytes` of `file`, honouring Range and any drop planned for the file.
  Reply content(const Request& req, const std::string& file, const std::string& bytes) {
    Reply r;
    uint64_t from = 0;
    auto it = req.headers.find("range");
    if (it != req.headers.end()) {
      from = std::stoull(it->second.substr(6));  // "bytes=N-"
      if (from >= bytes.size()) {
        r.status = 416;
        r.headers.push_back({"Content-Range", fmt::format("bytes */{}", bytes.size())});
        return r;
      }
      r.status = 206;
      r.headers.push_back(
          {"Content-Range", fmt::format("bytes {}-{}/{}", from, bytes.size() - 1, bytes.size())});
    }
    r.body = bytes.substr(from);
    auto d = drops_.find(file);
    if (req.method == "GET" && d != drops_.end() && !d->second.empty() &&
        d->second.front() > from) {
      r.cut_after = int64_t(d->second.front() - from);
      d->second.erase(d->second.begin());
    }
    return r;
  }

  Reply handle(const Request& req) {
    std::lock_guard<std::mutex> g(mu_);
    auto auth = req.headers.count("authorization") ? req.headers.at("authorization") : "";
    auto range = req.headers.count("range") ? req.headers.at("range") : "";
    log_.push_back({req.method, req.path, range, auth});
    const std::string& p = req.path;
    // /cdn/<sha256>: LFS content, no auth (a signed URL on the real hub).
    if (p.rfind("/cdn/", 0) == 0) {
      std::string sha = p.substr(5);
      for (const auto& [id, repo] : repos_)
        for (const auto& [name, s] : repo.lfs_sha)
          if (s == sha) {
            Reply r = content(req, name, repo.files.at(name));
            r.headers.push_back({"ETag", "\"" + sha + "\""});
            return r;
          }
      return error(404, "");
    }
    bool api = p.rfind("/api/models/", 0) == 0;
    if (api && !api_) return error(404, "");
    // Split "{org}/{name}/resolve/{rev}/{file}" or "api/models/{org}/{name}/revision/{rev}".
    std::string rest = api ? p.substr(12) : p.substr(1);
    std::string marker = api ? "/revision/" : "/resolve/";
    size_t m = rest.find(marker);
    if (m == std::string::npos) return error(404, "");
    std::string id = rest.substr(0, m), tail = rest.substr(m + marker.size());
    if (id == "loop/model") {  // a redirect to itself, forever
      Reply r;
      r.status = 302;
      r.headers.push_back({"Location", p});
      return r;
    }
    auto rit = repos_.find(id);
    if (rit == repos_.end()) return error(404, "RepoNotFound");
    const FakeRepo& repo = rit->second;
    if (!repo.token.empty() && auth != "Bearer " + repo.token)
      return repo.gated ? error(403, "GatedRepo") : error(401, "");
    std::string rev = api ? tail : tail.substr(0, tail.find('/'));
    if (rev != "main" && rev != repo.commit) return error(404, "RevisionNotFound");
    if (api) {
      nlohmann::json j = {{"id", id}, {"sha", repo.commit}, {"siblings", nlohmann::json::array()}};
      for (const auto& [name, bytes] : repo.files) j["siblings"].push_back({{"rfilename", name}});
      Reply r;
      r.body = j.dump();
      r.headers.push_back({"Content-Type", "application/json"});
      return r;
    }
    std::string file = tail.find('/') == std::string::npos ? "" : tail.substr(tail.find('/') + 1);
    auto fit = repo.files.find(file);
    if (fit == repo.files.end()) return error(404, "EntryNotFound");
    auto sha = repo.lfs_sha.find(file);
    // A stand-in git blob id: 40 hex characters derived from the name and size.
    std::string oid =
        fmt::format("{:016x}{:024x}", std::hash<std::string>{}(file), fit->second.size());
    if (sha != repo.lfs_sha.end()) {
      Reply r;
      r.status = 302;
      r.headers = {{"Location", cdn_url() + "/cdn/" + sha->second},
                   {"X-Linked-Etag", "\"" + sha->second + "\""},
                   {"X-Linked-Size", std::to_string(fit->second.size())},
                   {"X-Repo-Commit", repo.commit},
                   {"ETag", "\"" + oid + "\""}};
      return r;
    }
    Reply r = content(req, file, fit->second);
    auto bad = bad_etag_.find(file);
    r.headers.push_back({"ETag", bad != bad_etag_.end() ? bad->second : "W/\"" + oid + "\""});
    r.headers.push_back({"X-Repo-Commit", repo.commit});
    return r;
  }

  int fd_ = -1, cdn_fd_ = -1;
  int port_ = 0, cdn_port_ = 0;
  std::atomic<bool> stop_{false}, api_{true};
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, FakeRepo> repos_;
  std::map<std::string, std::vector<uint64_t>> drops_;
  std::map<std::string, std::string> bad_etag_;
  std::vector<Seen> log_;
};

}  // namespace lazarus::testing
