// Unicode regular expressions for the pre-tokenizer and normalizer patterns, on PCRE2 (UTF + UCP, JIT).
//
// tokenizer.json patterns are written for Oniguruma (the Rust tokenizers library). The reference encoder,
// tokenizers.js, rewrites them for JavaScript: \s becomes \p{White_Space}, \d \p{Nd}, (?i:...) folds ASCII
// letters only, a possessive ++ becomes greedy, {n,m}+ repeats a bounded repeat, and so on.
// translate_pattern() applies the same rewrites, producing PCRE2 syntax, so that both engines read a pattern
// the same way; constructs PCRE2 cannot express the same way (nested classes, class intersections, escapes
// whose meaning differs) are refused with an error naming the pattern and the position.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace fromscratch::tokenizer {

// JavaScript's \s (ECMAScript WhiteSpace and LineTerminator: tab, VT, FF, space separators, U+FEFF, LF, CR,
// U+2028, U+2029) as a PCRE2 class. Used where the reference uses a native JS regex (the ByteLevel
// pre-tokenizer, Whitespace, trimming), which differs from \p{White_Space} at U+0085 and U+FEFF.
inline constexpr std::string_view kJsSpaceClassBody = "\\t\\n\\x0B\\f\\r\\x{FEFF}\\x{2028}\\x{2029}\\p{Zs}";

// Oniguruma pattern (as tokenizers.js reads it) -> PCRE2 pattern. Throws std::invalid_argument naming the
// construct and its byte offset.
std::string translate_pattern(std::string_view oniguruma);
// A literal string -> a PCRE2 pattern matching exactly it.
std::string escape_literal(std::string_view text);

class Regex {
 public:
  // `pattern` is PCRE2 syntax. Throws std::invalid_argument with PCRE2's message and offset.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  // Finds the first match at or after byte `start` of a valid UTF-8 `subject`. Returns false when none.
  // Not thread-safe: one Regex object per thread (the match buffers are reused across calls).
  bool find(std::string_view subject, size_t start, size_t& match_begin, size_t& match_end) const;
  // Capture group `group` of the last successful find (false when it did not participate).
  bool group(size_t group, size_t& begin, size_t& end) const;
  uint32_t group_count() const;

  // Calls f(begin, end) for every match, iterating as JavaScript's global+unicode matching does: after an
  // empty match the search resumes one code point further.
  template <class F>
  void for_each_match(std::string_view subject, F&& f) const {
    size_t pos = 0;
    size_t b, e;
    while (pos <= subject.size() && find(subject, pos, b, e)) {
      f(b, e);
      if (e > b) {
        pos = e;
      } else {
        pos = e + 1;
        while (pos < subject.size() && (static_cast<unsigned char>(subject[pos]) & 0xC0) == 0x80) ++pos;
      }
    }
  }

  const std::string& pattern() const { return pattern_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string pattern_;
};

}  // namespace fromscratch::tokenizer
