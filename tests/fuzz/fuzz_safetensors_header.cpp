// libFuzzer entry: any byte string as a whole safetensors file. Accepting or throwing FormatError are the
// only allowed outcomes; anything else (crash, sanitizer report, other exception, timeout) is a finding.
#include <cstdint>
#include <string_view>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fromscratch::ReaderLimits limits;
  limits.max_header_bytes = 1 << 20;
  try {
    auto st = fromscratch::parse_safetensors_bytes(std::string_view(reinterpret_cast<const char*>(data), size),
                                                   "fuzz.safetensors", limits);
    // Accepted files must satisfy the invariants the hasher relies on.
    uint64_t cursor = 0;
    for (const auto& t : st.tensors) {
      if (t.data_begin != cursor || t.data_end < t.data_begin || t.data_end > st.data_size()) __builtin_trap();
      cursor = t.data_end;
      if (t.num_rows() && t.byte_size() % t.num_rows() != 0) __builtin_trap();
    }
    if (cursor != st.data_size()) __builtin_trap();
  } catch (const fromscratch::FormatError&) {
  }
  return 0;
}
