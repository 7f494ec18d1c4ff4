#include "fromscratch/remote/open_model.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>

#include "fromscratch/core/byte_source.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/file_io.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/net/http.hpp"
#include "fromscratch/remote/byte_cache.hpp"
#include "fromscratch/remote/hub.hpp"

namespace fs = std::filesystem;

namespace fromscratch::remote {

namespace {

using Clock = std::chrono::steady_clock;

std::string hex(const unsigned char* p, size_t n) {
  static const char* h = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += h[p[i] >> 4];
    s += h[p[i] & 15];
  }
  return s;
}

struct Digest {
  EVP_MD_CTX* ctx;
  explicit Digest(const EVP_MD* md) : ctx(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx, md, nullptr); }
  ~Digest() { EVP_MD_CTX_free(ctx); }
  void update(const void* p, size_t n) { EVP_DigestUpdate(ctx, p, n); }
  std::string hex_final() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, out, &n);
    return hex(out, n);
  }
};

bool is_sha(const std::string& s) {
  if (s.size() != 40) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string human(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

}  // namespace

bool is_side_file(const std::string& name) {
  static const std::set<std::string> names = {"config.json", "generation_config.json", "tokenizer.json",
                                              "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                                              "vocab.json", "merges.txt", "tokenizer.model", "vocab.txt",
                                              "model.safetensors.index.json", "truth.json"};
  if (name.find('/') != std::string::npos) return false;
  return names.count(name) > 0 || ends_with(name, ".tiktoken");
}

uint64_t parse_byte_size(const std::string& text, const std::string& what) {
  size_t i = 0;
  double v = 0;
  bool digits = false, dot = false;
  double scale = 1;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      digits = true;
      if (dot) {
        scale /= 10;
        v += (c - '0') * scale;
      } else {
        v = v * 10 + (c - '0');
      }
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  std::string unit = text.substr(i);
  for (auto& c : unit) c = char(std::toupper(static_cast<unsigned char>(c)));
  double mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "K" || unit == "KB") mult = 1e3;
  else if (unit == "M" || unit == "MB") mult = 1e6;
  else if (unit == "G" || unit == "GB") mult = 1e9;
  else if (unit == "T" || unit == "TB") mult = 1e12;
  else if (unit == "KIB") mult = 1024.0;
  else if (unit == "MIB") mult = 1024.0 * 1024;
  else if (unit == "GIB") mult = 1024.0 * 1024 * 1024;
  else if (unit == "TIB") mult = 1024.0 * 1024 * 1024 * 1024;
  if (!digits || mult == 0 || v * mult > 1.8e19)
    throw UsageError(str(what, " '", quote_untrusted(text, 40), "': expected a size like 4096, 300M, 1.5G or 10GiB"));
  return uint64_t(v * mult);
}

// The HTTP client, byte cache, budget and counters behind one hub model. Thread-safe.
class Session {
 public:
  Session(std::shared_ptr<net::HttpClient> http, std::shared_ptr<HubClient> hub, RepoRevision rev, ByteCache cache, uint64_t max_download)
      : http_(std::move(http)), hub_(std::move(hub)), rev_(std::move(rev)), cache_(std::move(cache)), max_download_(max_download) {}

  const RepoRevision& revision() const { return rev_; }
  const ByteCache& cache() const { return cache_; }
  HubClient& hub() { return *hub_; }

  // Reserves bytes of the download cap; throws IoError when it would be exceeded.
  void reserve(uint64_t n, const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (max_download_ && data_bytes_ + n > max_download_)
      throw IoError(what, str("--max-download ", max_download_, " bytes reached: ", data_bytes_,
                              " fetched, this read needs ", n, " more"));
    data_bytes_ += n;
  }
  void add_cached(uint64_t n) { cached_bytes_ += n; }

  // Chunks being fetched by some thread: a second reader of the same chunk waits instead of fetching it again.
  // claim() returns the chunks of `want` this caller must fetch; the others are in flight elsewhere.
  std::vector<uint64_t> claim(const std::string& file, const std::vector<uint64_t>& want, std::vector<uint64_t>& elsewhere) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<uint64_t> mine;
    for (uint64_t c : want) {
      if (inflight_.insert({file, c}).second) mine.push_back(c);
      else elsewhere.push_back(c);
    }
    return mine;
  }
  void release(const std::string& file, const std::vector<uint64_t>& chunks) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (uint64_t c : chunks) inflight_.erase({file, c});
    }
    inflight_cv_.notify_all();
  }
  void wait_for(const std::string& file, const std::vector<uint64_t>& chunks) {
    std::unique_lock<std::mutex> lock(mu_);
    inflight_cv_.wait(lock, [&] {
      for (uint64_t c : chunks)
        if (inflight_.count({file, c})) return false;
      return true;
    });
  }
  // Wall time with at least one transfer running (overlapping transfers of several threads count once).
  void begin_transfer() {
    std::lock_guard<std::mutex> lock(mu_);
    if (active_++ == 0) busy_since_ = Clock::now();
  }
  void end_transfer() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--active_ == 0) seconds_ += std::chrono::duration<double>(Clock::now() - busy_since_).count();
  }
  struct TransferScope {
    Session& s;
    explicit TransferScope(Session& x) : s(x) { s.begin_transfer(); }
    ~TransferScope() { s.end_transfer(); }
  };
  void note_read(const std::string& file) {
    std::lock_guard<std::mutex> lock(mu_);
    touched_.insert(file);
  }
  void note_verified(const std::string& file) {
    std::lock_guard<std::mutex> lock(mu_);
    verified_.insert(file);
  }

  // Whole small file: cache, else GET (checked against the API size and its LFS sha256 or git blob id).
  std::string fetch_whole(const RepoFile& f, uint64_t max_bytes) {
    if (auto cached = cache_.read_file(f.name, max_bytes); cached && (!f.has_size || cached->size() == f.size)) {
      add_cached(cached->size());
      note_verified(f.name);
      return *cached;
    }
    if (f.has_size && f.size > max_bytes)
      throw IoError(hub_->resolve_url(rev_.repo, rev_.commit, f.name), str("file of ", f.size, " bytes exceeds the ", max_bytes, " byte limit"));
    reserve(f.has_size ? f.size : 0, f.name);
    std::string body;
    ResolvedFile rf;
    {
      TransferScope busy(*this);
      rf = hub_->resolve(rev_.repo, rev_.commit, f.name, f.has_size ? f.size : 0, f.lfs_sha256);
      body = hub_->http().get(rf.url, max_bytes).body;
    }
    if (f.has_size && body.size() != f.size)
      throw IoError(net::redact_url(rf.url), str("received ", body.size(), " bytes, the revision API lists ", f.size));
    check_whole(f, body, net::redact_url(rf.url));
    cache_.write_file(f.name, body);
    note_verified(f.name);
    return body;
  }

  static void check_whole(const RepoFile& f, const std::string& body, const std::string& where) {
    if (!f.lfs_sha256.empty()) {
      Digest d(EVP_sha256());
      d.update(body.data(), body.size());
      std::string got = d.hex_final();
      if (got != f.lfs_sha256)
        throw IoError(where, str("content sha256 ", got, " is not the LFS sha256 ", f.lfs_sha256, "; nothing cached"));
    } else if (!f.blob_id.empty()) {
      Digest d(EVP_sha1());
      std::string head = str("blob ", body.size());
      d.update(head.data(), head.size() + 1);  // includes the NUL
      d.update(body.data(), body.size());
      std::string got = d.hex_final();
      if (got != f.blob_id)
        throw IoError(where, str("content git blob id ", got, " is not the ", f.blob_id, " the revision API lists; nothing cached"));
    }
  }

  // Checks every touched LFS file whose chunks are all cached against its sha256 (once per file).
  void verify_complete() {
    std::set<std::string> touched;
    {
      std::lock_guard<std::mutex> lock(mu_);
      touched = touched_;
    }
    for (const auto& name : touched) {
      const RepoFile* f = rev_.find(name);
      if (!f || f->lfs_sha256.empty() || !f->has_size) continue;
      if (cache_.is_verified(name)) {
        note_verified(name);
        continue;
      }
      uint64_t n = (f->size + ByteCache::kChunkBytes - 1) / ByteCache::kChunkBytes;
      bool complete = true;
      for (uint64_t c = 0; c < n && complete; ++c)
        complete = cache_.has_chunk(name, c, std::min<uint64_t>(ByteCache::kChunkBytes, f->size - c * ByteCache::kChunkBytes));
      if (!complete) continue;
      Digest d(EVP_sha256());
      std::vector<uint8_t> buf(ByteCache::kChunkBytes);
      for (uint64_t c = 0; c < n && complete; ++c) {
        uint64_t len = std::min<uint64_t>(ByteCache::kChunkBytes, f->size - c * ByteCache::kChunkBytes);
        complete = cache_.read_chunk(name, c, len, buf.data());
        d.update(buf.data(), size_t(len));
      }
      if (!complete) continue;
      std::string got = d.hex_final();
      if (got != f->lfs_sha256) {
        cache_.drop_chunks(name);
        throw IoError(hub_->resolve_url(rev_.repo, rev_.commit, name),
                      str("the fetched file's sha256 ", got, " is not its LFS sha256 ", f->lfs_sha256, "; its cached chunks were removed"));
      }
      cache_.mark_verified(name, got);
      note_verified(name);
    }
  }

  RemoteStats stats() {
    verify_complete();
    RemoteStats s;
    net::HttpStats h = http_->stats();
    std::lock_guard<std::mutex> lock(mu_);
    s.data_bytes = data_bytes_;
    s.cached_bytes = cached_bytes_;
    s.http_requests = h.requests;
    s.retries = h.retries;
    s.range_ignored = h.range_ignored;
    s.seconds = seconds_;
    s.verified.assign(verified_.begin(), verified_.end());
    for (const auto& t : touched_)
      if (!verified_.count(t)) s.partial.push_back(t);
    return s;
  }

 private:
  std::shared_ptr<net::HttpClient> http_;
  std::shared_ptr<HubClient> hub_;
  RepoRevision rev_;
  ByteCache cache_;
  uint64_t max_download_;
  std::mutex mu_;
  uint64_t data_bytes_ = 0;
  std::atomic<uint64_t> cached_bytes_{0};
  double seconds_ = 0;
  int active_ = 0;
  std::set<std::pair<std::string, uint64_t>> inflight_;
  std::condition_variable inflight_cv_;
  Clock::time_point busy_since_{};
  std::set<std::string> touched_, verified_;
};

namespace {

// A file of a hub repository read by byte ranges through the chunk cache.
class HubByteSource final : public ByteSource {
 public:
  HubByteSource(std::shared_ptr<Session> s, RepoFile f)
      : s_(std::move(s)), f_(std::move(f)), name_(s_->hub().resolve_url(s_->revision().repo, s_->revision().commit, f_.name)) {}
  uint64_t size() const override { return f_.size; }
  const std::string& name() const override { return name_; }

  void read(uint64_t offset, size_t n, uint8_t* out) const override {
    if (offset > f_.size || n > f_.size - offset)
      throw IoError(name_, str("read of ", n, " bytes at offset ", offset, " leaves the file (", f_.size, " bytes)"));
    if (n == 0) return;
    s_->note_read(f_.name);
    const uint64_t C = ByteCache::kChunkBytes;
    uint64_t first = offset / C, last = (offset + n - 1) / C;
    std::set<uint64_t> fetched = ensure_chunks(first, last);
    uint64_t from_cache = 0;
    for (uint64_t c = first; c <= last; ++c) {
      uint64_t cbeg = c * C, clen = chunk_len(c);
      uint64_t lo = std::max(offset, cbeg), hi = std::min<uint64_t>(offset + n, cbeg + clen);
      if (!s_->cache().read_chunk_part(f_.name, c, clen, lo - cbeg, hi - lo, out + (lo - offset)))
        throw IoError(name_, str("chunk ", c, " vanished from the cache at ", s_->cache().dir()));
      if (!fetched.count(c)) from_cache += hi - lo;
    }
    s_->add_cached(from_cache);
  }
  // Reading a whole tensor in order (hash): fetch all of it now, many ranges in flight.
  void hint_sequential(uint64_t offset, uint64_t len) const override { hint_willneed(offset, len); }
  // A range that will be read soon: its missing chunks are fetched now, many in flight.
  void hint_willneed(uint64_t offset, uint64_t len) const override {
    if (len == 0 || offset >= f_.size) return;
    len = std::min(len, f_.size - offset);
    ensure_chunks(offset / ByteCache::kChunkBytes, (offset + len - 1) / ByteCache::kChunkBytes);
  }
  // Scattered ranges (rows, tensors) of this file: every missing chunk they touch, in one batch.
  void prefetch(const std::vector<std::pair<uint64_t, uint64_t>>& ranges) const {
    std::set<uint64_t> chunks;
    for (const auto& [off, len] : ranges) {
      if (len == 0 || off >= f_.size) continue;
      uint64_t end = std::min(f_.size, off + len);
      for (uint64_t c = off / ByteCache::kChunkBytes; c <= (end - 1) / ByteCache::kChunkBytes; ++c) chunks.insert(c);
    }
    ensure_chunk_set(std::vector<uint64_t>(chunks.begin(), chunks.end()));
  }

 private:
  uint64_t chunk_len(uint64_t c) const { return std::min<uint64_t>(ByteCache::kChunkBytes, f_.size - c * ByteCache::kChunkBytes); }

  // Fetches the missing chunks of [first, last] in batches (bounded memory), each written atomically; chunks
  // another thread is fetching are waited for. Returns the chunks this call fetched.
  std::set<uint64_t> ensure_chunks(uint64_t first, uint64_t last) const {
    std::vector<uint64_t> wanted;
    for (uint64_t c = first; c <= last; ++c) wanted.push_back(c);
    return ensure_chunk_set(wanted);
  }
  std::set<uint64_t> ensure_chunk_set(const std::vector<uint64_t>& wanted) const {
    std::set<uint64_t> fetched;
    for (int round = 0; round < 3; ++round) {
      std::vector<uint64_t> missing, elsewhere;
      for (uint64_t c : wanted)
        if (!s_->cache().has_chunk(f_.name, c, chunk_len(c))) missing.push_back(c);
      if (missing.empty()) return fetched;
      std::vector<uint64_t> mine = s_->claim(f_.name, missing, elsewhere);
      try {
        fetch(mine);
      } catch (...) {
        s_->release(f_.name, mine);
        throw;
      }
      s_->release(f_.name, mine);
      fetched.insert(mine.begin(), mine.end());
      if (elsewhere.empty()) return fetched;
      s_->wait_for(f_.name, elsewhere);  // then check again: the other fetch may have failed
    }
    return fetched;
  }

  void fetch(const std::vector<uint64_t>& missing) const {
    if (missing.empty()) return;
    const size_t batch = 256;  // at most 64 MiB of chunks in memory; each is stored as soon as it arrives
    ResolvedFile rf = s_->hub().resolve(s_->revision().repo, s_->revision().commit, f_.name, f_.size, f_.lfs_sha256);
    for (size_t b = 0; b < missing.size(); b += batch) {
      size_t e = std::min(missing.size(), b + batch);
      uint64_t bytes = 0;
      for (size_t k = b; k < e; ++k) bytes += chunk_len(missing[k]);
      s_->reserve(bytes, name_);
      std::vector<std::vector<uint8_t>> bufs(e - b);
      std::vector<net::RangeRequest> reqs;
      for (size_t k = b; k < e; ++k) {
        bufs[k - b].resize(size_t(chunk_len(missing[k])));
        reqs.push_back(net::RangeRequest{missing[k] * ByteCache::kChunkBytes, chunk_len(missing[k]), bufs[k - b].data()});
      }
      Session::TransferScope busy(*s_);
      auto store = [&](size_t i) {
        s_->cache().write_chunk(f_.name, missing[b + i], bufs[i].data(), bufs[i].size());
        std::vector<uint8_t>().swap(bufs[i]);
      };
      try {
        s_->hub().http().get_ranges(rf.url, reqs, f_.size, store);
      } catch (const IoError& e) {
        // Signed storage URLs expire (an hour on the hub's CDN): resolve again once and fetch what is left.
        const std::string what = e.what();
        if (what.find("HTTP 403") == std::string::npos && what.find("HTTP 401") == std::string::npos &&
            what.find("HTTP 410") == std::string::npos)
          throw;
        s_->hub().forget(s_->revision().repo, s_->revision().commit, f_.name);
        rf = s_->hub().resolve(s_->revision().repo, s_->revision().commit, f_.name, f_.size, f_.lfs_sha256);
        std::vector<net::RangeRequest> left;
        std::vector<size_t> index;
        for (size_t i = 0; i < reqs.size(); ++i)
          if (!bufs[i].empty()) left.push_back(reqs[i]), index.push_back(i);
        s_->hub().http().get_ranges(rf.url, left, f_.size, [&](size_t j) { store(index[j]); });
      }
    }
  }

  std::shared_ptr<Session> s_;
  RepoFile f_;
  std::string name_;
};

// Shards of a local Hugging Face cache snapshot: symlinks into ../../blobs, confined to the repository folder.
std::shared_ptr<const ByteSource> open_cache_file(const std::string& snapshot, const std::string& repo_dir, const std::string& name) {
  std::error_code ec;
  fs::path p = fs::path(snapshot) / name;
  if (!fs::exists(p, ec)) return nullptr;
  fs::path real = fs::canonical(p, ec);
  if (ec) throw IoError(p.string(), str("cannot resolve: ", ec.message()));
  std::string root = fs::canonical(repo_dir, ec).string();
  std::string r = real.string();
  if (r.compare(0, root.size(), root) != 0 || r.size() <= root.size() || r[root.size()] != '/')
    throw IoError(p.string(), str("resolves to ", r, ", outside the cached repository ", root));
  return std::make_shared<FileByteSource>(r);
}

Model open_hub(Model m, const ModelRef& ref, const OpenOptions& opt) {
  std::string endpoint = "https://huggingface.co";
  if (const char* v = std::getenv("HF_ENDPOINT"); v && *v) endpoint = v;
  net::HttpOptions ho = net::HttpOptions::from_env();
  if (const char* t = std::getenv("HF_TOKEN"); t && *t) {
    ho.token = t;
    ho.token_origin = net::origin_of(endpoint);
  }
  auto http = std::make_shared<net::HttpClient>(ho);
  auto hub_ptr = std::make_shared<HubClient>(endpoint, http);
  HubClient& hub = *hub_ptr;
  const std::string root = opt.cache_root.empty() ? ByteCache::default_root() : opt.cache_root;

  // Pin the revision. A sha whose revision answer is cached needs no request at all.
  RepoRevision rev;
  bool have = false;
  if (is_sha(ref.revision)) {
    ByteCache c(root, ref.repo, ref.revision);
    std::error_code ec;
    const std::string cached_path = c.dir() + "/revision.json";
    if (fs::is_regular_file(cached_path, ec)) {
      try {
        File f = File::open_read(cached_path);
        if (f.size() <= (64ull << 20)) {
          std::string text(size_t(f.size()), '\0');
          f.read_exact(text.data(), text.size(), 0);
          rev = parse_revision_json(text, ref.repo, ref.revision, cached_path);
          have = rev.commit == ref.revision;
        }
      } catch (const Error&) {
        have = false;  // unreadable or invalid: ask the server again
      }
    }
  }
  if (!have) {
    std::string raw;
    rev = hub.revision(ref.repo, ref.revision, &raw);
    if (is_sha(ref.revision) && rev.commit != ref.revision)
      throw IoError(hub.revision_url(ref.repo, ref.revision),
                    str("asked for commit ", ref.revision, ", the server answered with ", rev.commit));
    ByteCache c(root, ref.repo, rev.commit);
    write_file_atomic(c.dir() + "/revision.json", raw);
  }
  m.commit = rev.commit;
  ByteCache cache(root, ref.repo, rev.commit);
  auto session = std::make_shared<Session>(http, hub_ptr, rev, cache, opt.max_download);
  m.session = session;
  m.folder = cache.files_dir();
  std::error_code ec;
  fs::create_directories(m.folder, ec);

  // Configs and tokenizers: whole files.
  std::string index_text;
  for (const auto& f : session->revision().files) {
    if (!is_side_file(f.name)) continue;
    std::string body = session->fetch_whole(f, 64ull << 20);
    if (f.name == "model.safetensors.index.json") index_text = std::move(body);
  }
  if (!opt.open_checkpoint) return m;

  const std::string source = str("hf://", ref.repo, "@", rev.commit);
  std::vector<std::string> shard_names;
  std::string index_name;
  if (session->revision().find("model.safetensors.index.json")) {
    index_name = "model.safetensors.index.json";
  } else if (session->revision().find("model.safetensors")) {
    shard_names.push_back("model.safetensors");
  } else {
    for (const auto& f : session->revision().files)
      if (ends_with(f.name, ".safetensors") && f.name.find('/') == std::string::npos) shard_names.push_back(f.name);
    if (shard_names.empty())
      throw IoError(source, "the repository holds no model.safetensors.index.json and no .safetensors file at its top level");
  }
  auto opener = [session](const std::string& name) -> std::shared_ptr<const ByteSource> {
    const RepoFile* f = session->revision().find(name);
    if (!f) throw IoError(name, "not a file of the repository at this commit (revision API file list)");
    if (!f->has_size) throw IoError(name, "the revision API gives no size for it");
    return std::make_shared<HubByteSource>(session, *f);
  };
  m.checkpoint = open_checkpoint_from_sources(source, str(session->hub().endpoint(), "/", ref.repo, "/resolve/", rev.commit), index_name, index_text, shard_names, opener);
  return m;
}

}  // namespace

void prefetch(const Checkpoint& ck, const std::vector<ByteRange>& ranges) {
  std::map<uint32_t, std::vector<std::pair<uint64_t, uint64_t>>> by_shard;
  for (const auto& r : ranges)
    if (r.shard < ck.shards.size()) by_shard[r.shard].push_back({r.offset, r.length});
  for (const auto& [shard, rs] : by_shard) {
    const auto& sf = ck.shards[shard];
    if (auto* hub = dynamic_cast<const HubByteSource*>(sf.source.get())) hub->prefetch(rs);
  }
}

uint64_t fetch_all(const Model& m, bool keep) {
  if (!m.session) throw UsageError(str("'", quote_untrusted(m.reference), "' is not a hub reference (hf://ORG/NAME)"));
  Session& s = *m.session;
  uint64_t total = 0;
  for (const auto& shard : m.checkpoint.shards) {
    if (keep) {
      open_shard_source(shard)->hint_sequential(0, shard.file_size);
      total += shard.file_size;
      continue;
    }
    const RepoFile* f = s.revision().find(shard.name);
    if (!f) continue;
    ResolvedFile rf = s.hub().resolve(s.revision().repo, s.revision().commit, f->name, f->size, f->lfs_sha256);
    const uint64_t C = ByteCache::kChunkBytes, batch = 256;
    std::vector<uint8_t> buf(size_t(C * batch));
    for (uint64_t off = 0; off < f->size; off += C * batch) {
      std::vector<net::RangeRequest> reqs;
      uint64_t bytes = 0;
      for (uint64_t k = 0; k < batch && off + k * C < f->size; ++k) {
        uint64_t o = off + k * C, len = std::min(C, f->size - o);
        reqs.push_back(net::RangeRequest{o, len, buf.data() + k * C});
        bytes += len;
      }
      s.reserve(bytes, shard.name);
      Session::TransferScope busy(s);
      s.hub().http().get_ranges(rf.url, reqs, f->size);
      total += bytes;
    }
  }
  return total;
}

RemoteStats Model::stats() const { return session ? session->stats() : RemoteStats{}; }

std::string Model::summary() const {
  if (!session) return "";
  RemoteStats s = stats();
  std::string line = str("# ", reference, " = hf://", repo, "@", commit, ": fetched ", s.data_bytes, " bytes (",
                         human(s.data_bytes), ")");
  if (s.data_bytes && s.seconds > 0) line += str(" at ", human(uint64_t(double(s.data_bytes) / s.seconds)), "/s");
  line += str(", ", s.cached_bytes, " bytes from the cache, ", s.http_requests, " HTTP requests");
  if (s.retries) line += str(", ", s.retries, " retries");
  if (s.range_ignored) line += str(", ", s.range_ignored, " answers ignored Range");
  line += str("; ", s.verified.size(), " files verified whole");
  if (!s.partial.empty()) line += str(", ", s.partial.size(), " read in part (unverified against the LFS digest)");
  return line;
}

Model open_model(const std::string& reference, const OpenOptions& options) {
  OpenOptions opt = options;
  if (opt.max_download == 0)
    if (const char* v = std::getenv("FROMSCRATCH_MAX_DOWNLOAD"); v && *v) opt.max_download = parse_byte_size(v, "FROMSCRATCH_MAX_DOWNLOAD");
  ModelRef ref = parse_model_ref(reference);
  Model m;
  m.reference = reference;
  m.kind = ref.kind;
  m.repo = ref.repo;
  m.revision = ref.revision;
  switch (ref.kind) {
    case RefKind::Local:
      m.folder = checkpoint_folder(ref.path);
      if (opt.open_checkpoint) m.checkpoint = open_checkpoint(ref.path);
      return m;
    case RefKind::HfCache: {
      m.commit = ref.commit;
      m.folder = ref.path;
      if (!opt.open_checkpoint) return m;
      std::error_code ec;
      std::vector<std::string> shard_names;
      std::string index_name, index_text;
      fs::path snap(ref.path);
      if (fs::exists(snap / "model.safetensors.index.json", ec)) {
        index_name = "model.safetensors.index.json";
        auto src = open_cache_file(ref.path, ref.cache_repo_dir, index_name);
        if (src->size() > 64ull << 20) throw IoError(src->name(), "index file over 64 MiB");
        index_text.resize(size_t(src->size()));
        src->read(0, index_text.size(), reinterpret_cast<uint8_t*>(index_text.data()));
      } else {
        for (const auto& e : fs::directory_iterator(snap, ec))
          if (e.path().extension() == ".safetensors") shard_names.push_back(e.path().filename().string());
        std::sort(shard_names.begin(), shard_names.end());
        if (shard_names.empty()) throw IoError(ref.path, "cached snapshot holds no model.safetensors.index.json and no .safetensors file");
      }
      std::string snapshot = ref.path, repo_dir = ref.cache_repo_dir;
      m.checkpoint = open_checkpoint_from_sources(
          str(ref.repo, "@", ref.commit), ref.path, index_name, index_text, shard_names,
          [snapshot, repo_dir](const std::string& name) { return open_cache_file(snapshot, repo_dir, name); });
      return m;
    }
    case RefKind::Hub:
      return open_hub(std::move(m), ref, opt);
    case RefKind::NotFound: {
      std::string msg = "no such model; looked for:";
      for (const auto& l : ref.looked_for) msg += "\n  " + l;
      if (!ref.repo.empty()) msg += str("\n  (use hf://", ref.repo, " to read it from the hub)");
      throw IoError(reference, msg);
    }
  }
  return m;
}

}  // namespace fromscratch::remote
