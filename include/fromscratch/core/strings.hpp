// Small string helpers shared by every library: concatenation, quoting for messages, hex.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace fromscratch {

// str("a", 1, 'b') == "a1b": messages without a formatting library.
template <class... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// Renders untrusted text for an error message: printable ASCII kept, everything else \xNN, cut at max_len.
std::string quote_untrusted(std::string_view s, size_t max_len = 200);

std::string to_hex(const uint8_t* data, size_t n);
// A JSON key as an HDF5 link name ('/' -> %2F, '%' -> %25, "" and "." -> %2E...): the one mapping the HDF5
// writer uses and the report's locators point into.
std::string escape_h5_link_name(const std::string& key);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string shape_to_string(const std::vector<uint64_t>& shape);  // "[4096, 128]"
bool ends_with(std::string_view s, std::string_view suffix);
bool starts_with(std::string_view s, std::string_view prefix);
// "1.23 GB", "512 MiB"-style human size (decimal units, as disks and GB/s figures use).
std::string human_bytes(double bytes);
// "6.62 thousand", "102.60 billion": parameter counts in words.
std::string human_count(double n);

}  // namespace fromscratch
