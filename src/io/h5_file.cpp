// HDF5 C API behind io::H5File. One wrapper per call kind; a failing call throws Error naming the call, the
// object path and HDF5's own error stack (HDF5's automatic printing is switched off so nothing leaks to stderr).
#include "fromscratch/io/h5_file.hpp"

#include <hdf5.h>
#include <mpi.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <functional>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/core/version.hpp"
#include "fromscratch/dist/comm.hpp"

namespace fromscratch::io {

namespace {

using json = nlohmann::json;

herr_t collect_error(unsigned n, const H5E_error2_t* e, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (n < 4) *s += str(n ? "; " : "", e->func_name, ": ", e->desc ? e->desc : "");
  return 0;
}

[[noreturn]] void fail(const std::string& call, const std::string& object) {
  std::string stack;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &stack);
  H5Eclear2(H5E_DEFAULT);
  throw Error(str("HDF5: ", call, " failed for '", object, "'", stack.empty() ? "" : " (" + stack + ")"));
}

hid_t check_id(hid_t id, const char* call, const std::string& object) {
  if (id < 0) fail(call, object);
  return id;
}
void check_status(herr_t rc, const char* call, const std::string& object) {
  if (rc < 0) fail(call, object);
}

// Closes any HDF5 identifier when it leaves scope.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    std::swap(id_, o.id_);
    return *this;
  }
  ~Handle() {
    if (id_ >= 0) H5Idec_ref(id_);
  }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }

 private:
  hid_t id_ = -1;
};

std::string unescape_name(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%' && i + 2 < name.size() + 0 && name.compare(i, 3, "%2F") == 0) { out += '/'; i += 2; }
    else if (name[i] == '%' && name.compare(i, 3, "%25") == 0) { out += '%'; i += 2; }
    else if (name[i] == '%' && name.compare(i, 3, "%2E") == 0) { out += '.'; i += 2; }
    else out += name[i];
  }
  return out;
}

std::string join_path(const std::string& base, const std::string& name) {
  if (base.empty() || base == "/") return "/" + name;
  return base + "/" + name;
}

Handle fixed_string_type(size_t len) {
  Handle t(check_id(H5Tcopy(H5T_C_S1), "H5Tcopy", "string type"));
  check_status(H5Tset_size(t, std::max<size_t>(len, 1)), "H5Tset_size", "string type");
  check_status(H5Tset_strpad(t, H5T_STR_NULLPAD), "H5Tset_strpad", "string type");
  check_status(H5Tset_cset(t, H5T_CSET_UTF8), "H5Tset_cset", "string type");
  return t;
}

}  // namespace

struct H5File::Impl {
  Handle file;
  bool parallel = false;
  bool root_writes = true;  // in parallel files only rank 0 contributes raw data of replicated datasets
  MPI_Comm comm = MPI_COMM_NULL;

  Handle open_or_create_group(const std::string& path) {
    if (path.empty() || path == "/") return Handle(check_id(H5Gopen2(file, "/", H5P_DEFAULT), "H5Gopen2", "/"));
    htri_t exists = H5Lexists(file, path.c_str(), H5P_DEFAULT);
    if (exists > 0) return Handle(check_id(H5Gopen2(file, path.c_str(), H5P_DEFAULT), "H5Gopen2", path));
    Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
    H5Pset_create_intermediate_group(lcpl, 1);
    return Handle(check_id(H5Gcreate2(file, path.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2", path));
  }

  // Writes a whole dataset's data; in parallel files as a collective write where only rank 0 selects data.
  void write_all(hid_t dset, hid_t memtype, const void* buf, const std::string& path) {
    if (!parallel) {
      check_status(H5Dwrite(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), "H5Dwrite", path);
      return;
    }
    Handle fspace(check_id(H5Dget_space(dset), "H5Dget_space", path));
    Handle mspace(check_id(H5Scopy(fspace), "H5Scopy", path));
    if (!root_writes) {
      H5Sselect_none(fspace);
      H5Sselect_none(mspace);
    }
    Handle dxpl(H5Pcreate(H5P_DATASET_XFER));
    check_status(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio", path);
    check_status(H5Dwrite(dset, memtype, mspace, fspace, dxpl, buf), "H5Dwrite", path);
  }

  template <class T>
  void write_numeric(const std::string& path, hid_t filetype, hid_t memtype, const std::vector<T>& values,
                     std::vector<uint64_t> shape) {
    if (shape.empty()) shape = {values.size()};
    std::vector<hsize_t> dims(shape.begin(), shape.end());
    Handle space(check_id(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate_simple", path));
    Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
    H5Pset_create_intermediate_group(lcpl, 1);
    Handle dset(check_id(H5Dcreate2(file, path.c_str(), filetype, space, lcpl, H5P_DEFAULT, H5P_DEFAULT), "H5Dcreate2", path));
    if (!values.empty()) write_all(dset, memtype, values.data(), path);
  }

  void write_string_array(const std::string& path, const std::vector<std::string>& values) {
    size_t len = 1;
    for (const auto& v : values) len = std::max(len, v.size());
    std::string packed(values.size() * len, '\0');
    for (size_t i = 0; i < values.size(); ++i) std::copy(values[i].begin(), values[i].end(), packed.begin() + i * len);
    Handle type = fixed_string_type(len);
    hsize_t dims[1] = {values.size()};
    Handle space(check_id(H5Screate_simple(1, dims, nullptr), "H5Screate_simple", path));
    Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
    H5Pset_create_intermediate_group(lcpl, 1);
    Handle dset(check_id(H5Dcreate2(file, path.c_str(), type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT), "H5Dcreate2", path));
    if (!values.empty()) write_all(dset, type, packed.data(), path);
  }

  void attr_string(hid_t obj, const std::string& objpath, const std::string& name, const std::string& value) {
    Handle type = fixed_string_type(value.size());
    Handle space(H5Screate(H5S_SCALAR));
    if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
    Handle a(check_id(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate2", objpath + "@" + name));
    std::string buf = value.empty() ? std::string(1, '\0') : value;
    check_status(H5Awrite(a, type, buf.data()), "H5Awrite", objpath + "@" + name);
  }
  template <class T>
  void attr_number(hid_t obj, const std::string& objpath, const std::string& name, hid_t type, T value) {
    Handle space(H5Screate(H5S_SCALAR));
    if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
    Handle a(check_id(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate2", objpath + "@" + name));
    check_status(H5Awrite(a, type, &value), "H5Awrite", objpath + "@" + name);
  }
};

H5File::H5File(std::unique_ptr<Impl> impl, std::string path) : impl_(std::move(impl)), path_(std::move(path)) {}
H5File::H5File(H5File&&) noexcept = default;
H5File& H5File::operator=(H5File&&) noexcept = default;
H5File::~H5File() = default;
bool H5File::is_parallel() const { return impl_->parallel; }

static void silence_hdf5() {
  static bool done = false;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    done = true;
  }
}

H5File H5File::create(const std::string& path, bool force) {
  silence_hdf5();
  if (!force && std::filesystem::exists(path)) throw UsageError(str(path, " exists; pass --force to overwrite it"));
  auto impl = std::make_unique<Impl>();
  impl->file = Handle(check_id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "H5Fcreate", path));
  return H5File(std::move(impl), path);
}

H5File H5File::create_parallel(const std::string& path, const dist::Comm& comm, bool force) {
  if (!comm.mpi_active()) return create(path, force);
  silence_hdf5();
  // Every rank must take the same branch: rank 0 decides whether the file may be written.
  bool refuse = comm.is_root() && !force && std::filesystem::exists(path);
  if (comm.any(refuse)) throw UsageError(str(path, " exists; pass --force to overwrite it"));
  auto impl = std::make_unique<Impl>();
  impl->parallel = true;
  impl->comm = *static_cast<const MPI_Comm*>(comm.native_handle());
  impl->root_writes = comm.is_root();
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  check_status(H5Pset_fapl_mpio(fapl, impl->comm, MPI_INFO_NULL), "H5Pset_fapl_mpio", path);
  // Metadata operations are collective; make metadata reads collective too, as the HDF5 guide recommends.
  H5Pset_all_coll_metadata_ops(fapl, true);
  H5Pset_coll_metadata_write(fapl, true);
  impl->file = Handle(check_id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), "H5Fcreate", path));
  return H5File(std::move(impl), path);
}

H5File H5File::open_read(const std::string& path) {
  silence_hdf5();
  auto impl = std::make_unique<Impl>();
  impl->file = Handle(check_id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "H5Fopen", path));
  return H5File(std::move(impl), path);
}

void H5File::write_json(const std::string& group_path, const json& value) {
  std::function<void(const std::string&, const json&)> write_object = [&](const std::string& gpath, const json& obj) {
    Handle g = impl_->open_or_create_group(gpath);
    for (const auto& [key, v] : obj.items()) {
      std::string name = escape_h5_link_name(key);
      std::string child = join_path(gpath, name);
      if (v.is_object()) {
        write_object(child, v);
      } else if (v.is_string()) {
        impl_->attr_string(g, gpath, name, v.get<std::string>());
      } else if (v.is_boolean()) {
        impl_->attr_number<int64_t>(g, gpath, name, H5T_NATIVE_INT64, v.get<bool>() ? 1 : 0);
      } else if (v.is_number_integer()) {
        if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
          impl_->attr_number<uint64_t>(g, gpath, name, H5T_NATIVE_UINT64, v.get<uint64_t>());
        else
          impl_->attr_number<int64_t>(g, gpath, name, H5T_NATIVE_INT64, v.get<int64_t>());
      } else if (v.is_number_float()) {
        impl_->attr_number<double>(g, gpath, name, H5T_NATIVE_DOUBLE, v.get<double>());
      } else if (v.is_null()) {
        impl_->attr_string(g, gpath, name, "null");
      } else if (v.is_array()) {
        bool all_int = true, all_num = true, all_str = true, all_obj = true, all_rows = !v.empty();
        size_t row_len = v.empty() || !v[0].is_array() ? 0 : v[0].size();
        for (const auto& e : v) {
          all_int &= e.is_number_integer();
          all_num &= e.is_number();
          all_str &= e.is_string();
          all_obj &= e.is_object();
          bool numeric_row = e.is_array() && e.size() == row_len && row_len > 0;
          if (numeric_row)
            for (const auto& x : e) numeric_row &= x.is_number();
          all_rows &= numeric_row;
        }
        if (v.empty() || all_num) {
          if (all_int && !v.empty()) {
            std::vector<int64_t> xs;
            for (const auto& e : v) xs.push_back(e.get<int64_t>());
            impl_->write_numeric(child, H5T_STD_I64LE, H5T_NATIVE_INT64, xs, {});
          } else {
            std::vector<double> xs;
            for (const auto& e : v) xs.push_back(e.get<double>());
            impl_->write_numeric(child, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, xs, {});
          }
        } else if (all_str) {
          std::vector<std::string> xs;
          for (const auto& e : v) xs.push_back(e.get<std::string>());
          impl_->write_string_array(child, xs);
        } else if (all_rows) {
          std::vector<double> xs;
          for (const auto& row : v)
            for (const auto& x : row) xs.push_back(x.get<double>());
          impl_->write_numeric(child, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, xs, {v.size(), row_len});
        } else if (all_obj) {
          Handle list = impl_->open_or_create_group(child);
          impl_->attr_string(list, child, "fromscratch_list", "true");
          for (size_t i = 0; i < v.size(); ++i) {
            char idx[24];  // "%06zu" of any size_t fits
            std::snprintf(idx, sizeof idx, "%06zu", i);
            write_object(join_path(child, idx), v[i]);
          }
        } else {
          // Mixed arrays have no natural HDF5 form: keep them as JSON text.
          impl_->attr_string(g, gpath, name + "__json", v.dump());
        }
      }
    }
  };
  if (!value.is_object()) throw UsageError("write_json: the document must be a JSON object");
  write_object(group_path.empty() ? "/" : group_path, value);
}

namespace {

json read_attribute(hid_t obj, const char* name) {
  Handle a(H5Aopen(obj, name, H5P_DEFAULT));
  Handle type(H5Aget_type(a));
  H5T_class_t cls = H5Tget_class(type);
  if (cls == H5T_STRING) {
    size_t len = H5Tget_size(type);
    std::string buf(len, '\0');
    Handle mem = fixed_string_type(len);
    H5Aread(a, mem, buf.data());
    buf.resize(std::strlen(buf.c_str()));
    return buf;
  }
  if (cls == H5T_INTEGER) {
    if (H5Tget_sign(type) == H5T_SGN_NONE) {
      uint64_t v = 0;
      H5Aread(a, H5T_NATIVE_UINT64, &v);
      return v;
    }
    int64_t v = 0;
    H5Aread(a, H5T_NATIVE_INT64, &v);
    return v;
  }
  double v = 0;
  H5Aread(a, H5T_NATIVE_DOUBLE, &v);
  return v;
}

}  // namespace

json H5File::read_json(const std::string& group_path) const {
  std::function<json(const std::string&)> read_group = [&](const std::string& gpath) -> json {
    json out = json::object();
    Handle g(check_id(H5Gopen2(impl_->file, gpath.c_str(), H5P_DEFAULT), "H5Gopen2", gpath));
    H5O_info_t oinfo;
    H5Oget_info2(g, &oinfo, H5O_INFO_NUM_ATTRS);
    bool is_list = false;
    for (hsize_t i = 0; i < oinfo.num_attrs; ++i) {
      char name[1024];
      H5Aget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
      std::string n = name;
      if (n == "fromscratch_list") {
        is_list = true;
        continue;
      }
      json v = read_attribute(g, name);
      if (ends_with(n, "__json")) out[unescape_name(n.substr(0, n.size() - 6))] = json::parse(v.get<std::string>());
      else out[unescape_name(n)] = v;
    }
    H5G_info_t ginfo;
    H5Gget_info(g, &ginfo);
    json list = json::array();
    for (hsize_t i = 0; i < ginfo.nlinks; ++i) {
      char name[1024];
      H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
      std::string child = join_path(gpath, name);
      H5O_info_t cinfo;
      H5Oget_info_by_name2(g, name, &cinfo, H5O_INFO_BASIC, H5P_DEFAULT);
      json v;
      if (cinfo.type == H5O_TYPE_GROUP) {
        v = read_group(child);
      } else {
        Handle d(H5Dopen2(g, name, H5P_DEFAULT));
        Handle type(H5Dget_type(d));
        Handle space(H5Dget_space(d));
        int rank = H5Sget_simple_extent_ndims(space);
        hsize_t dims[2] = {0, 0};
        H5Sget_simple_extent_dims(space, dims, nullptr);
        if (H5Tget_class(type) == H5T_STRING) {
          v = read_strings(child);
        } else if (H5Tget_class(type) == H5T_INTEGER) {
          std::vector<int64_t> xs(dims[0] * (rank == 2 ? dims[1] : 1));
          if (!xs.empty()) H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, xs.data());
          v = xs;
        } else {
          std::vector<double> xs = read_doubles(child);
          if (rank == 2) {
            v = json::array();
            for (hsize_t r = 0; r < dims[0]; ++r)
              v.push_back(std::vector<double>(xs.begin() + r * dims[1], xs.begin() + (r + 1) * dims[1]));
          } else {
            v = xs;
          }
        }
      }
      if (is_list) list.push_back(v);
      else out[unescape_name(name)] = v;
    }
    if (is_list) return list;
    return out;
  };
  return read_group(group_path.empty() ? "/" : group_path);
}

void H5File::write_strings(const std::string& path, const std::vector<std::string>& values) {
  impl_->write_string_array(path, values);
}
void H5File::write_doubles(const std::string& path, const std::vector<double>& values, const std::vector<uint64_t>& shape) {
  impl_->write_numeric(path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, values, shape);
}
void H5File::write_int64(const std::string& path, const std::vector<int64_t>& values, const std::vector<uint64_t>& shape) {
  impl_->write_numeric(path, H5T_STD_I64LE, H5T_NATIVE_INT64, values, shape);
}

void H5File::set_attribute(const std::string& obj, const std::string& name, const std::string& value) {
  Handle o(check_id(H5Oopen(impl_->file, obj.c_str(), H5P_DEFAULT), "H5Oopen", obj));
  impl_->attr_string(o, obj, name, value);
}
void H5File::set_attribute(const std::string& obj, const std::string& name, double value) {
  Handle o(check_id(H5Oopen(impl_->file, obj.c_str(), H5P_DEFAULT), "H5Oopen", obj));
  impl_->attr_number<double>(o, obj, name, H5T_NATIVE_DOUBLE, value);
}
void H5File::set_attribute(const std::string& obj, const std::string& name, int64_t value) {
  Handle o(check_id(H5Oopen(impl_->file, obj.c_str(), H5P_DEFAULT), "H5Oopen", obj));
  impl_->attr_number<int64_t>(o, obj, name, H5T_NATIVE_INT64, value);
}

void H5File::create_uint64_dataset(const std::string& path, uint64_t rows) {
  hsize_t dims[1] = {rows};
  Handle space(check_id(H5Screate_simple(1, dims, nullptr), "H5Screate_simple", path));
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl, 1);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  // Parallel writes need the storage allocated at creation; contiguous layout, written once.
  H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
  Handle d(check_id(H5Dcreate2(impl_->file, path.c_str(), H5T_STD_U64LE, space, lcpl, dcpl, H5P_DEFAULT), "H5Dcreate2", path));
}

bool H5File::write_row_ranges_uint64(const std::string& path, const std::vector<RowRange>& ranges,
                                     const std::vector<uint64_t>& values) {
  Handle d(check_id(H5Dopen2(impl_->file, path.c_str(), H5P_DEFAULT), "H5Dopen2", path));
  Handle fspace(check_id(H5Dget_space(d), "H5Dget_space", path));
  H5Sselect_none(fspace);
  uint64_t total = 0;
  for (const auto& r : ranges) {
    if (r.count == 0) continue;
    hsize_t start[1] = {r.first}, count[1] = {r.count};
    check_status(H5Sselect_hyperslab(fspace, H5S_SELECT_OR, start, nullptr, count, nullptr), "H5Sselect_hyperslab", path);
    total += r.count;
  }
  if (total != values.size())
    throw Error(str("write_row_ranges_uint64: ", values.size(), " values for ", total, " selected rows of ", path));
  hsize_t mdims[1] = {std::max<hsize_t>(total, 1)};
  Handle mspace(check_id(H5Screate_simple(1, mdims, nullptr), "H5Screate_simple", path));
  if (total == 0) H5Sselect_none(mspace);
  Handle dxpl(H5Pcreate(H5P_DATASET_XFER));
  if (impl_->parallel) check_status(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio", path);
  uint64_t dummy = 0;
  check_status(H5Dwrite(d, H5T_NATIVE_UINT64, mspace, fspace, dxpl, total ? values.data() : &dummy), "H5Dwrite", path);
  if (!impl_->parallel) return false;
  H5D_mpio_actual_io_mode_t mode;
  H5Pget_mpio_actual_io_mode(dxpl, &mode);
  return mode != H5D_MPIO_NO_COLLECTIVE;
}

std::vector<uint64_t> H5File::read_uint64(const std::string& path) const {
  Handle d(check_id(H5Dopen2(impl_->file, path.c_str(), H5P_DEFAULT), "H5Dopen2", path));
  Handle space(H5Dget_space(d));
  std::vector<uint64_t> out(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
  if (!out.empty()) check_status(H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), "H5Dread", path);
  return out;
}
std::vector<double> H5File::read_doubles(const std::string& path) const {
  Handle d(check_id(H5Dopen2(impl_->file, path.c_str(), H5P_DEFAULT), "H5Dopen2", path));
  Handle space(H5Dget_space(d));
  std::vector<double> out(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
  if (!out.empty()) check_status(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), "H5Dread", path);
  return out;
}
std::vector<std::string> H5File::read_strings(const std::string& path) const {
  Handle d(check_id(H5Dopen2(impl_->file, path.c_str(), H5P_DEFAULT), "H5Dopen2", path));
  Handle type(H5Dget_type(d));
  Handle space(H5Dget_space(d));
  size_t n = static_cast<size_t>(H5Sget_simple_extent_npoints(space));
  size_t len = H5Tget_size(type);
  std::string packed(n * len, '\0');
  Handle mem = fixed_string_type(len);
  if (n) check_status(H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, packed.data()), "H5Dread", path);
  std::vector<std::string> out(n);
  for (size_t i = 0; i < n; ++i) {
    std::string s = packed.substr(i * len, len);
    s.resize(std::strlen(s.c_str()));
    out[i] = s;
  }
  return out;
}

void H5File::write_provenance(const std::vector<std::string>& argv, int ranks) {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char utc[32];
  std::strftime(utc, sizeof utc, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  json p = {{"tool", "fromscratch"}, {"version", tool_version()}, {"git_sha", tool_git_sha()},
            {"command_line", join(argv, " ")}, {"ranks", ranks}, {"created_utc", utc}};
  write_json("/provenance", p);
}

void write_json_h5(const std::string& path, const json& doc, const std::vector<std::string>& argv, bool force) {
  H5File f = H5File::create(path, force);
  f.write_json("/", doc);
  f.write_provenance(argv, 1);
}

}  // namespace fromscratch::io
