// Readers: the three formats on small hand-written files, every malformed-input case of issue 3 with the error
// naming file and entry, and the formats agreeing with each other on the real files.
#include <filesystem>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/tokenizer/metrics.hpp"
#include "fromscratch/tokenizer/token_identity.hpp"
#include "fromscratch/tokenizer/tokenizer.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::tokenizer;
using namespace fromscratch::test;
namespace fs = std::filesystem;

namespace {

// A minimal byte-level-free BPE tokenizer.json: vocab a b c ab abc, merges "a b", "ab c".
std::string small_json(const std::string& vocab = R"({"a":0,"b":1,"c":2,"ab":3,"abc":4})",
                       const std::string& merges = R"(["a b","ab c"])", const std::string& extra = "") {
  return R"({"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,)"
         R"("decoder":null,"model":{"type":"BPE","unk_token":null,"vocab":)" +
         vocab + R"(,"merges":)" + merges + extra + "}}";
}

}  // namespace

TEST(TokenizerJson, ReadsVocabularyMergesAndFlags) {
  Tokenizer t = parse_tokenizer_json(small_json(), "mem/tokenizer.json");
  EXPECT_EQ(t.vocab_count, 5u);
  EXPECT_EQ(t.vocab[3], "ab");
  ASSERT_EQ(t.merges.size(), 2u);
  EXPECT_EQ(t.merges[1].left, 3u);
  EXPECT_EQ(t.merges[1].right, 2u);
  EXPECT_EQ(t.merges[1].result, 4u);
  EXPECT_EQ(t.merge_lines[1], "ab c");
  EXPECT_EQ(t.find("abc"), std::optional<uint32_t>(4));
  EXPECT_EQ(t.find("zz"), std::nullopt);
  EXPECT_EQ(t.spelling, TokenSpelling::kPlain);
}

TEST(TokenizerJson, PairMergesEqualStringMerges) {
  Tokenizer s = parse_tokenizer_json(small_json(), "s.json");
  Tokenizer p = parse_tokenizer_json(small_json(R"({"a":0,"b":1,"c":2,"ab":3,"abc":4})", R"([["a","b"],["ab","c"]])"), "p.json");
  ASSERT_EQ(s.merges.size(), p.merges.size());
  for (size_t i = 0; i < s.merges.size(); ++i) {
    EXPECT_EQ(s.merges[i].result, p.merges[i].result);
    EXPECT_EQ(s.merge_lines[i], p.merge_lines[i]);
  }
  EXPECT_EQ(merges_sha256(s, 1000), merges_sha256(p, 1000));
}

TEST(TokenizerJson, AddedTokensKeepTheirFlags) {
  Tokenizer t = parse_tokenizer_json(
      R"({"added_tokens":[{"id":5,"content":"<s>","special":true,"lstrip":true,"rstrip":false,"normalized":false,"single_word":false}],)"
      R"("normalizer":null,"pre_tokenizer":null,"model":{"type":"BPE","vocab":{"a":0},"merges":[]}})",
      "added.json");
  ASSERT_EQ(t.added_tokens.size(), 1u);
  EXPECT_EQ(t.added_tokens[0].content, "<s>");
  EXPECT_EQ(t.added_tokens[0].id, 5u);
  EXPECT_TRUE(t.added_tokens[0].special);
  EXPECT_TRUE(t.added_tokens[0].lstrip);
  EXPECT_FALSE(t.added_tokens[0].normalized);
}

// ---- malformed input: each error names the file and the entry ----

TEST(TokenizerJsonErrors, TruncatedJson) {
  std::string full = small_json();
  EXPECT_THROW_MSG(parse_tokenizer_json(full.substr(0, full.size() / 2), "cut/tokenizer.json"), FormatError,
                   "cut/tokenizer.json");
  EXPECT_THROW_MSG(parse_tokenizer_json(full.substr(0, full.size() / 2), "cut/tokenizer.json"), FormatError,
                   "malformed JSON at byte offset");
}

TEST(TokenizerJsonErrors, MergeNamingUnknownToken) {
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json(R"({"a":0,"b":1,"ab":2})", R"(["a b","ab x"])"), "m.json"),
                   FormatError, "m.json: entry 'model.merges[1]'");
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json(R"({"a":0,"b":1,"ab":2})", R"(["a b","ab x"])"), "m.json"),
                   FormatError, "merge names token 'x' which is not in the vocabulary");
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json(R"({"a":0,"b":1})", R"(["a b"])"), "m.json"), FormatError,
                   "merged token 'ab' is not in the vocabulary");
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json(R"({"a":0,"b":1,"ab":2})", R"(["a  b"])"), "m.json"), FormatError,
                   "does not name exactly two tokens");
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json(R"({"a":0,"b":1,"ab":2})", R"([["a","b","c"]])"), "m.json"),
                   FormatError, "exactly two strings");
}

TEST(TokenizerJsonErrors, DuplicateIdsAndTokens) {
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json(R"({"a":0,"b":0})", "[]"), "d.json"), FormatError,
                   "duplicate id: also used by");
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json(R"({"a":0,"a":1})", "[]"), "d.json"), FormatError,
                   "duplicate token (ids 0 and 1)");
}

TEST(TokenizerJsonErrors, IdsOutOfRangeOrNotIntegers) {
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json(R"({"a":-1})", "[]"), "r.json"), FormatError,
                   "r.json: entry 'model.vocab['a']': id = -1: token id out of range (limit: 0 .. 4194303)");
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json(R"({"a":99999999999})", "[]"), "r.json"), FormatError,
                   "id = 99999999999");
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json(R"({"a":18446744073709551615})", "[]"), "r.json"), FormatError,
                   "id = 18446744073709551615");
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json(R"({"a":1.5})", "[]"), "r.json"), FormatError,
                   "token id is not an integer");
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json(R"({"a":[1]})", "[]"), "r.json"), FormatError,
                   "token id is not an integer");
  EXPECT_THROW_MSG(
      parse_tokenizer_json(R"({"added_tokens":[{"id":-3,"content":"x"}],"model":{"type":"BPE","vocab":{"a":0},"merges":[]}})",
                           "r.json"),
      FormatError, "entry 'added_tokens[0]': id = -3: added token id out of range");
}

TEST(TokenizerJsonErrors, UnsupportedModelTypes) {
  EXPECT_THROW_MSG(parse_tokenizer_json(R"({"model":{"type":"Unigram","unk_id":0,"vocab":[["a",-1.0]]}})", "u.json"),
                   FormatError, "u.json: entry 'model': type = 'Unigram': unsupported tokenizer model (only BPE is supported)");
  EXPECT_THROW_MSG(parse_tokenizer_json(R"({"model":{"type":"WordPiece","unk_token":"[UNK]","vocab":{"[UNK]":0}}})",
                                        "w.json"),
                   FormatError, "type = 'WordPiece'");
  // Without a type tag, an array vocabulary is a Unigram model.
  EXPECT_THROW_MSG(parse_tokenizer_json(R"({"model":{"vocab":[["a",-1.0]]}})", "u2.json"), FormatError,
                   "type = 'Unigram'");
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json(R"({"a":0})", "[]", R"(,"continuing_subword_prefix":"##")"), "p.json"),
                   FormatError, "not supported");
}

TEST(TokenizerJsonErrors, InvalidUtf8AndEmptyVocabulary) {
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json("{\"a\xFF\":0}", "[]"), "bad-utf8.json"), FormatError,
                   "bad-utf8.json");
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json("{\"a\xFF\":0}", "[]"), "bad-utf8.json"), FormatError,
                   "UTF-8");
  EXPECT_THROW_MSG(parse_tokenizer_json(small_json("{}", "[]"), "empty.json"), FormatError,
                   "empty.json: entry 'model.vocab': value {}: empty vocabulary");
  EXPECT_THROW_MSG(parse_tokenizer_json("[]", "arr.json"), FormatError, "not a JSON object");
  EXPECT_THROW_MSG(parse_tokenizer_json(R"({"version":"1"})", "nomodel.json"), FormatError, "has no model object");
}

TEST(TokenizerJsonErrors, DeepNestingIsRefused) {
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  std::string doc = R"({"pre_tokenizer":)" + deep + R"(,"model":{"type":"BPE","vocab":{"a":0},"merges":[]}})";
  EXPECT_THROW_MSG(parse_tokenizer_json(doc, "deep.json"), FormatError, "nested deeper than 64 levels");
}

TEST(TokenizerJsonErrors, AllProblemsOfAFileAreReportedTogether) {
  try {
    parse_tokenizer_json(small_json(R"({"a":0,"b":1,"ab":2})", R"(["a x","y b","a b"])"), "many.json");
    FAIL() << "expected a FormatError";
  } catch (const FormatError& e) {
    ASSERT_EQ(e.problems().size(), 2u);
    EXPECT_EQ(e.problems()[0].entry, "model.merges[0]");
    EXPECT_EQ(e.problems()[1].entry, "model.merges[1]");
  }
}

TEST(TokenizerJsonErrors, UnknownTokenMustBeInTheVocabulary) {
  EXPECT_THROW_MSG(parse_tokenizer_json(R"({"model":{"type":"BPE","unk_token":"<unk>","vocab":{"a":0},"merges":[]}})",
                                        "unk.json"),
                   FormatError, "unk.json: entry 'model': unk_token = '<unk>': unknown-token string is not in the vocabulary");
}

// ---- vocab.json + merges.txt ----

TEST(VocabMerges, ReadsGpt2StyleFiles) {
  Tokenizer t = parse_vocab_merges(R"({"a":0,"b":1,"ab":2,"\u0120":3,"\u0120ab":4})", "#version: 0.2\na b\n\xC4\xA0 ab\n",
                                   "v/vocab.json", "v/merges.txt");
  EXPECT_EQ(t.vocab_count, 5u);
  ASSERT_EQ(t.merges.size(), 2u);
  EXPECT_EQ(t.merges[1].result, 4u);
  EXPECT_EQ(t.spelling, TokenSpelling::kByteLevel);
  EXPECT_EQ(t.format, SourceFormat::kVocabMerges);
}

TEST(VocabMerges, ErrorsNameTheLine) {
  EXPECT_THROW_MSG(parse_vocab_merges(R"({"a":0,"b":1,"ab":2})", "#version: 0.2\na b\nb\n", "v.json", "m.txt"),
                   FormatError, "m.txt: entry 'line 3'");
  EXPECT_THROW_MSG(parse_vocab_merges(R"({"a":0,"b":1,"ab":2})", "a q\n", "v.json", "m.txt"), FormatError,
                   "m.txt: entry 'line 1'");
  EXPECT_THROW_MSG(parse_vocab_merges(R"({"a":0,"b":0})", "", "v.json", "m.txt"), FormatError, "v.json");
  EXPECT_THROW_MSG(parse_vocab_merges("[1]", "", "v.json", "m.txt"), FormatError, "not a JSON object");
}

// ---- tiktoken ----

TEST(Tiktoken, ReadsRanksAndDerivesMerges) {
  // Bytes a=0 b=1 c=2, "ab"=3, "abc"=4: the merges must be (a,b) then (ab,c).
  Tokenizer t = parse_tiktoken("YQ== 0\nYg== 1\nYw== 2\nYWI= 3\nYWJj 4\n", "t/x.tiktoken");
  EXPECT_EQ(t.vocab_count, 5u);
  EXPECT_EQ(t.spelling, TokenSpelling::kRawBytes);
  ASSERT_EQ(t.merges.size(), 2u);
  EXPECT_EQ(t.merge_lines[0], "a b");
  EXPECT_EQ(t.merge_lines[1], "ab c");
  EXPECT_EQ(t.merges_not_derivable, 0u);
}

TEST(Tiktoken, TokensAreSpelledByteLevel) {
  Tokenizer t = parse_tiktoken("IA== 0\nCg== 1\n", "sp.tiktoken");  // " " and "\n"
  EXPECT_EQ(t.vocab[0], "\xC4\xA0");
  EXPECT_EQ(t.vocab[1], "\xC4\x8A");
  EXPECT_EQ(token_bytes(t.vocab[0], t.spelling, false), " ");
}

TEST(Tiktoken, MalformedLinesAreNamed) {
  EXPECT_THROW_MSG(parse_tiktoken("YQ== 0\n@@@@ 1\n", "bad.tiktoken"), FormatError,
                   "bad.tiktoken: entry 'line 2': token = '@@@@': invalid base64");
  EXPECT_THROW_MSG(parse_tiktoken("YQ== x\n", "bad.tiktoken"), FormatError, "invalid or out-of-range rank");
  EXPECT_THROW_MSG(parse_tiktoken("YQ== 99999999\n", "bad.tiktoken"), FormatError, "out-of-range rank");
  EXPECT_THROW_MSG(parse_tiktoken("YQ==0\n", "bad.tiktoken"), FormatError, "not a base64 token and a rank");
  EXPECT_THROW_MSG(parse_tiktoken("YQ== 0\nYQ== 1\n", "bad.tiktoken"), FormatError, "duplicate token");
  EXPECT_THROW_MSG(parse_tiktoken("YQ== 0\nYg== 0\n", "bad.tiktoken"), FormatError, "duplicate id");
  EXPECT_THROW_MSG(parse_tiktoken("", "empty.tiktoken"), FormatError, "empty vocabulary");
}

// ---- files on disk ----

TEST(Locate, ExplainsWhatADirectoryLacks) {
  TempDir dir;
  write_file(dir / "tokenizer_config.json", "{}");
  Located loc = locate_tokenizer(dir.path());
  EXPECT_TRUE(loc.file.empty());
  EXPECT_NE(loc.skip_reason.find("only tokenizer_config.json"), std::string::npos) << loc.skip_reason;
  EXPECT_THROW_MSG(load_tokenizer(dir.path()), UsageError, "no vocabulary file");
  write_file(dir / "tokenizer.json", small_json());
  Tokenizer t = load_tokenizer(dir.path());
  EXPECT_EQ(t.name, dir.path().filename().string());
  EXPECT_EQ(t.config_path, (dir / "tokenizer_config.json").string());
}

TEST(Locate, RefusesNonRegularFiles) {
  TempDir dir;
  fs::create_directory(dir / "tokenizer.json");  // a directory where the file should be
  EXPECT_TRUE(locate_tokenizer(dir.path()).file.empty());
  EXPECT_THROW(read_small_file(dir / "tokenizer.json"), IoError);
}

// ---- the formats agree on real files ----

TEST(RealFiles, GraniteVocabMergesEqualsItsTokenizerJson) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  fs::path dir = shared_data() / "models" / "ibm-granite_granite-3.1-1b-a400m-instruct";
  Tokenizer json = load_tokenizer(dir / "tokenizer.json");
  Tokenizer pair = load_tokenizer(dir / "vocab.json");
  EXPECT_EQ(pair.format, SourceFormat::kVocabMerges);
  EXPECT_EQ(json.vocab, pair.vocab);
  EXPECT_EQ(json.merge_lines, pair.merge_lines);
  EXPECT_EQ(json.spelling, pair.spelling);
}

TEST(RealFiles, QwenTiktokenEqualsQwenTokenizerJsonByteForByte) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  Tokenizer tt = load_tokenizer(shared_data() / "models" / "Qwen_Qwen-7B");
  Tokenizer hf = load_tokenizer(shared_data() / "models" / "Qwen_Qwen1.5-tokenizer");
  EXPECT_EQ(tt.format, SourceFormat::kTiktoken);
  EXPECT_EQ(tt.vocab_count, 151643u);
  EXPECT_EQ(tt.vocab, hf.vocab) << "the byte-level spelling of the tiktoken bytes is the tokenizer.json vocabulary";
  // The merges derived from the ranks are exactly the converter's merge list, in order.
  EXPECT_EQ(tt.merge_lines, hf.merge_lines);
  EXPECT_EQ(tt.merges_not_derivable, 0u);
}
