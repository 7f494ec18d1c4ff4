#include "fromscratch/core/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "fromscratch/core/checked_math.hpp"
#include "fromscratch/core/byte_source.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/file_io.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch {

uint64_t TensorInfo::num_elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;  // validated at parse time not to overflow
  return n;
}

uint64_t TensorInfo::num_rows() const {
  if (shape.empty()) return 1;
  uint64_t rows = shape[0];
  if (rows == 0) return 0;
  // Packed sub-byte types can have rows that do not end on a byte boundary: then the tensor is one row.
  if (byte_size() % rows != 0) return 1;
  return rows;
}

uint64_t TensorInfo::row_bytes() const {
  uint64_t rows = num_rows();
  return rows == 0 ? 0 : byte_size() / rows;
}

namespace {

using json = nlohmann::json;

// What the parser is in the middle of. Depth is implied by the state.
enum class State { start, top, metadata, tensor, shape, offsets, done };

// One tensor entry as parsed; `valid` is false when a field was missing or malformed (already reported).
struct PendingTensor {
  TensorInfo info;
  bool has_dtype = false, has_shape = false, has_offsets = false;
  bool valid = true;
  size_t offsets_seen = 0;
  size_t shape_seen = 0;
};

class HeaderSax {
 public:
  HeaderSax(ProblemList& problems, const ReaderLimits& limits, SafetensorsFile& out)
      : problems_(problems), limits_(limits), out_(out) {}

  // --- nlohmann::json SAX interface ---
  bool null() { return scalar("null"); }
  bool boolean(bool v) { return scalar(v ? "true" : "false"); }
  bool number_integer(json::number_integer_t v) { return integer(v < 0, static_cast<uint64_t>(v), str(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return integer(false, v, str(v)); }
  bool number_float(json::number_float_t, const json::string_t& s) { return scalar(s, /*is_float=*/true); }
  bool binary(json::binary_t&) { return scalar("<binary>"); }
  bool string(json::string_t& s) {
    if (skip_ > 0) return true;
    switch (state_) {
      case State::metadata:
        if (out_.metadata.size() < limits_.max_metadata_entries) out_.metadata.emplace_back(key_, s);
        return true;
      case State::tensor:
        if (field_ == "dtype") {
          t_.has_dtype = true;
          auto dt = parse_dtype(s);
          if (!dt) {
            problems_.add(t_.info.name, "dtype", str('"', quote_untrusted(s, 40), '"'),
                          "one of BOOL U8 I8 F8_E4M3 F8_E5M2 F8_E8M0 F4 F6_E2M3 F6_E3M2 I16 U16 F16 BF16 I32 U32 F32 I64 U64 F64 C64",
                          "unknown dtype");
            t_.valid = false;
          } else {
            t_.info.dtype = *dt;
          }
          return true;
        }
        return wrong_type("a string");
      default:
        return scalar(str('"', quote_untrusted(s, 40), '"'));
    }
  }
  bool start_object(std::size_t) {
    if (skip_ > 0) return ++skip_, true;
    switch (state_) {
      case State::start:
        state_ = State::top;
        return true;
      case State::top:
        if (key_ == "__metadata__") {
          if (seen_metadata_) problems_.add("__metadata__", "", "", "", "appears twice");
          seen_metadata_ = true;
          state_ = State::metadata;
        } else {
          state_ = State::tensor;
          t_ = PendingTensor{};
          t_.info.name = key_;
          fields_seen_.clear();
        }
        return true;
      default:
        return wrong_type_then_skip("an object");
    }
  }
  bool end_object() {
    if (skip_ > 0) return --skip_, true;
    switch (state_) {
      case State::top:
        state_ = State::done;
        return true;
      case State::metadata:
        state_ = State::top;
        return true;
      case State::tensor:
        finish_tensor();
        state_ = State::top;
        return true;
      default:
        return true;
    }
  }
  bool start_array(std::size_t) {
    if (skip_ > 0) return ++skip_, true;
    if (state_ == State::tensor && field_ == "shape") {
      t_.has_shape = true;
      state_ = State::shape;
      return true;
    }
    if (state_ == State::tensor && field_ == "data_offsets") {
      t_.has_offsets = true;
      state_ = State::offsets;
      return true;
    }
    if (state_ == State::start) {
      problems_.add("", "header", "an array", "", "the header must be a JSON object");
      return false;
    }
    return wrong_type_then_skip("an array");
  }
  bool end_array() {
    if (skip_ > 0) return --skip_, true;
    if (state_ == State::shape) {
      if (t_.shape_seen > limits_.max_rank) {
        problems_.add(t_.info.name, "shape", str("rank ", t_.shape_seen), str("<= ", limits_.max_rank),
                      "too many dimensions");
        t_.valid = false;
      }
      state_ = State::tensor;
    } else if (state_ == State::offsets) {
      if (t_.offsets_seen != 2) {
        problems_.add(t_.info.name, "data_offsets", str(t_.offsets_seen, " numbers"), "exactly 2 ([begin, end])",
                      "wrong length");
        t_.valid = false;
      }
      state_ = State::tensor;
    }
    return true;
  }
  bool key(json::string_t& k) {
    if (skip_ > 0) return true;
    if (state_ == State::top) {
      key_ = k;
      if (key_ == "__metadata__") return true;
      if (++tensor_count_ > limits_.max_tensors) {
        problems_.add("", "tensor count", str("> ", limits_.max_tensors), str("<= ", limits_.max_tensors),
                      "too many tensors");
        return false;
      }
      if (k.empty()) problems_.add("", "name", "\"\"", "", "empty tensor name");
      if (k.size() > limits_.max_name_bytes)
        problems_.add(k.substr(0, 64), "name", str(k.size(), " bytes"), str("<= ", limits_.max_name_bytes),
                      "tensor name too long");
      if (!names_.insert(k).second) problems_.add(k, "name", "", "unique names", "duplicate tensor name");
    } else if (state_ == State::metadata) {
      key_ = k;
      if (out_.metadata.size() >= limits_.max_metadata_entries && !metadata_overflow_reported_) {
        metadata_overflow_reported_ = true;
        problems_.add("__metadata__", "entries", str("> ", limits_.max_metadata_entries),
                      str("<= ", limits_.max_metadata_entries), "too many metadata entries");
      }
    } else if (state_ == State::tensor) {
      field_ = k;
      if (!fields_seen_.insert(field_).second) {
        problems_.add(t_.info.name, quote_untrusted(field_, 40), "", "", "field appears twice");
        t_.valid = false;
      }
      if (field_ != "dtype" && field_ != "shape" && field_ != "data_offsets") {
        problems_.add(t_.info.name, quote_untrusted(field_, 40), "", "dtype, shape, data_offsets", "unknown field");
        t_.valid = false;
        field_ = "";  // its value is skipped
      }
    }
    return true;
  }
  bool parse_error(std::size_t position, const std::string& last_token, const json::exception& ex) {
    // nlohmann's message embeds the offending token; keep it bounded and printable.
    problems_.add("", "header JSON", str("byte ", position), "", str("invalid JSON: ", quote_untrusted(ex.what(), 160)));
    (void)last_token;
    return false;
  }

  bool saw_object() const { return state_ != State::start; }
  std::vector<TensorInfo>& tensors() { return tensors_; }

 private:
  bool scalar(const std::string& rendered, bool is_float = false) {
    if (skip_ > 0) return true;
    switch (state_) {
      case State::start:
        problems_.add("", "header", rendered, "", "the header must be a JSON object");
        return false;
      case State::metadata:
        problems_.add("__metadata__", quote_untrusted(key_, 60), rendered, "", "metadata values must be strings");
        return true;
      case State::shape:
      case State::offsets:
        return integer(false, 0, rendered, is_float ? "a non-negative integer (got a non-integer number)"
                                                    : "a non-negative integer");
      case State::tensor:
        if (field_.empty()) return true;  // value of an unknown field, already reported
        return wrong_type(rendered);
      case State::top:
        problems_.add(key_, "", rendered, "", "entry must be an object {dtype, shape, data_offsets}");
        return true;
      default:
        return true;
    }
  }

  bool integer(bool negative, uint64_t v, const std::string& rendered, const char* what = nullptr) {
    if (skip_ > 0) return true;
    if (state_ != State::shape && state_ != State::offsets) {
      return scalar(rendered);
    }
    const char* field = state_ == State::shape ? "shape" : "data_offsets";
    size_t index = state_ == State::shape ? t_.shape_seen++ : t_.offsets_seen++;
    if (negative || what) {
      problems_.add(t_.info.name, str(field, "[", index, "]"), rendered, "",
                    str("must be ", what ? what : "a non-negative integer"));
      t_.valid = false;
      return true;
    }
    if (state_ == State::shape) {
      if (index < limits_.max_rank) t_.info.shape.push_back(v);
    } else {
      if (index == 0) t_.info.data_begin = v;
      if (index == 1) t_.info.data_end = v;
    }
    return true;
  }

  bool wrong_type(const std::string& got) {
    problems_.add(t_.info.name, quote_untrusted(field_, 40), got, "", expected_for_field());
    t_.valid = false;
    return true;
  }
  bool wrong_type_then_skip(const std::string& got) {
    if (state_ == State::tensor && field_.empty()) {
      skip_ = 1;  // value of an unknown field
      return true;
    }
    if (state_ == State::top) {
      problems_.add(key_, "", got, "", "entry must be an object {dtype, shape, data_offsets}");
    } else if (state_ == State::metadata) {
      problems_.add("__metadata__", quote_untrusted(key_, 60), got, "", "metadata values must be strings");
    } else if (state_ == State::tensor) {
      wrong_type(got);
    } else {
      problems_.add(t_.info.name, state_ == State::shape ? "shape" : "data_offsets", got, "",
                    "must contain integers only");
      t_.valid = false;
    }
    skip_ = 1;
    return true;
  }
  std::string expected_for_field() const {
    if (field_ == "dtype") return "dtype must be a string";
    if (field_ == "shape") return "shape must be an array of non-negative integers";
    if (field_ == "data_offsets") return "data_offsets must be an array [begin, end]";
    return "unexpected value";
  }

  void finish_tensor() {
    if (!t_.has_dtype) problems_.add(t_.info.name, "dtype", "", "", "missing field");
    if (!t_.has_shape) problems_.add(t_.info.name, "shape", "", "", "missing field");
    if (!t_.has_offsets) problems_.add(t_.info.name, "data_offsets", "", "", "missing field");
    if (t_.valid && t_.has_dtype && t_.has_shape && t_.has_offsets) tensors_.push_back(std::move(t_.info));
    else invalid_tensors_ = true;
  }

  ProblemList& problems_;
  const ReaderLimits& limits_;
  SafetensorsFile& out_;
  State state_ = State::start;
  int skip_ = 0;  // > 0 while skipping a nested value; counts open brackets
  std::string key_, field_;
  PendingTensor t_;
  std::unordered_set<std::string> names_;
  std::unordered_set<std::string> fields_seen_;
  std::vector<TensorInfo> tensors_;
  size_t tensor_count_ = 0;
  bool seen_metadata_ = false;
  bool metadata_overflow_reported_ = false;
  bool invalid_tensors_ = false;
};

// Checks sizes and the layout of the data section; appends problems.
void check_layout(std::vector<TensorInfo>& tensors, uint64_t data_size, ProblemList& problems) {
  std::vector<TensorInfo> ok;
  ok.reserve(tensors.size());
  for (auto& t : tensors) {
    bool good = true;
    uint64_t elements = 1;
    for (size_t i = 0; i < t.shape.size() && good; ++i) {
      auto m = checked_mul(elements, t.shape[i]);
      if (!m) {
        problems.add(t.name, "shape", shape_to_string(t.shape), "element count < 2^64",
                     "product of dimensions overflows 64 bits");
        good = false;
      } else {
        elements = *m;
      }
    }
    uint64_t bytes = 0;
    if (good) {
      auto bits = checked_mul(elements, dtype_bits(t.dtype));
      if (!bits) {
        problems.add(t.name, "shape", shape_to_string(t.shape), "byte size < 2^64",
                     str("size in bytes of ", elements, " x ", dtype_name(t.dtype), " overflows 64 bits"));
        good = false;
      } else if (*bits % 8 != 0) {
        problems.add(t.name, "shape", shape_to_string(t.shape), "a whole number of bytes",
                     str(elements, " elements of ", dtype_bits(t.dtype), "-bit ", dtype_name(t.dtype),
                         " do not fill whole bytes"));
        good = false;
      } else {
        bytes = *bits / 8;
      }
    }
    if (t.data_begin > t.data_end) {
      problems.add(t.name, "data_offsets", str("[", t.data_begin, ", ", t.data_end, "]"), "begin <= end",
                   "begin is after end");
      good = false;
    } else if (good && t.data_end - t.data_begin != bytes) {
      problems.add(t.name, "data_offsets", str("[", t.data_begin, ", ", t.data_end, "] (", t.data_end - t.data_begin, " bytes)"),
                   str(bytes, " bytes = ", shape_to_string(t.shape), " x ", dtype_name(t.dtype)),
                   "byte span does not match shape x dtype");
      good = false;
    }
    if (t.data_end > data_size) {
      problems.add(t.name, "data_offsets.end", str(t.data_end), str("<= ", data_size, " (data section size)"),
                   "points past the end of the file");
      good = false;
    }
    if (good) ok.push_back(std::move(t));
  }
  // Stable order by offset; zero-size tensors sort before a non-empty tensor starting at the same offset.
  std::sort(ok.begin(), ok.end(), [](const TensorInfo& a, const TensorInfo& b) {
    if (a.data_begin != b.data_begin) return a.data_begin < b.data_begin;
    if (a.data_end != b.data_end) return a.data_end < b.data_end;
    return a.name < b.name;
  });
  // Only a fully valid set of tensors can be checked for gaps and coverage meaningfully.
  if (ok.size() == tensors.size()) {
    uint64_t cursor = 0;
    const TensorInfo* prev = nullptr;
    for (const auto& t : ok) {
      if (t.data_begin > cursor) {
        problems.add(t.name, "data_offsets.begin", str(t.data_begin), str("== ", cursor, prev ? str(" (end of '", quote_untrusted(prev->name, 80), "')") : std::string(" (start of data)")),
                     str("gap of ", t.data_begin - cursor, " unindexed bytes before this tensor"));
      } else if (t.data_begin < cursor) {
        problems.add(t.name, "data_offsets.begin", str(t.data_begin), str(">= ", cursor, " (end of '", quote_untrusted(prev->name, 80), "')"),
                     str("overlaps tensor '", quote_untrusted(prev->name, 80), "' by ", cursor - t.data_begin, " bytes"));
      }
      if (t.data_end > cursor) {
        cursor = t.data_end;
        prev = &t;
      }
    }
    if (cursor != data_size)
      problems.add("", "data section", str(data_size, " bytes"), str("== ", cursor, " (end of last tensor)"),
                   str(data_size - cursor, " trailing bytes not covered by any tensor"));
  }
  tensors = std::move(ok);
}

}  // namespace

SafetensorsFile parse_safetensors_header(std::string_view header_json, uint64_t file_size, const std::string& path,
                                         const ReaderLimits& limits) {
  ProblemList problems(path);
  SafetensorsFile out;
  out.path = path;
  out.file_size = file_size;
  out.header_size = header_json.size();
  if (header_json.empty()) {
    problems.add("", "header length", "0", ">= 2", "empty header");
    problems.throw_all();
  }
  if (header_json.front() != '{')
    problems.add("", "header", str("first byte 0x", to_hex(reinterpret_cast<const uint8_t*>(header_json.data()), 1)),
                 "'{'", "the header must begin with '{'");
  HeaderSax sax(problems, limits, out);
  bool parsed = nlohmann::json::sax_parse(header_json, &sax, nlohmann::json::input_format_t::json, /*strict=*/true);
  if (parsed && !sax.saw_object()) problems.add("", "header", "", "", "the header must be a JSON object");
  if (!parsed) problems.throw_all();
  out.tensors = std::move(sax.tensors());
  check_layout(out.tensors, file_size - 8 - header_json.size(), problems);
  problems.throw_if_any();
  return out;
}

static uint64_t read_length_field(const uint8_t* p) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | p[i];
  return n;
}

static void check_header_length(uint64_t n, uint64_t file_size, const std::string& path, const ReaderLimits& limits) {
  ProblemList problems(path);
  if (file_size < 8) {
    problems.add("", "file size", str(file_size, " bytes"), ">= 8", "too small to hold the header length");
  } else if (n > limits.max_header_bytes) {
    problems.add("", "header length", str(n), str("<= ", limits.max_header_bytes), "header too large");
  } else if (n > file_size - 8) {
    problems.add("", "header length", str(n), str("<= ", file_size - 8, " (file size - 8)"),
                 "header extends past the end of the file");
  }
  problems.throw_if_any();
}

SafetensorsFile parse_safetensors_bytes(std::string_view file_bytes, const std::string& path,
                                        const ReaderLimits& limits) {
  uint64_t size = file_bytes.size();
  uint64_t n = size >= 8 ? read_length_field(reinterpret_cast<const uint8_t*>(file_bytes.data())) : 0;
  check_header_length(n, size, path, limits);
  return parse_safetensors_header(file_bytes.substr(8, n), size, path, limits);
}

SafetensorsFile read_safetensors_header(const std::string& path, const ReaderLimits& limits) {
  return read_safetensors_header(FileByteSource(path), limits);
}

SafetensorsFile read_safetensors_header(const ByteSource& src, const ReaderLimits& limits) {
  const std::string& path = src.name();
  uint64_t size = src.size();
  uint8_t len[8] = {0};
  if (size >= 8) src.read(0, 8, len);
  uint64_t n = size >= 8 ? read_length_field(len) : 0;
  check_header_length(n, size, path, limits);
  std::string header(n, '\0');
  src.read(8, n, reinterpret_cast<uint8_t*>(header.data()));
  return parse_safetensors_header(header, size, path, limits);
}

}  // namespace fromscratch
