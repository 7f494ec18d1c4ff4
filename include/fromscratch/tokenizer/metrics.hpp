// Pair metrics of two tokenizers.
//
// Definitions follow the published analyses so that numbers are comparable (sionic-ai/solar-vs-glm
// 01_tokenizer_compare.json; the original from-scratch verification project's overlap formula):
//   * token sets are the model vocabularies (tokenizer.json model.vocab), compared by raw string; the same
//     counts on decoded bytes (token_identity.hpp) and on the vocabulary with added tokens (get_vocab()) too;
//   * jaccard = |A∩B| / |A∪B|; overlap_of_smaller = |A∩B| / min(|A|,|B|); overlap_of_base = |A∩B| / |B|, the
//     original project's formula with B as the presumed parent;
//   * same-id matches: ids i < min(span A, span B) holding the same token string in both, over min(span);
//   * id offsets: for every shared token, id_B - id_A; the most frequent offsets with, for each, the longest run
//     of consecutive A ids i whose token sits at i + offset in B (e.g. a byte alphabet moved by +4096);
//   * merges: SHA-256 over the lines "left right\n" (all, and the first 1000); merges in common, longest common
//     prefix and exact positional matches among the first 1000 compare merges by the decoded bytes of their two
//     parts; Spearman and Kendall rank correlation of the ranks of the shared merges.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fromscratch/tokenizer/corpus.hpp"
#include "fromscratch/tokenizer/tokenizer.hpp"

namespace fromscratch::tokenizer {

// SHA-256 of the first `first_n` merges as "left right\n" lines (all when first_n >= count).
std::string merges_sha256(const Tokenizer& tok, size_t first_n);

// What a comparison needs of one tokenizer, computed once (the matrix compares each tokenizer many times).
struct TokenizerProfile {
  std::string name;
  std::string path;
  SourceFormat format = SourceFormat::kTokenizerJson;
  TokenSpelling spelling = TokenSpelling::kPlain;
  size_t vocab_size = 0;
  std::vector<std::string> vocab;  // raw strings by id ("" for holes)
  std::vector<uint8_t> present;
  TokenIndex token_to_id;  // over `vocab`
  int64_t find(std::string_view token) const { return token_to_id.find(vocab, token); }
  // Distinct decoded byte strings, indexed.
  std::vector<std::string> decoded_distinct;
  TokenIndex decoded_index;  // over decoded_distinct
  std::unordered_set<std::string, StringHash, std::equal_to<>> added_only;  // added contents not in the vocab
  // Merges by decoded identity: key (length-prefixed left bytes + right bytes) in rank order; merge_index finds
  // a key's first rank (a repeated pair keeps its first rank).
  std::vector<std::string> merge_keys;
  TokenIndex merge_index;  // over merge_keys
  size_t merges_distinct = 0;
  int64_t merge_rank(std::string_view key) const { return merge_index.find(merge_keys, key); }
  bool has_decoded(std::string_view bytes) const { return decoded_index.find(decoded_distinct, bytes) >= 0; }
  std::string merges_sha256, merges_sha256_first1000;
  std::vector<AddedToken> added_tokens;
  nlohmann::json normalizer, pre_tokenizer;
  CorpusProfile corpus;  // empty when the tokenizer cannot encode (corpus.skip_reason says why)
};

// Builds the profile (encodes the corpus when the tokenizer's pipeline is supported).
TokenizerProfile make_profile(const Tokenizer& tok, const Corpus& corpus);

struct SetOverlap {
  size_t size_a = 0, size_b = 0, intersection = 0, union_size = 0;
  double jaccard = 0, overlap_of_smaller = 0, overlap_of_base = 0;
};
SetOverlap make_overlap(size_t a, size_t b, size_t inter);

struct OffsetRun {
  int64_t offset = 0;     // id_B - id_A
  size_t count = 0;       // shared tokens at this offset
  size_t run_length = 0;  // longest run of consecutive ids
  uint32_t run_start_a = 0, run_start_b = 0;
  std::vector<std::string> sample;  // first tokens of the run (raw strings)
};

struct RankCorrelation {
  size_t n = 0;                    // shared merges
  std::optional<double> spearman;  // absent for n < 2
  std::optional<double> kendall;
};
// Spearman's rho and Kendall's tau-b of paired ranks (each list distinct values, as merge ranks are).
// O(n log n): Kendall's discordant pairs are counted as inversions by merge sort.
RankCorrelation rank_correlation(const std::vector<uint32_t>& x_in_order_of_x, const std::vector<uint32_t>& y);

struct AddedSide {
  std::string content;
  std::optional<uint32_t> id_a, id_b;
  bool special_a = false, special_b = false;
};

struct CategoryComparison {
  std::string category;
  size_t chars = 0, tokens_a = 0, tokens_b = 0, words = 0, words_identical = 0;
};

struct PairMetrics {
  std::string name_a, name_b;
  SetOverlap raw, decoded, with_added;
  size_t same_id = 0, same_id_denominator = 0;
  double same_id_rate = 0;
  // Share of the smaller vocabulary whose tokens sit at the same id in the larger: 1.0 when one vocabulary
  // extends the other over a common id prefix (Llama-3 over cl100k).
  double same_id_coverage_of_smaller = 0;
  std::vector<OffsetRun> offsets;  // most frequent first (top 10); runs for the top 3
  size_t merges_a = 0, merges_b = 0;
  size_t merges_distinct_a = 0, merges_distinct_b = 0;  // merges without repeated pairs
  std::string merges_sha256_a, merges_sha256_b, merges_sha256_first1000_a, merges_sha256_first1000_b;
  size_t merges_common = 0;
  double merges_common_share_a = 0, merges_common_share_b = 0;
  size_t merges_common_prefix = 0;
  size_t merges_first1000_positional = 0;
  size_t merges_first1000_compared = 0;
  RankCorrelation merge_rank_correlation;
  std::vector<AddedSide> added;
  size_t added_common = 0, added_common_same_id = 0;
  bool normalizer_equal = false, pre_tokenizer_equal = false;
  bool corpus_compared = false;
  std::string corpus_note;  // why not, when not
  std::vector<CategoryComparison> corpus;  // per category, then "all"
};

PairMetrics compare_profiles(const TokenizerProfile& a, const TokenizerProfile& b);

}  // namespace fromscratch::tokenizer
