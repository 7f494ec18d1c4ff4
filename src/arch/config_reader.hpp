// Typed, validating access to the keys of one config.json object (internal to fromscratch_arch).
//
// Every accessor marks its key as consumed, so the parser can list the keys nobody asked for. A value of the
// wrong type, out of range or non-finite adds a Problem naming the key, the value and the limit; the accessor
// then returns the default, so parsing continues and every problem of the file is reported at once.
#pragma once

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fromscratch/arch/spec.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::arch::detail {

// A JSON value rendered for an error message: compact, cut, non-printable bytes escaped.
inline std::string render_value(const nlohmann::json& v) {
  return quote_untrusted(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), 120);
}

// A non-negative integer, whether stored unsigned (parsed text) or signed (built in code).
inline std::optional<uint64_t> json_uint(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& cfg, ProblemList& problems, std::vector<DefaultedField>& defaults,
               std::string key_prefix = "")
      : cfg_(cfg), problems_(problems), defaults_(defaults), prefix_(std::move(key_prefix)) {}

  const nlohmann::json& object() const { return cfg_; }
  // Present with a non-null value.
  bool has(const std::string& key) const {
    auto it = cfg_.find(key);
    return it != cfg_.end() && !it->is_null();
  }
  bool present(const std::string& key) const { return cfg_.contains(key); }
  // The raw value (nullptr when absent); marks the key consumed.
  const nlohmann::json* raw(const std::string& key) {
    consumed_.insert(key);
    auto it = cfg_.find(key);
    return it == cfg_.end() ? nullptr : &*it;
  }
  void consume(const std::string& key) { consumed_.insert(key); }
  const std::set<std::string>& consumed() const { return consumed_; }

  void problem(const std::string& key, const std::string& value, const std::string& limit,
               const std::string& message) {
    problems_.add(prefix_ + key, "", value, limit, message);
  }
  void problem_value(const std::string& key, const nlohmann::json& value, const std::string& limit,
                     const std::string& message) {
    problem(key, render_value(value), limit, message);
  }

  // Unsigned integer in [min_value, max_value]. Absent or null: nullopt.
  std::optional<uint64_t> uint_opt(const std::string& key, uint64_t max_value, uint64_t min_value = 0) {
    const nlohmann::json* v = raw(key);
    if (!v || v->is_null()) return std::nullopt;
    return to_uint(key, *v, max_value, min_value);
  }
  uint64_t uint_req(const std::string& key, uint64_t max_value, uint64_t min_value = 1) {
    const nlohmann::json* v = raw(key);
    if (!v || v->is_null()) {
      problem(key, v ? "null" : "", "", "required field is missing");
      return 0;
    }
    return to_uint(key, *v, max_value, min_value).value_or(0);
  }
  uint64_t uint_def(const std::string& key, uint64_t def, const std::string& reason, uint64_t max_value,
                    uint64_t min_value = 0) {
    if (!present(key)) {
      consume(key);
      note_default(key, std::to_string(def), reason);
      return def;
    }
    return uint_opt(key, max_value, min_value).value_or(def);
  }

  std::optional<double> num_opt(const std::string& key) {
    const nlohmann::json* v = raw(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_number() || (v->is_number_float() && !std::isfinite(v->get<double>()))) {
      problem_value(key, *v, "a finite number", "wrong type");
      return std::nullopt;
    }
    return v->get<double>();
  }
  double num_def(const std::string& key, double def, const std::string& reason) {
    if (!present(key)) {
      consume(key);
      note_default(key, format_double(def), reason);
      return def;
    }
    return num_opt(key).value_or(def);
  }

  std::optional<bool> bool_opt(const std::string& key) {
    const nlohmann::json* v = raw(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_boolean()) {
      problem_value(key, *v, "true or false", "wrong type");
      return std::nullopt;
    }
    return v->get<bool>();
  }
  bool bool_def(const std::string& key, bool def, const std::string& reason) {
    if (!present(key)) {
      consume(key);
      note_default(key, def ? "true" : "false", reason);
      return def;
    }
    return bool_opt(key).value_or(def);
  }

  std::optional<std::string> str_opt(const std::string& key, size_t max_len = 256) {
    const nlohmann::json* v = raw(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_string()) {
      problem_value(key, *v, "a string", "wrong type");
      return std::nullopt;
    }
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > max_len) {
      problem(key, quote_untrusted(s, 60), str("<= ", max_len, " bytes"), "string too long");
      return std::nullopt;
    }
    return s;
  }

  void note_default(const std::string& key, const std::string& value, const std::string& reason) {
    defaults_.push_back(DefaultedField{prefix_ + key, value, reason});
  }

  static std::string format_double(double d) {
    std::ostringstream os;
    os.precision(15);
    os << d;
    return os.str();
  }

 private:
  std::optional<uint64_t> to_uint(const std::string& key, const nlohmann::json& v, uint64_t max_value,
                                  uint64_t min_value) {
    // Parsed JSON stores non-negative integers as unsigned, but documents built in code may hold them signed.
    if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
      uint64_t x = v.is_number_unsigned() ? v.get<uint64_t>() : static_cast<uint64_t>(v.get<int64_t>());
      if (x < min_value || x > max_value) {
        problem(key, std::to_string(x), str(min_value, "..", max_value), "out of range");
        return std::nullopt;
      }
      return x;
    }
    if (v.is_number_integer()) {  // signed: only negative values reach here
      problem(key, std::to_string(v.get<int64_t>()), str(min_value, "..", max_value), "negative size");
      return std::nullopt;
    }
    if (v.is_number_float()) {
      problem_value(key, v, "an integer", "expected an integer, found a floating-point number");
      return std::nullopt;
    }
    problem_value(key, v, "an integer", "wrong type");
    return std::nullopt;
  }

  const nlohmann::json& cfg_;
  ProblemList& problems_;
  std::vector<DefaultedField>& defaults_;
  std::string prefix_;
  std::set<std::string> consumed_;
};

}  // namespace fromscratch::arch::detail
