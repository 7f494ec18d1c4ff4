#include "fromscratch/tokenizer/encoder.hpp"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <queue>
#include <stdexcept>
#include <unordered_map>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/tokenizer/regex.hpp"
#include "fromscratch/tokenizer/token_identity.hpp"

namespace fromscratch::tokenizer {

using nlohmann::json;

namespace {

// JavaScript's trimming (String.prototype.trimStart/trimEnd), used by lstrip/rstrip and Strip.
bool js_space(char32_t cp) { return is_js_whitespace(cp); }

size_t js_trim_start_pos(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    if (!js_space(utf8_next(s, j))) break;
    i = j;
  }
  return i;
}

size_t js_trim_end_pos(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t j = start;
    if (!js_space(utf8_next(s, j)) || j != end) break;
    end = start;
  }
  return end;
}

void js_trim_start(std::string& s) { s.erase(0, js_trim_start_pos(s)); }
void js_trim_end(std::string& s) { s.resize(js_trim_end_pos(s)); }

FormatError pipeline_error(const Tokenizer& tok, const std::string& entry, const std::string& field,
                           const std::string& value, const std::string& limit, const std::string& message) {
  return FormatError(Problem{tok.path, entry, field, value, limit, message}, "component");
}

std::string json_string(const json& obj, const char* key, const std::string& fallback = {}) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return fallback;
  return it->get<std::string>();
}

bool json_bool(const json& obj, const char* key, bool fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_boolean()) return fallback;
  return it->get<bool>();
}

// The regex a tokenizer.json "pattern" object stands for: {"Regex": "..."} or {"String": "..."}. A String
// pattern is captured (wrapped in a group) when the reference does so: for Split with invert = false.
std::string pattern_source(const Tokenizer& tok, const std::string& entry, const json& pattern, bool capture_string) {
  if (!pattern.is_object())
    throw pipeline_error(tok, entry, "pattern", quote_untrusted(pattern.dump(), 60), "{\"Regex\": ...} or {\"String\": ...}",
                         "missing or malformed pattern");
  if (auto r = pattern.find("Regex"); r != pattern.end() && r->is_string()) {
    try {
      return translate_pattern(r->get<std::string>());
    } catch (const std::invalid_argument& e) {
      throw pipeline_error(tok, entry, "pattern.Regex", "", "", e.what());
    }
  }
  if (auto s = pattern.find("String"); s != pattern.end() && s->is_string()) {
    std::string lit = escape_literal(s->get<std::string>());
    return capture_string ? str("(", lit, ")") : lit;
  }
  throw pipeline_error(tok, entry, "pattern", quote_untrusted(pattern.dump(), 60), "{\"Regex\": ...} or {\"String\": ...}",
                       "malformed pattern");
}

Regex compile(const Tokenizer& tok, const std::string& entry, const std::string& pcre) {
  try {
    return Regex(pcre);
  } catch (const std::invalid_argument& e) {
    throw pipeline_error(tok, entry, "pattern", "", "", e.what());
  }
}

// JavaScript String.prototype.replaceAll(regex, replacement) with GetSubstitution's $-patterns.
void replace_all(const Regex& re, std::string& text, const std::string& replacement) {
  bool dollar = replacement.find('$') != std::string::npos;
  std::string out;
  size_t last = 0;
  bool any = false;
  uint32_t groups = dollar ? re.group_count() : 0;
  re.for_each_match(text, [&](size_t b, size_t e) {
    any = true;
    out.append(text, last, b - last);
    if (!dollar) {
      out += replacement;
    } else {
      for (size_t k = 0; k < replacement.size(); ++k) {
        char c = replacement[k];
        if (c != '$' || k + 1 >= replacement.size()) {
          out.push_back(c);
          continue;
        }
        char n = replacement[k + 1];
        if (n == '$') { out.push_back('$'); ++k; }
        else if (n == '&') { out.append(text, b, e - b); ++k; }
        else if (n == '`') { out.append(text, 0, b); ++k; }
        else if (n == '\'') { out.append(text, e, std::string::npos); ++k; }
        else if (n >= '0' && n <= '9') {
          // $nn when that group exists, else $n, else a literal '$'.
          size_t idx = static_cast<size_t>(n - '0');
          size_t used = 1;
          if (k + 2 < replacement.size() && replacement[k + 2] >= '0' && replacement[k + 2] <= '9') {
            size_t two = idx * 10 + static_cast<size_t>(replacement[k + 2] - '0');
            if (two >= 1 && two <= groups) { idx = two; used = 2; }
          }
          if (idx >= 1 && idx <= groups) {
            size_t gb, ge;
            if (re.group(idx, gb, ge)) out.append(text, gb, ge - gb);
            k += used;
          } else {
            out.push_back('$');
          }
        } else {
          out.push_back('$');
        }
      }
    }
    last = e;
  });
  if (!any) return;
  out.append(text, last, std::string::npos);
  text.swap(out);
}

// ---------------------------------------------------------------------------------------------------------
// Normalizers
// ---------------------------------------------------------------------------------------------------------
class TextStep {
 public:
  virtual ~TextStep() = default;
  virtual void apply(std::string& text) const = 0;
  virtual bool prepends_space() const { return false; }
};

bool all_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

std::u16string to_utf16(std::string_view s) {
  std::u16string out(s.size() + 1, u'\0');
  int32_t len = 0;
  UErrorCode status = U_ZERO_ERROR;
  u_strFromUTF8WithSub(reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &len, s.data(),
                       static_cast<int32_t>(s.size()), 0xFFFD, nullptr, &status);
  if (U_FAILURE(status)) throw std::runtime_error(str("UTF-8 to UTF-16 conversion failed: ", u_errorName(status)));
  out.resize(static_cast<size_t>(len));
  return out;
}

std::string to_utf8(const std::u16string& s) {
  std::string out(s.size() * 3 + 1, '\0');
  int32_t len = 0;
  UErrorCode status = U_ZERO_ERROR;
  u_strToUTF8WithSub(out.data(), static_cast<int32_t>(out.size()), &len, reinterpret_cast<const UChar*>(s.data()),
                     static_cast<int32_t>(s.size()), 0xFFFD, nullptr, &status);
  if (U_FAILURE(status)) throw std::runtime_error(str("UTF-16 to UTF-8 conversion failed: ", u_errorName(status)));
  out.resize(static_cast<size_t>(len));
  return out;
}

class UnicodeForm : public TextStep {
 public:
  explicit UnicodeForm(const std::string& form) {
    UErrorCode status = U_ZERO_ERROR;
    if (form == "NFC") norm_ = unorm2_getNFCInstance(&status);
    else if (form == "NFD") norm_ = unorm2_getNFDInstance(&status);
    else if (form == "NFKC") norm_ = unorm2_getNFKCInstance(&status);
    else norm_ = unorm2_getNFKDInstance(&status);
    if (U_FAILURE(status)) throw std::runtime_error(str("ICU ", form, " normalizer unavailable: ", u_errorName(status)));
  }
  void apply(std::string& text) const override {
    if (all_ascii(text)) return;  // every normalization form leaves ASCII unchanged
    std::u16string src = to_utf16(text);
    UErrorCode status = U_ZERO_ERROR;
    if (unorm2_isNormalized(norm_, reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()),
                            &status) && U_SUCCESS(status))
      return;
    status = U_ZERO_ERROR;
    std::u16string dst(src.size() * 4 + 16, u'\0');
    int32_t len = unorm2_normalize(norm_, reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()),
                                   reinterpret_cast<UChar*>(dst.data()), static_cast<int32_t>(dst.size()), &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) {
      status = U_ZERO_ERROR;
      dst.assign(static_cast<size_t>(len) + 1, u'\0');
      len = unorm2_normalize(norm_, reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()),
                             reinterpret_cast<UChar*>(dst.data()), static_cast<int32_t>(dst.size()), &status);
    }
    if (U_FAILURE(status)) throw std::runtime_error(str("ICU normalization failed: ", u_errorName(status)));
    dst.resize(static_cast<size_t>(len));
    text = to_utf8(dst);
  }

 private:
  const UNormalizer2* norm_ = nullptr;
};

class ReplaceStep : public TextStep {
 public:
  ReplaceStep(Regex re, std::string content) : re_(std::move(re)), content_(std::move(content)) {}
  void apply(std::string& text) const override { replace_all(re_, text, content_); }

 private:
  Regex re_;
  std::string content_;
};

class PrependStep : public TextStep {
 public:
  explicit PrependStep(std::string prefix) : prefix_(std::move(prefix)) {}
  void apply(std::string& text) const override { text.insert(0, prefix_); }
  bool prepends_space() const override { return prefix_ == "\xE2\x96\x81" || prefix_ == " "; }

 private:
  std::string prefix_;
};

void js_lowercase(std::string& text) {
  if (all_ascii(text)) {
    for (char& c : text)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return;
  }
  std::u16string src = to_utf16(text);
  std::u16string dst(src.size() + 16, u'\0');
  UErrorCode status = U_ZERO_ERROR;
  // The root locale: JavaScript's toLowerCase is locale-independent (full Unicode mapping, final sigma).
  int32_t len = u_strToLower(reinterpret_cast<UChar*>(dst.data()), static_cast<int32_t>(dst.size()),
                             reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()), "", &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    status = U_ZERO_ERROR;
    dst.assign(static_cast<size_t>(len) + 1, u'\0');
    len = u_strToLower(reinterpret_cast<UChar*>(dst.data()), static_cast<int32_t>(dst.size()),
                       reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()), "", &status);
  }
  if (U_FAILURE(status)) throw std::runtime_error(str("ICU lowercase failed: ", u_errorName(status)));
  dst.resize(static_cast<size_t>(len));
  text = to_utf8(dst);
}

class LowercaseStep : public TextStep {
 public:
  void apply(std::string& text) const override { js_lowercase(text); }
};

class StripStep : public TextStep {
 public:
  StripStep(bool left, bool right) : left_(left), right_(right) {}
  void apply(std::string& text) const override {
    if (right_) js_trim_end(text);
    if (left_) js_trim_start(text);
  }

 private:
  bool left_, right_;
};

class StripAccentsStep : public TextStep {
 public:
  StripAccentsStep() : marks_("\\p{M}") {}
  void apply(std::string& text) const override {
    if (!all_ascii(text)) replace_all(marks_, text, "");
  }

 private:
  Regex marks_;
};

class SequenceStep : public TextStep {
 public:
  explicit SequenceStep(std::vector<std::unique_ptr<TextStep>> steps) : steps_(std::move(steps)) {}
  void apply(std::string& text) const override {
    for (const auto& s : steps_) s->apply(text);
  }
  bool prepends_space() const override {
    for (const auto& s : steps_)
      if (s->prepends_space()) return true;
    return false;
  }

 private:
  std::vector<std::unique_ptr<TextStep>> steps_;
};

std::unique_ptr<TextStep> make_normalizer(const Tokenizer& tok, const json& cfg, const std::string& entry) {
  if (cfg.is_null()) return nullptr;
  if (!cfg.is_object()) throw pipeline_error(tok, entry, "", quote_untrusted(cfg.dump(), 60), "an object", "malformed normalizer");
  std::string type = json_string(cfg, "type");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<TextStep>> steps;
    auto list = cfg.find("normalizers");
    if (list != cfg.end() && list->is_array())
      for (size_t i = 0; i < list->size(); ++i)
        if (auto s = make_normalizer(tok, (*list)[i], str(entry, ".normalizers[", i, "]"))) steps.push_back(std::move(s));
    return std::make_unique<SequenceStep>(std::move(steps));
  }
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") return std::make_unique<UnicodeForm>(type);
  if (type == "Replace") {
    std::string src = pattern_source(tok, entry, cfg.value("pattern", json()), false);
    return std::make_unique<ReplaceStep>(compile(tok, entry, src), json_string(cfg, "content"));
  }
  if (type == "Prepend") return std::make_unique<PrependStep>(json_string(cfg, "prepend"));
  if (type == "Lowercase") return std::make_unique<LowercaseStep>();
  if (type == "Strip") return std::make_unique<StripStep>(json_bool(cfg, "strip_left", false), json_bool(cfg, "strip_right", false));
  if (type == "StripAccents") return std::make_unique<StripAccentsStep>();
  throw pipeline_error(tok, entry, "type", str("'", quote_untrusted(type, 40), "'"),
                       "Sequence, NFC, NFD, NFKC, NFKD, Replace, Prepend, Lowercase, Strip, StripAccents",
                       "unsupported normalizer");
}

// ---------------------------------------------------------------------------------------------------------
// Pre-tokenizers work on a list of pieces: byte spans of one buffer, so that splitting never copies text.
// ---------------------------------------------------------------------------------------------------------
struct Pieces {
  std::string buf;
  std::vector<std::pair<uint32_t, uint32_t>> spans;  // (offset, length)
  std::string_view at(size_t i) const { return std::string_view(buf).substr(spans[i].first, spans[i].second); }
  void reset(std::string_view text) {
    buf.assign(text);
    spans.assign(1, {0, static_cast<uint32_t>(buf.size())});
  }
};

class PreStep {
 public:
  virtual ~PreStep() = default;
  // Replaces every piece of `p` by its pieces; `scratch` is reusable storage.
  virtual void run(Pieces& p, Pieces& scratch, size_t section_index) const = 0;
  virtual bool prepends_space() const { return false; }
};

// Slicing steps keep the buffer and only rewrite the span list.
template <class F>
void reslice(Pieces& p, F&& split_one) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  out.reserve(p.spans.size() * 4);
  for (auto [off, len] : p.spans) {
    std::string_view piece = std::string_view(p.buf).substr(off, len);
    split_one(piece, [&](size_t b, size_t e) {
      if (e > b) out.emplace_back(off + static_cast<uint32_t>(b), static_cast<uint32_t>(e - b));
    });
  }
  p.spans.swap(out);
}

// Matches only (String.prototype.match with a global regex), empty matches dropped.
class MatchStep : public PreStep {
 public:
  explicit MatchStep(Regex re) : re_(std::move(re)) {}
  void run(Pieces& p, Pieces&, size_t) const override {
    reslice(p, [&](std::string_view piece, auto&& emit) { re_.for_each_match(piece, emit); });
  }

 private:
  Regex re_;
};

// The reference's regex_split: the text between matches and every non-empty match, in order.
class IsolateStep : public PreStep {
 public:
  explicit IsolateStep(Regex re) : re_(std::move(re)) {}
  void run(Pieces& p, Pieces&, size_t) const override {
    reslice(p, [&](std::string_view piece, auto&& emit) {
      size_t prev = 0;
      re_.for_each_match(piece, [&](size_t b, size_t e) {
        if (prev < b) emit(prev, b);
        if (e > b) emit(b, e);
        prev = e;
      });
      if (prev < piece.size()) emit(prev, piece.size());
    });
  }

 private:
  Regex re_;
};

// String.prototype.split(regex) followed by dropping empty strings: the separators vanish, but what their
// capture groups matched is kept (which is how a String pattern with invert = false keeps its separators).
class RemoveStep : public PreStep {
 public:
  explicit RemoveStep(Regex re) : re_(std::move(re)), groups_(re_.group_count()) {}
  void run(Pieces& p, Pieces&, size_t) const override {
    reslice(p, [&](std::string_view piece, auto&& emit) {
      size_t last_end = 0, q = 0, b, e;
      while (q < piece.size() && re_.find(piece, q, b, e)) {
        if (e == last_end) {  // an empty match where the previous one ended splits nothing
          q = b + 1;
          while (q < piece.size() && (static_cast<unsigned char>(piece[q]) & 0xC0) == 0x80) ++q;
          continue;
        }
        if (b >= piece.size()) break;
        emit(last_end, b);
        for (uint32_t g = 1; g <= groups_; ++g) {
          size_t gb, ge;
          if (re_.group(g, gb, ge)) emit(gb, ge);
        }
        last_end = e;
        q = e;
      }
      emit(last_end, piece.size());
    });
  }

 private:
  Regex re_;
  uint32_t groups_;
};

// Steps that rewrite text build a new buffer.
template <class F>
void rewrite(Pieces& p, Pieces& scratch, F&& rewrite_one) {
  scratch.buf.clear();
  scratch.spans.clear();
  for (size_t i = 0; i < p.spans.size(); ++i) {
    auto start = static_cast<uint32_t>(scratch.buf.size());
    rewrite_one(p.at(i), scratch.buf);
    scratch.spans.emplace_back(start, static_cast<uint32_t>(scratch.buf.size()) - start);
  }
  std::swap(p, scratch);
}

class ByteLevelStep : public PreStep {
 public:
  // map_bytes = false when this is the pipeline's last step: the BPE model then reads raw bytes and maps
  // them itself, which saves building the byte-level string of every word.
  ByteLevelStep(bool add_prefix_space, bool use_regex, bool map_bytes)
      : add_prefix_space_(add_prefix_space), map_bytes_(map_bytes) {
    if (use_regex) {
      // GPT-2's pattern as the reference writes it, a native JS regex: its \s is JavaScript's.
      std::string s(kJsSpaceClassBody);
      regex_ = std::make_unique<Regex>(str("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^", s, "\\p{L}\\p{N}]+|[", s,
                                           "]+(?![^", s, "])|[", s, "]+"));
    }
  }
  void run(Pieces& p, Pieces& scratch, size_t) const override {
    if (add_prefix_space_)
      rewrite(p, scratch, [](std::string_view piece, std::string& out) {
        if (piece.empty() || piece[0] != ' ') out.push_back(' ');
        out.append(piece);
      });
    if (regex_) reslice(p, [&](std::string_view piece, auto&& emit) { regex_->for_each_match(piece, emit); });
    if (map_bytes_)
      rewrite(p, scratch, [](std::string_view piece, std::string& out) { out += byte_level_encode(piece); });
  }
  bool prepends_space() const override { return add_prefix_space_; }

 private:
  bool add_prefix_space_;
  bool map_bytes_;
  std::unique_ptr<Regex> regex_;
};

class MetaspaceStep : public PreStep {
 public:
  MetaspaceStep(std::string replacement, std::string str_rep, std::string scheme)
      : replacement_(std::move(replacement)), str_rep_(std::move(str_rep)), scheme_(std::move(scheme)) {}
  void run(Pieces& p, Pieces& scratch, size_t section_index) const override {
    rewrite(p, scratch, [&](std::string_view piece, std::string& out) {
      size_t start = out.size();
      for (char c : piece) {
        if (c == ' ') out += str_rep_;
        else out.push_back(c);
      }
      std::string_view normalized = std::string_view(out).substr(start);
      bool prepend = !starts_with(normalized, replacement_) &&
                     (scheme_ == "always" || (scheme_ == "first" && section_index == 0));
      if (prepend) out.insert(start, str_rep_);
    });
  }
  bool prepends_space() const override { return scheme_ == "always" || scheme_ == "first"; }

 private:
  std::string replacement_, str_rep_, scheme_;
};

class ReplacePreStep : public PreStep {
 public:
  ReplacePreStep(Regex re, std::string content) : re_(std::move(re)), content_(std::move(content)) {}
  void run(Pieces& p, Pieces& scratch, size_t) const override {
    rewrite(p, scratch, [&](std::string_view piece, std::string& out) {
      std::string t(piece);
      replace_all(re_, t, content_);
      out += t;
    });
  }

 private:
  Regex re_;
  std::string content_;
};

class BertPreStep : public PreStep {
 public:
  explicit BertPreStep(Regex re) : re_(std::move(re)) {}
  void run(Pieces& p, Pieces&, size_t) const override {
    reslice(p, [&](std::string_view piece, auto&& emit) {
      size_t b = js_trim_start_pos(piece);
      size_t e = b + js_trim_end_pos(piece.substr(b));
      std::string_view trimmed = piece.substr(b, e - b);
      re_.for_each_match(trimmed, [&](size_t mb, size_t me) { emit(b + mb, b + me); });
    });
  }

 private:
  Regex re_;
};

class SequencePreStep : public PreStep {
 public:
  explicit SequencePreStep(std::vector<std::unique_ptr<PreStep>> steps) : steps_(std::move(steps)) {}
  void run(Pieces& p, Pieces& scratch, size_t section_index) const override {
    for (const auto& s : steps_) s->run(p, scratch, section_index);
  }
  bool prepends_space() const override {
    for (const auto& s : steps_)
      if (s->prepends_space()) return true;
    return false;
  }

 private:
  std::vector<std::unique_ptr<PreStep>> steps_;
};

constexpr std::string_view kPunctuation = "\\p{P}\\x{21}-\\x{2F}\\x{3A}-\\x{40}\\x{5B}-\\x{60}\\x{7B}-\\x{7E}";

// `last` is true for the final step of the whole pipeline (lets ByteLevel leave the byte mapping to the model).
std::unique_ptr<PreStep> make_pre_tokenizer(const Tokenizer& tok, const json& cfg, const std::string& entry, bool last,
                                            bool& raw_byte_words) {
  if (cfg.is_null()) return nullptr;
  if (!cfg.is_object())
    throw pipeline_error(tok, entry, "", quote_untrusted(cfg.dump(), 60), "an object", "malformed pre-tokenizer");
  std::string type = json_string(cfg, "type");
  std::string js_space_class(kJsSpaceClassBody);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreStep>> steps;
    auto list = cfg.find("pretokenizers");
    if (list != cfg.end() && list->is_array())
      for (size_t i = 0; i < list->size(); ++i)
        if (auto s = make_pre_tokenizer(tok, (*list)[i], str(entry, ".pretokenizers[", i, "]"),
                                        last && i + 1 == list->size(), raw_byte_words))
          steps.push_back(std::move(s));
    return std::make_unique<SequencePreStep>(std::move(steps));
  }
  if (type == "ByteLevel") {
    if (last) raw_byte_words = true;
    return std::make_unique<ByteLevelStep>(json_bool(cfg, "add_prefix_space", false), json_bool(cfg, "use_regex", true),
                                           !last);
  }
  if (type == "Split") {
    bool invert = json_bool(cfg, "invert", true);
    std::string src = pattern_source(tok, entry, cfg.value("pattern", json()), !invert);
    Regex re = compile(tok, entry, src);
    std::string behavior = json_string(cfg, "behavior");
    std::transform(behavior.begin(), behavior.end(), behavior.begin(), [](unsigned char c) { return std::tolower(c); });
    if (invert) return std::make_unique<MatchStep>(std::move(re));
    if (behavior == "removed") return std::make_unique<RemoveStep>(std::move(re));
    return std::make_unique<IsolateStep>(std::move(re));
  }
  if (type == "Metaspace") {
    std::string replacement = json_string(cfg, "replacement", "\xE2\x96\x81");
    std::string str_rep = json_string(cfg, "str_rep");
    if (str_rep.empty()) str_rep = replacement;
    return std::make_unique<MetaspaceStep>(replacement, str_rep, json_string(cfg, "prepend_scheme", "always"));
  }
  if (type == "Whitespace")
    return std::make_unique<MatchStep>(
        compile(tok, entry, str("[A-Za-z0-9_]+|[^A-Za-z0-9_", js_space_class, "]+")));
  if (type == "WhitespaceSplit") return std::make_unique<MatchStep>(compile(tok, entry, str("[^", js_space_class, "]+")));
  if (type == "Digits")
    return std::make_unique<MatchStep>(
        compile(tok, entry, json_bool(cfg, "individual_digits", false) ? "[^0-9]+|[0-9]" : "[^0-9]+|[0-9]+"));
  if (type == "Punctuation")
    return std::make_unique<MatchStep>(compile(tok, entry, str("[^", kPunctuation, "]+|[", kPunctuation, "]+")));
  if (type == "BertPreTokenizer")
    return std::make_unique<BertPreStep>(
        compile(tok, entry, str("[^", js_space_class, kPunctuation, "]+|[", kPunctuation, "]")));
  if (type == "Replace") {
    std::string src = pattern_source(tok, entry, cfg.value("pattern", json()), false);
    return std::make_unique<ReplacePreStep>(compile(tok, entry, src), json_string(cfg, "content"));
  }
  throw pipeline_error(tok, entry, "type", str("'", quote_untrusted(type, 40), "'"),
                       "Sequence, ByteLevel, Split, Metaspace, Whitespace, WhitespaceSplit, Digits, Punctuation, "
                       "BertPreTokenizer, Replace",
                       "unsupported pre-tokenizer");
}

// ---------------------------------------------------------------------------------------------------------
// Added-token matching: longest match at each position, scanning left to right (the reference's
// DictionarySplitter), on a byte trie.
// ---------------------------------------------------------------------------------------------------------
class DictionarySplitter {
 public:
  void add(const std::string& word) {
    if (word.empty()) return;
    uint32_t node = 0;
    for (unsigned char c : word) {
      uint64_t key = (uint64_t(node) << 8) | c;
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        terminal_.push_back(-1);
        it = edges_.emplace(key, static_cast<uint32_t>(terminal_.size() - 1)).first;
      }
      node = it->second;
    }
    terminal_[node] = static_cast<int32_t>(word.size());
    first_[static_cast<unsigned char>(word[0])] = true;
  }
  bool empty() const { return terminal_.size() == 1; }

  // Cuts `text` into gaps and matches (in order, non-empty).
  void split(std::string_view text, std::vector<std::string>& out) const {
    out.clear();
    size_t start = 0, i = 0;
    while (i < text.size()) {
      size_t match = 0;
      if (first_[static_cast<unsigned char>(text[i])]) {
        uint32_t node = 0;
        for (size_t j = i; j < text.size(); ++j) {
          auto it = edges_.find((uint64_t(node) << 8) | static_cast<unsigned char>(text[j]));
          if (it == edges_.end()) break;
          node = it->second;
          if (terminal_[node] >= 0) match = j + 1 - i;
        }
      }
      if (match) {
        if (i > start) out.emplace_back(text.substr(start, i - start));
        out.emplace_back(text.substr(i, match));
        i += match;
        start = i;
      } else {
        ++i;
      }
    }
    if (start < text.size()) out.emplace_back(text.substr(start));
  }

 private:
  std::unordered_map<uint64_t, uint32_t> edges_;
  std::vector<int32_t> terminal_{-1};
  std::array<bool, 256> first_{};
};

// ---------------------------------------------------------------------------------------------------------
// Merge table: (left id, right id) -> (rank, result id), open addressing on 64-bit keys.
// ---------------------------------------------------------------------------------------------------------
class PairTable {
 public:
  void build(const std::vector<Merge>& merges) {
    size_t cap = 16;
    while (cap < merges.size() * 2 + 16) cap <<= 1;
    keys_.assign(cap, kEmpty);
    values_.assign(cap, {0, 0});
    mask_ = cap - 1;
    for (size_t r = 0; r < merges.size(); ++r) {
      uint64_t key = (uint64_t(merges[r].left) << 32) | merges[r].right;
      size_t slot = probe(key);
      keys_[slot] = key;
      values_[slot] = {static_cast<uint32_t>(r), merges[r].result};  // a later duplicate overwrites, as in the reference
    }
  }
  // Rank and result of merging a and b, or false.
  bool find(uint32_t a, uint32_t b, uint32_t& rank, uint32_t& result) const {
    uint64_t key = (uint64_t(a) << 32) | b;
    size_t slot = hash(key) & mask_;
    while (keys_[slot] != kEmpty) {
      if (keys_[slot] == key) {
        rank = values_[slot].first;
        result = values_[slot].second;
        return true;
      }
      slot = (slot + 1) & mask_;
    }
    return false;
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static size_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  size_t probe(uint64_t key) const {
    size_t slot = hash(key) & mask_;
    while (keys_[slot] != kEmpty && keys_[slot] != key) slot = (slot + 1) & mask_;
    return slot;
  }
  std::vector<uint64_t> keys_;
  std::vector<std::pair<uint32_t, uint32_t>> values_;
  size_t mask_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// The encoder
// ---------------------------------------------------------------------------------------------------------
struct Encoder::Impl {
  const Tokenizer& tok;
  std::unique_ptr<TextStep> normalizer;
  std::unique_ptr<PreStep> pre_tokenizer;
  bool raw_byte_words = false;  // the pre-tokenizer ends in ByteLevel; words arrive as raw bytes

  // tokenizer_config.json switches the reference honours.
  bool remove_space = false;
  bool lowercase_and_remove_accent = false;
  std::unique_ptr<Regex> marks;

  // Added tokens: content (and normalized content) -> output id, plus their flags.
  std::unordered_map<std::string, const AddedToken*, StringHash, std::equal_to<>> added_by_text;
  DictionarySplitter unnormalized, normalized;

  // BPE model. Symbols use model-vocabulary ids; out_id maps them to output ids (an added token with the
  // same text takes precedence, as in the reference).
  PairTable pairs;
  std::vector<uint32_t> out_id;
  std::array<int32_t, 256> byte_symbol{};    // raw byte -> symbol id (byte-level words), -1 if absent
  std::unordered_map<char32_t, int32_t> char_symbol;  // one-code-point tokens (text words)
  std::array<int64_t, 256> fallback_id{};    // <0xNN> output ids, -1 if absent
  bool fallback_complete = false;
  int64_t unk_out = -1;                      // output id of unk_token, -1 when there is none
  bool fuse_unk = false;

  // Word cache (pre-token -> output ids). Bounded; only a speed-up, it never changes a result.
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, StringHash, std::equal_to<>> cache;
  std::vector<uint32_t> cache_ids;
  static constexpr size_t kMaxCacheEntries = 1 << 16;
  static constexpr size_t kMaxTextBytes = size_t{1} << 30;
  static constexpr size_t kMaxCachedWordBytes = 256;

  // Decoded bytes by output id, for reports (see build_id_bytes).
  std::vector<std::string> id_bytes;
  bool id_bytes_built = false;
  std::string empty;

  Stats stats;

  // Scratch, reused across calls.
  Pieces pieces, scratch;
  std::vector<std::string> sections, subsections;
  struct Sym {
    int32_t id;      // symbol id, -1 for a character the vocabulary lacks
    uint32_t begin;  // byte range in the word (for byte fallback)
    uint32_t len;
    int32_t prev, next;
  };
  std::vector<Sym> syms;
  std::vector<uint32_t> word_out;

  explicit Impl(const Tokenizer& t) : tok(t) {}

  int64_t output_id_of(std::string_view text) const {
    auto a = added_by_text.find(text);
    if (a != added_by_text.end()) return a->second->id;
    return tok.token_to_id.find(tok.vocab, text);
    return -1;
  }

  void build() {
    if (tok.format == SourceFormat::kTiktoken)
      throw pipeline_error(tok, "", "", "", "", "tiktoken files carry no pre-tokenizer pattern; encoding needs a tokenizer.json");
    if (tok.model_type != "BPE")
      throw pipeline_error(tok, "model", "type", tok.model_type, "BPE", "unsupported tokenizer model");
    normalizer = make_normalizer(tok, tok.normalizer, "normalizer");
    pre_tokenizer = make_pre_tokenizer(tok, tok.pre_tokenizer, "pre_tokenizer", true, raw_byte_words);
    if (tok.config.is_object()) {
      remove_space = json_bool(tok.config, "remove_space", false);
      lowercase_and_remove_accent = json_bool(tok.config, "do_lowercase_and_remove_accent", false);
      if (lowercase_and_remove_accent) marks = std::make_unique<Regex>("\\p{M}");
    }
    for (const AddedToken& a : tok.added_tokens) {
      added_by_text[a.content] = &a;
      if (a.normalized && normalizer) {
        std::string n = a.content;
        normalizer->apply(n);
        added_by_text[n] = &a;
        normalized.add(n);
      } else {
        unnormalized.add(a.content);
      }
    }
    pairs.build(tok.merges);
    out_id.resize(tok.vocab.size());
    for (size_t id = 0; id < tok.vocab.size(); ++id) out_id[id] = static_cast<uint32_t>(id);
    // A vocabulary token spelled like an added token (or a normalized added token) is emitted with the added
    // token's id; looking the few added spellings up in the vocabulary is cheaper than the converse.
    for (const auto& [text, added] : added_by_text)
      if (int64_t id = tok.token_to_id.find(tok.vocab, text); id >= 0) out_id[static_cast<size_t>(id)] = added->id;
    byte_symbol.fill(-1);
    for (int b = 0; b < 256; ++b) {
      std::string s;
      utf8_append(s, byte_level_char(static_cast<uint8_t>(b)));
      if (auto id = tok.find(s)) byte_symbol[b] = static_cast<int32_t>(*id);
    }
    for (size_t id = 0; id < tok.vocab.size(); ++id) {
      if (!tok.present[id]) continue;
      const std::string& t = tok.vocab[id];
      size_t i = 0;
      if (t.empty()) continue;
      char32_t cp = utf8_next(t, i);
      if (i == t.size()) char_symbol.emplace(cp, static_cast<int32_t>(id));
    }
    fallback_complete = true;
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      fallback_id[b] = output_id_of(name);
      if (fallback_id[b] < 0) fallback_complete = false;
    }
    if (tok.bpe.unk_token) unk_out = output_id_of(*tok.bpe.unk_token);
    fuse_unk = tok.bpe.fuse_unk && unk_out >= 0;

  }

  // Decoded bytes per output id (model vocabulary, then added tokens, which stand for their own text). Built
  // on first use: only the reports need it, not `encode`.
  void build_id_bytes() {
    uint32_t max_id = tok.vocab.empty() ? 0 : static_cast<uint32_t>(tok.vocab.size() - 1);
    for (const auto& a : tok.added_tokens) max_id = std::max(max_id, a.id);
    id_bytes.assign(size_t{max_id} + 1, std::string());
    for (size_t id = 0; id < tok.vocab.size(); ++id)
      if (tok.present[id]) id_bytes[id] = token_bytes(tok.vocab[id], tok.spelling, tok.bpe.byte_fallback);
    for (const auto& a : tok.added_tokens) id_bytes[a.id] = a.content;
    id_bytes_built = true;
  }

  // Appends the output ids of one unknown piece (a character or byte the vocabulary cannot spell).
  void emit_unknown(std::string_view piece_bytes, std::vector<uint32_t>& out) const {
    if (tok.bpe.byte_fallback) {
      bool all = true;
      for (unsigned char b : piece_bytes) all = all && fallback_id[b] >= 0;
      if (all) {
        for (unsigned char b : piece_bytes) out.push_back(static_cast<uint32_t>(fallback_id[b]));
        return;
      }
    }
    if (unk_out >= 0) out.push_back(static_cast<uint32_t>(unk_out));
    // Without an unknown token the reference drops the piece; so do we.
  }

  void bpe_word(std::string_view word, std::vector<uint32_t>& out) {
    syms.clear();
    if (raw_byte_words) {
      for (size_t i = 0; i < word.size(); ++i)
        syms.push_back({byte_symbol[static_cast<unsigned char>(word[i])], static_cast<uint32_t>(i), 1, 0, 0});
    } else {
      for (size_t i = 0; i < word.size();) {
        size_t start = i;
        char32_t cp = utf8_next(word, i);
        auto it = char_symbol.find(cp);
        syms.push_back({it == char_symbol.end() ? -1 : it->second, static_cast<uint32_t>(start),
                        static_cast<uint32_t>(i - start), 0, 0});
      }
    }
    const size_t n = syms.size();
    if (n > 1) {
      if (n <= 48) merge_small();
      else merge_large();
    }
    for (const Sym& s : syms) {
      if (s.len == 0) continue;  // merged away (large path)
      if (s.id >= 0) {
        out.push_back(out_id[static_cast<size_t>(s.id)]);
      } else if (raw_byte_words) {
        // The reference sees the byte-level character here and falls back on its UTF-8 bytes.
        std::string ch;
        utf8_append(ch, byte_level_char(static_cast<uint8_t>(word[s.begin])));
        emit_unknown(ch, out);
      } else {
        emit_unknown(word.substr(s.begin, s.len), out);
      }
    }
  }

  // Lowest rank first, leftmost among equals: a quadratic scan is fastest for short words.
  void merge_small() {
    while (syms.size() > 1) {
      uint32_t best_rank = UINT32_MAX, best_result = 0, rank, result;
      size_t best = SIZE_MAX;
      for (size_t i = 0; i + 1 < syms.size(); ++i) {
        if (syms[i].id < 0 || syms[i + 1].id < 0) continue;
        if (pairs.find(static_cast<uint32_t>(syms[i].id), static_cast<uint32_t>(syms[i + 1].id), rank, result) &&
            rank < best_rank) {
          best_rank = rank;
          best_result = result;
          best = i;
        }
      }
      if (best == SIZE_MAX) break;
      syms[best].id = static_cast<int32_t>(best_result);
      syms[best].len += syms[best + 1].len;
      syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
  }

  // Same order with a heap over a linked list, for long words (a SentencePiece line without pre-tokenizer).
  void merge_large() {
    struct Cand {
      uint32_t rank;
      int32_t left;  // symbol index of the left member (its original position: the leftmost tie-break)
      int32_t right;
      int32_t left_id, right_id;
      bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
    const auto n = static_cast<int32_t>(syms.size());
    for (int32_t i = 0; i < n; ++i) {
      syms[i].prev = i - 1;
      syms[i].next = i + 1 < n ? i + 1 : -1;
    }
    auto push = [&](int32_t l) {
      if (l < 0) return;
      int32_t r = syms[l].next;
      if (r < 0 || syms[l].id < 0 || syms[r].id < 0) return;
      uint32_t rank, result;
      if (pairs.find(static_cast<uint32_t>(syms[l].id), static_cast<uint32_t>(syms[r].id), rank, result))
        heap.push({rank, l, r, syms[l].id, syms[r].id});
    };
    for (int32_t i = 0; i + 1 < n; ++i) push(i);
    while (!heap.empty()) {
      Cand c = heap.top();
      heap.pop();
      Sym& l = syms[c.left];
      // Stale entries: either member merged since the pair was queued.
      if (l.len == 0 || l.id != c.left_id || l.next != c.right) continue;
      Sym& r = syms[c.right];
      if (r.len == 0 || r.id != c.right_id) continue;
      uint32_t rank = 0, result = 0;
      pairs.find(static_cast<uint32_t>(l.id), static_cast<uint32_t>(r.id), rank, result);
      l.id = static_cast<int32_t>(result);
      l.len += r.len;
      r.len = 0;
      l.next = r.next;
      if (r.next >= 0) syms[r.next].prev = c.left;
      push(l.prev);
      push(c.left);
    }
  }

  // Output ids of one pre-token, from the cache when possible.
  void encode_word(std::string_view word, std::vector<uint32_t>& out) {
    ++stats.words;
    if (tok.bpe.ignore_merges) {
      int64_t whole = raw_byte_words ? output_id_of(byte_level_encode(word)) : output_id_of(word);
      if (whole >= 0) {
        out.push_back(static_cast<uint32_t>(whole));
        return;
      }
    }
    bool cacheable = word.size() <= kMaxCachedWordBytes;
    if (cacheable) {
      auto it = cache.find(word);
      if (it != cache.end()) {
        ++stats.cache_hits;
        out.insert(out.end(), cache_ids.begin() + it->second.first,
                   cache_ids.begin() + it->second.first + it->second.second);
        return;
      }
    }
    word_out.clear();
    bpe_word(word, word_out);
    if (cacheable) {
      if (cache.size() >= kMaxCacheEntries) {
        cache.clear();
        cache_ids.clear();
      }
      cache.emplace(std::string(word), std::make_pair(static_cast<uint32_t>(cache_ids.size()),
                                                      static_cast<uint32_t>(word_out.size())));
      cache_ids.insert(cache_ids.end(), word_out.begin(), word_out.end());
    }
    out.insert(out.end(), word_out.begin(), word_out.end());
  }

  // The model over the pre-tokens of one subsection, then the unknown-token fusion the reference applies to
  // that list.
  void encode_subsection(std::string_view text, size_t section_index, std::vector<uint32_t>& out) {
    size_t first = out.size();
    if (pre_tokenizer) {
      pieces.reset(text);
      pre_tokenizer->run(pieces, scratch, section_index);
      for (size_t i = 0; i < pieces.spans.size(); ++i)
        if (pieces.spans[i].second > 0) encode_word(pieces.at(i), out);
    } else {
      encode_word(text, out);
    }
    if (fuse_unk) {
      size_t w = first;
      for (size_t r = first; r < out.size(); ++r) {
        if (out[r] == static_cast<uint32_t>(unk_out) && w > first && out[w - 1] == static_cast<uint32_t>(unk_out))
          continue;
        out[w++] = out[r];
      }
      out.resize(w);
    }
  }

  const AddedToken* added(const std::string& s) const {
    if (added_by_text.empty()) return nullptr;
    auto it = added_by_text.find(s);
    return it == added_by_text.end() ? nullptr : it->second;
  }

  // lstrip/rstrip: an added token eats the whitespace next to it in the neighbouring sections.
  void strip_around_added(std::vector<std::string>& parts) const {
    for (size_t i = 0; i < parts.size(); ++i) {
      const AddedToken* a = added(parts[i]);
      if (!a) continue;
      if (a->lstrip && i > 0) js_trim_end(parts[i - 1]);
      if (a->rstrip && i + 1 < parts.size()) js_trim_start(parts[i + 1]);
    }
  }

  void encode(std::string_view input, std::vector<uint32_t>& out) {
    out.clear();
    // Piece offsets are 32-bit; one text is bounded well below that (texts are lines or documents, not corpora).
    if (input.size() > kMaxTextBytes)
      throw Error(str("text of ", input.size(), " bytes exceeds the limit of one encode call (", kMaxTextBytes, " bytes)"));
    std::string text;
    sanitize_utf8(input, text);
    if (unnormalized.empty()) {
      sections.assign(1, std::move(text));
      if (sections[0].empty()) sections.clear();
    } else {
      unnormalized.split(text, sections);
    }
    strip_around_added(sections);
    for (size_t si = 0; si < sections.size(); ++si) {
      std::string& section = sections[si];
      if (section.empty()) continue;
      if (const AddedToken* a = added(section)) {
        out.push_back(a->id);
        continue;
      }
      if (remove_space) {
        // trim, then every run of whitespace becomes one space
        std::string collapsed;
        size_t b = js_trim_start_pos(section), e = b + js_trim_end_pos(std::string_view(section).substr(b));
        bool in_space = false;
        for (size_t i = b; i < e;) {
          size_t j = i;
          char32_t cp = utf8_next(section, j);
          if (js_space(cp)) {
            if (!in_space) collapsed.push_back(' ');
            in_space = true;
          } else {
            collapsed.append(section, i, j - i);
            in_space = false;
          }
          i = j;
        }
        section.swap(collapsed);
      }
      if (lowercase_and_remove_accent) {
        js_lowercase(section);
        replace_all(*marks, section, "");
      }
      if (normalizer) normalizer->apply(section);
      if (section.empty()) continue;
      if (normalized.empty()) {
        subsections.assign(1, section);
      } else {
        normalized.split(section, subsections);
      }
      strip_around_added(subsections);
      for (const std::string& sub : subsections) {
        if (sub.empty()) continue;
        if (const AddedToken* a = added(sub)) {
          out.push_back(a->id);
          continue;
        }
        encode_subsection(sub, si, out);
      }
    }
  }
};

Encoder::Encoder(const Tokenizer& tok) : impl_(std::make_unique<Impl>(tok)) { impl_->build(); }
Encoder::~Encoder() = default;
Encoder::Encoder(Encoder&&) noexcept = default;
Encoder& Encoder::operator=(Encoder&&) noexcept = default;

std::vector<uint32_t> Encoder::encode(std::string_view text) {
  std::vector<uint32_t> out;
  impl_->encode(text, out);
  return out;
}

void Encoder::encode(std::string_view text, std::vector<uint32_t>& out) { impl_->encode(text, out); }

const std::string& Encoder::id_bytes(uint32_t id) {
  if (!impl_->id_bytes_built) impl_->build_id_bytes();
  return id < impl_->id_bytes.size() ? impl_->id_bytes[id] : impl_->empty;
}

bool Encoder::adds_prefix_space() const {
  return (impl_->normalizer && impl_->normalizer->prepends_space()) ||
         (impl_->pre_tokenizer && impl_->pre_tokenizer->prepends_space());
}

const Encoder::Stats& Encoder::stats() const { return impl_->stats; }

}  // namespace fromscratch::tokenizer
