// libFuzzer entry: any byte string as model.safetensors.index.json. Accepted indexes must hold only safe
// shard names; malformed ones must end in FormatError.
#include <cstdint>
#include <string_view>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto idx = fromscratch::parse_shard_index(std::string_view(reinterpret_cast<const char*>(data), size),
                                              "fuzz.index.json");
    for (const auto& [tensor, shard] : idx.weight_map)
      if (!fromscratch::check_shard_name(shard).empty()) __builtin_trap();
  } catch (const fromscratch::FormatError&) {
  }
  return 0;
}
