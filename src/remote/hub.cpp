#include "fromscratch/remote/hub.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::remote {

namespace {

bool is_hex(const std::string& s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string unquote_etag(std::string e) {
  if (e.rfind("W/", 0) == 0) e = e.substr(2);
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  return e;
}

bool parse_size(const std::string& s, uint64_t& v) {
  if (s.empty() || s.size() > 19) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint64_t(c - '0');
  }
  return true;
}

}  // namespace

const RepoFile* RepoRevision::find(const std::string& name) const {
  auto it = std::lower_bound(files.begin(), files.end(), name, [](const RepoFile& f, const std::string& n) { return f.name < n; });
  return it != files.end() && it->name == name ? &*it : nullptr;
}

std::string url_quote(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                 c == '_' || c == '~' || (keep_slash && c == '/');
    if (plain) out += char(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

RepoRevision parse_revision_json(const std::string& body, const std::string& repo, const std::string& revision,
                                 const std::string& url) {
  ProblemList problems(url, "file");
  RepoRevision r;
  r.repo = repo;
  r.revision = revision;
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    problems.add("", "", "", "", "the revision API answer is not a JSON object");
    problems.throw_all();
  }
  if (!j.contains("sha") || !j["sha"].is_string() || !is_hex(j["sha"].get<std::string>(), 40))
    problems.add("", "sha", j.contains("sha") ? quote_untrusted(j["sha"].dump(), 80) : "", "40 lower-case hex digits",
                 "no commit sha in the revision API answer");
  else
    r.commit = j["sha"].get<std::string>();
  if (!j.contains("siblings") || !j["siblings"].is_array()) {
    problems.add("", "siblings", "", "", "no file list (siblings) in the revision API answer");
    problems.throw_all();
  }
  if (j["siblings"].size() > 1'000'000) problems.add("", "siblings", str(j["siblings"].size()), "<= 1000000", "too many files");
  std::set<std::string> seen;
  for (const auto& s : j["siblings"]) {
    if (problems.full()) break;
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) {
      problems.add("", "siblings", "", "", "an entry without rfilename");
      continue;
    }
    RepoFile f;
    f.name = s["rfilename"].get<std::string>();
    std::string why = check_shard_name(f.name);
    if (!why.empty()) {
      problems.add(quote_untrusted(f.name, 120), "rfilename", "", "", why);
      continue;
    }
    if (!seen.insert(f.name).second) {
      problems.add(quote_untrusted(f.name, 120), "rfilename", "", "unique", "listed twice");
      continue;
    }
    if (s.contains("size") && s["size"].is_number_unsigned()) {
      f.size = s["size"].get<uint64_t>();
      f.has_size = true;
    }
    if (s.contains("blobId") && s["blobId"].is_string() && is_hex(s["blobId"].get<std::string>(), 40))
      f.blob_id = s["blobId"].get<std::string>();
    if (s.contains("lfs") && s["lfs"].is_object()) {
      const auto& l = s["lfs"];
      if (!l.contains("sha256") || !l["sha256"].is_string() || !is_hex(l["sha256"].get<std::string>(), 64)) {
        problems.add(quote_untrusted(f.name, 120), "lfs.sha256", "", "64 hex digits", "LFS entry without a valid sha256");
        continue;
      }
      f.lfs_sha256 = l["sha256"].get<std::string>();
      if (l.contains("size") && l["size"].is_number_unsigned()) {
        uint64_t ls = l["size"].get<uint64_t>();
        if (f.has_size && ls != f.size)
          problems.add(quote_untrusted(f.name, 120), "lfs.size", str(ls), str(f.size, " (size)"), "sizes disagree");
        f.size = ls;
        f.has_size = true;
      }
    }
    r.files.push_back(std::move(f));
  }
  problems.throw_if_any();
  std::sort(r.files.begin(), r.files.end(), [](const RepoFile& a, const RepoFile& b) { return a.name < b.name; });
  return r;
}

HubClient::HubClient(std::string endpoint, std::shared_ptr<net::HttpClient> http)
    : endpoint_(std::move(endpoint)), http_(std::move(http)) {
  while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
  if (net::origin_of(endpoint_).empty())
    throw UsageError(str("HF_ENDPOINT = '", quote_untrusted(endpoint_, 200), "': not an http(s) URL"));
}

std::string HubClient::revision_url(const std::string& repo, const std::string& revision) const {
  return str(endpoint_, "/api/models/", repo, "/revision/", url_quote(revision, false), "?blobs=true");
}

std::string HubClient::resolve_url(const std::string& repo, const std::string& commit, const std::string& file) const {
  return str(endpoint_, "/", repo, "/resolve/", commit, "/", url_quote(file, true));
}

RepoRevision HubClient::revision(const std::string& repo, const std::string& revision, std::string* raw) {
  const std::string url = revision_url(repo, revision);
  net::HttpResponse r = http_->get(url, 64ull << 20);
  RepoRevision rev = parse_revision_json(r.body, repo, revision, net::redact_url(url));
  if (raw) *raw = std::move(r.body);
  return rev;
}

void HubClient::forget(const std::string& repo, const std::string& commit, const std::string& file) {
  std::lock_guard<std::mutex> lock(mutex_);
  resolved_.erase(resolve_url(repo, commit, file));
}

ResolvedFile HubClient::resolve(const std::string& repo, const std::string& commit, const std::string& file,
                                uint64_t expected_size, const std::string& lfs_sha256) {
  const std::string start = resolve_url(repo, commit, file);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = resolved_.find(start);
    if (it != resolved_.end()) return it->second;
  }
  std::string url = start;
  std::set<std::string> visited;
  ResolvedFile out;
  const int max_hops = http_->options().max_redirects;
  for (int hop = 0;; ++hop) {
    if (hop > max_hops) throw IoError(net::redact_url(start), str("more than ", max_hops, " redirects"));
    visited.insert(url);
    net::HttpResponse r = http_->head(url, false);
    std::string commit_seen = r.header("x-repo-commit");
    if (!commit_seen.empty() && commit_seen != commit)
      throw IoError(net::redact_url(url), str("X-Repo-Commit ", quote_untrusted(commit_seen, 60),
                            " is not the pinned commit ", commit));
    std::string linked_size = r.header("x-linked-size"), linked_etag = r.header("x-linked-etag");
    std::string size_text = !linked_size.empty() ? linked_size : (r.status == 200 ? r.header("content-length") : "");
    std::string etag = unquote_etag(!linked_etag.empty() ? linked_etag : r.header("etag"));
    if (r.status >= 300 && r.status < 400) {
      std::string loc = r.header("location");
      if (loc.empty()) throw IoError(net::redact_url(url), str("HTTP ", r.status, " without a Location header"));
      std::string next = net::resolve_url(url, loc);
      if (net::origin_of(next).empty())
        throw IoError(net::redact_url(url), str("redirect to a non-HTTP URL"));
      if (visited.count(next)) throw IoError(net::redact_url(url), str("redirect loop (", net::redact_url(next), " was already visited)"));
      bool storage_hop = !linked_size.empty() || !linked_etag.empty() || net::origin_of(next) != net::origin_of(url);
      if (!storage_hop) {  // a renamed repository: follow on the hub
        url = next;
        continue;
      }
      out.url = next;
    } else if (r.status == 200) {
      out.url = url;
    } else {
      throw IoError(net::redact_url(url), str("HTTP ", r.status, r.status == 401 || r.status == 403 ? " (gated or private: set HF_TOKEN)" : "",
                            r.status == 404 ? " (no such file at this commit)" : ""));
    }
    if (!size_text.empty()) {
      if (!parse_size(size_text, out.size))
        throw IoError(net::redact_url(url), str("file size '", quote_untrusted(size_text, 40), "' is not a number"));
      if (expected_size && out.size != expected_size)
        throw IoError(net::redact_url(url), str("size ", out.size, " disagrees with the ", expected_size,
                              " bytes the revision API lists for ", quote_untrusted(file, 120)));
    } else {
      out.size = expected_size;
    }
    out.etag = etag;
    if (!lfs_sha256.empty() && !etag.empty() && is_hex(etag, 64) && etag != lfs_sha256)
      throw IoError(net::redact_url(url), str("ETag ", etag, " is not the LFS sha256 ", lfs_sha256, " the revision API lists"));
    break;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  resolved_[start] = out;
  return out;
}

}  // namespace fromscratch::remote
