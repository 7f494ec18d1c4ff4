#define PCRE2_CODE_UNIT_WIDTH 8
#include "fromscratch/tokenizer/regex.hpp"

#include <pcre2.h>

#include <cstdio>
#include <stdexcept>
#include <vector>

#include "fromscratch/core/strings.hpp"
#include "fromscratch/tokenizer/token_identity.hpp"

namespace fromscratch::tokenizer {

// ---------------------------------------------------------------------------------------------------------
// The PCRE2 wrapper
// ---------------------------------------------------------------------------------------------------------
struct Regex::Impl {
  pcre2_code* code = nullptr;
  pcre2_match_data* match = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  ~Impl() {
    if (match) pcre2_match_data_free(match);
    if (context) pcre2_match_context_free(context);
    if (jit_stack) pcre2_jit_stack_free(jit_stack);
    if (code) pcre2_code_free(code);
  }
};

Regex::Regex(const std::string& pattern) : impl_(std::make_unique<Impl>()), pattern_(pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  // UTF: code points, not bytes. UCP: \p classes and case folding follow Unicode. NEWLINE_LF: only LF ends a
  // line, as in JavaScript's [^\n] for '.'.
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &offset, nullptr);
  if (!impl_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    throw std::invalid_argument(str("regex ", quote_untrusted(pattern, 120), ": ", reinterpret_cast<char*>(message),
                                    " at byte ", offset));
  }
  // JIT is an optimisation only: when it is unavailable the interpreter gives the same matches.
  if (pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0) {
    impl_->jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    impl_->context = pcre2_match_context_create(nullptr);
    if (impl_->jit_stack && impl_->context) pcre2_jit_stack_assign(impl_->context, nullptr, impl_->jit_stack);
  }
  impl_->match = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

bool Regex::find(std::string_view subject, size_t start, size_t& match_begin, size_t& match_end) const {
  int rc = pcre2_match(impl_->code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), start,
                       PCRE2_NO_UTF_CHECK, impl_->match, impl_->context);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(rc, message, sizeof message);
    throw std::runtime_error(str("regex ", quote_untrusted(pattern_, 120), " failed on a ", subject.size(),
                                 "-byte text: ", reinterpret_cast<char*>(message)));
  }
  PCRE2_SIZE* ov = pcre2_get_ovector_pointer(impl_->match);
  match_begin = ov[0];
  match_end = ov[1];
  return true;
}

bool Regex::group(size_t g, size_t& begin, size_t& end) const {
  if (g >= pcre2_get_ovector_count(impl_->match)) return false;
  PCRE2_SIZE* ov = pcre2_get_ovector_pointer(impl_->match);
  if (ov[2 * g] == PCRE2_UNSET) return false;
  begin = ov[2 * g];
  end = ov[2 * g + 1];
  return true;
}

uint32_t Regex::group_count() const {
  uint32_t n = 0;
  pcre2_pattern_info(impl_->code, PCRE2_INFO_CAPTURECOUNT, &n);
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// Oniguruma (as tokenizers.js reads it) -> PCRE2
// ---------------------------------------------------------------------------------------------------------
namespace {

constexpr std::string_view kWordCharsInClass = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}";
constexpr std::string_view kWordCharsExtra = "\\x{B2}\\x{B3}\\x{B9}\\x{BC}-\\x{BE}";
constexpr std::string_view kHexDigits = "0-9A-Fa-f";
constexpr std::string_view kJsSyntaxChars = "^$\\.*+?()[]{}|/";

[[noreturn]] void unsupported(std::string_view pattern, size_t at, std::string_view what) {
  throw std::invalid_argument(str("regex ", quote_untrusted(pattern, 120), ": ", what, " at byte ", at,
                                  " is not supported"));
}

bool is_ascii_letter(char32_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
char32_t ascii_lower(char32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
char32_t ascii_upper(char32_t c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }

std::string word_class() { return str("[", kWordCharsInClass, kWordCharsExtra, "]"); }
std::string non_word_class() { return str("[^", kWordCharsInClass, kWordCharsExtra, "]"); }

// One code point as a PCRE2 literal (valid inside and outside classes): ASCII punctuation escaped, controls
// as \x{..}, letters, digits and non-ASCII characters as themselves.
std::string literal_char(char32_t c) {
  std::string out;
  if (c < 0x20 || c == 0x7F) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "\\x{%X}", static_cast<unsigned>(c));
    return buf;
  }
  if (c < 0x80 && !((c >= '0' && c <= '9') || is_ascii_letter(c) || c == '_')) out.push_back('\\');
  utf8_append(out, c);
  return out;
}

// Reads "\p{...}"-style braces at s[i] (s[i] == '\\'). Returns the length of the escape or 0.
size_t braced_escape(std::string_view s, size_t i, char& kind, std::string_view& body) {
  if (i + 2 >= s.size()) return 0;
  char k = s[i + 1];
  if (k != 'p' && k != 'P' && k != 'x' && k != 'u') return 0;
  if (s[i + 2] != '{') return 0;
  size_t close = s.find('}', i + 3);
  if (close == std::string_view::npos) return 0;
  kind = k;
  body = s.substr(i + 3, close - i - 3);
  return close - i + 1;
}

// \xHH, \uHHHH, \cX: the fixed-width escapes. Returns the length or 0.
size_t fixed_width_escape(std::string_view s, size_t i) {
  auto hex = [&](size_t k) {
    if (k >= s.size()) return false;
    char c = s[k];
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  if (i + 3 < s.size() + 0 && s[i + 1] == 'x' && hex(i + 2) && hex(i + 3)) return 4;
  if (i + 5 < s.size() + 0 && s[i + 1] == 'u' && hex(i + 2) && hex(i + 3) && hex(i + 4) && hex(i + 5)) return 6;
  if (i + 2 < s.size() && s[i + 1] == 'c' && is_ascii_letter(static_cast<unsigned char>(s[i + 2]))) return 3;
  return 0;
}

std::string pcre_fixed_width(std::string_view text) {
  if (text[1] == 'u') return str("\\x{", text.substr(2), "}");
  return std::string(text);  // \xHH and \cX mean the same in PCRE2
}

uint32_t hex_value(std::string_view hex) {
  uint32_t v = 0;
  for (char c : hex) v = v * 16 + static_cast<uint32_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  return v;
}

// The other-case ASCII letters a class must gain inside (?i:...): every letter whose case partner is not
// already a member, decided by asking PCRE2 itself.
std::string ascii_fold_additions(const std::string& positive_class) {
  Regex membership(str("^(?:", positive_class, ")$"));
  std::string additions;
  size_t b, e;
  for (char c = 'A'; c <= 'Z'; ++c) {
    char lower = static_cast<char>(c + 32);
    bool has_upper = membership.find(std::string_view(&c, 1), 0, b, e);
    bool has_lower = membership.find(std::string_view(&lower, 1), 0, b, e);
    if (has_upper != has_lower) additions.push_back(has_upper ? lower : c);
  }
  return additions;
}

// Parses the class starting at pattern[start] == '['. Returns the PCRE2 class and sets `end` past ']'.
std::string translate_class(std::string_view p, size_t start, bool ascii_fold, size_t& end) {
  size_t i = start + 1;
  bool negated = i < p.size() && p[i] == '^';
  if (negated) ++i;
  size_t first = i;
  std::string body;
  enum class Tail { kNone, kScalar, kSet, kRange, kCompleteRange } tail = Tail::kNone;
  // A scalar after "x-" completes a range; a '-' after a completed range is a literal, as in the reference.
  auto scalar_tail = [&] { tail = tail == Tail::kRange ? Tail::kCompleteRange : Tail::kScalar; };
  while (i < p.size()) {
    char c = p[i];
    if (c == ']' && i != first) {
      if (tail == Tail::kNone) unsupported(p, start, "an empty character class");
      std::string positive = str("[", body, "]");
      if (ascii_fold) {
        std::string add = ascii_fold_additions(positive);
        body += add;
      }
      end = i + 1;
      return str("[", negated ? "^" : "", body, "]");
    }
    if (c == ']') {  // ']' first in a class is a literal
      body += "\\]";
      scalar_tail();
      ++i;
      continue;
    }
    if (c == '[') {
      if (p.compare(i, 2, "[:") == 0) {
        size_t close = p.find(":]", i + 2);
        if (close == std::string_view::npos) unsupported(p, i, "an unterminated POSIX bracket");
        std::string_view name = p.substr(i + 2, close - i - 2);
        bool neg = !name.empty() && name[0] == '^';
        if (neg) unsupported(p, i, "a negated POSIX bracket inside a class");
        static const std::pair<std::string_view, std::string_view> kPosix[] = {
            {"alpha", "\\p{Alphabetic}"}, {"alnum", "\\p{Alphabetic}\\p{Nd}"}, {"digit", "\\p{Nd}"},
            {"lower", "\\p{Lowercase}"}, {"upper", "\\p{Uppercase}"},          {"space", "\\p{White_Space}"},
            {"blank", "\\t\\p{Zs}"},     {"punct", "\\p{P}\\p{S}"},            {"cntrl", "\\p{Cc}"},
            {"xdigit", "0-9A-Fa-f"}};
        bool found = false;
        for (const auto& [n, frag] : kPosix)
          if (n == name) {
            body += frag;
            found = true;
          }
        if (name == "word") {
          body += kWordCharsInClass;
          found = true;
        }
        if (!found) unsupported(p, i, str("the POSIX class [:", name, ":]"));
        tail = Tail::kSet;
        i = close + 2;
        continue;
      }
      unsupported(p, i, "a nested character class");
    }
    if (c == '&' && i + 1 < p.size() && p[i + 1] == '&') unsupported(p, i, "a character-class intersection");
    if (c == '-') {
      bool terminal = i + 1 < p.size() && p[i + 1] == ']';
      if (tail == Tail::kNone || tail == Tail::kRange || tail == Tail::kCompleteRange || terminal ||
          tail == Tail::kSet) {
        if (tail == Tail::kSet && !terminal) unsupported(p, i, "a range from a set-valued class member");
        body += "\\-";
        scalar_tail();
      } else {
        body += "-";
        tail = Tail::kRange;
      }
      ++i;
      continue;
    }
    bool completes_range = tail == Tail::kRange;
    if (c == '\\') {
      char kind;
      std::string_view inner;
      if (size_t n = braced_escape(p, i, kind, inner)) {
        if (kind == 'p' || kind == 'P') {
          if (completes_range) unsupported(p, i, "a range ending in a property");
          if (inner == "Word") {
            if (kind == 'P') unsupported(p, i, "\\P{Word} inside a class");
            body += kWordCharsInClass;
          } else {
            body += p.substr(i, n);
          }
          tail = Tail::kSet;
        } else {
          body += str("\\x{", inner, "}");
          scalar_tail();
        }
        i += n;
        continue;
      }
      if (size_t n = fixed_width_escape(p, i)) {
        body += pcre_fixed_width(p.substr(i, n));
        scalar_tail();
        i += n;
        continue;
      }
      if (i + 1 >= p.size()) unsupported(p, i, "a trailing backslash");
      size_t j = i + 1;
      char32_t next = utf8_next(p, j);
      std::string piece;
      bool set = false;
      switch (next) {
        case '\n': piece = "\\n"; break;
        case '\r': piece = "\\r"; break;
        case '\t': piece = "\\t"; break;
        case '\f': piece = "\\f"; break;
        case '\v': piece = "\\x0B"; break;
        case 'h': piece = std::string(kHexDigits); set = true; break;
        case 'w': piece = std::string(kWordCharsInClass); set = true; break;
        case 'd': piece = "\\p{Nd}"; set = true; break;
        case 'D': piece = "\\P{Nd}"; set = true; break;
        case 's': piece = "\\p{White_Space}"; set = true; break;
        case 'S': piece = "\\P{White_Space}"; set = true; break;
        case 'a': piece = "\\x07"; break;
        case 'e': piece = "\\x1B"; break;
        case 'n': piece = "\\n"; break;
        case 'r': piece = "\\r"; break;
        case 't': piece = "\\t"; break;
        case 'f': piece = "\\f"; break;
        case 'v': piece = "\\x0B"; break;
        case 'W':
        case 'H': unsupported(p, i, "a negated shorthand class inside a class");
        default:
          if (next < 0x80 && ((next >= '0' && next <= '9') || is_ascii_letter(next)))
            unsupported(p, i, str("the escape \\", static_cast<char>(next), " inside a class"));
          piece = literal_char(next);
      }
      if (set && completes_range) unsupported(p, i, "a range ending in a class shorthand");
      body += piece;
      if (set) tail = Tail::kSet;
      else scalar_tail();
      i = j;
      continue;
    }
    size_t j = i;
    char32_t cp = utf8_next(p, j);
    body += (c == '^' && body.empty()) ? std::string("\\^") : literal_char(cp);
    scalar_tail();
    i = j;
  }
  unsupported(p, start, "an unterminated character class");
}

}  // namespace

std::string translate_pattern(std::string_view p) {
  std::string out;
  long atom_start = -1;
  bool last_was_quantifier = false;
  bool fold = false;
  std::vector<std::pair<long, bool>> groups;  // (atom start at the group's opening, fold state outside)
  auto emit_atom = [&](const std::string& text) {
    atom_start = static_cast<long>(out.size());
    out += text;
    last_was_quantifier = false;
  };
  size_t i = 0;
  while (i < p.size()) {
    char c = p[i];
    if (c == '\\') {
      char kind;
      std::string_view body;
      if (size_t n = braced_escape(p, i, kind, body)) {
        if (kind == 'x' || kind == 'u') {
          uint32_t cp = hex_value(body);
          if (body.empty() || body.size() > 6 || cp > 0x10FFFF) unsupported(p, i, "a code point escape");
          emit_atom(fold && cp < 0x80 && is_ascii_letter(cp)
                        ? str("[", static_cast<char>(ascii_lower(cp)), static_cast<char>(ascii_upper(cp)), "]")
                        : str("\\x{", body, "}"));
        } else if (body == "Word") {
          emit_atom(kind == 'p' ? word_class() : non_word_class());
        } else {
          emit_atom(std::string(p.substr(i, n)));
        }
        i += n;
        continue;
      }
      if (size_t n = fixed_width_escape(p, i)) {
        std::string_view text = p.substr(i, n);
        uint32_t cp = text[1] == 'c' ? 0 : hex_value(text.substr(2));
        if (fold && text[1] != 'c' && cp < 0x80 && is_ascii_letter(cp))
          emit_atom(str("[", static_cast<char>(ascii_lower(cp)), static_cast<char>(ascii_upper(cp)), "]"));
        else
          emit_atom(pcre_fixed_width(text));
        i += n;
        continue;
      }
      if (i + 1 >= p.size()) {
        unsupported(p, i, "a trailing backslash");
      }
      size_t j = i + 1;
      char32_t next = utf8_next(p, j);
      i = j;
      std::string piece;
      switch (next) {
        case 'G': continue;  // the reference drops \G (matching is always from the last match end)
        case '\n': piece = "\\n"; break;
        case '\r': piece = "\\r"; break;
        case '\t': piece = "\\t"; break;
        case '\f': piece = "\\f"; break;
        case '\v': piece = "\\x0B"; break;
        case 'A': piece = "(?<![\\s\\S])"; break;
        case 'z': piece = "(?![\\s\\S])"; break;
        case 'Z': piece = "(?=\\n?(?![\\s\\S]))"; break;
        case 'h': piece = str("[", kHexDigits, "]"); break;
        case 'H': piece = str("[^", kHexDigits, "]"); break;
        case 'w': piece = word_class(); break;
        case 'W': piece = non_word_class(); break;
        case 'd': piece = "\\p{Nd}"; break;
        case 'D': piece = "\\P{Nd}"; break;
        case 's': piece = "\\p{White_Space}"; break;
        case 'S': piece = "\\P{White_Space}"; break;
        case 'b': {
          std::string w = word_class();
          piece = str("(?:(?<!", w, ")(?=", w, ")|(?<=", w, ")(?!", w, "))");
          break;
        }
        case 'B': {
          std::string w = word_class();
          piece = str("(?:(?<!", w, ")(?!", w, ")|(?<=", w, ")(?=", w, "))");
          break;
        }
        case 'a': piece = "\\x07"; break;
        case 'e': piece = "\\x1B"; break;
        case 'n': piece = "\\n"; break;
        case 'r': piece = "\\r"; break;
        case 't': piece = "\\t"; break;
        case 'f': piece = "\\f"; break;
        case 'v': piece = "\\x0B"; break;
        case '0': piece = "\\x{0}"; break;
        default:
          if (next >= '1' && next <= '9') {
            piece = str("\\", static_cast<char>(next));  // back-reference, same meaning in both engines
          } else if (next < 0x80 && ((next >= '0' && next <= '9') || is_ascii_letter(next))) {
            unsupported(p, i - 2, str("the escape \\", static_cast<char>(next)));
          } else {
            piece = literal_char(next);
          }
      }
      emit_atom(piece);
      continue;
    }
    switch (c) {
      case '[': {
        size_t end = 0;
        std::string cls = translate_class(p, i, fold, end);
        emit_atom(cls);
        i = end;
        continue;
      }
      case ']': emit_atom("\\]"); ++i; continue;
      case '.': emit_atom("[^\\n]"); ++i; continue;
      case '^': emit_atom("(?:(?<![\\s\\S])|(?<=\\n))"); ++i; continue;
      case '$': emit_atom("(?:(?=\\n)|(?![\\s\\S]))"); ++i; continue;
      case '(': {
        std::string_view rest = p.substr(i);
        std::string_view prefix_in = "(";
        std::string prefix_out = "(";
        bool case_insensitive = false;
        if (starts_with(rest, "(?i:")) {
          prefix_in = "(?i:";
          prefix_out = "(?:";
          case_insensitive = true;
        } else if (starts_with(rest, "(?")) {
          static constexpr std::string_view kKnown[] = {"(?<=", "(?<!", "(?:", "(?=", "(?!", "(?>"};
          bool known = false;
          for (auto k : kKnown)
            if (starts_with(rest, k)) {
              prefix_in = k;
              prefix_out = k == "(?>" ? "(?:" : std::string(k);  // the reference drops atomicity
              known = true;
              break;
            }
          if (!known && starts_with(rest, "(?<")) {
            size_t close = rest.find('>');
            bool name_ok = close != std::string_view::npos && close > 3;
            for (size_t k = 3; name_ok && k < close; ++k) {
              char ch = rest[k];
              name_ok = ch == '_' || is_ascii_letter(static_cast<unsigned char>(ch)) || (k > 3 && ch >= '0' && ch <= '9');
            }
            if (name_ok) {
              prefix_in = rest.substr(0, close + 1);
              prefix_out = std::string(prefix_in);
              known = true;
            }
          }
          if (!known) unsupported(p, i, "this group syntax");
        }
        groups.emplace_back(static_cast<long>(out.size()), fold);
        if (case_insensitive) fold = true;
        out += prefix_out;
        last_was_quantifier = false;
        i += prefix_in.size();
        continue;
      }
      case ')': {
        out += ')';
        if (groups.empty()) unsupported(p, i, "an unbalanced ')'");
        atom_start = groups.back().first;
        fold = groups.back().second;
        groups.pop_back();
        last_was_quantifier = false;
        ++i;
        continue;
      }
      case '|': out += '|'; atom_start = -1; last_was_quantifier = false; ++i; continue;
      case '{': {
        // {n}, {n,}, {n,m} or {,m} after an atom is a quantifier; anything else is a literal brace.
        size_t close = p.find('}', i);
        std::string_view inner = close == std::string_view::npos ? std::string_view() : p.substr(i + 1, close - i - 1);
        bool quant = !inner.empty() && atom_start >= 0;
        size_t commas = 0;
        for (char ch : inner) {
          if (ch == ',') ++commas;
          else if (ch < '0' || ch > '9') quant = false;
        }
        if (commas > 1 || inner == ",") quant = false;
        if (quant && inner[0] == ',' && inner.size() == 1) quant = false;
        if (!quant) {
          emit_atom("\\{");
          ++i;
          continue;
        }
        std::string body = inner[0] == ',' ? str("0", inner) : std::string(inner);
        i = close + 1;
        if (i < p.size() && (p[i] == '+' || p[i] == '*')) {
          // Oniguruma's {n,m}+ repeats the bounded repeat (it is not possessive), as the reference reads it.
          out = str(out.substr(0, static_cast<size_t>(atom_start)), "(?:", out.substr(static_cast<size_t>(atom_start)),
                    "{", body, "})", p[i]);
          ++i;
        } else {
          out += str("{", body, "}");
        }
        last_was_quantifier = true;
        continue;
      }
      case '}': emit_atom("\\}"); ++i; continue;
      case '+':
        if (last_was_quantifier) {  // a possessive ++ is read as a greedy +, as the reference does
          ++i;
          continue;
        }
        out += '+';
        last_was_quantifier = true;
        ++i;
        continue;
      case '*':
      case '?':
        out += c;
        last_was_quantifier = true;
        ++i;
        continue;
      default: {
        size_t j = i;
        char32_t cp = utf8_next(p, j);
        if (fold && is_ascii_letter(cp))
          emit_atom(str("[", static_cast<char>(ascii_lower(cp)), static_cast<char>(ascii_upper(cp)), "]"));
        else if (cp == '#' || cp == ' ' || cp == '/')
          emit_atom(std::string(1, static_cast<char>(cp)));
        else
          emit_atom(cp < 0x80 && cp >= 0x20 ? std::string(1, static_cast<char>(cp)) : literal_char(cp));
        i = j;
        continue;
      }
    }
  }
  if (!groups.empty()) unsupported(p, p.size(), "an unclosed '('");
  return out;
}

std::string escape_literal(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    char32_t cp = utf8_next(text, i);
    out += literal_char(cp);
  }
  return out;
}

}  // namespace fromscratch::tokenizer
