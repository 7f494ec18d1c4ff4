#include "fromscratch/tokenizer/metrics.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/tokenizer/encoder.hpp"
#include "fromscratch/tokenizer/token_identity.hpp"

namespace fromscratch::tokenizer {

std::string merges_sha256(const Tokenizer& tok, size_t first_n) {
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  size_t n = std::min(first_n, tok.merge_lines.size());
  for (size_t i = 0; i < n; ++i) {
    EVP_DigestUpdate(ctx.get(), tok.merge_lines[i].data(), tok.merge_lines[i].size());
    EVP_DigestUpdate(ctx.get(), "\n", 1);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return to_hex(md, len);
}

namespace {

// Pieces as decoded bytes, length-prefixed so that different splits of the same bytes differ.
void append_piece(std::string& signature, std::string_view piece) {
  auto len = static_cast<uint32_t>(piece.size());
  signature.append(reinterpret_cast<const char*>(&len), sizeof len);
  signature.append(piece);
}

std::string merge_key(std::string_view left, std::string_view right) {
  std::string key;
  key.reserve(4 + left.size() + right.size());
  append_piece(key, left);
  key.append(right);
  return key;
}

CorpusProfile profile_corpus(const Tokenizer& tok, const Corpus& corpus) {
  CorpusProfile p;
  std::unique_ptr<Encoder> encoder;
  try {
    encoder = std::make_unique<Encoder>(tok);
  } catch (const Error& e) {
    p.skip_reason = e.what();
    return p;
  }
  p.available = true;
  std::map<std::string, size_t> index;
  std::vector<uint32_t> ids;
  bool strip_prefix = encoder->adds_prefix_space();
  for (const CorpusEntry& entry : corpus) {
    auto [it, fresh] = index.emplace(entry.category, p.categories.size());
    if (fresh) p.categories.push_back({entry.category, 0, 0, {}});
    CorpusProfile::Category& cat = p.categories[it->second];
    encoder->encode(entry.text, ids);
    cat.chars += utf8_length(entry.text);
    cat.tokens += ids.size();
    for (const std::string& word : corpus_words(entry.text)) {
      encoder->encode(word, ids);
      std::string signature;
      for (size_t k = 0; k < ids.size(); ++k) {
        std::string_view piece = encoder->id_bytes(ids[k]);
        // A tokenizer that prepends a space to every text spells the word's first piece with it; the split
        // of the word itself is what is compared.
        if (k == 0 && strip_prefix && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
        if (!piece.empty()) append_piece(signature, piece);
      }
      cat.word_signatures.push_back(std::move(signature));
    }
  }
  return p;
}

}  // namespace

TokenizerProfile make_profile(const Tokenizer& tok, const Corpus& corpus) {
  TokenizerProfile p;
  p.name = tok.name;
  p.path = tok.path;
  p.format = tok.format;
  p.spelling = tok.spelling;
  p.vocab_size = tok.vocab_count;
  p.vocab = tok.vocab;
  p.present = tok.present;
  p.token_to_id = tok.token_to_id;
  std::vector<std::string> decoded = decoded_vocabulary(tok);
  p.decoded_distinct.reserve(tok.vocab_count);
  p.decoded_index.reserve(tok.vocab_count);
  for (size_t id = 0; id < decoded.size(); ++id) {
    if (!tok.present[id]) continue;
    p.decoded_distinct.push_back(decoded[id]);
    if (p.decoded_index.insert(p.decoded_distinct, static_cast<uint32_t>(p.decoded_distinct.size() - 1)) >= 0)
      p.decoded_distinct.pop_back();  // the same bytes under another spelling (e.g. "<0x41>" and "A")
  }
  for (const auto& a : tok.added_tokens)
    if (!tok.contains(a.content)) p.added_only.insert(a.content);
  p.merge_keys.reserve(tok.merges.size());
  p.merge_index.reserve(tok.merges.size());
  for (size_t r = 0; r < tok.merges.size(); ++r) {
    p.merge_keys.push_back(merge_key(decoded[tok.merges[r].left], decoded[tok.merges[r].right]));
    // A repeated pair keeps the rank of its first occurrence (insert reports the earlier one).
    if (p.merge_index.insert(p.merge_keys, static_cast<uint32_t>(r)) < 0) ++p.merges_distinct;
  }
  p.merges_sha256 = merges_sha256(tok, tok.merge_lines.size());
  p.merges_sha256_first1000 = merges_sha256(tok, 1000);
  p.added_tokens = tok.added_tokens;
  p.normalizer = tok.normalizer;
  p.pre_tokenizer = tok.pre_tokenizer;
  p.corpus = profile_corpus(tok, corpus);
  return p;
}

SetOverlap make_overlap(size_t a, size_t b, size_t inter) {
  SetOverlap o;
  o.size_a = a;
  o.size_b = b;
  o.intersection = inter;
  o.union_size = a + b - inter;
  o.jaccard = o.union_size ? double(inter) / double(o.union_size) : 0.0;
  size_t smaller = std::min(a, b);
  o.overlap_of_smaller = smaller ? double(inter) / double(smaller) : 0.0;
  o.overlap_of_base = b ? double(inter) / double(b) : 0.0;
  return o;
}

namespace {

// Inversions of v (pairs i < j with v[i] > v[j]), by merge sort. v is consumed.
uint64_t count_inversions(std::vector<uint32_t>& v) {
  std::vector<uint32_t> tmp(v.size());
  uint64_t inversions = 0;
  for (size_t width = 1; width < v.size(); width *= 2) {
    for (size_t lo = 0; lo < v.size(); lo += 2 * width) {
      size_t mid = std::min(lo + width, v.size()), hi = std::min(lo + 2 * width, v.size());
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        if (v[i] <= v[j]) {
          tmp[k++] = v[i++];
        } else {
          inversions += mid - i;
          tmp[k++] = v[j++];
        }
      }
      while (i < mid) tmp[k++] = v[i++];
      while (j < hi) tmp[k++] = v[j++];
    }
    v.swap(tmp);
  }
  return inversions;
}

}  // namespace

RankCorrelation rank_correlation(const std::vector<uint32_t>& x, const std::vector<uint32_t>& y) {
  RankCorrelation c;
  c.n = y.size();
  if (c.n < 2 || x.size() != y.size()) return c;
  // x is increasing (merges of A in rank order): its ranks are 0..n-1. Rank y among itself.
  std::vector<uint32_t> order(c.n);
  for (uint32_t i = 0; i < c.n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return y[a] < y[b]; });
  std::vector<uint32_t> y_rank(c.n);
  for (uint32_t r = 0; r < c.n; ++r) y_rank[order[r]] = r;
  unsigned __int128 sum_d2 = 0;
  for (uint32_t i = 0; i < c.n; ++i) {
    int64_t d = int64_t(i) - int64_t(y_rank[i]);
    sum_d2 += static_cast<unsigned __int128>(d * d);
  }
  long double n = static_cast<long double>(c.n);
  c.spearman = static_cast<double>(1.0L - 6.0L * static_cast<long double>(sum_d2) / (n * (n * n - 1.0L)));
  // No ties in either list, so tau-a = tau-b = 1 - 2 * discordant / (n (n - 1) / 2).
  uint64_t discordant = count_inversions(y_rank);
  c.kendall = static_cast<double>(1.0L - 4.0L * static_cast<long double>(discordant) / (n * (n - 1.0L)));
  return c;
}

namespace {

bool has(const TokenizerProfile& p, uint32_t id) { return id < p.present.size() && p.present[id]; }

std::vector<OffsetRun> id_offsets(const TokenizerProfile& a, const TokenizerProfile& b) {
  std::unordered_map<int64_t, size_t> histogram;
  for (uint32_t id = 0; id < a.vocab.size(); ++id) {
    if (!a.present[id]) continue;
    int64_t in_b = b.find(a.vocab[id]);
    if (in_b >= 0) ++histogram[in_b - int64_t(id)];
  }
  std::vector<OffsetRun> runs;
  for (auto [offset, count] : histogram) runs.push_back({offset, count, 0, 0, 0, {}});
  // Most frequent first; ties by smaller |offset|, then by offset, so the order never depends on hashing.
  std::sort(runs.begin(), runs.end(), [](const OffsetRun& x, const OffsetRun& y) {
    if (x.count != y.count) return x.count > y.count;
    if (std::llabs(x.offset) != std::llabs(y.offset)) return std::llabs(x.offset) < std::llabs(y.offset);
    return x.offset < y.offset;
  });
  if (runs.size() > 10) runs.resize(10);
  for (size_t k = 0; k < runs.size() && k < 3; ++k) {
    OffsetRun& r = runs[k];
    size_t run = 0;
    for (uint32_t id = 0; id < a.vocab.size(); ++id) {
      int64_t j = int64_t(id) + r.offset;
      bool match = a.present[id] && j >= 0 && j < int64_t(b.vocab.size()) && has(b, uint32_t(j)) &&
                   a.vocab[id] == b.vocab[size_t(j)];
      run = match ? run + 1 : 0;
      if (run > r.run_length) {
        r.run_length = run;
        r.run_start_a = id + 1 - uint32_t(run);
      }
    }
    if (r.run_length > 0) {
      r.run_start_b = uint32_t(int64_t(r.run_start_a) + r.offset);
      for (uint32_t i = r.run_start_a; i < r.run_start_a + std::min<size_t>(r.run_length, 8); ++i)
        r.sample.push_back(a.vocab[i]);
    }
  }
  return runs;
}

}  // namespace

PairMetrics compare_profiles(const TokenizerProfile& a, const TokenizerProfile& b) {
  PairMetrics m;
  m.name_a = a.name;
  m.name_b = b.name;

  // Raw-string overlap, same-id coverage of the smaller vocabulary.
  const TokenizerProfile& small = a.vocab_size <= b.vocab_size ? a : b;
  const TokenizerProfile& large = a.vocab_size <= b.vocab_size ? b : a;
  size_t inter = 0, same_id_in_larger = 0;
  for (uint32_t id = 0; id < small.vocab.size(); ++id) {
    if (!small.present[id]) continue;
    int64_t in_large = large.find(small.vocab[id]);
    if (in_large < 0) continue;
    ++inter;
    if (in_large == int64_t(id)) ++same_id_in_larger;
  }
  m.raw = make_overlap(a.vocab_size, b.vocab_size, inter);
  m.same_id_coverage_of_smaller = small.vocab_size ? double(same_id_in_larger) / double(small.vocab_size) : 0.0;

  // Decoded-bytes overlap (distinct byte strings on each side).
  const TokenizerProfile& dsmall = a.decoded_distinct.size() <= b.decoded_distinct.size() ? a : b;
  const TokenizerProfile& dlarge = a.decoded_distinct.size() <= b.decoded_distinct.size() ? b : a;
  size_t dinter = 0;
  for (const auto& s : dsmall.decoded_distinct) dinter += dlarge.has_decoded(s) ? 1 : 0;
  m.decoded = make_overlap(a.decoded_distinct.size(), b.decoded_distinct.size(), dinter);

  // With added tokens: the vocabulary as get_vocab() returns it.
  auto in_full = [](const TokenizerProfile& p, const std::string& s) {
    return p.find(s) >= 0 || p.added_only.count(s) > 0;
  };
  size_t full_inter = inter;
  for (const auto& s : a.added_only) full_inter += in_full(b, s) ? 1 : 0;
  for (const auto& s : b.added_only)
    if (!a.added_only.count(s) && a.find(s) >= 0) ++full_inter;
  m.with_added = make_overlap(a.vocab_size + a.added_only.size(), b.vocab_size + b.added_only.size(), full_inter);

  // Same id, same token (over the shorter id span).
  m.same_id_denominator = std::min(a.vocab.size(), b.vocab.size());
  for (size_t id = 0; id < m.same_id_denominator; ++id)
    if (a.present[id] && b.present[id] && a.vocab[id] == b.vocab[id]) ++m.same_id;
  m.same_id_rate = m.same_id_denominator ? double(m.same_id) / double(m.same_id_denominator) : 0.0;
  m.offsets = id_offsets(a, b);

  // Merges.
  m.merges_a = a.merge_keys.size();
  m.merges_b = b.merge_keys.size();
  m.merges_distinct_a = a.merges_distinct;
  m.merges_distinct_b = b.merges_distinct;
  m.merges_sha256_a = a.merges_sha256;
  m.merges_sha256_b = b.merges_sha256;
  m.merges_sha256_first1000_a = a.merges_sha256_first1000;
  m.merges_sha256_first1000_b = b.merges_sha256_first1000;
  std::vector<uint32_t> rank_a, rank_b;
  for (size_t r = 0; r < a.merge_keys.size(); ++r) {
    const std::string& key = a.merge_keys[r];
    if (a.merge_rank(key) != int64_t(r)) continue;  // a repeated pair: counted once, at its first rank
    int64_t in_b = b.merge_rank(key);
    if (in_b < 0) continue;
    rank_a.push_back(static_cast<uint32_t>(r));
    rank_b.push_back(static_cast<uint32_t>(in_b));
  }
  m.merges_common = rank_a.size();
  m.merges_common_share_a = a.merges_distinct ? double(m.merges_common) / double(a.merges_distinct) : 0.0;
  m.merges_common_share_b = b.merges_distinct ? double(m.merges_common) / double(b.merges_distinct) : 0.0;
  size_t shorter = std::min(a.merge_keys.size(), b.merge_keys.size());
  while (m.merges_common_prefix < shorter && a.merge_keys[m.merges_common_prefix] == b.merge_keys[m.merges_common_prefix])
    ++m.merges_common_prefix;
  m.merges_first1000_compared = std::min<size_t>(1000, shorter);
  for (size_t i = 0; i < m.merges_first1000_compared; ++i)
    if (a.merge_keys[i] == b.merge_keys[i]) ++m.merges_first1000_positional;
  m.merge_rank_correlation = rank_correlation(rank_a, rank_b);

  // Added tokens side by side, ordered by id in A, then by id in B.
  std::map<std::string, AddedSide> sides;
  for (const auto& t : a.added_tokens) {
    AddedSide& s = sides[t.content];
    s.content = t.content;
    s.id_a = t.id;
    s.special_a = t.special;
  }
  for (const auto& t : b.added_tokens) {
    AddedSide& s = sides[t.content];
    s.content = t.content;
    s.id_b = t.id;
    s.special_b = t.special;
  }
  for (auto& [content, s] : sides) {
    if (s.id_a && s.id_b) {
      ++m.added_common;
      if (*s.id_a == *s.id_b) ++m.added_common_same_id;
    }
    m.added.push_back(std::move(s));
  }
  std::stable_sort(m.added.begin(), m.added.end(), [](const AddedSide& x, const AddedSide& y) {
    uint64_t kx = x.id_a ? *x.id_a : (uint64_t(1) << 40) + (x.id_b ? *x.id_b : 0);
    uint64_t ky = y.id_a ? *y.id_a : (uint64_t(1) << 40) + (y.id_b ? *y.id_b : 0);
    return kx < ky;
  });
  m.normalizer_equal = a.normalizer == b.normalizer;
  m.pre_tokenizer_equal = a.pre_tokenizer == b.pre_tokenizer;

  // Corpus.
  if (!a.corpus.available || !b.corpus.available) {
    const TokenizerProfile& missing = a.corpus.available ? b : a;
    m.corpus_note = str(missing.name, " cannot encode: ", missing.corpus.skip_reason);
  } else if (a.corpus.categories.size() != b.corpus.categories.size()) {
    m.corpus_note = "the two profiles were built from different corpora";
  } else {
    m.corpus_compared = true;
    CategoryComparison all{"all", 0, 0, 0, 0, 0};
    for (size_t c = 0; c < a.corpus.categories.size(); ++c) {
      const auto& ca = a.corpus.categories[c];
      const auto& cb = b.corpus.categories[c];
      CategoryComparison cc{ca.name, ca.chars, ca.tokens, cb.tokens, ca.word_signatures.size(), 0};
      for (size_t w = 0; w < ca.word_signatures.size() && w < cb.word_signatures.size(); ++w)
        cc.words_identical += ca.word_signatures[w] == cb.word_signatures[w] ? 1 : 0;
      all.chars += cc.chars;
      all.tokens_a += cc.tokens_a;
      all.tokens_b += cc.tokens_b;
      all.words += cc.words;
      all.words_identical += cc.words_identical;
      m.corpus.push_back(cc);
    }
    m.corpus.push_back(all);
  }
  return m;
}

}  // namespace fromscratch::tokenizer
