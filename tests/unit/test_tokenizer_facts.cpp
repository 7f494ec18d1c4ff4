// Facts about the real tokenizers in ../shared/data/models that the channel must get right (issue 3, item 6),
// and the pairs it must measure and report without an expected value.
#include <iostream>
#include <map>
#include <memory>

#include "fromscratch/tokenizer/genealogy.hpp"
#include "fromscratch/tokenizer/metrics.hpp"
#include "test_support.hpp"

using namespace fromscratch::tokenizer;
using namespace fromscratch::test;

namespace {

// Profiles are built once per tokenizer and shared by the tests of this file.
const TokenizerProfile& profile(const std::string& dir) {
  static std::map<std::string, std::unique_ptr<TokenizerProfile>> cache;
  auto& slot = cache[dir];
  if (!slot) {
    Tokenizer tok = load_tokenizer(shared_data() / "models" / dir);
    slot = std::make_unique<TokenizerProfile>(make_profile(tok, builtin_corpus()));
  }
  return *slot;
}

PairMetrics pair(const std::string& a, const std::string& b) { return compare_profiles(profile(a), profile(b)); }

void report(const PairMetrics& m) {
  const RankCorrelation& rc = m.merge_rank_correlation;
  std::cout << "[measured] " << m.name_a << " vs " << m.name_b << ": class " << to_string(classify(m).cls)
            << ", shared " << m.raw.intersection << ", Jaccard " << m.raw.jaccard << ", overlap of smaller "
            << m.raw.overlap_of_smaller << ", same-id " << m.same_id << "/" << m.same_id_denominator
            << ", merges in common " << m.merges_common << ", merge prefix " << m.merges_common_prefix
            << ", Kendall " << (rc.kendall ? *rc.kendall : -2.0) << " (n " << rc.n << ")\n";
}

const char* kMixtral = "mistralai_Mixtral-8x7B-v0.1";
const char* kMixtralInstruct = "mistralai_Mixtral-8x7B-Instruct-v0.1";
const char* kLlama1 = "huggyllama_llama-7b";
const char* kLlama2 = "meta-llama_Llama-2-7b-chat-hf";
const char* kQwen1_5 = "Qwen_Qwen1.5-tokenizer";
const char* kQwen2_5 = "Qwen_Qwen2.5-tokenizer";
const char* kQwen3 = "Qwen_Qwen3-tokenizer_via-Qwen3-4B";
const char* kQwen7B = "Qwen_Qwen-7B";
const char* kGemma1 = "google_gemma-tokenizer_via-beomi-gemma-mling-7b";
const char* kGemma2 = "google_gemma-2-tokenizer";
const char* kLlama3 = "meta-llama_Meta-Llama-3-8B";
const char* kLlama3_1 = "meta-llama_Llama-3.1-tokenizer_via-Xenova-llama3-tokenizer-new";
const char* kDeepSeekV3 = "deepseek-ai_DeepSeek-V3";
const char* kGptOss = "openai_gpt-oss-20b";

}  // namespace

TEST(TokenizerFacts, MixtralBaseAndInstructAreIdentical) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  PairMetrics m = pair(kMixtral, kMixtralInstruct);
  EXPECT_EQ(classify(m).cls, PairClass::kIdentical) << classify(m).reason;
  EXPECT_EQ(m.raw.size_a, 32000u);
  EXPECT_EQ(m.same_id, 32000u);
  EXPECT_EQ(m.merges_common_prefix, m.merges_a) << "same merges in the same order";
  EXPECT_EQ(m.merges_sha256_a, m.merges_sha256_b);
}

TEST(TokenizerFacts, LlamaOneAndLlamaTwoShareOneTokenizer) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  PairMetrics m = pair(kLlama1, kLlama2);
  EXPECT_EQ(classify(m).cls, PairClass::kIdentical) << classify(m).reason;
  EXPECT_EQ(m.same_id, 32000u);
  EXPECT_EQ(m.merges_common, m.merges_distinct_a);
  EXPECT_EQ(m.merges_distinct_a, m.merges_distinct_b);
  // Same tokenizer.model, two conversions: the merge lists hold the same merges, and those that differ in
  // position are ties the converters ordered differently, hence the class is decided on the merge set.
  EXPECT_LT(m.merges_common_prefix, m.merges_a);
}

TEST(TokenizerFacts, QwenGenerationsShareThe151643TokenBase) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  for (const char* q : {kQwen1_5, kQwen2_5, kQwen3, kQwen7B}) EXPECT_EQ(profile(q).vocab_size, 151643u) << q;
  for (auto [a, b] : {std::pair{kQwen1_5, kQwen2_5}, std::pair{kQwen2_5, kQwen3}, std::pair{kQwen1_5, kQwen3},
                      std::pair{kQwen7B, kQwen2_5}}) {
    PairMetrics m = pair(a, b);
    EXPECT_EQ(classify(m).cls, PairClass::kIdentical) << a << " vs " << b << ": " << classify(m).reason;
    EXPECT_EQ(m.same_id, 151643u) << a << " vs " << b;
  }
  // The generations differ in their added tokens (chat and tool markers), not in the base BPE.
  PairMetrics m = pair(kQwen1_5, kQwen3);
  EXPECT_LT(m.added_common, m.added.size());
}

TEST(TokenizerFacts, GemmaOneAndTwoShareTheBaseVocabulary) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  PairMetrics m = pair(kGemma1, kGemma2);
  EXPECT_EQ(classify(m).cls, PairClass::kExtends) << classify(m).reason;
  EXPECT_EQ(m.raw.size_a, 256000u);
  EXPECT_EQ(m.raw.size_b, 256000u);
  // One id differs: 255999 is <start_of_image> in gemma-1 (this copy) and <unused99> in gemma-2.
  EXPECT_EQ(m.same_id, 255999u);
  EXPECT_EQ(m.merges_common, m.merges_distinct_a) << "the same merges, in another order";
}

TEST(TokenizerFacts, LlamaThreeAndThreePointOneVocabulariesAreIdentical) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  PairMetrics m = pair(kLlama3, kLlama3_1);
  EXPECT_EQ(classify(m).cls, PairClass::kIdentical) << classify(m).reason;
  EXPECT_EQ(m.same_id, 128000u);
  EXPECT_EQ(m.merges_common_prefix, 280147u);
}

// Measured and reported; no expected value is given for these pairs, so only what must hold is checked.
TEST(TokenizerFacts, MeasuredPairs) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  for (auto [a, b] : {std::pair{kLlama3, kQwen2_5}, std::pair{kLlama3, kDeepSeekV3}, std::pair{kQwen2_5, kGptOss},
                      std::pair{kMixtral, kLlama2}}) {
    PairMetrics m = pair(a, b);
    report(m);
    EXPECT_GT(m.raw.intersection, 0u);
    EXPECT_LT(m.raw.jaccard, 1.0);
    EXPECT_LE(m.raw.intersection, std::min(m.raw.size_a, m.raw.size_b));
    EXPECT_LE(m.merges_common, std::min(m.merges_distinct_a, m.merges_distinct_b));
    // Different vocabularies and ids: none of these pairs may be read as one tokenizer.
    PairClass c = classify(m).cls;
    EXPECT_NE(c, PairClass::kIdentical) << a << " vs " << b;
    EXPECT_NE(c, PairClass::kExtends) << a << " vs " << b;
    EXPECT_TRUE(m.corpus_compared) << m.corpus_note;
  }
}
