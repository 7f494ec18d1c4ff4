// Fingerprint files in HDF5 (layout: include/fromscratch/io/fingerprint_h5.hpp and results/SCHEMA.md).
#include "fromscratch/io/fingerprint_h5.hpp"

#include <hdf5.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/core/version.hpp"
#include "fromscratch/dist/comm.hpp"
#include "fromscratch/io/fingerprint_journal.hpp"

namespace fromscratch::io {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace fromscratch::weights;

namespace {

// ---------------------------------------------------------------- HDF5 plumbing

class H {
 public:
  H() = default;
  explicit H(hid_t id) : id_(id) {}
  H(H&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  H& operator=(H&& o) noexcept {
    std::swap(id_, o.id_);
    return *this;
  }
  ~H() {
    if (id_ >= 0) H5Idec_ref(id_);
  }
  operator hid_t() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
};

herr_t collect(unsigned n, const H5E_error2_t* e, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (n < 3) *s += str(n ? "; " : "", e->func_name, ": ", e->desc ? e->desc : "");
  return 0;
}
std::string hdf5_stack() {
  std::string s;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &s);
  H5Eclear2(H5E_DEFAULT);
  return s;
}
[[noreturn]] void fail(const char* call, const std::string& object) {
  std::string stack = hdf5_stack();
  throw Error(str("HDF5: ", call, " failed for '", object, "'", stack.empty() ? "" : " (" + stack + ")"));
}
hid_t ok(hid_t id, const char* call, const std::string& object) {
  if (id < 0) fail(call, object);
  return id;
}
void ok_status(herr_t rc, const char* call, const std::string& object) {
  if (rc < 0) fail(call, object);
}

void silence() {
  static bool done = false;
  if (!done) H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr), done = true;
}

H string_type(size_t len) {
  H t(ok(H5Tcopy(H5T_C_S1), "H5Tcopy", "string"));
  ok_status(H5Tset_size(t, std::max<size_t>(len, 1)), "H5Tset_size", "string");
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

constexpr hsize_t kChunkBytes = 1 << 20;

// The writer: every call is made by every rank with the same arguments (metadata is collective); raw data
// is written in one collective write per dataset, each rank selecting its own element ranges.
class Writer {
 public:
  Writer(hid_t file, bool parallel, bool root, int level) : file_(file), parallel_(parallel), root_(root), level_(level) {}

  H create(const std::string& path, hid_t type, std::vector<hsize_t> dims) {
    H space(ok(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate_simple", path));
    H lcpl(H5Pcreate(H5P_LINK_CREATE));
    H5Pset_create_intermediate_group(lcpl, 1);
    H dcpl(H5Pcreate(H5P_DATASET_CREATE));
    hsize_t elements = 1;
    for (auto d : dims) elements *= d;
    if (elements > 0) {
      // Chunks of about 1 MiB along the first axis, whole rows of a 2-D table.
      size_t esize = H5Tget_size(type);
      hsize_t row = dims.size() == 2 ? dims[1] : 1;
      hsize_t rows = std::max<hsize_t>(1, kChunkBytes / std::max<hsize_t>(1, esize * row));
      std::vector<hsize_t> chunk = dims;
      chunk[0] = std::min(dims[0], rows);
      ok_status(H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data()), "H5Pset_chunk", path);
      if (level_ > 0) {
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, static_cast<unsigned>(level_));
      }
      H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
      if (parallel_) H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    }
    return H(ok(H5Dcreate2(file_, path.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT), "H5Dcreate2", path));
  }

  // Every rank writes its own element ranges [first, first + count) of a 1-D dataset (or of the flattened
  // dataset for 2-D tables when ranges cover whole rows: here only rank 0 writes 2-D tables, all of them).
  void write_ranges(hid_t dset, const std::string& path, hid_t memtype, const std::vector<std::pair<hsize_t, hsize_t>>& ranges,
                    const void* buf) {
    H fspace(ok(H5Dget_space(dset), "H5Dget_space", path));
    int nd = H5Sget_simple_extent_ndims(fspace);
    hsize_t dims[2] = {0, 0};
    H5Sget_simple_extent_dims(fspace, dims, nullptr);
    if (H5Sget_simple_extent_npoints(fspace) == 0) return;  // same on every rank: nothing to write
    hsize_t total = 0;
    H5Sselect_none(fspace);
    for (const auto& [first, count] : ranges) {
      if (count == 0) continue;
      if (nd == 1) {
        hsize_t s[1] = {first}, c[1] = {count};
        ok_status(H5Sselect_hyperslab(fspace, H5S_SELECT_OR, s, nullptr, c, nullptr), "H5Sselect_hyperslab", path);
      } else {
        hsize_t s[2] = {first / dims[1], 0}, c[2] = {count / dims[1], dims[1]};
        ok_status(H5Sselect_hyperslab(fspace, H5S_SELECT_OR, s, nullptr, c, nullptr), "H5Sselect_hyperslab", path);
      }
      total += count;
    }
    hsize_t mdims[1] = {std::max<hsize_t>(total, 1)};
    H mspace(ok(H5Screate_simple(1, mdims, nullptr), "H5Screate_simple", path));
    if (total == 0) H5Sselect_none(mspace);
    H dxpl(H5Pcreate(H5P_DATASET_XFER));
    if (parallel_) ok_status(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio", path);
    static const uint64_t dummy[1] = {0};
    if (!parallel_ && total == 0) return;
    ok_status(H5Dwrite(dset, memtype, mspace, fspace, dxpl, total ? buf : dummy), "H5Dwrite", path);
  }

  // A whole dataset whose data rank 0 holds (the small per-tensor tables).
  template <class T>
  void table(const std::string& path, hid_t filetype, hid_t memtype, const std::vector<T>& v, std::vector<hsize_t> dims = {}) {
    if (dims.empty()) dims = {static_cast<hsize_t>(v.size())};
    H d = create(path, filetype, dims);
    hsize_t n = 1;
    for (auto x : dims) n *= x;
    std::vector<std::pair<hsize_t, hsize_t>> ranges;
    if (root_ && n > 0) ranges.push_back({0, n});
    write_ranges(d, path, memtype, ranges, v.data());
  }
  void strings(const std::string& path, const std::vector<std::string>& v) {
    size_t len = 1;
    for (const auto& s : v) len = std::max(len, s.size());
    std::string packed(v.size() * len, '\0');
    for (size_t i = 0; i < v.size(); ++i) std::memcpy(packed.data() + i * len, v[i].data(), v[i].size());
    H type = string_type(len);
    H d = create(path, type, {static_cast<hsize_t>(v.size())});
    std::vector<std::pair<hsize_t, hsize_t>> ranges;
    if (root_ && !v.empty()) ranges.push_back({0, v.size()});
    write_ranges(d, path, type, ranges, packed.data());
  }

  void group(const std::string& path) {
    H lcpl(H5Pcreate(H5P_LINK_CREATE));
    H5Pset_create_intermediate_group(lcpl, 1);
    H g(ok(H5Gcreate2(file_, path.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2", path));
  }
  void attr(const std::string& obj, const std::string& name, const std::string& value) {
    H o(ok(H5Oopen(file_, obj.c_str(), H5P_DEFAULT), "H5Oopen", obj));
    H type = string_type(value.size());
    H space(H5Screate(H5S_SCALAR));
    H a(ok(H5Acreate2(o, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate2", obj + "@" + name));
    std::string buf = value.empty() ? std::string(1, '\0') : value;
    ok_status(H5Awrite(a, type, buf.data()), "H5Awrite", obj + "@" + name);
  }
  void attr(const std::string& obj, const std::string& name, uint64_t value) {
    H o(ok(H5Oopen(file_, obj.c_str(), H5P_DEFAULT), "H5Oopen", obj));
    H space(H5Screate(H5S_SCALAR));
    H a(ok(H5Acreate2(o, name.c_str(), H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate2", obj + "@" + name));
    ok_status(H5Awrite(a, H5T_NATIVE_UINT64, &value), "H5Awrite", obj + "@" + name);
  }
  void attr_i64(const std::string& obj, const std::string& name, int64_t value) {
    H o(ok(H5Oopen(file_, obj.c_str(), H5P_DEFAULT), "H5Oopen", obj));
    H space(H5Screate(H5S_SCALAR));
    H a(ok(H5Acreate2(o, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate2", obj + "@" + name));
    ok_status(H5Awrite(a, H5T_NATIVE_INT64, &value), "H5Awrite", obj + "@" + name);
  }

 private:
  hid_t file_;
  bool parallel_, root_;
  int level_;
};

// The small per-tensor fields every rank sends to rank 0 (no row digests, values or token ids).
struct Small {
  std::vector<TensorPrint> prints;  // by index, arrays empty
  std::vector<uint64_t> n_rows, n_values, n_tokens;
};

std::vector<uint64_t> offsets_of(const std::vector<uint64_t>& counts) {
  std::vector<uint64_t> off(counts.size() + 1, 0);
  for (size_t i = 0; i < counts.size(); ++i) off[i + 1] = off[i] + counts[i];
  return off;
}

std::string utc_now() {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char utc[32];
  std::strftime(utc, sizeof utc, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return utc;
}

}  // namespace

void write_fingerprint(const std::string& path, const ModelPrint& header, const std::vector<TensorPrint>& local,
                       size_t tensor_count, const std::vector<SketchGram>& grams, const dist::Comm& comm,
                       const FingerprintWriteOptions& options) {
  silence();
  const bool parallel = comm.mpi_active() && comm.size() > 1;
  const bool root = comm.is_root();
  if (options.compression_level < 0 || options.compression_level > 9)
    throw UsageError(str("compression level ", options.compression_level, " out of range (limit: 0..9)"));

  // 1. Rank 0 learns every tensor's small fields; every rank learns the sizes (for offsets). Checked: each
  //    tensor exactly once, names without NUL (fixed-length strings are NUL-padded).
  json mine = json::array();
  for (const auto& p : local) mine.push_back(tensor_print_to_json(p, false));
  std::string problem;
  Small small;
  std::string sizes_blob;
  {
    std::vector<uint8_t> cb = json::to_cbor(mine);
    auto all = comm.gather_to_root(std::string(cb.begin(), cb.end()));
    if (root) {
      small.prints.resize(tensor_count);
      small.n_rows.assign(tensor_count, 0);
      small.n_values.assign(tensor_count, 0);
      small.n_tokens.assign(tensor_count, 0);
      std::vector<int> seen(tensor_count, 0);
      for (size_t r = 0; r < all.size() && problem.empty(); ++r) {
        json arr = json::from_cbor(all[r], true, false);
        if (arr.is_discarded()) {
          problem = str("rank ", r, " sent an undecodable table");
          break;
        }
        for (const auto& j : arr) {
          TensorPrint p;
          try {
            p = tensor_print_from_json(j, str("rank ", r));
          } catch (const std::exception& e) {
            problem = e.what();
            break;
          }
          if (p.index >= tensor_count) {
            problem = str("rank ", r, " wrote tensor #", p.index, " of ", tensor_count);
            break;
          }
          if (seen[p.index]++) {
            problem = str("tensor #", p.index, " '", p.name, "' written twice");
            break;
          }
          if (p.name.find('\0') != std::string::npos) {
            problem = str("tensor #", p.index, ": name holds a NUL byte");
            break;
          }
          small.n_rows[p.index] = j["row_digest_count"].get<uint64_t>();
          small.n_values[p.index] = j["value_count"].get<uint64_t>();
          small.n_tokens[p.index] = j["token_count"].get<uint64_t>();
          small.prints[p.index] = std::move(p);
        }
      }
      for (size_t i = 0; i < tensor_count && problem.empty(); ++i)
        if (!seen[i]) problem = str("tensor #", i, " has no print (no rank computed it)");
      std::string packed;
      for (auto* v : {&small.n_rows, &small.n_values, &small.n_tokens})
        packed.append(reinterpret_cast<const char*>(v->data()), v->size() * 8);
      sizes_blob = problem.empty() ? packed : std::string();
    }
  }
  problem = comm.broadcast_from_root(problem);
  if (!problem.empty()) throw Error(str(path, ": cannot write the fingerprint: ", problem));
  sizes_blob = comm.broadcast_from_root(sizes_blob);
  std::vector<uint64_t> n_rows(tensor_count), n_values(tensor_count), n_tokens(tensor_count);
  std::memcpy(n_rows.data(), sizes_blob.data(), tensor_count * 8);
  std::memcpy(n_values.data(), sizes_blob.data() + tensor_count * 8, tensor_count * 8);
  std::memcpy(n_tokens.data(), sizes_blob.data() + tensor_count * 16, tensor_count * 8);
  auto row_off = offsets_of(n_rows), val_off = offsets_of(n_values), tok_off = offsets_of(n_tokens);

  // 2. Refuse to overwrite; write to PATH.tmp.
  bool refuse = root && !options.force && fs::exists(path);
  if (comm.any(refuse)) throw UsageError(str(path, " exists; pass --force to overwrite it"));
  const std::string tmp = path + ".tmp";
  H fapl(H5Pcreate(H5P_FILE_ACCESS));
  if (parallel) {
    MPI_Comm mc = *static_cast<const MPI_Comm*>(comm.native_handle());
    ok_status(H5Pset_fapl_mpio(fapl, mc, MPI_INFO_NULL), "H5Pset_fapl_mpio", tmp);
    H5Pset_all_coll_metadata_ops(fapl, true);
    H5Pset_coll_metadata_write(fapl, true);
  }
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
  bool create_failed = false;
  H file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
  create_failed = !file.valid();
  if (comm.any(create_failed)) {
    std::string stack = hdf5_stack();
    throw IoError(tmp, str("cannot create (", stack, ")"));
  }
  Writer w(file, parallel, root, options.compression_level);

  // 3. Model fields (attributes: every rank passes the same values).
  const FingerprintOptions& o = header.options;
  w.attr("/", "format", std::string(kFingerprintFormat));
  w.attr_i64("/", "version", kFingerprintVersion);
  w.attr("/", "name", header.name);
  w.attr("/", "source", header.source);
  w.attr("/", "tensor_count", static_cast<uint64_t>(tensor_count));
  w.group("/options");
  w.attr("/options", "seed", o.seed);
  w.attr("/options", "full_max_elements", o.full_max_elements);
  w.attr("/options", "sketch_dim", static_cast<uint64_t>(o.sketch_dim));
  w.attr("/options", "max_tokens", static_cast<uint64_t>(o.max_tokens));
  w.attr("/options", "sketch", std::string("S: k x n, entries N(0, 1/k), counter-based from (seed, n); see weights/fingerprint.hpp"));
  std::vector<uint8_t> config(header.config_json.begin(), header.config_json.end());
  w.table("/config_json", H5T_STD_U8LE, H5T_NATIVE_UINT8, config);
  // No tokenizer: ids only (rows are matched by id), vocab@has_bytes = 0.
  const bool has_bytes = !header.vocab_bytes.empty() || header.vocab_ids.empty();
  if (has_bytes && header.vocab_ids.size() != header.vocab_bytes.size())
    throw Error(str(path, ": vocab ids (", header.vocab_ids.size(), ") and bytes (", header.vocab_bytes.size(), ") differ in count"));
  w.group("/vocab");
  w.attr_i64("/vocab", "has_bytes", has_bytes ? 1 : 0);
  w.table("/vocab/ids", H5T_STD_U32LE, H5T_NATIVE_UINT32, header.vocab_ids);
  std::vector<uint64_t> vlen(header.vocab_ids.size(), 0);
  std::string vbytes;
  for (size_t k = 0; k < header.vocab_bytes.size(); ++k) vlen[k] = header.vocab_bytes[k].size(), vbytes += header.vocab_bytes[k];
  w.table("/vocab/byte_offset", H5T_STD_U64LE, H5T_NATIVE_UINT64, offsets_of(vlen));
  w.table("/vocab/bytes", H5T_STD_U8LE, H5T_NATIVE_UINT8, std::vector<uint8_t>(vbytes.begin(), vbytes.end()));

  // 4. Per-tensor tables (rank 0's data).
  w.group("/tensors");
  w.group("/tensors/stats");
  {
    const auto& P = small.prints;  // filled on rank 0 only
    auto col_str = [&](auto get) {
      std::vector<std::string> v;
      if (root) for (const auto& p : P) v.push_back(get(p));
      // Every rank must pass the same string length (a collective dataset create): broadcast the packing.
      return v;
    };
    auto col_u64 = [&](auto get) {
      std::vector<uint64_t> v(tensor_count);
      if (root) for (size_t i = 0; i < tensor_count; ++i) v[i] = get(P[i]);
      return v;
    };
    auto col_f64 = [&](auto get) {
      std::vector<double> v(tensor_count);
      if (root) for (size_t i = 0; i < tensor_count; ++i) v[i] = get(P[i]);
      return v;
    };
    auto col_i32 = [&](auto get) {
      std::vector<int32_t> v(tensor_count);
      if (root) for (size_t i = 0; i < tensor_count; ++i) v[i] = get(P[i]);
      return v;
    };
    // String tables: rank 0 decides the fixed length; every rank creates the dataset with it.
    auto strings = [&](const std::string& dpath, std::vector<std::string> v) {
      std::string packed = comm.broadcast_from_root(root ? json(v).dump() : std::string());
      if (!root) v = json::parse(packed).get<std::vector<std::string>>();
      w.strings(dpath, v);
    };
    strings("/tensors/name", col_str([](const TensorPrint& p) { return p.name; }));
    strings("/tensors/role_kind", col_str([](const TensorPrint& p) { return std::string(role_kind_name(p.role.kind)); }));
    w.table("/tensors/layer", H5T_STD_I32LE, H5T_NATIVE_INT32, col_i32([](const TensorPrint& p) { return p.role.layer; }));
    w.table("/tensors/expert", H5T_STD_I32LE, H5T_NATIVE_INT32, col_i32([](const TensorPrint& p) { return p.role.expert; }));
    w.table("/tensors/mtp", H5T_STD_I32LE, H5T_NATIVE_INT32, col_i32([](const TensorPrint& p) { return p.role.mtp ? 1 : 0; }));
    strings("/tensors/dtype", col_str([](const TensorPrint& p) { return std::string(dtype_name(p.dtype)); }));
    // Shapes: ndim per tensor and a [N, D] table padded with 0 (D = largest rank, at least 1).
    std::vector<int32_t> ndim = col_i32([](const TensorPrint& p) { return static_cast<int32_t>(p.shape.size()); });
    uint64_t D = 1;
    if (root) for (auto n : ndim) D = std::max<uint64_t>(D, static_cast<uint64_t>(n));
    D = static_cast<uint64_t>(std::stoull(comm.broadcast_from_root(std::to_string(D))));
    std::vector<uint64_t> shape(tensor_count * D, 0);
    if (root)
      for (size_t i = 0; i < tensor_count; ++i)
        for (size_t k = 0; k < P[i].shape.size(); ++k) shape[i * D + k] = P[i].shape[k];
    w.table("/tensors/ndim", H5T_STD_I32LE, H5T_NATIVE_INT32, ndim);
    w.table("/tensors/shape", H5T_STD_U64LE, H5T_NATIVE_UINT64, shape, {static_cast<hsize_t>(tensor_count), D});
    strings("/tensors/sha256", col_str([](const TensorPrint& p) { return p.sha256; }));
    strings("/tensors/row_multiset", col_str([](const TensorPrint& p) { return p.row_multiset; }));
    strings("/tensors/kept", col_str([](const TensorPrint& p) { return std::string(kept_form_name(p.kept)); }));
    w.table("/tensors/value_rows", H5T_STD_U64LE, H5T_NATIVE_UINT64, col_u64([](const TensorPrint& p) { return p.values.rows; }));
    w.table("/tensors/value_cols", H5T_STD_U64LE, H5T_NATIVE_UINT64, col_u64([](const TensorPrint& p) { return p.values.cols; }));
    w.table("/tensors/nonfinite", H5T_STD_U64LE, H5T_NATIVE_UINT64, col_u64([](const TensorPrint& p) { return p.nonfinite; }));
    const char* u64_stats[] = {"rows", "cols", "count", "nan", "pos_inf", "neg_inf", "zeros", "n"};
    for (const char* f : u64_stats) {
      std::string key = f;
      w.table("/tensors/stats/" + key, H5T_STD_U64LE, H5T_NATIVE_UINT64, col_u64([&](const TensorPrint& p) -> uint64_t {
        const TensorStats& s = p.stats;
        if (key == "rows") return s.rows;
        if (key == "cols") return s.cols;
        if (key == "count") return s.count;
        if (key == "nan") return s.nan;
        if (key == "pos_inf") return s.pos_inf;
        if (key == "neg_inf") return s.neg_inf;
        if (key == "zeros") return s.zeros;
        return s.moments.n;
      }));
    }
    const char* f64_stats[] = {"mean", "m2", "m3", "m4", "min", "max"};
    for (const char* f : f64_stats) {
      std::string key = f;
      w.table("/tensors/stats/" + key, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, col_f64([&](const TensorPrint& p) -> double {
        const TensorStats& s = p.stats;
        if (key == "mean") return s.moments.mean;
        if (key == "m2") return s.moments.m2;
        if (key == "m3") return s.moments.m3;
        if (key == "m4") return s.moments.m4;
        if (key == "min") return s.min;
        return s.max;
      }));
    }
    w.table("/tensors/row_digest_offset", H5T_STD_U64LE, H5T_NATIVE_UINT64, row_off);
    w.table("/tensors/value_offset", H5T_STD_U64LE, H5T_NATIVE_UINT64, val_off);
    w.table("/tensors/token_offset", H5T_STD_U64LE, H5T_NATIVE_UINT64, tok_off);
  }

  // 5. The large tables: each rank writes its own tensors' ranges, in collective writes of at most
  //    kRoundBytes of this rank's data each (every rank takes part in as many rounds as the busiest one), so
  //    the copies made for a write stay bounded however large the share.
  {
    uint64_t round_bytes = uint64_t(256) << 20;
    if (const char* e = std::getenv("FROMSCRATCH_TEST_WRITE_ROUND_BYTES")) round_bytes = std::max<uint64_t>(1, std::strtoull(e, nullptr, 10));
    std::vector<const TensorPrint*> order;
    for (const auto& p : local) order.push_back(&p);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->index < b->index; });
    std::vector<std::vector<const TensorPrint*>> rounds;
    uint64_t in_round = 0;
    for (const TensorPrint* p : order) {
      uint64_t b = p->row_digests.size() * 8 + p->values.v.size() * 4 + p->token_ids.size() * 4;
      if (rounds.empty() || (!rounds.back().empty() && in_round + b > round_bytes)) {
        rounds.emplace_back();
        in_round = 0;
      }
      rounds.back().push_back(p);
      in_round += b;
    }
    const auto n_rounds = static_cast<size_t>(comm.allreduce_max(static_cast<double>(rounds.size())));
    H d1 = w.create("/tensors/row_digests", H5T_STD_U64LE, {row_off.back()});
    H d2 = w.create("/tensors/values", H5T_IEEE_F32LE, {val_off.back()});
    H d3 = w.create("/tensors/token_ids", H5T_STD_U32LE, {tok_off.back()});
    for (size_t r = 0; r < n_rounds; ++r) {
      std::vector<std::pair<hsize_t, hsize_t>> rr, vr, tr;
      std::vector<uint64_t> rows;
      std::vector<float> values;
      std::vector<uint32_t> tokens;
      if (r < rounds.size())
        for (const TensorPrint* p : rounds[r]) {
          rr.push_back({row_off[p->index], p->row_digests.size()});
          rows.insert(rows.end(), p->row_digests.begin(), p->row_digests.end());
          vr.push_back({val_off[p->index], p->values.v.size()});
          values.insert(values.end(), p->values.v.begin(), p->values.v.end());
          tr.push_back({tok_off[p->index], p->token_ids.size()});
          tokens.insert(tokens.end(), p->token_ids.begin(), p->token_ids.end());
        }
      w.write_ranges(d1, "/tensors/row_digests", H5T_NATIVE_UINT64, rr, rows.data());
      w.write_ranges(d2, "/tensors/values", H5T_NATIVE_FLOAT, vr, values.data());
      w.write_ranges(d3, "/tensors/token_ids", H5T_NATIVE_UINT32, tr, tokens.data());
    }
  }

  // 6. PCA sums (already reduced: identical on every rank; rank 0 writes them).
  w.group("/pca");
  for (const auto& g : grams) {
    std::string gp = "/pca/" + g.component;
    w.group(gp);
    w.attr(gp, "dim", static_cast<uint64_t>(g.dim));
    w.attr(gp, "rows", g.rows);
    w.attr(gp, "tensors", g.tensors);
    w.table(gp + "/sum", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, g.sum);
    w.table(gp + "/gram", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, g.gram, {g.dim, g.dim});
  }

  // 7. Provenance, then `complete` last.
  w.group("/provenance");
  w.attr("/provenance", "tool", std::string("fromscratch"));
  w.attr("/provenance", "version", tool_version());
  w.attr("/provenance", "git_sha", tool_git_sha());
  w.attr("/provenance", "command_line", join(options.argv, " "));
  w.attr_i64("/provenance", "ranks", comm.size());
  w.attr("/provenance", "created_utc", comm.broadcast_from_root(utc_now()));
  if (options.extra_provenance.is_object())
    for (const auto& [k, v] : options.extra_provenance.items()) {
      if (v.is_string()) w.attr("/provenance", k, v.get<std::string>());
      else if (v.is_number_unsigned()) w.attr("/provenance", k, v.get<uint64_t>());
      else if (v.is_number_integer()) w.attr_i64("/provenance", k, v.get<int64_t>());
      else w.attr("/provenance", k, v.dump());
    }
  w.attr_i64("/", "complete", 1);
  bool flush_failed = H5Fflush(file, H5F_SCOPE_GLOBAL) < 0;
  file = H();  // close (collective)
  if (comm.any(flush_failed)) {
    if (root) fs::remove(tmp);
    throw IoError(tmp, str("flush failed (", hdf5_stack(), ")"));
  }
  std::string rename_error;
  if (root) {
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) rename_error = ec.message();
  }
  rename_error = comm.broadcast_from_root(rename_error);
  if (!rename_error.empty()) throw IoError(path, str("rename from ", tmp, ": ", rename_error));
}

// ---------------------------------------------------------------- reading

namespace {

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {
    silence();
    if (!fs::is_regular_file(path_)) throw IoError(path_, "not a regular file");
    htri_t is = H5Fis_hdf5(path_.c_str());
    if (is <= 0) {
      hdf5_stack();
      problem("", "", "(not HDF5)", "not an HDF5 file (a fingerprint is one)");
    }
    file_ = H(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    if (!file_.valid()) problem("", "", "(unreadable)", str("HDF5 cannot open it: ", hdf5_stack()));
  }

  [[noreturn]] void problem(const std::string& object, const std::string& field, const std::string& value,
                            const std::string& message, const std::string& limit = "") const {
    throw FormatError(Problem{path_, object, field, value, limit, message}, "object");
  }

  bool has(const std::string& p) const {
    // Check each component so a missing group is not an HDF5 error.
    if (p == "/") return true;
    for (size_t pos = 1;;) {
      size_t next = p.find('/', pos);
      std::string cur = p.substr(0, next);
      if (H5Lexists(file_, cur.c_str(), H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
      if (next == std::string::npos) return true;
      pos = next + 1;
    }
  }

  json attr(const std::string& obj, const std::string& name) const {
    if (obj != "/" && !has(obj)) problem(obj, name, "(missing)", "object missing");
    H o(H5Oopen(file_, obj.c_str(), H5P_DEFAULT));
    if (!o.valid() || H5Aexists(o, name.c_str()) <= 0) problem(obj, name, "(missing)", "attribute missing");
    H a(H5Aopen(o, name.c_str(), H5P_DEFAULT));
    H type(H5Aget_type(a));
    H space(H5Aget_space(a));
    if (H5Sget_simple_extent_npoints(space) != 1) problem(obj, name, "(not scalar)", "attribute must be a scalar");
    H5T_class_t cls = H5Tget_class(type);
    if (cls == H5T_STRING) {
      if (H5Tis_variable_str(type) > 0) problem(obj, name, "(variable-length)", "expected a fixed-length string");
      size_t len = H5Tget_size(type);
      if (len > (1u << 20)) problem(obj, name, str(len, " bytes"), "string attribute too long", "<= 1 MiB");
      std::string buf(len, '\0');
      H mem = string_type(len);
      if (H5Aread(a, mem, buf.data()) < 0) problem(obj, name, "(unreadable)", hdf5_stack());
      buf.resize(std::strlen(buf.c_str()));
      return buf;
    }
    if (cls == H5T_INTEGER) {
      if (H5Tget_sign(type) == H5T_SGN_NONE) {
        uint64_t v = 0;
        if (H5Aread(a, H5T_NATIVE_UINT64, &v) < 0) problem(obj, name, "(unreadable)", hdf5_stack());
        return v;
      }
      int64_t v = 0;
      if (H5Aread(a, H5T_NATIVE_INT64, &v) < 0) problem(obj, name, "(unreadable)", hdf5_stack());
      return v;
    }
    problem(obj, name, "(class " + std::to_string(cls) + ")", "expected a string or integer attribute");
  }
  std::string attr_str(const std::string& obj, const std::string& name) const {
    json v = attr(obj, name);
    if (!v.is_string()) problem(obj, name, v.dump(), "expected a string");
    return v.get<std::string>();
  }
  uint64_t attr_u64(const std::string& obj, const std::string& name) const {
    json v = attr(obj, name);
    if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0))
      problem(obj, name, v.dump(), "expected a non-negative integer");
    return v.get<uint64_t>();
  }

  // A dataset of the given class with `expect` elements (or any count when expect < 0; then at most `limit`).
  template <class T>
  std::vector<T> data(const std::string& p, H5T_class_t cls, hid_t memtype, int64_t expect, int rank = 1,
                      uint64_t limit = uint64_t(1) << 36) const {
    if (!has(p)) problem(p, "", "(missing)", "dataset missing");
    H d(H5Dopen2(file_, p.c_str(), H5P_DEFAULT));
    if (!d.valid()) problem(p, "", "(unreadable)", str("not a dataset: ", hdf5_stack()));
    H type(H5Dget_type(d));
    H space(H5Dget_space(d));
    if (H5Tget_class(type) != cls)
      problem(p, "type", str("class ", H5Tget_class(type)), str("expected class ", cls));
    if (cls != H5T_STRING && H5Tget_size(type) != sizeof(T))
      problem(p, "type", str(H5Tget_size(type), " bytes"), str("expected ", sizeof(T), "-byte elements"));
    int nd = H5Sget_simple_extent_ndims(space);
    if (nd != rank) problem(p, "rank", std::to_string(nd), str("expected ", rank, " dimension(s)"));
    hssize_t n = H5Sget_simple_extent_npoints(space);
    if (n < 0 || static_cast<uint64_t>(n) > limit) problem(p, "size", std::to_string(n), "too many elements", std::to_string(limit));
    if (expect >= 0 && n != expect) problem(p, "size", std::to_string(n), str("expected ", expect, " elements"));
    std::vector<T> out(static_cast<size_t>(n));
    if (n > 0 && H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
      problem(p, "data", "(unreadable)", str("cannot read: ", hdf5_stack()));
    return out;
  }
  std::vector<hsize_t> dims(const std::string& p) const {
    H d(H5Dopen2(file_, p.c_str(), H5P_DEFAULT));
    H space(H5Dget_space(d));
    int nd = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> out(static_cast<size_t>(std::max(nd, 0)));
    if (nd > 0) H5Sget_simple_extent_dims(space, out.data(), nullptr);
    return out;
  }
  std::vector<std::string> strings(const std::string& p, int64_t expect) const {
    if (!has(p)) problem(p, "", "(missing)", "dataset missing");
    H d(H5Dopen2(file_, p.c_str(), H5P_DEFAULT));
    if (!d.valid()) problem(p, "", "(unreadable)", "not a dataset");
    H type(H5Dget_type(d));
    H space(H5Dget_space(d));
    if (H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) > 0)
      problem(p, "type", str("class ", H5Tget_class(type)), "expected fixed-length strings");
    hssize_t n = H5Sget_simple_extent_npoints(space);
    size_t len = H5Tget_size(type);
    if (expect >= 0 && n != expect) problem(p, "size", std::to_string(n), str("expected ", expect, " elements"));
    if (len > 65536) problem(p, "type", str(len, " bytes"), "string too long", "<= 65536");
    std::string packed(static_cast<size_t>(n) * len, '\0');
    H mem = string_type(len);
    if (n > 0 && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, packed.data()) < 0)
      problem(p, "data", "(unreadable)", str("cannot read: ", hdf5_stack()));
    std::vector<std::string> out(static_cast<size_t>(n));
    for (size_t i = 0; i < out.size(); ++i) {
      std::string s = packed.substr(i * len, len);
      s.resize(std::strlen(s.c_str()));
      out[i] = s;
    }
    return out;
  }
  std::vector<std::string> children(const std::string& g) const {
    std::vector<std::string> out;
    H grp(H5Gopen2(file_, g.c_str(), H5P_DEFAULT));
    if (!grp.valid()) problem(g, "", "(missing)", "group missing");
    H5G_info_t info;
    if (H5Gget_info(grp, &info) < 0) problem(g, "", "(unreadable)", "cannot list group");
    if (info.nlinks > 10000) problem(g, "", std::to_string(info.nlinks), "too many members", "<= 10000");
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      char name[1024] = {0};
      if (H5Lget_name_by_idx(grp, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0) continue;
      out.emplace_back(name);
    }
    return out;
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  H file_;
};

void check_offsets(const Reader& r, const std::string& p, const std::vector<uint64_t>& off, uint64_t total) {
  if (off.empty() || off[0] != 0) r.problem(p, "[0]", off.empty() ? "(empty)" : std::to_string(off[0]), "offsets must start at 0");
  for (size_t i = 1; i < off.size(); ++i)
    if (off[i] < off[i - 1]) r.problem(p, str("[", i, "]"), std::to_string(off[i]), str("offsets must not decrease (previous ", off[i - 1], ")"));
  if (off.back() != total) r.problem(p, str("[", off.size() - 1, "]"), std::to_string(off.back()), str("last offset must equal the data length ", total));
}

}  // namespace

FingerprintFile read_fingerprint_file(const std::string& path) {
  Reader r(path);
  FingerprintFile out;
  ModelPrint& m = out.print;
  json fmt;
  try {
    fmt = r.attr("/", "format");
  } catch (const FormatError&) {
    r.problem("/", "format", "(missing)", str("not a fingerprint (no 'format' attribute; expected '", kFingerprintFormat, "')"));
  }
  if (!fmt.is_string() || fmt.get<std::string>() != kFingerprintFormat)
    r.problem("/", "format", fmt.dump(), str("not a fingerprint (expected '", kFingerprintFormat, "')"));
  json version = r.attr("/", "version");
  if (!version.is_number_integer() || version.get<int64_t>() != kFingerprintVersion)
    r.problem("/", "version", version.dump(), str("unsupported fingerprint version (this build reads ", kFingerprintVersion, ")"));
  json complete;
  try {
    complete = r.attr("/", "complete");
  } catch (const FormatError&) {
    r.problem("/", "complete", "(missing)", "unfinished fingerprint (the sweep did not finish; rerun it with --resume)");
  }
  if (!complete.is_number_integer() || complete.get<int64_t>() != 1)
    r.problem("/", "complete", complete.dump(), "unfinished fingerprint");
  m.name = r.attr_str("/", "name");
  m.source = r.attr_str("/", "source");
  const uint64_t N = r.attr_u64("/", "tensor_count");
  if (N > 2'000'000) r.problem("/", "tensor_count", std::to_string(N), "too many tensors", "<= 2000000");
  m.options.seed = r.attr_u64("/options", "seed");
  m.options.full_max_elements = r.attr_u64("/options", "full_max_elements");
  m.options.sketch_dim = r.attr_u64("/options", "sketch_dim");
  m.options.max_tokens = r.attr_u64("/options", "max_tokens");
  if (m.options.sketch_dim == 0 || m.options.sketch_dim > 65536)
    r.problem("/options", "sketch_dim", std::to_string(m.options.sketch_dim), "out of range", "1..65536");
  auto cfg = r.data<uint8_t>("/config_json", H5T_INTEGER, H5T_NATIVE_UINT8, -1, 1, 64u << 20);
  m.config_json.assign(cfg.begin(), cfg.end());
  m.vocab_ids = r.data<uint32_t>("/vocab/ids", H5T_INTEGER, H5T_NATIVE_UINT32, -1, 1, 1u << 24);
  auto voff = r.data<uint64_t>("/vocab/byte_offset", H5T_INTEGER, H5T_NATIVE_UINT64, static_cast<int64_t>(m.vocab_ids.size() + 1));
  auto vbytes = r.data<uint8_t>("/vocab/bytes", H5T_INTEGER, H5T_NATIVE_UINT8, -1, 1, 1u << 30);
  check_offsets(r, "/vocab/byte_offset", voff, vbytes.size());
  json has_bytes = r.attr("/vocab", "has_bytes");
  if (!has_bytes.is_number_integer() || (has_bytes.get<int64_t>() != 0 && has_bytes.get<int64_t>() != 1))
    r.problem("/vocab", "has_bytes", has_bytes.dump(), "expected 0 or 1");
  if (has_bytes.get<int64_t>() == 1)
    for (size_t i = 0; i < m.vocab_ids.size(); ++i)
      m.vocab_bytes.emplace_back(reinterpret_cast<const char*>(vbytes.data()) + voff[i], voff[i + 1] - voff[i]);
  else if (!vbytes.empty())
    r.problem("/vocab/bytes", "size", std::to_string(vbytes.size()), "has_bytes = 0 but bytes are stored");

  const int64_t n = static_cast<int64_t>(N);
  auto names = r.strings("/tensors/name", n);
  auto kinds = r.strings("/tensors/role_kind", n);
  auto layer = r.data<int32_t>("/tensors/layer", H5T_INTEGER, H5T_NATIVE_INT32, n);
  auto expert = r.data<int32_t>("/tensors/expert", H5T_INTEGER, H5T_NATIVE_INT32, n);
  auto mtp = r.data<int32_t>("/tensors/mtp", H5T_INTEGER, H5T_NATIVE_INT32, n);
  auto dtypes = r.strings("/tensors/dtype", n);
  auto ndim = r.data<int32_t>("/tensors/ndim", H5T_INTEGER, H5T_NATIVE_INT32, n);
  auto shape_dims = r.has("/tensors/shape") ? r.dims("/tensors/shape") : std::vector<hsize_t>{};
  if (shape_dims.size() != 2 || shape_dims[0] != N || shape_dims[1] < 1 || shape_dims[1] > 16)
    r.problem("/tensors/shape", "dims", shape_dims.empty() ? "(missing)" : str(shape_dims[0], " x ", shape_dims.size() > 1 ? shape_dims[1] : 0),
              str("expected ", N, " x D with 1 <= D <= 16"));
  const uint64_t D = shape_dims[1];
  auto shape = r.data<uint64_t>("/tensors/shape", H5T_INTEGER, H5T_NATIVE_UINT64, static_cast<int64_t>(N * D), 2);
  auto sha = r.strings("/tensors/sha256", n);
  auto rms = r.strings("/tensors/row_multiset", n);
  auto kept = r.strings("/tensors/kept", n);
  auto vrows = r.data<uint64_t>("/tensors/value_rows", H5T_INTEGER, H5T_NATIVE_UINT64, n);
  auto vcols = r.data<uint64_t>("/tensors/value_cols", H5T_INTEGER, H5T_NATIVE_UINT64, n);
  auto nonfinite = r.data<uint64_t>("/tensors/nonfinite", H5T_INTEGER, H5T_NATIVE_UINT64, n);
  std::map<std::string, std::vector<uint64_t>> su;
  for (const char* f : {"rows", "cols", "count", "nan", "pos_inf", "neg_inf", "zeros", "n"})
    su[f] = r.data<uint64_t>(str("/tensors/stats/", f), H5T_INTEGER, H5T_NATIVE_UINT64, n);
  std::map<std::string, std::vector<double>> sf;
  for (const char* f : {"mean", "m2", "m3", "m4", "min", "max"})
    sf[f] = r.data<double>(str("/tensors/stats/", f), H5T_FLOAT, H5T_NATIVE_DOUBLE, n);
  auto roff = r.data<uint64_t>("/tensors/row_digest_offset", H5T_INTEGER, H5T_NATIVE_UINT64, n + 1);
  auto voff2 = r.data<uint64_t>("/tensors/value_offset", H5T_INTEGER, H5T_NATIVE_UINT64, n + 1);
  auto toff = r.data<uint64_t>("/tensors/token_offset", H5T_INTEGER, H5T_NATIVE_UINT64, n + 1);
  auto rows = r.data<uint64_t>("/tensors/row_digests", H5T_INTEGER, H5T_NATIVE_UINT64, -1);
  auto values = r.data<float>("/tensors/values", H5T_FLOAT, H5T_NATIVE_FLOAT, -1);
  auto tokens = r.data<uint32_t>("/tensors/token_ids", H5T_INTEGER, H5T_NATIVE_UINT32, -1);
  check_offsets(r, "/tensors/row_digest_offset", roff, rows.size());
  check_offsets(r, "/tensors/value_offset", voff2, values.size());
  check_offsets(r, "/tensors/token_offset", toff, tokens.size());

  auto is_hex = [](const std::string& s, size_t len) {
    return s.size() == len && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
  };
  std::map<std::string, size_t> seen_names;
  for (size_t i = 0; i < N; ++i) {
    TensorPrint p;
    p.index = i;
    p.name = names[i];
    std::string obj = str("tensor #", i, " '", p.name, "'");
    if (p.name.empty()) r.problem(obj, "name", "\"\"", "empty tensor name");
    if (!seen_names.emplace(p.name, i).second) r.problem(obj, "name", p.name, str("duplicate of tensor #", seen_names[p.name]));
    auto kind = parse_role_kind(kinds[i]);
    if (!kind) r.problem(obj, "role_kind", kinds[i], "unknown role kind");
    p.role = {*kind, layer[i], expert[i], mtp[i] != 0};
    if (layer[i] < -1 || expert[i] < -1 || (mtp[i] != 0 && mtp[i] != 1))
      r.problem(obj, "role", str(layer[i], "/", expert[i], "/", mtp[i]), "layer and expert must be >= -1, mtp 0 or 1");
    auto dt = parse_dtype(dtypes[i]);
    if (!dt) r.problem(obj, "dtype", dtypes[i], "unknown dtype");
    p.dtype = *dt;
    if (ndim[i] < 0 || static_cast<uint64_t>(ndim[i]) > D) r.problem(obj, "ndim", std::to_string(ndim[i]), str("must be 0..", D));
    p.shape.assign(shape.begin() + i * D, shape.begin() + i * D + ndim[i]);
    for (uint64_t k = ndim[i]; k < D; ++k)
      if (shape[i * D + k] != 0) r.problem(obj, str("shape[", k, "]"), std::to_string(shape[i * D + k]), "padding beyond ndim must be 0");
    p.sha256 = sha[i];
    if (!is_hex(p.sha256, 64)) r.problem(obj, "sha256", p.sha256, "expected 64 hex digits");
    p.row_multiset = rms[i];
    if (!is_hex(p.row_multiset, 32)) r.problem(obj, "row_multiset", p.row_multiset, "expected 32 hex digits");
    try {
      p.kept = kept_form_from_name(kept[i]);
    } catch (const FormatError&) {
      r.problem(obj, "kept", kept[i], "unknown kept form (none, full, token_rows, sketch)");
    }
    TensorStats& s = p.stats;
    s.name = p.name;
    s.dtype = p.dtype;
    s.shape = p.shape;
    s.rows = su["rows"][i];
    s.cols = su["cols"][i];
    s.count = su["count"][i];
    s.nan = su["nan"][i];
    s.pos_inf = su["pos_inf"][i];
    s.neg_inf = su["neg_inf"][i];
    s.zeros = su["zeros"][i];
    s.moments.n = su["n"][i];
    s.moments.mean = sf["mean"][i];
    s.moments.m2 = sf["m2"][i];
    s.moments.m3 = sf["m3"][i];
    s.moments.m4 = sf["m4"][i];
    s.min = sf["min"][i];
    s.max = sf["max"][i];
    uint64_t elements = 1;
    bool overflow = false;
    for (auto d : p.shape) overflow |= (d != 0 && elements > UINT64_MAX / d), elements *= d;
    if (overflow) r.problem(obj, "shape", shape_to_string(p.shape), "element count overflows");
    if (s.count != elements && s.count != 0)
      r.problem(obj, "stats/count", std::to_string(s.count), str("shape ", shape_to_string(p.shape), " has ", elements, " elements"));
    if (s.nan + s.pos_inf + s.neg_inf + s.moments.n != s.count)
      r.problem(obj, "stats/n", std::to_string(s.moments.n), str("finite + nan + inf must equal count ", s.count));
    if (s.zeros > s.moments.n) r.problem(obj, "stats/zeros", std::to_string(s.zeros), str("more zeros than finite values (", s.moments.n, ")"));
    for (auto [f, v] : {std::pair<const char*, double>{"mean", s.moments.mean}, {"m2", s.moments.m2}, {"m3", s.moments.m3},
                        {"m4", s.moments.m4}, {"min", s.min}, {"max", s.max}})
      if (!std::isfinite(v)) r.problem(obj, str("stats/", f), str(v), "must be finite");
    if (s.moments.m2 < 0 || s.moments.m4 < 0) r.problem(obj, "stats/m2", str(s.moments.m2), "even central moments cannot be negative");
    if (s.moments.n > 0 && s.min > s.max) r.problem(obj, "stats/min", str(s.min), str("exceeds max ", s.max));
    const uint64_t nrows = roff[i + 1] - roff[i];
    const uint64_t want_rows = p.shape.empty() ? 1 : p.shape[0];
    if (nrows != want_rows && !(nrows == 1 && want_rows > 0))
      r.problem(obj, "row_digests", str(nrows, " digests"), str("shape ", shape_to_string(p.shape), " has ", want_rows, " rows"));
    p.row_digests.assign(rows.begin() + roff[i], rows.begin() + roff[i + 1]);
    p.values.rows = vrows[i];
    p.values.cols = vcols[i];
    uint64_t nvals = voff2[i + 1] - voff2[i];
    if (p.values.cols != 0 && p.values.rows > UINT64_MAX / p.values.cols)
      r.problem(obj, "value_rows", std::to_string(p.values.rows), "value_rows x value_cols overflows");
    if (p.values.rows * p.values.cols != nvals)
      r.problem(obj, "values", str(nvals, " values"), str("value_rows x value_cols = ", p.values.rows, " x ", p.values.cols));
    p.values.v.assign(values.begin() + voff2[i], values.begin() + voff2[i + 1]);
    p.token_ids.assign(tokens.begin() + toff[i], tokens.begin() + toff[i + 1]);
    p.nonfinite = nonfinite[i];
    switch (p.kept) {
      case KeptForm::none:
        if (nvals != 0) r.problem(obj, "values", str(nvals, " values"), "kept form 'none' keeps no values");
        break;
      case KeptForm::full:
        if (nvals != elements) r.problem(obj, "values", str(nvals, " values"), str("kept form 'full' keeps all ", elements));
        break;
      case KeptForm::token_rows:
        if (p.token_ids.size() != p.values.rows)
          r.problem(obj, "token_ids", str(p.token_ids.size(), " ids"), str("kept form 'token_rows' keeps one id per value row (", p.values.rows, ")"));
        for (auto t : p.token_ids)
          if (t >= want_rows) r.problem(obj, "token_ids", std::to_string(t), str("row id beyond the tensor's ", want_rows, " rows"));
        break;
      case KeptForm::sketch:
        if (p.values.rows != m.options.sketch_dim && p.values.cols != m.options.sketch_dim)
          r.problem(obj, "values", str(p.values.rows, " x ", p.values.cols), str("a sketch has sketch_dim = ", m.options.sketch_dim, " rows or columns"));
        break;
    }
    if (p.kept != KeptForm::token_rows && !p.token_ids.empty())
      r.problem(obj, "token_ids", str(p.token_ids.size(), " ids"), "only token_rows keeps token ids");
    for (float v : p.values.v)
      if (!std::isfinite(v)) {
        r.problem(obj, "values", str(v), "kept values must be finite (non-finite ones are zeroed and counted)");
      }
    m.tensors.push_back(std::move(p));
  }

  if (r.has("/pca"))
    for (const auto& c : r.children("/pca")) {
      std::string gp = "/pca/" + c;
      SketchGram g;
      g.component = c;
      g.dim = r.attr_u64(gp, "dim");
      if (g.dim > 65536) r.problem(gp, "dim", std::to_string(g.dim), "out of range", "<= 65536");
      g.rows = r.attr_u64(gp, "rows");
      g.tensors = r.attr_u64(gp, "tensors");
      g.sum = r.data<double>(gp + "/sum", H5T_FLOAT, H5T_NATIVE_DOUBLE, static_cast<int64_t>(g.dim));
      g.gram = r.data<double>(gp + "/gram", H5T_FLOAT, H5T_NATIVE_DOUBLE, static_cast<int64_t>(g.dim * g.dim), 2);
      out.grams.push_back(std::move(g));
    }
  if (r.has("/provenance"))
    for (const char* k : {"tool", "version", "git_sha", "command_line", "created_utc"}) {
      try {
        out.provenance[k] = r.attr("/provenance", k);
      } catch (const FormatError&) {
      }
    }
  return out;
}

ModelPrint read_fingerprint(const std::string& path) { return read_fingerprint_file(path).print; }

bool looks_like_fingerprint(const std::string& path) {
  try {
    silence();
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return false;
    if (H5Fis_hdf5(path.c_str()) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    H f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    if (!f.valid() || H5Aexists(f, "format") <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    H a(H5Aopen(f, "format", H5P_DEFAULT));
    H type(H5Aget_type(a));
    if (H5Tget_class(type) != H5T_STRING) return false;
    size_t len = H5Tget_size(type);
    if (len > 256) return false;
    std::string buf(len, '\0');
    H mem = string_type(len);
    H5Aread(a, mem, buf.data());
    buf.resize(std::strlen(buf.c_str()));
    return buf == kFingerprintFormat;
  } catch (...) {
    return false;
  }
}

}  // namespace fromscratch::io
