#include "fromscratch/tokenizer/report.hpp"

#include <cstdio>
#include <iomanip>
#include <sstream>

#include "fromscratch/core/strings.hpp"
#include "fromscratch/tokenizer/metrics.hpp"

namespace fromscratch::tokenizer {

using nlohmann::json;

json tokenizer_summary_json(const Tokenizer& tok) {
  json j;
  j["name"] = tok.name;
  j["path"] = tok.path;
  j["file_sha256"] = tok.file_sha256;
  j["format"] = std::string(to_string(tok.format));
  j["model_type"] = tok.model_type;
  j["spelling"] = std::string(to_string(tok.spelling));
  j["vocab_size"] = tok.vocab_count;
  j["vocab_id_span"] = tok.vocab.size();
  j["merges"] = tok.merges.size();
  j["duplicate_merges"] = tok.duplicate_merges;
  if (tok.format == SourceFormat::kTiktoken) j["tiktoken_tokens_without_merge"] = tok.merges_not_derivable;
  j["merges_sha256"] = merges_sha256(tok, tok.merge_lines.size());
  j["merges_sha256_first1000"] = merges_sha256(tok, 1000);
  json bpe;
  bpe["unk_token"] = tok.bpe.unk_token ? json(*tok.bpe.unk_token) : json(nullptr);
  bpe["byte_fallback"] = tok.bpe.byte_fallback;
  bpe["fuse_unk"] = tok.bpe.fuse_unk;
  bpe["ignore_merges"] = tok.bpe.ignore_merges;
  j["bpe"] = bpe;
  json added = json::array();
  for (const auto& a : tok.added_tokens)
    added.push_back({{"id", a.id},
                     {"content", a.content},
                     {"special", a.special},
                     {"normalized", a.normalized},
                     {"lstrip", a.lstrip},
                     {"rstrip", a.rstrip},
                     {"single_word", a.single_word},
                     {"in_model_vocab", tok.has_id(a.id) && tok.vocab[a.id] == a.content}});
  j["added_tokens"] = added;
  j["normalizer"] = tok.normalizer;
  j["pre_tokenizer"] = tok.pre_tokenizer;
  j["config_path"] = tok.config_path;
  return j;
}

std::string tokenizer_summary_text(const json& s) {
  std::ostringstream os;
  os << s["name"].get<std::string>() << "  (" << s["format"].get<std::string>() << ", " << s["model_type"].get<std::string>()
     << ", " << s["spelling"].get<std::string>() << " spelling)\n";
  os << "  file            " << s["path"].get<std::string>() << "\n";
  os << "  sha256          " << s["file_sha256"].get<std::string>() << "\n";
  os << "  vocabulary      " << s["vocab_size"].get<size_t>() << " tokens (ids 0.." << s["vocab_id_span"].get<size_t>() - 1
     << ")\n";
  os << "  merges          " << s["merges"].get<size_t>() << " (sha256 " << s["merges_sha256"].get<std::string>() << ")\n";
  if (s["duplicate_merges"].get<size_t>() > 0) os << "  duplicate merges " << s["duplicate_merges"].get<size_t>() << "\n";
  const json& bpe = s["bpe"];
  os << "  byte_fallback   " << (bpe["byte_fallback"].get<bool>() ? "yes" : "no") << ", ignore_merges "
     << (bpe["ignore_merges"].get<bool>() ? "yes" : "no") << ", unk_token "
     << (bpe["unk_token"].is_null() ? std::string("none") : quote_untrusted(bpe["unk_token"].get<std::string>())) << "\n";
  const json& added = s["added_tokens"];
  size_t special = 0;
  for (const auto& a : added) special += a["special"].get<bool>() ? 1 : 0;
  os << "  added tokens    " << added.size() << " (" << special << " special)";
  size_t shown = 0;
  for (const auto& a : added) {
    if (shown == 8) {
      os << " ...";
      break;
    }
    os << (shown ? ", " : ": ") << quote_untrusted(a["content"].get<std::string>(), 40) << "=" << a["id"].get<uint32_t>();
    ++shown;
  }
  os << "\n";
  os << "  normalizer      " << (s["normalizer"].is_null() ? std::string("none") : s["normalizer"].dump()) << "\n";
  std::string pre = s["pre_tokenizer"].is_null() ? std::string("none") : s["pre_tokenizer"].dump();
  os << "  pre_tokenizer   " << quote_untrusted(pre, 300) << "\n";
  return os.str();
}

}  // namespace fromscratch::tokenizer

namespace fromscratch::tokenizer {

namespace {

json opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json overlap_json(const SetOverlap& o) {
  return {{"size_a", o.size_a},       {"size_b", o.size_b},
          {"intersection", o.intersection}, {"union", o.union_size},
          {"jaccard", o.jaccard},     {"overlap_of_smaller", o.overlap_of_smaller},
          {"overlap_of_base", o.overlap_of_base}};
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}
std::string percent(double share) { return fixed(share * 100.0, 2) + "%"; }
std::string opt_fixed(const json& v, int digits) { return v.is_null() ? std::string("-") : fixed(v.get<double>(), digits); }
std::string signed_int(int64_t v) { return v > 0 ? str("+", v) : str(v); }

// Markdown cells: pipes and newlines would break the table.
std::string cell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += " ";
    else out.push_back(c);
  }
  return out;
}

std::string show_token(const std::string& t) { return quote_untrusted(t, 40); }

}  // namespace

json pair_json(const PairMetrics& m, const Classification& c) {
  json j;
  j["a"] = m.name_a;
  j["b"] = m.name_b;
  j["class"] = std::string(to_string(c.cls));
  j["class_reason"] = c.reason;
  // The original project's formula exactly: get_vocab() (vocabulary and added tokens), divided by the base.
  j["original_reading"] = original_reading(m.with_added.overlap_of_base);
  j["original_reading_overlap"] = m.with_added.overlap_of_base;
  j["original_thresholds"] = kOriginalThresholds;
  j["caveat"] = kTokenizerCaveat;
  j["vocabulary"] = overlap_json(m.raw);
  j["vocabulary_decoded_bytes"] = overlap_json(m.decoded);
  j["vocabulary_with_added_tokens"] = overlap_json(m.with_added);
  j["same_id"] = {{"matches", m.same_id}, {"denominator", m.same_id_denominator}, {"rate", m.same_id_rate}};
  j["same_id_coverage_of_smaller"] = m.same_id_coverage_of_smaller;
  json offsets = json::array();
  for (const auto& o : m.offsets) {
    json e = {{"offset", o.offset}, {"count", o.count}};
    if (o.run_length > 0 || &o - m.offsets.data() < 3) {
      e["longest_run"] = o.run_length;
      e["run_start_a"] = o.run_start_a;
      e["run_start_b"] = o.run_start_b;
      e["sample_tokens"] = o.sample;
    }
    offsets.push_back(e);
  }
  j["id_offsets_top10"] = offsets;
  const RankCorrelation& rc = m.merge_rank_correlation;
  j["merges"] = {{"count_a", m.merges_a},
                 {"count_b", m.merges_b},
                 {"distinct_a", m.merges_distinct_a},
                 {"distinct_b", m.merges_distinct_b},
                 {"sha256_a", m.merges_sha256_a},
                 {"sha256_b", m.merges_sha256_b},
                 {"sha256_first1000_a", m.merges_sha256_first1000_a},
                 {"sha256_first1000_b", m.merges_sha256_first1000_b},
                 {"common", m.merges_common},
                 {"common_share_of_a", m.merges_common_share_a},
                 {"common_share_of_b", m.merges_common_share_b},
                 {"common_prefix", m.merges_common_prefix},
                 {"first1000_positional_matches", m.merges_first1000_positional},
                 {"first1000_compared", m.merges_first1000_compared},
                 {"rank_correlation", {{"n", rc.n}, {"spearman", opt(rc.spearman)}, {"kendall", opt(rc.kendall)}}}};
  json added = json::array();
  for (const auto& s : m.added)
    added.push_back({{"content", s.content},
                     {"id_a", s.id_a ? json(*s.id_a) : json(nullptr)},
                     {"id_b", s.id_b ? json(*s.id_b) : json(nullptr)},
                     {"special_a", s.special_a},
                     {"special_b", s.special_b}});
  j["added_tokens"] = {{"common", m.added_common}, {"common_same_id", m.added_common_same_id}, {"side_by_side", added}};
  j["normalizer_equal"] = m.normalizer_equal;
  j["pre_tokenizer_equal"] = m.pre_tokenizer_equal;
  json corpus = json::object();
  corpus["compared"] = m.corpus_compared;
  if (!m.corpus_compared) corpus["note"] = m.corpus_note;
  json cats = json::array();
  for (const auto& c2 : m.corpus)
    cats.push_back({{"category", c2.category},
                    {"chars", c2.chars},
                    {"tokens_a", c2.tokens_a},
                    {"tokens_b", c2.tokens_b},
                    {"tokens_per_char_a", c2.chars ? double(c2.tokens_a) / double(c2.chars) : 0.0},
                    {"tokens_per_char_b", c2.chars ? double(c2.tokens_b) / double(c2.chars) : 0.0},
                    {"words", c2.words},
                    {"words_split_identically", c2.words_identical},
                    {"share_split_identically", c2.words ? double(c2.words_identical) / double(c2.words) : 0.0}});
  corpus["categories"] = cats;
  j["corpus"] = corpus;
  return j;
}

std::string pair_text(const json& p) {
  std::ostringstream os;
  const std::string a = p["a"], b = p["b"];
  os << "tokenizer compare: A = " << a << "\n                   B = " << b << "  (B is read as the base)\n\n";
  os << "class              " << p["class"].get<std::string>() << ": " << p["class_reason"].get<std::string>() << "\n";
  const json& v = p["vocabulary"];
  os << "original reading   " << p["original_reading"].get<std::string>() << " [overlap of B's vocabulary with added "
     << "tokens " << percent(p["original_reading_overlap"]) << "]\n\n";
  os << "vocabulary (model vocabulary)          A            B\n";
  os << "  tokens                      " << std::setw(12) << v["size_a"].get<size_t>() << " " << std::setw(12)
     << v["size_b"].get<size_t>() << "\n";
  auto overlap_line = [&](const char* label, const json& o) {
    os << "  " << label << o["intersection"].get<size_t>() << " shared, Jaccard " << fixed(o["jaccard"], 4)
       << ", of smaller " << percent(o["overlap_of_smaller"]) << ", of base " << percent(o["overlap_of_base"]) << "\n";
  };
  overlap_line("raw strings                 ", v);
  overlap_line("decoded bytes               ", p["vocabulary_decoded_bytes"]);
  overlap_line("with added tokens           ", p["vocabulary_with_added_tokens"]);
  const json& sid = p["same_id"];
  os << "  same id, same token         " << sid["matches"].get<size_t>() << " / " << sid["denominator"].get<size_t>()
     << " (" << percent(sid["rate"]) << "); coverage of the smaller vocabulary at the same id "
     << percent(p["same_id_coverage_of_smaller"]) << "\n";
  os << "  dominant id offsets (B - A)";
  size_t shown = 0;
  for (const auto& o : p["id_offsets_top10"]) {
    if (shown++ == 3) break;
    os << (shown == 1 ? " " : "; ") << signed_int(o["offset"].get<int64_t>()) << ": " << o["count"].get<size_t>()
       << " tokens";
    if (o.contains("longest_run") && o["longest_run"].get<size_t>() > 0)
      os << " (longest run " << o["longest_run"].get<size_t>() << " from A id " << o["run_start_a"].get<uint32_t>() << ")";
  }
  os << "\n\nmerges                                 A            B\n";
  const json& m = p["merges"];
  os << "  count                       " << std::setw(12) << m["count_a"].get<size_t>() << " " << std::setw(12)
     << m["count_b"].get<size_t>() << "\n";
  os << "  sha256 A                    " << m["sha256_a"].get<std::string>() << "\n";
  os << "  sha256 B                    " << m["sha256_b"].get<std::string>() << "\n";
  os << "  in common                   " << m["common"].get<size_t>() << " (" << percent(m["common_share_of_a"])
     << " of A's, " << percent(m["common_share_of_b"]) << " of B's)\n";
  os << "  common prefix               " << m["common_prefix"].get<size_t>() << " merges; first-1000 exact positions "
     << m["first1000_positional_matches"].get<size_t>() << " / " << m["first1000_compared"].get<size_t>() << "\n";
  const json& rc = m["rank_correlation"];
  os << "  rank correlation            Spearman " << opt_fixed(rc["spearman"], 4) << ", Kendall "
     << opt_fixed(rc["kendall"], 4) << " over " << rc["n"].get<size_t>() << " shared merges\n\n";
  const json& added = p["added_tokens"];
  size_t only_a = 0, only_b = 0;
  for (const auto& s : added["side_by_side"]) {
    if (s["id_b"].is_null()) ++only_a;
    if (s["id_a"].is_null()) ++only_b;
  }
  os << "added tokens                " << added["common"].get<size_t>() << " in common ("
     << added["common_same_id"].get<size_t>() << " at the same id), " << only_a << " only in A, " << only_b
     << " only in B\n";
  shown = 0;
  for (const auto& s : added["side_by_side"]) {
    if (shown++ == 12) {
      os << "  ... (see --json for all)\n";
      break;
    }
    os << "  " << std::left << std::setw(34) << show_token(s["content"].get<std::string>()) << std::right
       << std::setw(10) << (s["id_a"].is_null() ? std::string("-") : str(s["id_a"].get<uint32_t>(), s["special_a"].get<bool>() ? "*" : ""))
       << std::setw(10) << (s["id_b"].is_null() ? std::string("-") : str(s["id_b"].get<uint32_t>(), s["special_b"].get<bool>() ? "*" : ""))
       << "\n";
  }
  os << "  (* = special)\n";
  os << "pipeline                    normalizer " << (p["normalizer_equal"].get<bool>() ? "equal" : "different")
     << ", pre-tokenizer " << (p["pre_tokenizer_equal"].get<bool>() ? "equal" : "different") << "\n\n";
  const json& corpus = p["corpus"];
  if (!corpus["compared"].get<bool>()) {
    os << "corpus                      not compared: " << corpus["note"].get<std::string>() << "\n";
  } else {
    os << "corpus          chars   tokens/char A   tokens/char B   words split identically\n";
    for (const auto& c : corpus["categories"])
      os << "  " << std::left << std::setw(10) << c["category"].get<std::string>() << std::right << std::setw(7)
         << c["chars"].get<size_t>() << std::setw(16) << fixed(c["tokens_per_char_a"], 3) << std::setw(16)
         << fixed(c["tokens_per_char_b"], 3) << std::setw(10) << percent(c["share_split_identically"]) << " of "
         << c["words"].get<size_t>() << "\n";
  }
  os << "\n" << p["original_thresholds"].get<std::string>() << ".\n" << p["caveat"].get<std::string>() << "\n";
  return os.str();
}

std::string pair_markdown(const json& p) {
  std::ostringstream os;
  const json& v = p["vocabulary"];
  const json& d = p["vocabulary_decoded_bytes"];
  const json& w = p["vocabulary_with_added_tokens"];
  const json& m = p["merges"];
  const json& rc = m["rank_correlation"];
  os << "### Tokenizer comparison: " << cell(p["a"]) << " (A) vs " << cell(p["b"]) << " (B, base)\n\n";
  os << "**Class:** " << cell(p["class"]) << " (" << cell(p["class_reason"]) << ")  \n";
  os << "**Original project's reading:** " << cell(p["original_reading"]) << "\n\n";
  os << "| metric | A | B | pair |\n|---|---:|---:|---:|\n";
  os << "| vocabulary size | " << v["size_a"].get<size_t>() << " | " << v["size_b"].get<size_t>() << " | |\n";
  os << "| shared tokens (raw) | | | " << v["intersection"].get<size_t>() << " |\n";
  os << "| Jaccard (raw / decoded / with added) | | | " << fixed(v["jaccard"], 4) << " / " << fixed(d["jaccard"], 4)
     << " / " << fixed(w["jaccard"], 4) << " |\n";
  os << "| overlap of smaller | | | " << percent(v["overlap_of_smaller"]) << " |\n";
  os << "| overlap of base (B) | | | " << percent(v["overlap_of_base"]) << " |\n";
  os << "| same-id matches | | | " << p["same_id"]["matches"].get<size_t>() << " / "
     << p["same_id"]["denominator"].get<size_t>() << " |\n";
  if (!p["id_offsets_top10"].empty()) {
    const json& o = p["id_offsets_top10"][0];
    os << "| dominant id offset (B - A) | | | " << signed_int(o["offset"].get<int64_t>()) << " (" << o["count"].get<size_t>()
       << " tokens, run " << o.value("longest_run", size_t{0}) << ") |\n";
  }
  os << "| merges | " << m["count_a"].get<size_t>() << " | " << m["count_b"].get<size_t>() << " | |\n";
  os << "| merges SHA-256 | `" << m["sha256_a"].get<std::string>().substr(0, 16) << "…` | `"
     << m["sha256_b"].get<std::string>().substr(0, 16) << "…` | |\n";
  os << "| merges in common | " << percent(m["common_share_of_a"]) << " | " << percent(m["common_share_of_b"]) << " | "
     << m["common"].get<size_t>() << " |\n";
  os << "| merge-list common prefix | | | " << m["common_prefix"].get<size_t>() << " |\n";
  os << "| first-1000 exact positions | | | " << m["first1000_positional_matches"].get<size_t>() << " |\n";
  os << "| merge-rank Spearman / Kendall | | | " << opt_fixed(rc["spearman"], 4) << " / " << opt_fixed(rc["kendall"], 4)
     << " (n = " << rc["n"].get<size_t>() << ") |\n";
  os << "| added tokens in common (same id) | | | " << p["added_tokens"]["common"].get<size_t>() << " ("
     << p["added_tokens"]["common_same_id"].get<size_t>() << ") |\n";
  os << "| normalizer / pre-tokenizer equal | | | " << (p["normalizer_equal"].get<bool>() ? "yes" : "no") << " / "
     << (p["pre_tokenizer_equal"].get<bool>() ? "yes" : "no") << " |\n";
  if (p["corpus"]["compared"].get<bool>())
    for (const auto& c : p["corpus"]["categories"])
      os << "| corpus " << cell(c["category"]) << ": tokens/char, words split identically | "
         << fixed(c["tokens_per_char_a"], 3) << " | " << fixed(c["tokens_per_char_b"], 3) << " | "
         << percent(c["share_split_identically"]) << " |\n";
  os << "\n" << cell(p["original_thresholds"]) << ". " << cell(p["caveat"]) << "\n";
  return os.str();
}

json matrix_json(const Matrix& mx) {
  json j;
  json toks = json::array();
  for (size_t i = 0; i < mx.profiles.size(); ++i) {
    const TokenizerProfile& t = mx.profiles[i];
    json e = {{"index", i},
              {"name", t.name},
              {"path", t.path},
              {"format", std::string(to_string(t.format))},
              {"spelling", std::string(to_string(t.spelling))},
              {"vocab_size", t.vocab_size},
              {"merges", t.merge_keys.size()},
              {"added_tokens", t.added_tokens.size()},
              {"merges_sha256", t.merges_sha256},
              {"encodes_corpus", t.corpus.available}};
    if (t.corpus.available) {
      size_t chars = 0, tokens = 0;
      for (const auto& c : t.corpus.categories) {
        chars += c.chars;
        tokens += c.tokens;
      }
      e["tokens_per_char"] = chars ? double(tokens) / double(chars) : 0.0;
    } else {
      e["corpus_skip_reason"] = t.corpus.skip_reason;
    }
    toks.push_back(e);
  }
  j["tokenizers"] = toks;
  json skipped = json::array();
  for (const auto& s : mx.skipped) skipped.push_back({{"path", s.path}, {"reason", s.reason}});
  j["skipped"] = skipped;
  json pairs = json::array();
  for (const auto& p : mx.pairs) {
    json e = pair_json(p.metrics, p.classification);
    e.erase("caveat");
    e.erase("original_thresholds");
    e.erase("added_tokens");  // the side-by-side lists are for `tokenizer compare`; counts stay below
    e["added_tokens_common"] = p.metrics.added_common;
    e["added_tokens_common_same_id"] = p.metrics.added_common_same_id;
    e["index_a"] = p.a;
    e["index_b"] = p.b;
    // In the matrix no side is the presumed base: the reading uses the share of the smaller vocabulary.
    e["original_reading"] = p.original_reading;
    e["original_reading_overlap"] = p.metrics.raw.overlap_of_smaller;
    json cal = json::array();
    for (const auto& c : p.calibration)
      cal.push_back({{"metric", c.metric},
                     {"value", opt(c.value)},
                     {"independent_n", c.null_n},
                     {"independent_min", opt(c.null_min)},
                     {"independent_median", opt(c.null_median)},
                     {"independent_max", opt(c.null_max)},
                     {"percentile", opt(c.percentile)},
                     {"reading", c.reading}});
    e["calibration"] = cal;
    pairs.push_back(e);
  }
  j["pairs"] = pairs;
  json clusters = json::array();
  for (const auto& c : mx.clusters) {
    json names = json::array();
    for (size_t i : c) names.push_back(mx.profiles[i].name);
    clusters.push_back(names);
  }
  j["clusters"] = clusters;
  json nulls = json::array();
  for (const auto& s : mx.null_distribution)
    nulls.push_back({{"metric", s.metric}, {"n", s.n}, {"min", opt(s.min)}, {"median", opt(s.median)}, {"max", opt(s.max)}});
  j["independent_distribution"] = nulls;
  // Square matrices for a heatmap (diagonal: the tokenizer with itself).
  const size_t n = mx.profiles.size();
  json names = json::array();
  for (const auto& t : mx.profiles) names.push_back(t.name);
  std::vector<std::vector<double>> jac(n, std::vector<double>(n, 1.0)), small(n, std::vector<double>(n, 1.0));
  std::vector<std::vector<std::string>> cls(n, std::vector<std::string>(n, "self"));
  for (const auto& p : mx.pairs) {
    jac[p.a][p.b] = jac[p.b][p.a] = p.metrics.raw.jaccard;
    small[p.a][p.b] = small[p.b][p.a] = p.metrics.raw.overlap_of_smaller;
    cls[p.a][p.b] = cls[p.b][p.a] = std::string(to_string(p.classification.cls));
  }
  j["matrices"] = {{"names", names}, {"jaccard", jac}, {"overlap_of_smaller", small}, {"class", cls}};
  j["thresholds"] = {{"extends_same_id_coverage", mx.thresholds.extends_same_id_coverage},
                     {"lineage_merge_prefix", mx.thresholds.lineage_merge_prefix},
                     {"lineage_kendall", mx.thresholds.lineage_kendall},
                     {"lineage_min_shared_merges", mx.thresholds.lineage_min_shared_merges}};
  j["original_thresholds"] = kOriginalThresholds;
  j["caveat"] = kTokenizerCaveat;
  return j;
}

namespace {

const json* find_calibration(const json& pair, const std::string& metric) {
  for (const auto& c : pair["calibration"])
    if (c["metric"] == metric) return &c;
  return nullptr;
}

std::string percentile_cell(const json& pair, const std::string& metric) {
  const json* c = find_calibration(pair, metric);
  if (!c || (*c)["percentile"].is_null()) return "-";
  return str("p", fixed((*c)["percentile"].get<double>() * 100.0, 0));
}

std::string short_class(const std::string& c) {
  if (c == "identical") return "identical";
  if (c == "extends") return "extends";
  if (c == "same_lineage") return "lineage";
  return "indep.";
}

}  // namespace

std::string matrix_text(const json& mx) {
  std::ostringstream os;
  os << "tokenizer matrix: " << mx["tokenizers"].size() << " tokenizers, " << mx["pairs"].size() << " pairs\n\n";
  os << "  #  tokenizer                                              format                 vocab    merges  tok/char\n";
  for (const auto& t : mx["tokenizers"])
    os << std::setw(3) << t["index"].get<size_t>() << "  " << std::left << std::setw(54) << t["name"].get<std::string>()
       << std::setw(22) << t["format"].get<std::string>() << std::right << std::setw(8) << t["vocab_size"].get<size_t>()
       << std::setw(10) << t["merges"].get<size_t>() << std::setw(10)
       << (t.contains("tokens_per_char") ? fixed(t["tokens_per_char"], 3) : std::string("-")) << "\n";
  if (!mx["skipped"].empty()) {
    os << "\nskipped:\n";
    for (const auto& s : mx["skipped"]) os << "  " << s["path"].get<std::string>() << ": " << s["reason"].get<std::string>() << "\n";
  }
  os << "\n  A   B  class       Jaccard  (vs indep.)  of smaller  same-id  merge prefix  Kendall  (vs indep.)  original reading\n";
  for (const auto& p : mx["pairs"]) {
    const json& rc = p["merges"]["rank_correlation"];
    os << std::setw(3) << p["index_a"].get<size_t>() << " " << std::setw(3) << p["index_b"].get<size_t>() << "  "
       << std::left << std::setw(10) << short_class(p["class"]) << std::right << std::setw(9)
       << fixed(p["vocabulary"]["jaccard"], 4) << std::setw(13) << percentile_cell(p, "jaccard") << std::setw(12)
       << percent(p["vocabulary"]["overlap_of_smaller"]) << std::setw(9) << percent(p["same_id"]["rate"])
       << std::setw(14) << p["merges"]["common_prefix"].get<size_t>() << std::setw(9) << opt_fixed(rc["kendall"], 3)
       << std::setw(13) << percentile_cell(p, "merge_kendall") << "  " << p["original_reading"].get<std::string>() << "\n";
  }
  os << "\nnon-independent pairs:\n";
  for (const auto& p : mx["pairs"])
    if (p["class"] != "independent")
      os << "  " << p["a"].get<std::string>() << " ~ " << p["b"].get<std::string>() << ": " << p["class"].get<std::string>()
         << " (" << p["class_reason"].get<std::string>() << ")\n";
  os << "\nclusters (tokenizers joined by non-independent pairs):\n";
  for (const auto& c : mx["clusters"]) {
    std::vector<std::string> names;
    for (const auto& n : c) names.push_back(n.get<std::string>());
    os << "  {" << join(names, ", ") << "}\n";
  }
  os << "\nindependent-pair distribution (one value per pair of clusters):\n";
  for (const auto& s : mx["independent_distribution"])
    os << "  " << std::left << std::setw(22) << s["metric"].get<std::string>() << std::right << " n=" << std::setw(3)
       << s["n"].get<size_t>() << "  min " << opt_fixed(s["min"], 4) << "  median " << opt_fixed(s["median"], 4)
       << "  max " << opt_fixed(s["max"], 4) << "\n";
  os << "\n'vs indep.' is the empirical percentile among independent pairs (own cluster pair left out).\n"
     << "'original reading' applies the " << mx["original_thresholds"].get<std::string>()
     << " to the overlap of the smaller vocabulary.\n"
     << mx["caveat"].get<std::string>() << "\n";
  return os.str();
}

std::string matrix_markdown(const json& mx) {
  std::ostringstream os;
  os << "### Tokenizer genealogy matrix\n\n| # | tokenizer | format | vocab | merges | tokens/char |\n|---:|---|---|---:|---:|---:|\n";
  for (const auto& t : mx["tokenizers"])
    os << "| " << t["index"].get<size_t>() << " | " << cell(t["name"]) << " | " << cell(t["format"]) << " | "
       << t["vocab_size"].get<size_t>() << " | " << t["merges"].get<size_t>() << " | "
       << (t.contains("tokens_per_char") ? fixed(t["tokens_per_char"], 3) : std::string("-")) << " |\n";
  if (!mx["skipped"].empty()) {
    os << "\nSkipped:\n\n";
    for (const auto& s : mx["skipped"]) os << "- `" << cell(s["path"]) << "`: " << cell(s["reason"]) << "\n";
  }
  os << "\n| A | B | class | Jaccard | Jaccard vs independent | overlap of smaller | same-id | merge prefix | Kendall | "
        "Kendall vs independent | original reading |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& p : mx["pairs"]) {
    const json& rc = p["merges"]["rank_correlation"];
    os << "| " << cell(p["a"]) << " | " << cell(p["b"]) << " | " << cell(p["class"]) << " | "
       << fixed(p["vocabulary"]["jaccard"], 4) << " | " << percentile_cell(p, "jaccard") << " | "
       << percent(p["vocabulary"]["overlap_of_smaller"]) << " | " << percent(p["same_id"]["rate"]) << " | "
       << p["merges"]["common_prefix"].get<size_t>() << " | " << opt_fixed(rc["kendall"], 3) << " | "
       << percentile_cell(p, "merge_kendall") << " | " << cell(p["original_reading"]) << " |\n";
  }
  os << "\nIndependent-pair distribution (one value per pair of clusters):\n\n| metric | n | min | median | max |\n"
        "|---|---:|---:|---:|---:|\n";
  for (const auto& s : mx["independent_distribution"])
    os << "| " << cell(s["metric"]) << " | " << s["n"].get<size_t>() << " | " << opt_fixed(s["min"], 4) << " | "
       << opt_fixed(s["median"], 4) << " | " << opt_fixed(s["max"], 4) << " |\n";
  os << "\nPercentiles are empirical (mid-rank) among pairs classified independent, leaving out the pair's own "
        "cluster pair. The original reading applies the "
     << cell(mx["original_thresholds"]) << " to the overlap of the smaller vocabulary. " << cell(mx["caveat"]) << "\n";
  return os.str();
}

}  // namespace fromscratch::tokenizer
