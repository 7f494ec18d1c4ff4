// The safetensors format, read from files written by strangers.
//
// Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data section. The JSON maps
// tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data section) plus
// an optional "__metadata__" object of string to string.
//
// The parser is a SAX state machine (nlohmann::json::sax_parse), not a DOM: memory stays proportional to the
// tensors it keeps, a shape array longer than max_rank is rejected as soon as it is seen, and duplicate names
// are caught (a DOM would keep the last one silently). Every rule of the format is checked and every problem
// of a file is collected before one FormatError is thrown:
//   header length <= max_header_bytes and <= file size - 8; valid UTF-8 JSON object; known dtype; shape of
//   non-negative integers, rank <= max_rank; elements x bits overflow-checked and a whole number of bytes;
//   end - begin == that byte count; begin <= end <= data size; sorted by offset, no overlap, no gap, the last
//   tensor ending exactly at the end of the file; names unique, non-empty, <= max_name_bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fromscratch/core/dtype.hpp"

namespace fromscratch {

struct ReaderLimits {
  uint64_t max_header_bytes = 100'000'000;  // the reference implementation's limit
  uint64_t max_index_bytes = 64ull << 20;   // model.safetensors.index.json
  size_t max_rank = 16;
  size_t max_name_bytes = 4096;
  size_t max_tensors = 2'000'000;
  size_t max_metadata_entries = 4096;
  size_t max_shards = 100'000;
};

struct TensorInfo {
  std::string name;
  DType dtype = DType::U8;
  std::vector<uint64_t> shape;
  uint64_t data_begin = 0;  // relative to the start of the data section, as in the header
  uint64_t data_end = 0;

  uint64_t byte_size() const { return data_end - data_begin; }
  uint64_t num_elements() const;  // product of shape (validated not to overflow)
  // Rows along the first axis: shape[0] rows (for rank 1 that is one row per element), one row for a scalar,
  // one row for a packed sub-byte tensor whose rows do not end on byte boundaries.
  uint64_t num_rows() const;
  uint64_t row_bytes() const;  // byte_size() / num_rows() (0 for an empty tensor)
};

struct SafetensorsFile {
  std::string path;
  uint64_t file_size = 0;
  uint64_t header_size = 0;                 // N
  std::vector<TensorInfo> tensors;          // sorted by data_begin
  std::vector<std::pair<std::string, std::string>> metadata;  // "__metadata__", in file order

  uint64_t data_offset() const { return 8 + header_size; }  // file offset of the data section
  uint64_t data_size() const { return file_size - data_offset(); }
};

// Parses a header given as bytes (for the fuzzer and tests): `header_json` are the N bytes after the length
// field, `file_size` the size of the whole file. Throws FormatError with every problem found.
SafetensorsFile parse_safetensors_header(std::string_view header_json, uint64_t file_size, const std::string& path,
                                         const ReaderLimits& limits = {});

// Parses a whole file given in memory (length field included).
SafetensorsFile parse_safetensors_bytes(std::string_view file_bytes, const std::string& path,
                                        const ReaderLimits& limits = {});

// Reads and validates the header of a file on disk; reads only 8 + N bytes. Throws IoError / FormatError.
SafetensorsFile read_safetensors_header(const std::string& path, const ReaderLimits& limits = {});

// The same from any byte source (a remote or cached shard); messages name src.name().
class ByteSource;
SafetensorsFile read_safetensors_header(const ByteSource& src, const ReaderLimits& limits = {});

}  // namespace fromscratch
