// Token identity across spellings (byte-level map, SentencePiece '▁' and <0xNN>, base64), UTF-8 handling and
// the Oniguruma -> PCRE2 pattern translation.
#include "fromscratch/tokenizer/token_identity.hpp"

#include <set>
#include <stdexcept>

#include "fromscratch/tokenizer/regex.hpp"
#include "test_support.hpp"

using namespace fromscratch::tokenizer;

namespace {

std::vector<std::string> all_matches(const Regex& re, const std::string& text) {
  std::vector<std::string> out;
  re.for_each_match(text, [&](size_t b, size_t e) { out.push_back(text.substr(b, e - b)); });
  return out;
}

}  // namespace

TEST(ByteLevel, MapIsABijectionOnTheByteAlphabet) {
  std::set<char32_t> seen;
  for (int b = 0; b < 256; ++b) {
    char32_t c = byte_level_char(static_cast<uint8_t>(b));
    EXPECT_TRUE(seen.insert(c).second) << "byte " << b << " shares its character";
    EXPECT_EQ(byte_level_byte(c), b);
  }
  // The characters GPT-2 vocabularies are known for.
  EXPECT_EQ(byte_level_char(' '), U'\u0120');   // Ġ
  EXPECT_EQ(byte_level_char('\n'), U'\u010A');  // Ċ
  EXPECT_EQ(byte_level_char('A'), U'A');
  EXPECT_EQ(byte_level_char(0xAD), U'\u0143');  // soft hyphen is moved (the 68th moved byte)
  EXPECT_EQ(byte_level_byte(U'\u4E00'), -1);
}

TEST(ByteLevel, EncodeDecodeRoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string decoded;
  ASSERT_TRUE(byte_level_decode(byte_level_encode(all), decoded));
  EXPECT_EQ(decoded, all);
  EXPECT_FALSE(byte_level_decode("\xE4\xB8\x80", decoded)) << "U+4E00 is not a byte-level character";
}

TEST(TokenBytes, SpellingsDecodeToTheSameBytes) {
  EXPECT_EQ(token_bytes("\xC4\xA0the", TokenSpelling::kByteLevel, false), " the");           // Ġthe
  EXPECT_EQ(token_bytes("\xE2\x96\x81the", TokenSpelling::kSentencePiece, true), " the");  // ▁the
  EXPECT_EQ(token_bytes("<0x0A>", TokenSpelling::kSentencePiece, true), "\n");
  EXPECT_EQ(token_bytes("<0x0A>", TokenSpelling::kSentencePiece, false), "<0x0A>") << "no byte fallback, plain text";
  EXPECT_EQ(token_bytes("<0x0a>", TokenSpelling::kSentencePiece, true), "<0x0a>") << "lowercase hex is not a byte token";
  bool decodable = true;
  EXPECT_EQ(token_bytes("<|im_start|>", TokenSpelling::kByteLevel, false, &decodable), "<|im_start|>");
  EXPECT_TRUE(decodable) << "ASCII punctuation and letters are their own byte-level characters";
  EXPECT_EQ(token_bytes("\xE4\xB8\x80", TokenSpelling::kByteLevel, false, &decodable), "\xE4\xB8\x80");
  EXPECT_FALSE(decodable);
}

TEST(Base64, StrictDecoding) {
  std::string out;
  ASSERT_TRUE(base64_decode("IQ==", out));
  EXPECT_EQ(out, "!");
  ASSERT_TRUE(base64_decode("aGVsbG8=", out));
  EXPECT_EQ(out, "hello");
  ASSERT_TRUE(base64_decode("4pSA", out));
  EXPECT_EQ(out, "\xE2\x94\x80");
  EXPECT_FALSE(base64_decode("", out));
  EXPECT_FALSE(base64_decode("IQ=", out)) << "length not a multiple of 4";
  EXPECT_FALSE(base64_decode("I*==", out)) << "invalid character";
  EXPECT_FALSE(base64_decode("I===", out)) << "padding in position 2";
  EXPECT_FALSE(base64_decode("IR==", out)) << "non-zero pad bits (not canonical)";
  EXPECT_FALSE(base64_decode("IQ==IQ==", out)) << "padding before the end";
}

TEST(Utf8, SanitizeReplacesMaximalSubpartsLikeWhatwg) {
  std::string out;
  EXPECT_EQ(sanitize_utf8("plain ASCII", out), 0u);
  EXPECT_EQ(out, "plain ASCII");
  EXPECT_EQ(sanitize_utf8("\xE2\x82\xAC", out), 0u);  // €
  const std::string fffd = "\xEF\xBF\xBD";
  // F0 80 80: 80 is outside F0's second-byte range (90..BF), so each byte is its own subpart.
  EXPECT_EQ(sanitize_utf8("\xF0\x80\x80", out), 3u);
  EXPECT_EQ(out, fffd + fffd + fffd);
  // A truncated sequence is one subpart.
  EXPECT_EQ(sanitize_utf8("a\xE2\x82", out), 1u);
  EXPECT_EQ(out, "a" + fffd);
  // Surrogates (ED A0 80) and overlongs (C0 80) are invalid byte by byte.
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80", out), 3u);
  EXPECT_EQ(sanitize_utf8("\xC0\x80", out), 2u);
  // The byte that breaks a sequence starts afresh: E2 41 -> U+FFFD 'A'.
  EXPECT_EQ(sanitize_utf8("\xE2\x41", out), 1u);
  EXPECT_EQ(out, fffd + "A");
  EXPECT_TRUE(is_valid_utf8(fffd));
  EXPECT_FALSE(is_valid_utf8("\xFF"));
}

TEST(Utf8, LengthAndJsWhitespace) {
  EXPECT_EQ(utf8_length("a\xE2\x82\xAC\xF0\x9F\x9A\x80"), 3u);
  EXPECT_TRUE(is_js_whitespace(U' '));
  EXPECT_TRUE(is_js_whitespace(U'\u3000'));  // ideographic space (Zs)
  EXPECT_TRUE(is_js_whitespace(U'\uFEFF'));  // JavaScript counts the BOM as whitespace...
  EXPECT_FALSE(is_js_whitespace(U'\u0085'));  // ...but not NEL, unlike \p{White_Space}
  EXPECT_FALSE(is_js_whitespace(U'x'));
}

TEST(RegexTranslation, CaseInsensitiveGroupsFoldAsciiOnly) {
  Regex re(translate_pattern("(?i:'s|'t)"));
  EXPECT_EQ(all_matches(re, "it's IT'S it'T"), (std::vector<std::string>{"'s", "'S", "'T"}));
  // U+017F (long s) folds to 's' under Unicode rules; the reference folds ASCII letters only.
  EXPECT_TRUE(all_matches(re, "it'\xC5\xBF").empty());
}

TEST(RegexTranslation, ShorthandsFollowTheReference) {
  // \s is \p{White_Space}: NEL (U+0085) is whitespace, U+FEFF is not.
  Regex space(translate_pattern("\\s+"));
  EXPECT_EQ(all_matches(space, "a\xC2\x85" "b\xEF\xBB\xBF" "c"), (std::vector<std::string>{"\xC2\x85"}));
  Regex digits(translate_pattern("\\d+"));
  EXPECT_EQ(all_matches(digits, "x12\xD9\xA3y"), (std::vector<std::string>{"12\xD9\xA3"}));  // Arabic-Indic 3
  Regex dot(translate_pattern("a.b"));
  EXPECT_TRUE(all_matches(dot, "a\nb").empty());
  Regex bounded(translate_pattern("\\p{N}{1,3}"));
  EXPECT_EQ(all_matches(bounded, "1234567"), (std::vector<std::string>{"123", "456", "7"}));
  // Oniguruma's {n,m}+ repeats the bounded repeat (the reference reads it so).
  Regex repeat(translate_pattern("a{2}+"));
  EXPECT_EQ(all_matches(repeat, "aaaaa"), (std::vector<std::string>{"aaaa"}));
}

TEST(RegexTranslation, ClassesRangesAndLiterals) {
  Regex cls(translate_pattern("[a-c-]+"));
  EXPECT_EQ(all_matches(cls, "xab-cz"), (std::vector<std::string>{"ab-c"}));
  Regex escaped(translate_pattern("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"));
  EXPECT_EQ(all_matches(escaped, "x .net [abc \\def"), (std::vector<std::string>{".net", "[abc", "\\def"}));
  Regex lit(escape_literal("a.b(c)"));
  EXPECT_EQ(all_matches(lit, "axb(c) a.b(c)"), (std::vector<std::string>{"a.b(c)"}));
}

TEST(RegexTranslation, UnsupportedConstructsAreRefusedWithTheirPosition) {
  EXPECT_THROW_MSG(translate_pattern("[[a]b]"), std::invalid_argument, "nested character class");
  EXPECT_THROW_MSG(translate_pattern("[a&&b]"), std::invalid_argument, "intersection");
  EXPECT_THROW_MSG(translate_pattern("(?x)a"), std::invalid_argument, "group syntax");
  EXPECT_THROW_MSG(translate_pattern("\\R"), std::invalid_argument, "the escape \\R");
  EXPECT_THROW_MSG(translate_pattern("(a"), std::invalid_argument, "unclosed");
  EXPECT_THROW_MSG(Regex("a("), std::invalid_argument, "at byte");
}

TEST(RegexIteration, EmptyMatchesAdvanceOneCodePoint) {
  Regex empty("x*");
  std::vector<std::pair<size_t, size_t>> spans;
  std::string text = "\xC3\xA9x";  // é then x
  empty.for_each_match(text, [&](size_t b, size_t e) { spans.emplace_back(b, e); });
  // An empty match at 0, then at 2 (after the two-byte é, never inside it), then "x", then empty at the end.
  std::vector<std::pair<size_t, size_t>> expected{{0, 0}, {2, 3}, {3, 3}};
  EXPECT_EQ(spans, expected);
}
