#include "fromscratch/core/strings.hpp"

#include <cstdio>

namespace fromscratch {

std::string quote_untrusted(std::string_view s, size_t max_len) {
  std::string out;
  out.reserve(std::min(s.size(), max_len) + 8);
  size_t n = 0;
  for (unsigned char c : s) {
    if (n++ >= max_len) {
      out += str("...(", s.size(), " bytes)");
      break;
    }
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string to_hex(const uint8_t* data, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = digits[data[i] >> 4];
    s[2 * i + 1] = digits[data[i] & 15];
  }
  return s;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) s += sep;
    s += parts[i];
  }
  return s;
}

std::string shape_to_string(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

namespace {
// Scales by 1000 until under 1000 (or out of units) and prints with two decimals after the first step.
std::string scaled(double v, const char* const* units, int n_units) {
  int u = 0;
  while (v >= 1000.0 && u < n_units - 1) {
    v /= 1000.0;
    ++u;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.2f%s", v, units[u]);
  return buf;
}
}  // namespace

std::string human_bytes(double bytes) {
  static const char* const units[] = {" B", " kB", " MB", " GB", " TB", " PB"};
  return scaled(bytes, units, 6);
}

std::string human_count(double n) {
  static const char* const units[] = {"", " thousand", " million", " billion", " trillion"};
  return scaled(n, units, 5);
}

std::string escape_h5_link_name(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '/') out += "%2F";
    else if (c == '%') out += "%25";
    else out += c;
  }
  if (out.empty() || out == ".") out = "%2E" + out.substr(out.empty() ? 0 : 1);
  return out;
}

}  // namespace fromscratch
