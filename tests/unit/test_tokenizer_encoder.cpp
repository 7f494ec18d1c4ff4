// The encoder on small synthetic tokenizers whose expected ids are derived by hand from the reference's rules,
// plus a property test of the BPE core against a naive reference implementation.
#include "fromscratch/tokenizer/encoder.hpp"

#include <map>
#include <random>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/tokenizer/token_identity.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::tokenizer;
using nlohmann::json;

namespace {

struct Spec {
  json vocab = json::object();
  json merges = json::array();
  json normalizer = nullptr;
  json pre_tokenizer = nullptr;
  json added = json::array();
  json model_extra = json::object();
};

Tokenizer build(const Spec& s) {
  json model = {{"type", "BPE"}, {"vocab", s.vocab}, {"merges", s.merges}, {"unk_token", nullptr}};
  for (const auto& [k, v] : s.model_extra.items()) model[k] = v;
  json root = {{"version", "1.0"},     {"added_tokens", s.added},   {"normalizer", s.normalizer},
               {"pre_tokenizer", s.pre_tokenizer}, {"post_processor", nullptr}, {"decoder", nullptr},
               {"model", model}};
  return parse_tokenizer_json(root.dump(), "synthetic/tokenizer.json");
}

// Plain vocabulary: each listed string gets the next id.
json plain_vocab(const std::vector<std::string>& tokens) {
  json v = json::object();
  for (size_t i = 0; i < tokens.size(); ++i) v[tokens[i]] = i;
  return v;
}

// Byte-level vocabulary: the character of byte b has id b; extra tokens follow from 256.
json byte_vocab(const std::vector<std::string>& extra_bytes_tokens = {}) {
  json v = json::object();
  for (int b = 0; b < 256; ++b) v[byte_level_encode(std::string(1, static_cast<char>(b)))] = b;
  for (size_t i = 0; i < extra_bytes_tokens.size(); ++i) v[byte_level_encode(extra_bytes_tokens[i])] = 256 + i;
  return v;
}

json byte_merge(const std::string& a, const std::string& b) { return byte_level_encode(a) + " " + byte_level_encode(b); }

json added_token(const std::string& content, uint32_t id, bool lstrip = false, bool rstrip = false, bool normalized = false) {
  return {{"id", id},         {"content", content}, {"single_word", false}, {"lstrip", lstrip},
          {"rstrip", rstrip}, {"normalized", normalized}, {"special", true}};
}

std::vector<uint32_t> ids(std::initializer_list<uint32_t> l) { return l; }

}  // namespace

TEST(Bpe, LowestRankFirstThenLeftmost) {
  Spec s;
  s.vocab = plain_vocab({"a", "b", "c", "ab", "bc"});
  s.merges = {"b c", "a b"};  // "bc" outranks "ab"
  Tokenizer t = build(s);
  Encoder e(t);
  EXPECT_EQ(e.encode("abc"), ids({0, 4}));
  Spec s2;
  s2.vocab = plain_vocab({"a", "aa"});
  s2.merges = {"a a"};
  Tokenizer t2 = build(s2);
  Encoder e2(t2);
  EXPECT_EQ(e2.encode("aaa"), ids({1, 0})) << "equal ranks merge leftmost first";
  EXPECT_EQ(e2.encode("aaaa"), ids({1, 1}));
}

TEST(Bpe, ByteLevelWordsAndGpt2Pattern) {
  Spec s;
  s.vocab = byte_vocab({"he", "ll", "hell", "hello", " w", " wo"});
  s.merges = {byte_merge("h", "e"), byte_merge("l", "l"), byte_merge("he", "ll"), byte_merge("hell", "o"),
              byte_merge(" ", "w"), byte_merge(" w", "o")};
  s.pre_tokenizer = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  Tokenizer t = build(s);
  EXPECT_EQ(t.spelling, TokenSpelling::kByteLevel);
  Encoder e(t);
  // "hello" -> hello; " world" -> " wo" r l d (the pattern keeps the space with the word).
  EXPECT_EQ(e.encode("hello world"), ids({259, 261, 'r', 'l', 'd'}));
  // Prefix space: the same word as in the middle of a sentence.
  s.pre_tokenizer["add_prefix_space"] = true;
  Tokenizer tp = build(s);
  Encoder ep(tp);
  EXPECT_EQ(ep.encode("wo"), ids({261}));
  EXPECT_TRUE(ep.adds_prefix_space());
}

TEST(Bpe, IgnoreMergesEmitsWholeVocabularyWords) {
  Spec s;
  s.vocab = byte_vocab({"hello"});
  s.pre_tokenizer = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  Tokenizer without = build(s);
  Encoder e1(without);
  EXPECT_EQ(e1.encode("hello"), ids({'h', 'e', 'l', 'l', 'o'})) << "no merge builds 'hello'";
  s.model_extra = {{"ignore_merges", true}};
  Tokenizer with = build(s);
  Encoder e2(with);
  EXPECT_EQ(e2.encode("hello"), ids({256}));
}

TEST(Bpe, ByteFallbackAndUnknownTokens) {
  Spec s;
  std::vector<std::string> v{"<unk>"};
  char name[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    v.push_back(name);
  }
  v.insert(v.end(), {"\xE2\x96\x81", "a", "\xE2\x96\x81" "a"});  // ▁ a ▁a at 257 258 259
  s.vocab = plain_vocab(v);
  s.merges = {"\xE2\x96\x81 a"};
  s.normalizer = {{"type", "Sequence"},
                  {"normalizers", {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                                   {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}};
  s.model_extra = {{"byte_fallback", true}, {"unk_token", "<unk>"}, {"fuse_unk", true}};
  Tokenizer t = build(s);
  EXPECT_EQ(t.spelling, TokenSpelling::kSentencePiece);
  Encoder e(t);
  // "a€" -> ▁a, then € as its three UTF-8 bytes E2 82 AC (ids 1 + byte).
  EXPECT_EQ(e.encode("a\xE2\x82\xAC"), ids({259, 1 + 0xE2, 1 + 0x82, 1 + 0xAC}));
  EXPECT_TRUE(e.adds_prefix_space());

  // Without byte fallback: unknown characters become <unk>, consecutive ones fused into one.
  s.model_extra = {{"byte_fallback", false}, {"unk_token", "<unk>"}, {"fuse_unk", true}};
  Tokenizer fused = build(s);
  Encoder ef(fused);
  EXPECT_EQ(ef.encode("a\xE2\x82\xAC\xC3\xA9"), ids({259, 0}));
  s.model_extra = {{"byte_fallback", false}, {"unk_token", "<unk>"}, {"fuse_unk", false}};
  Tokenizer unfused = build(s);
  Encoder eu(unfused);
  EXPECT_EQ(eu.encode("a\xE2\x82\xAC\xC3\xA9"), ids({259, 0, 0}));
  // With neither, the reference drops what it cannot spell.
  s.model_extra = json::object();
  Tokenizer dropping = build(s);
  Encoder ed(dropping);
  EXPECT_EQ(ed.encode("a\xE2\x82\xAC"), ids({259}));
}

TEST(AddedTokens, SplitFirstAndStripNeighbours) {
  Spec s;
  s.vocab = byte_vocab();
  s.pre_tokenizer = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  s.added = {added_token("<|x|>", 300)};
  Tokenizer plain = build(s);
  Encoder e(plain);
  EXPECT_EQ(e.encode("a <|x|> b"), ids({'a', ' ', 300, ' ', 'b'}));
  EXPECT_EQ(e.encode("<|x|><|x|>"), ids({300, 300}));
  s.added = {added_token("<|x|>", 300, /*lstrip=*/true, /*rstrip=*/true)};
  Tokenizer strip = build(s);
  Encoder es(strip);
  EXPECT_EQ(es.encode("a \t<|x|>  b"), ids({'a', 300, 'b'}));
  // The longest added token wins at a position.
  s.added = {added_token("<|x", 301), added_token("<|x|>", 300)};
  Tokenizer longest = build(s);
  Encoder el(longest);
  EXPECT_EQ(el.encode("<|x|><|xy"), ids({300, 301, 'y'}));
}

TEST(AddedTokens, NormalizedTokensMatchAfterNormalization) {
  Spec s;
  s.vocab = plain_vocab({"x", "h", "e", "l", "o"});
  s.normalizer = {{"type", "Lowercase"}};
  s.added = {added_token("HELLO", 9, false, false, /*normalized=*/true)};
  Tokenizer t = build(s);
  Encoder e(t);
  EXPECT_EQ(e.encode("xHeLLox"), ids({0, 9, 0}));
}

TEST(PreTokenizers, SplitBehavioursAsTheReferenceReadsThem) {
  Spec s;
  s.vocab = plain_vocab({"a", "b", "1", "a1", "1b", "a1b"});
  s.merges = {"a 1", "a1 b", "1 b"};
  Tokenizer whole = build(s);
  Encoder ew(whole);
  EXPECT_EQ(ew.encode("a1b"), ids({5}));
  auto with_split = [&](json split) {
    s.pre_tokenizer = split;
    Tokenizer t = build(s);
    Encoder e(t);
    return e.encode("a1b");
  };
  json digit = {{"Regex", "\\d"}};
  EXPECT_EQ(with_split({{"type", "Split"}, {"pattern", digit}, {"behavior", "Isolated"}, {"invert", false}}), ids({0, 2, 1}));
  EXPECT_EQ(with_split({{"type", "Split"}, {"pattern", digit}, {"behavior", "Removed"}, {"invert", false}}), ids({0, 1}));
  EXPECT_EQ(with_split({{"type", "Split"}, {"pattern", digit}, {"behavior", "Removed"}, {"invert", true}}), ids({2}));
  // tokenizers.js reads MergedWithPrevious as Isolated.
  EXPECT_EQ(with_split({{"type", "Split"}, {"pattern", digit}, {"behavior", "MergedWithPrevious"}, {"invert", false}}),
            ids({0, 2, 1}));
  // A String pattern is captured when invert is false, so "Removed" keeps the separator (as the reference does).
  EXPECT_EQ(with_split({{"type", "Split"}, {"pattern", {{"String", "1"}}}, {"behavior", "Removed"}, {"invert", false}}),
            ids({0, 2, 1}));
  EXPECT_EQ(with_split({{"type", "Digits"}, {"individual_digits", true}}), ids({0, 2, 1}));
  EXPECT_EQ(with_split({{"type", "Sequence"}, {"pretokenizers", json::array()}}), ids({5}));
}

TEST(PreTokenizers, MetaspacePrependSchemes) {
  Spec s;
  s.vocab = plain_vocab({"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "\xE2\x96\x81" "b"});
  s.merges = {"\xE2\x96\x81 a", "\xE2\x96\x81 b"};
  s.added = {added_token("<s>", 9)};
  s.pre_tokenizer = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}};
  Tokenizer always = build(s);
  Encoder ea(always);
  EXPECT_EQ(ea.encode("a b"), ids({3, 4}));
  EXPECT_EQ(ea.encode("<s>a"), ids({9, 3}));
  s.pre_tokenizer["prepend_scheme"] = "first";
  Tokenizer first = build(s);
  Encoder ef(first);
  EXPECT_EQ(ef.encode("a<s>a"), ids({3, 9, 1})) << "only the first section gets the prefix";
}

TEST(Normalizers, UnicodeFormsCaseMappingAndReplace) {
  Spec s;
  // ids: f i ο δ σ ς e é ́(U+0301) a b c [ ] $
  s.vocab = plain_vocab({"f", "i", "\xCE\xBF", "\xCE\xB4", "\xCF\x83", "\xCF\x82", "e", "\xC3\xA9", "\xCC\x81", "a", "b",
                         "c", "[", "]", "$"});
  s.normalizer = {{"type", "NFKC"}};
  Tokenizer nfkc = build(s);
  Encoder en(nfkc);
  EXPECT_EQ(en.encode("\xEF\xAC\x81"), ids({0, 1})) << "NFKC: the ligature fi becomes f i";
  s.normalizer = {{"type", "Lowercase"}};
  Tokenizer lower = build(s);
  Encoder el(lower);
  // ΟΔΟΣ -> οδος: the final sigma rule of JavaScript's toLowerCase.
  EXPECT_EQ(el.encode("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3"), ids({2, 3, 2, 5}));
  s.normalizer = {{"type", "StripAccents"}};
  Tokenizer strip = build(s);
  Encoder es(strip);
  EXPECT_EQ(es.encode("e\xCC\x81"), ids({6})) << "the combining accent is removed";
  EXPECT_EQ(es.encode("\xC3\xA9"), ids({7})) << "a precomposed letter stays (the reference does not decompose)";
  s.normalizer = {{"type", "Replace"}, {"pattern", {{"Regex", "(b)"}}}, {"content", "[$1$&$$]"}};
  Tokenizer repl = build(s);
  Encoder er(repl);
  EXPECT_EQ(er.encode("abc"), ids({9, 12, 10, 10, 14, 13, 11}));  // a[bb$]c
  s.normalizer = {{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}};
  Tokenizer trim = build(s);
  Encoder et(trim);
  EXPECT_EQ(et.encode(" \t a \xE3\x80\x80"), ids({9}));
}

TEST(Input, InvalidUtf8IsReplacedAsNodeDoes) {
  Spec s;
  s.vocab = byte_vocab();
  s.pre_tokenizer = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  Tokenizer t = build(s);
  Encoder e(t);
  EXPECT_EQ(e.encode("a\xFF" "b"), e.encode("a\xEF\xBF\xBD" "b"));
  EXPECT_EQ(e.encode("a\xFF" "b"), ids({'a', 0xEF, 0xBF, 0xBD, 'b'}));
  EXPECT_TRUE(e.encode("").empty());
}

TEST(Pipeline, UnsupportedComponentsAreRefusedByName) {
  Spec s;
  s.vocab = plain_vocab({"a"});
  s.normalizer = {{"type", "BertNormalizer"}};
  Tokenizer bert = build(s);
  EXPECT_THROW_MSG(Encoder{bert}, FormatError, "synthetic/tokenizer.json: component 'normalizer': type = 'BertNormalizer'");
  s.normalizer = nullptr;
  s.pre_tokenizer = {{"type", "Split"}, {"pattern", {{"Regex", "[[a]]"}}}, {"behavior", "Isolated"}};
  Tokenizer nested = build(s);
  EXPECT_THROW_MSG(Encoder{nested}, FormatError, "nested character class");
  s.pre_tokenizer = {{"type", "FixedLength"}, {"length", 3}};
  Tokenizer fixed = build(s);
  EXPECT_THROW_MSG(Encoder{fixed}, FormatError, "unsupported pre-tokenizer");
  Tokenizer tik = parse_tiktoken("YQ== 0\n", "t.tiktoken");
  EXPECT_THROW_MSG(Encoder{tik}, FormatError, "tiktoken files carry no pre-tokenizer pattern");
}

// The BPE core against a naive implementation (repeatedly merge the lowest-ranked adjacent pair, leftmost
// first) on random merge tables and words long enough to take the heap path.
TEST(Bpe, AgreesWithNaiveReferenceOnRandomWords) {
  std::mt19937 rng(20260104);
  for (int table = 0; table < 5; ++table) {
    std::vector<std::string> vocab{"a", "b", "c", "d"};
    std::map<std::string, uint32_t> index{{"a", 0}, {"b", 1}, {"c", 2}, {"d", 3}};
    std::vector<std::pair<std::string, std::string>> merges;
    while (merges.size() < 150) {
      const std::string& l = vocab[rng() % vocab.size()];
      const std::string& r = vocab[rng() % vocab.size()];
      std::string joined = l + r;
      if (joined.size() > 8 || index.count(joined)) continue;
      merges.emplace_back(l, r);
      index[joined] = static_cast<uint32_t>(vocab.size());
      vocab.push_back(joined);
    }
    Spec s;
    s.vocab = plain_vocab(vocab);
    for (const auto& [l, r] : merges) s.merges.push_back(l + " " + r);
    Tokenizer t = build(s);
    Encoder e(t);
    std::map<std::pair<std::string, std::string>, size_t> rank;
    for (size_t i = 0; i < merges.size(); ++i) rank[merges[i]] = i;
    for (int w = 0; w < 60; ++w) {
      std::string word;
      size_t len = 1 + rng() % 200;
      for (size_t i = 0; i < len; ++i) word.push_back(static_cast<char>('a' + rng() % 4));
      std::vector<std::string> parts;
      for (char c : word) parts.emplace_back(1, c);
      while (true) {
        size_t best = SIZE_MAX, best_rank = SIZE_MAX;
        for (size_t i = 0; i + 1 < parts.size(); ++i) {
          auto it = rank.find({parts[i], parts[i + 1]});
          if (it != rank.end() && it->second < best_rank) {
            best_rank = it->second;
            best = i;
          }
        }
        if (best == SIZE_MAX) break;
        parts[best] += parts[best + 1];
        parts.erase(parts.begin() + static_cast<long>(best) + 1);
      }
      std::vector<uint32_t> expected;
      for (const auto& p : parts) expected.push_back(index.at(p));
      ASSERT_EQ(e.encode(word), expected) << "table " << table << ", word " << word;
    }
  }
}
