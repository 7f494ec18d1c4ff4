#include "fromscratch/core/tensor_hash.hpp"

#include <openssl/evp.h>
#include <xxhash.h>

#include <algorithm>
#include <memory>
#include <numeric>

#include "fromscratch/core/byte_source.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/file_io.hpp"
#include "fromscratch/core/parallel.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch {

namespace {

// How far ahead of the hashing position the kernel is asked to read, in buffers. One buffer ahead overlaps the
// read of the next piece with hashing of this one; 4 ahead measured no better on bench/hash_bench.sh.
constexpr uint64_t kPrefetchBuffers = 1;

struct EvpCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct XxhStateFree {
  void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) throw Error("OpenSSL: SHA-256 init failed");
  }
  void update(const uint8_t* p, size_t n) {
    if (n && EVP_DigestUpdate(ctx_.get(), p, n) != 1) throw Error("OpenSSL: SHA-256 update failed");
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1) throw Error("OpenSSL: SHA-256 final failed");
    return to_hex(md, len);
  }

 private:
  std::unique_ptr<EVP_MD_CTX, EvpCtxFree> ctx_;
};

// Feeds bytes of consecutive rows of `row_bytes` each, in arbitrary pieces, and records one XXH3-64 per row.
class RowHasher {
 public:
  explicit RowHasher(uint64_t row_bytes, uint64_t rows) : row_bytes_(row_bytes) { digests_.reserve(rows); }
  void update(const uint8_t* p, size_t n) {
    while (n > 0) {
      if (pos_ == 0 && n >= row_bytes_) {  // fast path: whole rows in the buffer
        size_t whole = n / row_bytes_;
        for (size_t i = 0; i < whole; ++i) digests_.push_back(XXH3_64bits(p + i * row_bytes_, row_bytes_));
        p += whole * row_bytes_;
        n -= whole * row_bytes_;
        continue;
      }
      if (!state_) state_.reset(XXH3_createState());
      if (pos_ == 0) XXH3_64bits_reset(state_.get());
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, row_bytes_ - pos_));
      XXH3_64bits_update(state_.get(), p, take);
      pos_ += take;
      p += take;
      n -= take;
      if (pos_ == row_bytes_) {
        digests_.push_back(XXH3_64bits_digest(state_.get()));
        pos_ = 0;
      }
    }
  }
  std::vector<uint64_t>& digests() { return digests_; }

 private:
  uint64_t row_bytes_;
  uint64_t pos_ = 0;
  std::unique_ptr<XXH3_state_t, XxhStateFree> state_;
  std::vector<uint64_t> digests_;
};

}  // namespace

std::string row_multiset_digest(std::vector<uint64_t> digests) {
  std::sort(digests.begin(), digests.end());
  XXH128_hash_t h = XXH3_128bits(digests.data(), digests.size() * sizeof(uint64_t));
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  return to_hex(c.digest, sizeof c.digest);
}

TensorDigest hash_tensor(const ShardFile& shard, const CheckpointTensor& tensor, const HashOptions& options) {
  const TensorInfo& info = tensor.info;
  TensorDigest d;
  d.name = info.name;
  d.bytes = info.byte_size();
  d.rows = info.num_rows();
  uint64_t row_bytes = d.rows ? d.bytes / d.rows : 0;

  Sha256 sha;
  std::vector<uint64_t> digests;
  if (row_bytes == 0) {
    digests.assign(d.rows, XXH3_64bits(nullptr, 0));  // rows of zero bytes (a dimension is 0)
  } else {
    std::shared_ptr<const ByteSource> src = open_shard_source(shard);
    const ByteSource& f = *src;
    RowHasher rows(row_bytes, d.rows);
    // Buffer: a whole number of rows when a row fits, so rows are hashed in single calls.
    size_t buf_size = options.buffer_bytes;
    if (row_bytes <= buf_size) buf_size = static_cast<size_t>((buf_size / row_bytes) * row_bytes);
    buf_size = static_cast<size_t>(std::min<uint64_t>(buf_size, std::max<uint64_t>(d.bytes, 1)));
    AlignedBuffer buf(buf_size);
    f.hint_sequential(tensor.file_offset, d.bytes);
    uint64_t done = 0;
    while (done < d.bytes) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf_size, d.bytes - done));
      f.read(tensor.file_offset + done, n, buf.data());
      // Ask the kernel for the next piece while this one is hashed (helps cold reads).
      if (done + n < d.bytes) f.hint_willneed(tensor.file_offset + done + n, std::min<uint64_t>(kPrefetchBuffers * buf_size, d.bytes - done - n));
      sha.update(buf.data(), n);
      rows.update(buf.data(), n);
      done += n;
      if (options.on_bytes) options.on_bytes(n);
    }
    digests = std::move(rows.digests());
  }
  if (d.bytes == 0) sha.update(nullptr, 0);
  d.sha256 = sha.hex();
  d.row_multiset = row_multiset_digest(digests);
  if (options.keep_row_digests) d.row_digests = std::move(digests);
  return d;
}

struct TensorDigester::Impl {
  TensorDigest d;
  Sha256 sha;
  std::unique_ptr<RowHasher> rows;
  uint64_t fed = 0;
  bool keep = false;
};

TensorDigester::TensorDigester(const TensorInfo& info, bool keep_row_digests) : impl_(std::make_unique<Impl>()) {
  impl_->d.name = info.name;
  impl_->d.bytes = info.byte_size();
  impl_->d.rows = info.num_rows();
  impl_->keep = keep_row_digests;
  uint64_t row_bytes = impl_->d.rows ? impl_->d.bytes / impl_->d.rows : 0;
  if (row_bytes > 0) impl_->rows = std::make_unique<RowHasher>(row_bytes, impl_->d.rows);
}

TensorDigester::~TensorDigester() = default;

void TensorDigester::update(const uint8_t* p, size_t n) {
  if (n == 0) return;
  if (impl_->fed + n > impl_->d.bytes)
    throw UsageError(str("tensor '", impl_->d.name, "': ", impl_->fed + n, " bytes fed to the digester, more than its ",
                         impl_->d.bytes));
  impl_->sha.update(p, n);
  if (impl_->rows) impl_->rows->update(p, n);
  impl_->fed += n;
}

TensorDigest TensorDigester::finish() {
  if (impl_->fed != impl_->d.bytes)
    throw UsageError(str("tensor '", impl_->d.name, "': ", impl_->fed, " of ", impl_->d.bytes, " bytes fed to the digester"));
  TensorDigest d = std::move(impl_->d);
  if (d.bytes == 0) impl_->sha.update(nullptr, 0);
  d.sha256 = impl_->sha.hex();
  std::vector<uint64_t> digests;
  if (impl_->rows) digests = std::move(impl_->rows->digests());
  else digests.assign(d.rows, XXH3_64bits(nullptr, 0));
  d.row_multiset = row_multiset_digest(digests);
  if (impl_->keep) d.row_digests = std::move(digests);
  return d;
}

std::vector<TensorDigest> hash_tensors(const Checkpoint& ck, const std::vector<size_t>& which, unsigned threads,
                                       const HashOptions& options) {
  // Largest first (LPT) so that the few huge tensors start early; ties by position for determinism.
  std::vector<size_t> order(which.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return ck.tensors[which[a]].info.byte_size() > ck.tensors[which[b]].info.byte_size();
  });
  std::vector<TensorDigest> out(which.size());
  parallel_for(order.size(), threads, [&](size_t k, unsigned) {
    size_t slot = order[k];
    const auto& t = ck.tensors[which[slot]];
    out[slot] = hash_tensor(ck.shards[t.shard], t, options);
  });
  return out;
}

std::string sha256_file_range(const std::string& path, uint64_t offset, uint64_t length) {
  File f = File::open_read(path);
  Sha256 sha;
  AlignedBuffer buf(8u << 20);
  uint64_t done = 0;
  while (done < length) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), length - done));
    f.read_exact(buf.data(), n, offset + done);
    sha.update(buf.data(), n);
    done += n;
  }
  return sha.hex();
}

}  // namespace fromscratch
