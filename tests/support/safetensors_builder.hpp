// Builds safetensors files byte by byte for tests: valid ones, and deliberately broken ones.
#pragma once

#include <cstdint>
#include <string>

namespace fromscratch::test {

// 8-byte little-endian length + header + data. `declared_length` overrides the length field when >= 0.
inline std::string safetensors_bytes(const std::string& header, const std::string& data, int64_t declared_length = -1) {
  uint64_t n = declared_length >= 0 ? static_cast<uint64_t>(declared_length) : header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// One tensor entry for a header: "name":{"dtype":"D","shape":S,"data_offsets":[b,e]}
inline std::string tensor_entry(const std::string& name, const std::string& dtype, const std::string& shape,
                                uint64_t begin, uint64_t end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

}  // namespace fromscratch::test
