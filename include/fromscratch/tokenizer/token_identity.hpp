// One token identity across formats: the byte string a token stands for.
//
// A byte-level vocabulary spells the space byte 'Ġ' and the newline byte 'Ċ' (GPT-2's byte-to-unicode map); a
// SentencePiece-style vocabulary spells a space '▁' and a raw byte <0xNN>; a tiktoken file stores the bytes in
// base64. Comparing the raw strings of a byte-level and a SentencePiece vocabulary therefore finds almost no
// common token with a space in it; comparing the decoded bytes does. Both overlaps are reported.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fromscratch/tokenizer/tokenizer.hpp"

namespace fromscratch::tokenizer {

// GPT-2's byte-to-unicode map: the printable Latin-1 bytes stand for themselves, the other 68 bytes are moved
// to U+0100.. in byte order. byte_level_char(b) is the code point standing for byte b.
char32_t byte_level_char(uint8_t b);
// The byte a code point stands for, or -1 when it is not one of the 256 byte-level characters.
int byte_level_byte(char32_t cp);
// Bytes -> byte-level spelling (UTF-8 of the mapped code points).
std::string byte_level_encode(std::string_view bytes);
// Byte-level spelling -> bytes. False (and `out` unspecified) when the text holds a character outside the map.
bool byte_level_decode(std::string_view text, std::string& out);

// "<0x4A>" -> 0x4A; -1 when `token` is not exactly a SentencePiece byte token (uppercase hex, as written by
// the converters and the reference encoders).
int sentencepiece_byte_token(std::string_view token);

// The bytes `raw` stands for under `spelling`. Tokens that do not follow the spelling (an added token such as
// "<|im_start|>" in a byte-level vocabulary) stand for their own UTF-8 text; `decodable` (when given) says
// whether the spelling applied.
std::string token_bytes(std::string_view raw, TokenSpelling spelling, bool byte_fallback, bool* decodable = nullptr);

// The decoded bytes of every model-vocabulary id (empty string for absent ids).
std::vector<std::string> decoded_vocabulary(const Tokenizer& tok);

// Strict RFC 4648 base64 (with padding); false on any other character, bad padding or non-zero pad bits.
bool base64_decode(std::string_view text, std::string& out);

// UTF-8 helpers shared by the encoder and the reports.
// Decodes one code point at text[i] (advancing i); invalid input yields U+FFFD and advances one byte.
char32_t utf8_next(std::string_view text, size_t& i);
void utf8_append(std::string& out, char32_t cp);
size_t utf8_length(std::string_view text);  // code points (invalid bytes count one each)
// Replaces ill-formed UTF-8 the way the WHATWG decoder does (each maximal invalid subpart -> U+FFFD), which is
// what Node.js does to bytes before the reference tokenizer sees them. Returns the number of replacements.
size_t sanitize_utf8(std::string_view in, std::string& out);
bool is_valid_utf8(std::string_view text);
// JavaScript's whitespace (String.prototype.trim, \s of a native regex): ECMAScript WhiteSpace and
// LineTerminator, i.e. TAB, VT, FF, U+FEFF, the space separators (Unicode category Zs), LF, CR, U+2028, U+2029.
bool is_js_whitespace(char32_t cp);

}  // namespace fromscratch::tokenizer
