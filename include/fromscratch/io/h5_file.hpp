// HDF5 result files. The only public HDF5-facing interface; hdf5.h stays inside src/io.
//
// Layout conventions (results/SCHEMA.md documents every file the tool writes):
//   * a JSON object becomes a group; its scalar members become attributes of that group;
//   * arrays of numbers become 1-D datasets (float64 or int64), arrays of equal-length number arrays 2-D datasets;
//   * arrays of strings become fixed-length UTF-8 string datasets (NUL-padded; fixed length because parallel HDF5
//     cannot write variable-length data), scalar strings become fixed-length string attributes;
//   * booleans become int64 attributes 0/1, null becomes the string attribute "null";
//   * '/' and '%' in JSON keys are written as %2F and %25 (HDF5 link names cannot hold '/');
//   * arrays of objects become a group with one subgroup per element, named 000000, 000001, ...
//   * every file carries /provenance attributes: tool version, git sha, command line, ranks, created (UTC).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fromscratch::dist {
class Comm;
}

namespace fromscratch::io {

class H5File {
 public:
  // Creates `path` for writing by this process alone. Refuses to replace an existing file unless force.
  static H5File create(const std::string& path, bool force);
  // Collective over comm: every rank opens the same file with the MPI-IO driver. Metadata calls (creating
  // groups, datasets, attributes) must then be made by all ranks with the same arguments; raw data may be
  // written by each rank into its own hyperslab (write_rows_uint64).
  static H5File create_parallel(const std::string& path, const dist::Comm& comm, bool force);
  // Opens an existing file read-only (tests and `fromscratch` readers).
  static H5File open_read(const std::string& path);

  H5File(H5File&&) noexcept;
  H5File& operator=(H5File&&) noexcept;
  ~H5File();

  // Writes `value` under `group_path` following the conventions above ("/" is the root group).
  void write_json(const std::string& group_path, const nlohmann::json& value);
  // Reads a group back into JSON (attributes and datasets; the inverse of write_json up to number types).
  nlohmann::json read_json(const std::string& group_path) const;

  void write_strings(const std::string& dataset_path, const std::vector<std::string>& values);
  void write_doubles(const std::string& dataset_path, const std::vector<double>& values,
                     const std::vector<uint64_t>& shape = {});
  void write_int64(const std::string& dataset_path, const std::vector<int64_t>& values,
                   const std::vector<uint64_t>& shape = {});
  void set_attribute(const std::string& object_path, const std::string& name, const std::string& value);
  void set_attribute(const std::string& object_path, const std::string& name, double value);
  void set_attribute(const std::string& object_path, const std::string& name, int64_t value);

  // Parallel datasets. Collective: creates a 1-D uint64 dataset of `rows` elements.
  void create_uint64_dataset(const std::string& dataset_path, uint64_t rows);
  // Collective: every rank writes its own disjoint set of row ranges (sorted ascending, first/count) in one
  // collective MPI-IO write; `values` holds the rows of all ranges in that order. A rank with nothing to write
  // passes no ranges. Returns true when HDF5 reports that the write really was collective.
  struct RowRange {
    uint64_t first = 0;
    uint64_t count = 0;
  };
  bool write_row_ranges_uint64(const std::string& dataset_path, const std::vector<RowRange>& ranges,
                               const std::vector<uint64_t>& values);
  bool is_parallel() const;
  std::vector<uint64_t> read_uint64(const std::string& dataset_path) const;
  std::vector<double> read_doubles(const std::string& dataset_path) const;
  std::vector<std::string> read_strings(const std::string& dataset_path) const;

  // Records /provenance (version, git sha, argv, ranks, UTC time). Collective in parallel files.
  void write_provenance(const std::vector<std::string>& argv, int ranks);

  const std::string& path() const { return path_; }

 private:
  struct Impl;
  H5File(std::unique_ptr<Impl> impl, std::string path);
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

// Convenience for channels: writes one JSON document as an HDF5 file (serial, rank 0).
void write_json_h5(const std::string& path, const nlohmann::json& doc, const std::vector<std::string>& argv,
                   bool force);

}  // namespace fromscratch::io
