// The subset of the Hugging Face hub protocol that huggingface_hub itself uses to read a repository.
//
//   GET  {endpoint}/api/models/{repo}/revision/{rev}?blobs=true
//        -> {"id", "sha": commit, "siblings": [{"rfilename", "size", "blobId", "lfs": {"sha256", "size"}}]}
//   HEAD {endpoint}/{repo}/resolve/{commit}/{file}
//        -> X-Repo-Commit, X-Linked-Etag / ETag, X-Linked-Size / Content-Length; LFS files answer with a
//           redirect to a storage host (Location absolute, or relative for renamed repositories)
//   GET  the resolved URL with Range: bytes=A-B -> 206 + Content-Range
//
// Everything the server says is checked: the commit is 40 hex digits and the same in every answer, file names
// cannot leave the repository, sizes agree between the API, the HEAD answer and Content-Range.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fromscratch/net/http.hpp"

namespace fromscratch::remote {

struct RepoFile {
  std::string name;    // rfilename
  uint64_t size = 0;
  bool has_size = false;
  std::string lfs_sha256;  // empty when not an LFS file
  std::string blob_id;     // git blob sha1 (non-LFS files)
};

struct RepoRevision {
  std::string repo;
  std::string revision;  // as asked
  std::string commit;    // sha
  std::vector<RepoFile> files;  // sorted by name
  const RepoFile* find(const std::string& name) const;
};

// Parses the revision API answer (bounded DOM, every field checked). Throws FormatError naming `url`.
RepoRevision parse_revision_json(const std::string& body, const std::string& repo, const std::string& revision,
                                 const std::string& url);

// Percent-encodes a path for a URL (keeps '/' when keep_slash).
std::string url_quote(const std::string& s, bool keep_slash);

struct ResolvedFile {
  std::string url;        // where ranges are fetched (after redirects to the storage host)
  uint64_t size = 0;
  std::string etag;       // X-Linked-Etag or ETag, quotes removed
};

class HubClient {
 public:
  HubClient(std::string endpoint, std::shared_ptr<net::HttpClient> http);
  const std::string& endpoint() const { return endpoint_; }
  net::HttpClient& http() { return *http_; }

  std::string revision_url(const std::string& repo, const std::string& revision) const;
  std::string resolve_url(const std::string& repo, const std::string& commit, const std::string& file) const;

  // GET the revision API; returns the parsed answer and the raw body (for the cache).
  RepoRevision revision(const std::string& repo, const std::string& revision, std::string* raw = nullptr);
  // HEAD the file at the pinned commit, following same-host redirects, stopping at the storage redirect.
  // Checks X-Repo-Commit and the size against `expected_size` (when not 0). Memoized per file.
  ResolvedFile resolve(const std::string& repo, const std::string& commit, const std::string& file,
                       uint64_t expected_size, const std::string& lfs_sha256);
  // Drops the memoized resolution of a file (a signed storage URL that expired), so the next resolve asks again.
  void forget(const std::string& repo, const std::string& commit, const std::string& file);

 private:
  std::string endpoint_;
  std::shared_ptr<net::HttpClient> http_;
  std::mutex mutex_;
  std::map<std::string, ResolvedFile> resolved_;
};

}  // namespace fromscratch::remote
