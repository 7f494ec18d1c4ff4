// Pair metrics on two small synthetic tokenizers whose expected values are worked out by hand (in the comments),
// modelled on the published Solar-vs-GLM comparison: a byte alphabet moved by +4096, low ids reserved for
// specials in one of them, a few shared and a few reordered merges. Then classification, the original
// project's thresholds and the independent-pair calibration.
#include "fromscratch/tokenizer/metrics.hpp"

#include <algorithm>
#include <cmath>

#include "fromscratch/tokenizer/genealogy.hpp"
#include "fromscratch/tokenizer/report.hpp"
#include "fromscratch/tokenizer/token_identity.hpp"
#include "test_support.hpp"

using namespace fromscratch::tokenizer;
using nlohmann::json;

namespace {

std::string bl(const std::string& bytes) { return byte_level_encode(bytes); }

Tokenizer make(const json& vocab, const json& merges, const json& added, const std::string& name) {
  json root = {{"added_tokens", added},
               {"normalizer", nullptr},
               {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
               {"decoder", {{"type", "ByteLevel"}}},
               {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
  Tokenizer t = parse_tokenizer_json(root.dump(), name + "/tokenizer.json");
  t.name = name;
  return t;
}

// A: "<r0>".."<r4095>" at ids 0..4095, the 256 byte characters at 4096..4351, then
//    Ġthe 4352, Ġof 4353, in 4354, ab 4355, cd 4356, ef 4357, gh 4358, ij 4359, kl 4360      (4361 tokens)
//    merges a b, c d, e f, g h, i j, k l; added token <|end|> = 4361
// B: the 256 byte characters at 0..255, then
//    Ġthe 256, Ġand 257, in 258, <r0> 259, ab 260, cd 261, ef 262, gh 263, ij 264, mn 265     (266 tokens)
//    merges a b, e f, c d, g h, i j, m n; added tokens <|end|> = 266, <|pad|> = 267
Tokenizer tokenizer_a() {
  json v = json::object();
  for (int i = 0; i < 4096; ++i) v["<r" + std::to_string(i) + ">"] = i;
  for (int b = 0; b < 256; ++b) v[bl(std::string(1, static_cast<char>(b)))] = 4096 + b;
  int id = 4352;
  for (const char* w : {" the", " of", "in", "ab", "cd", "ef", "gh", "ij", "kl"}) v[bl(w)] = id++;
  json merges = {"a b", "c d", "e f", "g h", "i j", "k l"};
  json added = {{{"id", 4361}, {"content", "<|end|>"}, {"special", true}}};
  return make(v, merges, added, "A");
}

Tokenizer tokenizer_b() {
  json v = json::object();
  for (int b = 0; b < 256; ++b) v[bl(std::string(1, static_cast<char>(b)))] = b;
  int id = 256;
  for (const char* w : {" the", " and", "in", "<r0>", "ab", "cd", "ef", "gh", "ij", "mn"}) v[bl(w)] = id++;
  json merges = {"a b", "e f", "c d", "g h", "i j", "m n"};
  json added = {{{"id", 266}, {"content", "<|end|>"}, {"special", true}}, {{"id", 267}, {"content", "<|pad|>"}, {"special", true}}};
  return make(v, merges, added, "B");
}

const Corpus kCorpus = {{"x", "ab kl"}};

PairMetrics compare_ab() {
  Tokenizer a = tokenizer_a(), b = tokenizer_b();
  return compare_profiles(make_profile(a, kCorpus), make_profile(b, kCorpus));
}

}  // namespace

TEST(PairMetrics, VocabularyOverlapByHand) {
  PairMetrics m = compare_ab();
  // Shared: 256 bytes + Ġthe + in + <r0> + ab cd ef gh ij = 264; union 4361 + 266 - 264 = 4363.
  EXPECT_EQ(m.raw.size_a, 4361u);
  EXPECT_EQ(m.raw.size_b, 266u);
  EXPECT_EQ(m.raw.intersection, 264u);
  EXPECT_EQ(m.raw.union_size, 4363u);
  EXPECT_DOUBLE_EQ(m.raw.jaccard, 264.0 / 4363.0);
  EXPECT_DOUBLE_EQ(m.raw.overlap_of_smaller, 264.0 / 266.0);
  EXPECT_DOUBLE_EQ(m.raw.overlap_of_base, 264.0 / 266.0);
  // Every token decodes to distinct bytes here, so the decoded overlap is the same.
  EXPECT_EQ(m.decoded.intersection, 264u);
  // With added tokens: <|end|> is shared, <|pad|> is not: 265 of 4362 and 268.
  EXPECT_EQ(m.with_added.size_a, 4362u);
  EXPECT_EQ(m.with_added.size_b, 268u);
  EXPECT_EQ(m.with_added.intersection, 265u);
  EXPECT_EQ(m.added_common, 1u);
  EXPECT_EQ(m.added_common_same_id, 0u);
}

TEST(PairMetrics, SameIdsAndTheByteAlphabetShift) {
  PairMetrics m = compare_ab();
  // Ids 0..265 hold "<rN>" in A and bytes/words in B: no id holds the same token.
  EXPECT_EQ(m.same_id, 0u);
  EXPECT_EQ(m.same_id_denominator, 266u);
  EXPECT_DOUBLE_EQ(m.same_id_coverage_of_smaller, 0.0);
  // Offsets B - A: the bytes, Ġthe and in sit 4096 lower in B (258 tokens); ab..ij 4095 lower (5); <r0> +259.
  ASSERT_EQ(m.offsets.size(), 3u);
  EXPECT_EQ(m.offsets[0].offset, -4096);
  EXPECT_EQ(m.offsets[0].count, 258u);
  // Longest run at -4096: A ids 4096..4352 (the 256 bytes and Ġthe; Ġof at 4353 breaks it).
  EXPECT_EQ(m.offsets[0].run_length, 257u);
  EXPECT_EQ(m.offsets[0].run_start_a, 4096u);
  EXPECT_EQ(m.offsets[0].run_start_b, 0u);
  ASSERT_FALSE(m.offsets[0].sample.empty());
  EXPECT_EQ(m.offsets[0].sample[0], bl(std::string(1, '\0')));
  EXPECT_EQ(m.offsets[1].offset, -4095);
  EXPECT_EQ(m.offsets[1].count, 5u);
  EXPECT_EQ(m.offsets[1].run_length, 5u);
  EXPECT_EQ(m.offsets[1].run_start_a, 4355u);
  EXPECT_EQ(m.offsets[2].offset, 259);
  EXPECT_EQ(m.offsets[2].run_length, 1u);
  EXPECT_EQ(m.offsets[2].run_start_a, 0u);
}

TEST(PairMetrics, MergesByHand) {
  PairMetrics m = compare_ab();
  EXPECT_EQ(m.merges_a, 6u);
  EXPECT_EQ(m.merges_b, 6u);
  // sha256sum of the lines "a b\nc d\ne f\ng h\ni j\nk l\n" and "a b\ne f\nc d\ng h\ni j\nm n\n".
  EXPECT_EQ(m.merges_sha256_a, "9fd10a7865557da5ef794375437f8f4f46181813312dd03991368fda53a5279d");
  EXPECT_EQ(m.merges_sha256_b, "e4cc22a3856627c7215a63857d68fa89869e982227aa048e08774529d60ba0a3");
  EXPECT_EQ(m.merges_common, 5u);  // all but k l / m n
  EXPECT_DOUBLE_EQ(m.merges_common_share_a, 5.0 / 6.0);
  EXPECT_EQ(m.merges_common_prefix, 1u);  // a b, then c d vs e f
  // Equal positions: 0 (a b), 3 (g h), 4 (i j).
  EXPECT_EQ(m.merges_first1000_positional, 3u);
  EXPECT_EQ(m.merges_first1000_compared, 6u);
  // Shared merges ranked (0,1,2,3,4) in A and (0,2,1,3,4) in B: one swapped pair.
  // Spearman 1 - 6*2/(5*24) = 0.9; Kendall (9 - 1)/10 = 0.8.
  ASSERT_TRUE(m.merge_rank_correlation.spearman && m.merge_rank_correlation.kendall);
  EXPECT_EQ(m.merge_rank_correlation.n, 5u);
  EXPECT_NEAR(*m.merge_rank_correlation.spearman, 0.9, 1e-12);
  EXPECT_NEAR(*m.merge_rank_correlation.kendall, 0.8, 1e-12);
}

TEST(PairMetrics, CorpusTokensAndWordSplits) {
  PairMetrics m = compare_ab();
  ASSERT_TRUE(m.corpus_compared) << m.corpus_note;
  ASSERT_EQ(m.corpus.size(), 2u);  // "x" and "all"
  const CategoryComparison& x = m.corpus[0];
  EXPECT_EQ(x.chars, 5u);
  // "ab kl": A = ab, Ġ, kl (3 tokens); B = ab, Ġ, k, l (4 tokens, B has no k l merge).
  EXPECT_EQ(x.tokens_a, 3u);
  EXPECT_EQ(x.tokens_b, 4u);
  // Words "ab" (same split) and "kl" (kl vs k l).
  EXPECT_EQ(x.words, 2u);
  EXPECT_EQ(x.words_identical, 1u);
  EXPECT_EQ(m.corpus[1].category, "all");
  EXPECT_EQ(m.corpus[1].words_identical, 1u);
}

TEST(PairMetrics, SymmetricWhereTheDefinitionIs) {
  Tokenizer a = tokenizer_a(), b = tokenizer_b();
  TokenizerProfile pa = make_profile(a, kCorpus), pb = make_profile(b, kCorpus);
  PairMetrics ab = compare_profiles(pa, pb), ba = compare_profiles(pb, pa);
  EXPECT_EQ(ab.raw.intersection, ba.raw.intersection);
  EXPECT_DOUBLE_EQ(ab.raw.jaccard, ba.raw.jaccard);
  EXPECT_EQ(ab.same_id, ba.same_id);
  EXPECT_EQ(ab.merges_common, ba.merges_common);
  EXPECT_NEAR(*ab.merge_rank_correlation.kendall, *ba.merge_rank_correlation.kendall, 1e-12);
  EXPECT_EQ(ab.offsets[0].offset, -ba.offsets[0].offset);
  // overlap_of_base is not symmetric: B is the base.
  EXPECT_DOUBLE_EQ(ba.raw.overlap_of_base, 264.0 / 4361.0);
}

TEST(RankCorrelation, KnownValues) {
  // Reversed order: Spearman -1, Kendall -1.
  RankCorrelation rev = rank_correlation({0, 1, 2, 3}, {30, 20, 10, 0});
  EXPECT_NEAR(*rev.spearman, -1.0, 1e-12);
  EXPECT_NEAR(*rev.kendall, -1.0, 1e-12);
  // y = (2, 0, 1): ranks (2, 0, 1); d = (-2, 1, 1), sum 6 -> rho = 1 - 36/24 = -0.5; discordant 2 of 3 -> tau = -1/3.
  RankCorrelation small = rank_correlation({0, 1, 2}, {7, 3, 5});
  EXPECT_NEAR(*small.spearman, -0.5, 1e-12);
  EXPECT_NEAR(*small.kendall, -1.0 / 3.0, 1e-12);
  EXPECT_FALSE(rank_correlation({0}, {5}).kendall.has_value());
}

TEST(Classification, ClassesAndReasons) {
  PairMetrics m;
  m.name_a = "A";
  m.name_b = "B";
  m.raw = make_overlap(100, 100, 100);
  m.same_id_coverage_of_smaller = 1.0;
  m.merges_a = m.merges_b = m.merges_distinct_a = m.merges_distinct_b = m.merges_common = 50;
  m.merges_common_prefix = 40;
  Classification c = classify(m);
  EXPECT_EQ(c.cls, PairClass::kIdentical);
  EXPECT_NE(c.reason.find("agrees for the first 40 merges only"), std::string::npos) << c.reason;
  m.raw = make_overlap(100, 120, 100);
  EXPECT_EQ(classify(m).cls, PairClass::kExtends);
  m.same_id_coverage_of_smaller = 0.5;
  m.merges_common_prefix = 64;
  EXPECT_EQ(classify(m).cls, PairClass::kSameLineage);
  m.merges_common_prefix = 63;
  m.merge_rank_correlation.n = 1000;
  m.merge_rank_correlation.kendall = 0.9;
  EXPECT_EQ(classify(m).cls, PairClass::kSameLineage);
  m.merge_rank_correlation.n = 999;
  EXPECT_EQ(classify(m).cls, PairClass::kIndependent) << "too few shared merges to trust the correlation";
  EXPECT_EQ(classify(compare_ab()).cls, PairClass::kIndependent);
}

TEST(Classification, OriginalProjectThresholds) {
  EXPECT_EQ(original_reading(0.985), "fine-tune likely (> 98%)");
  EXPECT_EQ(original_reading(0.98), "continued pre-training or vocabulary extension (90-98%)");
  EXPECT_EQ(original_reading(0.90), "continued pre-training or vocabulary extension (90-98%)");
  EXPECT_EQ(original_reading(0.8999), "from-scratch evidence (< 90%)");
}

TEST(Calibration, IndependentPairsFormTheReferenceSample) {
  // Six tokenizers with the byte alphabet at different ids (rotated by 17 per tokenizer, so no pair shares
  // ids) and different word sets, plus an exact copy of the last one.
  std::vector<TokenizerProfile> profiles;
  std::vector<std::string> words = {"aa", "bb", "cc", "dd", "ee", "ff", "gg", "hh", "ii", "jj", "kk", "ll"};
  for (int k = 0; k < 7; ++k) {
    int set = std::min(k, 5);
    json v = json::object();
    for (int b = 0; b < 256; ++b) v[bl(std::string(1, static_cast<char>(b)))] = (b + 17 * set) % 256;
    int id = 256;
    for (size_t w = 0; w < words.size(); ++w)
      if ((w * 7 + static_cast<size_t>(set) * 3) % 5 < static_cast<size_t>(2 + set % 3)) v[bl(words[w])] = id++;
    Tokenizer t = make(v, json::array(), json::array(), "T" + std::to_string(k));
    profiles.push_back(make_profile(t, kCorpus));
  }
  Matrix mx = build_matrix(std::move(profiles), {}, 2);
  ASSERT_EQ(mx.pairs.size(), 21u);
  // T5 and T6 are identical: six clusters, 15 cluster pairs in the reference sample.
  EXPECT_EQ(mx.clusters.size(), 6u);
  const NullSummary& jac = mx.null_distribution[0];
  EXPECT_EQ(jac.metric, "jaccard");
  EXPECT_EQ(jac.n, 15u);
  const MatrixPair* copy = nullptr;
  const MatrixPair* indep = nullptr;
  for (const auto& p : mx.pairs) {
    if (p.a == 5 && p.b == 6) copy = &p;
    if (p.a == 0 && p.b == 1) indep = &p;
  }
  ASSERT_TRUE(copy && indep);
  EXPECT_EQ(copy->classification.cls, PairClass::kIdentical);
  EXPECT_EQ(copy->calibration[0].null_n, 15u);
  EXPECT_EQ(indep->calibration[0].null_n, 14u) << "a pair's own cluster pair is left out";
  // The percentile is the mid-rank empirical CDF of the other 14 cluster-pair values (recomputed here; the
  // pairs T_k-T5 and T_k-T6 are one cluster pair with equal values, so their median is that value).
  std::vector<double> others;
  for (size_t i = 0; i < 6; ++i)
    for (size_t j = i + 1; j < 6; ++j) {
      if (i == 0 && j == 1) continue;
      for (const auto& p : mx.pairs)
        if (p.a == i && p.b == j) others.push_back(p.metrics.raw.jaccard);
    }
  ASSERT_EQ(others.size(), 14u);
  double v = indep->metrics.raw.jaccard, below = 0, equal = 0;
  for (double o : others) {
    below += o < v ? 1 : 0;
    equal += o == v ? 1 : 0;
  }
  ASSERT_TRUE(indep->calibration[0].percentile.has_value());
  EXPECT_DOUBLE_EQ(*indep->calibration[0].percentile, (below + 0.5 * equal) / 14.0);
  // The copy is above every independent pair.
  EXPECT_NE(copy->calibration[0].reading.find("above every independent pair"), std::string::npos);
  // Reports say what the measurement does not show.
  json j = matrix_json(mx);
  EXPECT_NE(matrix_text(j).find("not weight reuse"), std::string::npos);
  EXPECT_NE(matrix_markdown(j).find("does not show independence"), std::string::npos);
  EXPECT_EQ(j["matrices"]["jaccard"].size(), 7u);
}

TEST(Calibration, ResultDoesNotDependOnThreads) {
  Tokenizer a = tokenizer_a(), b = tokenizer_b();
  std::vector<TokenizerProfile> p1{make_profile(a, kCorpus), make_profile(b, kCorpus), make_profile(a, kCorpus)};
  std::vector<TokenizerProfile> p2 = p1;
  json one = matrix_json(build_matrix(std::move(p1), {}, 1));
  json two = matrix_json(build_matrix(std::move(p2), {}, 3));
  EXPECT_EQ(one.dump(), two.dump());
}
