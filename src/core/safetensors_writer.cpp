#include "fromscratch/core/safetensors_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "fromscratch/core/checked_math.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch {

namespace {

// Position of each dtype in the reference implementation's `enum Dtype` (declared "in increasing alignment
// order"); its writer sorts by this, descending. Dtypes the reference lacks go last among their size.
int reference_dtype_rank(DType t) {
  switch (t) {
    case DType::BOOL: return 0;
    case DType::F4: return 1;
    case DType::F6_E2M3: return 2;
    case DType::F6_E3M2: return 3;
    case DType::U8: return 4;
    case DType::I8: return 5;
    case DType::F8_E5M2: return 6;
    case DType::F8_E4M3: return 7;
    case DType::F8_E8M0: return 8;
    case DType::I16: return 9;
    case DType::U16: return 10;
    case DType::F16: return 11;
    case DType::BF16: return 12;
    case DType::I32: return 13;
    case DType::U32: return 14;
    case DType::F32: return 15;
    case DType::F64: return 16;
    case DType::I64: return 17;
    case DType::U64: return 18;
    case DType::C64: return 19;
  }
  return 20;
}

// JSON string literal of `s`; UsageError when `s` is not valid UTF-8 (the header must be).
std::string json_string(const std::string& s, const char* what) {
  try {
    return nlohmann::json(s).dump();
  } catch (const nlohmann::json::exception&) {
    throw UsageError(str("safetensors writer: ", what, " ", quote_untrusted(s), " is not valid UTF-8"));
  }
}

void write_all_at(int fd, const std::string& path, const void* data, size_t n, uint64_t offset) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw IoError(path, "pwrite", errno);
    }
    if (w == 0) throw IoError(path, "pwrite wrote 0 bytes (disk full?)");
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
}

void refuse_existing(const std::string& path, bool overwrite) {
  if (!overwrite && std::filesystem::exists(path))
    throw UsageError(str(path, " exists; pass --force to overwrite it"));
}

}  // namespace

uint64_t TensorSpec::num_elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) {
    auto m = checked_mul(n, d);
    if (!m) throw UsageError(str("tensor '", name, "': shape ", shape_to_string(shape), " overflows 64 bits"));
    n = *m;
  }
  return n;
}

uint64_t TensorSpec::byte_size() const {
  auto bits = checked_mul(num_elements(), dtype_bits(dtype));
  if (!bits) throw UsageError(str("tensor '", name, "': byte size of ", shape_to_string(shape), " overflows"));
  if (*bits % 8 != 0)
    throw UsageError(str("tensor '", name, "': ", num_elements(), " elements of ", dtype_name(dtype),
                         " do not fill a whole number of bytes"));
  return *bits / 8;
}

size_t SafetensorsLayout::index_of(std::string_view name) const {
  auto it = index_.find(std::string(name));
  if (it == index_.end()) throw UsageError(str("safetensors writer: no tensor named '", name, "' in the layout"));
  return it->second;
}

SafetensorsLayout plan_safetensors(std::vector<TensorSpec> tensors,
                                   const std::vector<std::pair<std::string, std::string>>& metadata,
                                   TensorOrder order) {
  SafetensorsLayout layout;
  if (order == TensorOrder::kReference) {
    std::stable_sort(tensors.begin(), tensors.end(), [](const TensorSpec& a, const TensorSpec& b) {
      int ra = reference_dtype_rank(a.dtype), rb = reference_dtype_rank(b.dtype);
      if (ra != rb) return ra > rb;
      return a.name < b.name;  // std::string compares bytes, as Rust's str Ord does
    });
  }
  std::string json = "{";
  if (!metadata.empty()) {
    std::vector<std::pair<std::string, std::string>> sorted = metadata;
    std::sort(sorted.begin(), sorted.end());
    json += "\"__metadata__\":{";
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (i > 0 && sorted[i].first == sorted[i - 1].first)
        throw UsageError(str("safetensors writer: duplicate metadata key '", sorted[i].first, "'"));
      if (i > 0) json += ',';
      json += json_string(sorted[i].first, "metadata key");
      json += ':';
      json += json_string(sorted[i].second, "metadata value");
    }
    json += '}';
  }
  uint64_t offset = 0;
  layout.tensors.reserve(tensors.size());
  for (auto& t : tensors) {
    if (t.name.empty()) throw UsageError("safetensors writer: a tensor has an empty name");
    if (t.name == "__metadata__") throw UsageError("safetensors writer: '__metadata__' is reserved, not a tensor name");
    if (!layout.index_.emplace(t.name, layout.tensors.size()).second)
      throw UsageError(str("safetensors writer: duplicate tensor name '", t.name, "'"));
    uint64_t size = t.byte_size();
    auto end = checked_add(offset, size);
    if (!end) throw UsageError("safetensors writer: total data size overflows 64 bits");
    if (json.size() > 1) json += ',';
    json += json_string(t.name, "tensor name");
    json += ":{\"dtype\":\"";
    json += dtype_name(t.dtype);
    json += "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (i) json += ',';
      json += std::to_string(t.shape[i]);
    }
    json += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(*end) + "]}";
    layout.tensors.push_back({std::move(t), offset, *end});
    offset = *end;
  }
  json += '}';
  // Pad with spaces so the data section (and so every tensor, given the alignment-descending order) starts
  // on an 8-byte boundary: the reference pads the JSON itself, after the 8-byte length field.
  json.append((8 - json.size() % 8) % 8, ' ');
  uint64_t n = json.size();
  layout.prefix.resize(8);
  for (int i = 0; i < 8; ++i) layout.prefix[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  layout.prefix += json;
  layout.data_size = offset;
  return layout;
}

SafetensorsWriter::SafetensorsWriter(std::string path, std::vector<TensorSpec> tensors,
                                     const std::vector<std::pair<std::string, std::string>>& metadata,
                                     TensorOrder order, bool overwrite)
    : path_(std::move(path)), partial_path_(path_ + ".partial") {
  layout_ = plan_safetensors(std::move(tensors), metadata, order);
  refuse_existing(path_, overwrite);
  fd_ = ::open(partial_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError(partial_path_, "open for writing", errno);
  try {
    write_all_at(fd_, partial_path_, layout_.prefix.data(), layout_.prefix.size(), 0);
    if (::ftruncate(fd_, static_cast<off_t>(layout_.file_size())) != 0)
      throw IoError(partial_path_, "ftruncate", errno);
  } catch (...) {
    ::close(fd_);
    ::unlink(partial_path_.c_str());
    throw;
  }
  written_.resize(layout_.tensors.size());
  written_bytes_.assign(layout_.tensors.size(), 0);
}

SafetensorsWriter::~SafetensorsWriter() {
  if (!finished_ && fd_ >= 0) {
    ::close(fd_);
    ::unlink(partial_path_.c_str());
  }
}

void SafetensorsWriter::record(size_t index, uint64_t begin, uint64_t end) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) throw UsageError(str(path_, ": write after finish()"));
  auto& ranges = written_[index];
  const uint64_t new_bytes = end - begin;
  // The first range starting after `begin`, and the one before it: either may overlap [begin, end).
  auto next = ranges.upper_bound(begin);
  if (next != ranges.end() && next->first < end)
    throw UsageError(str(path_, ": tensor '", layout_.tensors[index].spec.name, "' bytes [", next->first, ", ",
                         std::min(end, next->second), ") written twice"));
  if (next != ranges.begin()) {
    auto prev = std::prev(next);
    if (prev->second > begin)
      throw UsageError(str(path_, ": tensor '", layout_.tensors[index].spec.name, "' bytes [", begin, ", ",
                           std::min(end, prev->second), ") written twice"));
    if (prev->second == begin) {  // merge with the range just before
      begin = prev->first;
      ranges.erase(prev);
    }
  }
  if (next != ranges.end() && next->first == end) {  // merge with the range just after
    end = next->second;
    ranges.erase(next);
  }
  ranges[begin] = end;
  written_bytes_[index] += new_bytes;
}

void SafetensorsWriter::write_at(size_t index, uint64_t offset, const void* data, size_t n) {
  if (index >= layout_.tensors.size())
    throw UsageError(str(path_, ": tensor index ", index, " out of range (", layout_.tensors.size(), " tensors)"));
  const auto& t = layout_.tensors[index];
  auto end = checked_add(offset, n);
  if (!end || *end > t.byte_size())
    throw UsageError(str(path_, ": write of ", n, " bytes at offset ", offset, " leaves tensor '", t.spec.name,
                         "' (", t.byte_size(), " bytes)"));
  if (n == 0) return;
  record(index, offset, *end);
  write_all_at(fd_, partial_path_, data, n, layout_.data_offset() + t.data_begin + offset);
}

void SafetensorsWriter::append(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    while (append_tensor_ < layout_.tensors.size() &&
           append_offset_ == layout_.tensors[append_tensor_].byte_size()) {
      ++append_tensor_;
      append_offset_ = 0;
    }
    if (append_tensor_ >= layout_.tensors.size())
      throw UsageError(str(path_, ": append of ", n, " bytes past the end of the last tensor"));
    uint64_t room = layout_.tensors[append_tensor_].byte_size() - append_offset_;
    size_t take = static_cast<size_t>(std::min<uint64_t>(room, n));
    write_at(append_tensor_, append_offset_, p, take);
    append_offset_ += take;
    p += take;
    n -= take;
  }
}

uint64_t SafetensorsWriter::bytes_missing() const {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t missing = 0;
  for (size_t i = 0; i < layout_.tensors.size(); ++i) missing += layout_.tensors[i].byte_size() - written_bytes_[i];
  return missing;
}

void SafetensorsWriter::finish(bool sync) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  for (size_t i = 0; i < layout_.tensors.size(); ++i) {
    const auto& t = layout_.tensors[i];
    if (written_bytes_[i] != t.byte_size()) {
      uint64_t hole = 0;  // first byte not written
      for (const auto& [b, e] : written_[i]) {
        if (b > hole) break;
        hole = e;
      }
      throw UsageError(str(path_, ": tensor '", t.spec.name, "' has ", t.byte_size() - written_bytes_[i],
                           " of ", t.byte_size(), " bytes never written (first at offset ", hole, ")"));
    }
  }
  if (sync && ::fsync(fd_) != 0) throw IoError(partial_path_, "fsync", errno);
  if (::close(fd_) != 0) {
    fd_ = -1;
    ::unlink(partial_path_.c_str());
    throw IoError(partial_path_, "close", errno);
  }
  fd_ = -1;
  if (::rename(partial_path_.c_str(), path_.c_str()) != 0) {
    int e = errno;
    ::unlink(partial_path_.c_str());
    throw IoError(path_, "rename into place", e);
  }
  finished_ = true;
}

std::string shard_file_name(size_t one_based_index, size_t count) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", one_based_index, count);
  return buf;
}

std::vector<std::vector<size_t>> plan_shards(const std::vector<TensorSpec>& tensors, uint64_t max_shard_bytes) {
  if (max_shard_bytes == 0) throw UsageError("shard size must be positive");
  std::vector<std::vector<size_t>> shards;
  uint64_t current = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    uint64_t size = tensors[i].byte_size();
    if (shards.empty() || (current > 0 && current + size > max_shard_bytes)) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(i);
    current += size;
  }
  return shards;
}

std::string safetensors_index_json(uint64_t total_size,
                                   const std::vector<std::pair<std::string, std::string>>& weight_map) {
  nlohmann::json index;  // std::map-backed objects: keys come out sorted
  index["metadata"]["total_size"] = total_size;
  auto& map = index["weight_map"] = nlohmann::json::object();
  for (const auto& [name, file] : weight_map) {
    if (map.contains(name)) throw UsageError(str("safetensors index: tensor '", name, "' listed twice"));
    map[name] = file;
  }
  try {
    return index.dump(2) + "\n";
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(str("safetensors index: ", e.what()));
  }
}

void write_text_file(const std::string& path, std::string_view text, bool overwrite) {
  refuse_existing(path, overwrite);
  std::string partial = path + ".partial";
  int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(partial, "open for writing", errno);
  try {
    write_all_at(fd, partial, text.data(), text.size(), 0);
  } catch (...) {
    ::close(fd);
    ::unlink(partial.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(partial.c_str());
    throw IoError(partial, "close", e);
  }
  if (::rename(partial.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(partial.c_str());
    throw IoError(path, "rename into place", e);
  }
}

void write_safetensors_index(const std::string& path, uint64_t total_size,
                             const std::vector<std::pair<std::string, std::string>>& weight_map, bool overwrite) {
  write_text_file(path, safetensors_index_json(total_size, weight_map), overwrite);
}

}  // namespace fromscratch
