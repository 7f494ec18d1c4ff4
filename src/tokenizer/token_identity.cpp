#include "fromscratch/tokenizer/token_identity.hpp"

#include <unicode/uchar.h>

#include <array>

namespace fromscratch::tokenizer {

namespace {

// GPT-2 bytes_to_unicode(): bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF keep their code point; the remaining 68
// bytes (controls, space, DEL, 0x80..0xA0, soft hyphen) get U+0100 + n in increasing byte order.
struct ByteLevelTables {
  std::array<char32_t, 256> to_char{};
  std::array<int16_t, 512> to_byte{};  // every mapped code point is < 0x144
  ByteLevelTables() {
    to_byte.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool keeps = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      char32_t cp = keeps ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      to_char[b] = cp;
      to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};
const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

char32_t byte_level_char(uint8_t b) { return tables().to_char[b]; }

int byte_level_byte(char32_t cp) { return cp < 512 ? tables().to_byte[cp] : -1; }

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) utf8_append(out, tables().to_char[b]);
  return out;
}

bool byte_level_decode(std::string_view text, std::string& out) {
  out.clear();
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    char32_t cp = utf8_next(text, i);
    int b = byte_level_byte(cp);
    // utf8_next maps invalid bytes to U+FFFD, which is not a byte-level character, so b < 0 covers them too.
    if (b < 0 || (cp == 0xFFFD && i - start == 1)) return false;
    out.push_back(static_cast<char>(b));
  }
  return true;
}

int sentencepiece_byte_token(std::string_view token) {
  if (token.size() != 6 || token[0] != '<' || token[1] != '0' || token[2] != 'x' || token[5] != '>') return -1;
  int hi = hex_value(token[3]), lo = hex_value(token[4]);
  if (hi < 0 || lo < 0) return -1;
  return hi * 16 + lo;
}

std::string token_bytes(std::string_view raw, TokenSpelling spelling, bool byte_fallback, bool* decodable) {
  if (decodable) *decodable = true;
  switch (spelling) {
    case TokenSpelling::kByteLevel:
    case TokenSpelling::kRawBytes: {
      std::string out;
      if (byte_level_decode(raw, out)) return out;
      if (decodable) *decodable = false;
      return std::string(raw);
    }
    case TokenSpelling::kSentencePiece: {
      if (byte_fallback) {
        int b = sentencepiece_byte_token(raw);
        if (b >= 0) return std::string(1, static_cast<char>(b));
      }
      static constexpr std::string_view kMeta = "\xE2\x96\x81";  // U+2581 '▁'
      std::string out;
      out.reserve(raw.size());
      for (size_t i = 0; i < raw.size();) {
        if (raw.compare(i, kMeta.size(), kMeta) == 0) {
          out.push_back(' ');
          i += kMeta.size();
        } else {
          out.push_back(raw[i++]);
        }
      }
      return out;
    }
    case TokenSpelling::kPlain:
      return std::string(raw);
  }
  return std::string(raw);
}

std::vector<std::string> decoded_vocabulary(const Tokenizer& tok) {
  std::vector<std::string> out(tok.vocab.size());
  for (size_t id = 0; id < tok.vocab.size(); ++id)
    if (tok.present[id]) out[id] = token_bytes(tok.vocab[id], tok.spelling, tok.bpe.byte_fallback);
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.empty() || text.size() % 4 != 0) return false;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=') {
        // Padding only at the very end, only in the last two positions, and nothing but padding after it.
        if (!last || k < 2) return false;
        v[k] = 0;
        ++pad;
      } else {
        if (pad > 0) return false;
        v[k] = value(c);
        if (v[k] < 0) return false;
      }
    }
    uint32_t triple = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out.push_back(static_cast<char>((triple >> 16) & 0xFF));
    if (pad < 2) out.push_back(static_cast<char>((triple >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(triple & 0xFF));
    // Canonical encoding: the bits below the last kept byte must be zero.
    if (pad == 1 && (triple & 0xFF) != 0) return false;
    if (pad == 2 && (triple & 0xFFFF) != 0) return false;
  }
  return true;
}

char32_t utf8_next(std::string_view s, size_t& i) {
  auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  auto cont = [&](size_t k) { return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  if (b0 >= 0xC2 && b0 <= 0xDF && cont(1)) {
    char32_t cp = ((b0 & 0x1F) << 6) | (at(1) & 0x3F);
    i += 2;
    return cp;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF && cont(1) && cont(2)) {
    char32_t cp = ((b0 & 0x0F) << 12) | ((at(1) & 0x3F) << 6) | (at(2) & 0x3F);
    if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) {
      i += 3;
      return cp;
    }
  }
  if (b0 >= 0xF0 && b0 <= 0xF4 && cont(1) && cont(2) && cont(3)) {
    char32_t cp = ((b0 & 0x07) << 18) | ((at(1) & 0x3F) << 12) | ((at(2) & 0x3F) << 6) | (at(3) & 0x3F);
    if (cp >= 0x10000 && cp <= 0x10FFFF) {
      i += 4;
      return cp;
    }
  }
  ++i;
  return 0xFFFD;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t utf8_length(std::string_view text) {
  size_t n = 0;
  for (size_t i = 0; i < text.size(); ++n) utf8_next(text, i);
  return n;
}

size_t sanitize_utf8(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  size_t replaced = 0;
  size_t i = 0;
  const size_t n = in.size();
  auto byte = [&](size_t k) { return static_cast<unsigned char>(in[k]); };
  while (i < n) {
    unsigned char b0 = byte(i);
    if (b0 < 0x80) {
      out.push_back(static_cast<char>(b0));
      ++i;
      continue;
    }
    // WHATWG UTF-8 decoder: the lead byte fixes how many continuation bytes follow and the allowed range of
    // the first one; a byte outside that range ends the maximal subpart, which becomes one U+FFFD, and is
    // itself decoded afresh.
    int need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      need = 1;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      need = 2;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      need = 3;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      out += kReplacement;
      ++replaced;
      ++i;
      continue;
    }
    size_t j = i + 1;
    int seen = 0;
    bool ok = true;
    while (seen < need) {
      if (j >= n) {
        ok = false;
        break;
      }
      unsigned char b = byte(j);
      if (b < lo || b > hi) {
        ok = false;
        break;
      }
      lo = 0x80;
      hi = 0xBF;
      ++j;
      ++seen;
    }
    if (ok) {
      out.append(in.substr(i, j - i));
    } else {
      out += kReplacement;
      ++replaced;
    }
    i = j;
  }
  return replaced;
}

bool is_js_whitespace(char32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0xFEFF: case 0x2028: case 0x2029: return true;
    default: return cp >= 0x20 && u_charType(static_cast<UChar32>(cp)) == U_SPACE_SEPARATOR;
  }
}

bool is_valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t start = i;
    char32_t cp = utf8_next(text, i);
    if (cp == 0xFFFD && !(i - start == 3 && text.compare(start, 3, "\xEF\xBF\xBD") == 0)) return false;
  }
  return true;
}

}  // namespace fromscratch::tokenizer
