// Readers for tokenizer.json, vocab.json + merges.txt and tiktoken rank files.
//
// tokenizer.json is read with a SAX parser: model.vocab and model.merges (hundreds of thousands of entries in
// a 33 MB Gemma-3 file) stream straight into flat vectors, and only the small rest of the document becomes a
// JSON tree. That keeps the largest real file under a fifth of a second and lets duplicate vocabulary keys be
// detected (a DOM parser silently keeps the last one).
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/file_io.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/tokenizer/token_identity.hpp"
#include "fromscratch/tokenizer/tokenizer.hpp"

namespace fromscratch::tokenizer {

using nlohmann::json;
namespace fs = std::filesystem;

std::string_view to_string(SourceFormat f) {
  switch (f) {
    case SourceFormat::kTokenizerJson: return "tokenizer.json";
    case SourceFormat::kVocabMerges: return "vocab.json+merges.txt";
    case SourceFormat::kTiktoken: return "tiktoken";
  }
  return "?";
}

std::string_view to_string(TokenSpelling s) {
  switch (s) {
    case TokenSpelling::kByteLevel: return "byte-level";
    case TokenSpelling::kSentencePiece: return "sentencepiece";
    case TokenSpelling::kPlain: return "plain";
    case TokenSpelling::kRawBytes: return "raw-bytes";
  }
  return "?";
}

std::optional<uint32_t> Tokenizer::find(std::string_view token) const {
  int64_t id = token_to_id.find(vocab, token);
  if (id < 0) return std::nullopt;
  return static_cast<uint32_t>(id);
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  return to_hex(md, len);
}

std::string read_small_file(const fs::path& path, uint64_t max_bytes) {
  File f = File::open_read(path.string());
  if (f.size() > max_bytes)
    throw FormatError(Problem{path.string(), "", "file size", str(f.size(), " bytes"), str("<= ", max_bytes, " bytes"),
                              "file is too large to be a tokenizer file"});
  std::string data(f.size(), '\0');
  if (!data.empty()) f.read_exact(data.data(), data.size(), 0);
  return data;
}

namespace {

std::string quote_token(std::string_view s) { return str("'", quote_untrusted(s, 80), "'"); }

// ---------------------------------------------------------------------------------------------------------
// SAX reader: a JSON tree for everything except the vocabulary object and the merges array, which stream.
// ---------------------------------------------------------------------------------------------------------
struct RawVocabEntry {
  std::string token;
  int64_t id;        // -1 when the value was not an integer (a problem is recorded)
};
struct RawMerge {
  std::string line;  // "left right": as written (string form) or joined with one space (pair form)
  uint32_t split;    // byte offset of the separating space (a pair's left token may itself hold spaces)
  bool valid;
  std::string_view left() const { return std::string_view(line).substr(0, split); }
  std::string_view right() const { return std::string_view(line).substr(split + 1); }
};

class StreamingSax : public nlohmann::json_sax<json> {
 public:
  // vocab_at_root: the whole document is a vocabulary object (vocab.json); otherwise tokenizer.json layout.
  StreamingSax(ProblemList& problems, bool vocab_at_root) : problems_(problems), vocab_at_root_(vocab_at_root) {}

  json root;
  std::vector<RawVocabEntry> vocab;
  std::vector<RawMerge> merges;
  bool vocab_seen = false;
  bool vocab_not_object = false;
  bool merges_seen = false;
  std::string syntax_error;

  bool null() override { return scalar(json(nullptr), "null"); }
  bool boolean(bool v) override { return scalar(json(v), v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override {
    if (top_mode() == Mode::kVocab) return vocab_id(v, v < 0 ? 1 : 0, static_cast<uint64_t>(v));
    return scalar(json(v), "");
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (top_mode() == Mode::kVocab) return vocab_id(v > uint64_t(INT64_MAX) ? INT64_MAX : int64_t(v), 2, v);
    return scalar(json(v), "");
  }
  bool number_float(number_float_t v, const string_t& s) override { return scalar(json(v), s); }
  bool string(string_t& v) override {
    switch (top_mode()) {
      case Mode::kMerges: {
        auto space = v.find(' ');
        bool valid = space != std::string::npos && v.find(' ', space + 1) == std::string::npos;
        if (!valid)
          add_merge_problem(merges.size(), "", quote_token(v), "exactly one space separating two tokens",
                            "merge string does not name exactly two tokens");
        merges.push_back({std::move(v), valid ? static_cast<uint32_t>(space) : 0, valid});
        return true;
      }
      case Mode::kMergePair:
        pair_parts_.push_back(std::move(v));
        return true;
      default:
        return scalar(json(std::move(v)), "");
    }
  }
  bool binary(binary_t&) override { return true; }

  bool key(string_t& k) override {
    if (frames_.empty()) return true;
    Frame& f = frames_.back();
    if (f.mode == Mode::kVocab) {
      pending_token_ = std::move(k);
    } else if (f.mode == Mode::kDom) {
      f.key = std::move(k);
    }
    return true;
  }

  bool start_object(std::size_t) override { return start_container(true); }
  bool start_array(std::size_t) override { return start_container(false); }
  bool end_object() override { return end_container(); }
  bool end_array() override { return end_container(); }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) override {
    if (syntax_error.empty()) syntax_error = str("malformed JSON at byte offset ", position, ": ", ex.what());
    return false;
  }

 private:
  enum class Mode { kDom, kVocab, kMerges, kMergePair, kSkip };
  struct Frame {
    Mode mode;
    json* node;     // kDom: the container being filled
    bool is_model;  // the tokenizer.json "model" object, whose vocab and merges stream
    std::string key;
  };

  Mode top_mode() const { return frames_.empty() ? Mode::kDom : frames_.back().mode; }

  void add_merge_problem(size_t index, std::string field, std::string value, std::string limit, std::string msg) {
    problems_.add(str("model.merges[", index, "]"), std::move(field), std::move(value), std::move(limit),
                  std::move(msg));
  }

  // sign: 1 when the JSON number was negative (raw then holds its two's complement), 2 when unsigned.
  bool vocab_id(int64_t id, int sign, uint64_t raw) {
    if (id < 0 || id >= static_cast<int64_t>(kMaxVocabularyId)) {
      std::string rendered = sign == 1 ? str(static_cast<int64_t>(raw)) : str(raw);
      problems_.add(str(vocab_entry_prefix(), "[", quote_token(pending_token_), "]"), "id", rendered,
                    str("0 .. ", kMaxVocabularyId - 1), "token id out of range");
      id = -1;
    }
    vocab.push_back({std::move(pending_token_), id});
    return true;
  }

  std::string vocab_entry_prefix() const { return vocab_at_root_ ? "vocab" : "model.vocab"; }

  // A scalar value arrived at the current position.
  bool scalar(json value, const std::string& rendered) {
    switch (top_mode()) {
      case Mode::kVocab:
        problems_.add(str(vocab_entry_prefix(), "[", quote_token(pending_token_), "]"), "id",
                      rendered.empty() ? std::string(value.dump()) : rendered, "an integer",
                      "token id is not an integer");
        vocab.push_back({std::move(pending_token_), -1});
        return true;
      case Mode::kMerges:
        add_merge_problem(merges.size(), "", value.dump(), "a string \"a b\" or a pair [\"a\", \"b\"]",
                          "merge is neither a string nor a pair");
        merges.push_back({"", 0, false});
        return true;
      case Mode::kMergePair:
        pair_bad_ = true;
        return true;
      case Mode::kSkip:
        return true;
      case Mode::kDom:
        break;
    }
    if (frames_.empty()) {
      root = std::move(value);
      return true;
    }
    Frame& f = frames_.back();
    if (f.node->is_array())
      f.node->push_back(std::move(value));
    else
      (*f.node)[f.key] = std::move(value);
    return true;
  }

  bool start_container(bool is_object) {
    if (frames_.size() >= kMaxJsonDepth) {
      syntax_error = str("JSON nested deeper than ", kMaxJsonDepth, " levels");
      return false;
    }
    Mode mode = top_mode();
    if (mode == Mode::kSkip) {
      frames_.push_back({Mode::kSkip, nullptr, false, {}});
      return true;
    }
    if (mode == Mode::kVocab) {
      problems_.add(str(vocab_entry_prefix(), "[", quote_token(pending_token_), "]"), "id",
                    is_object ? "{...}" : "[...]", "an integer", "token id is not an integer");
      vocab.push_back({std::move(pending_token_), -1});
      frames_.push_back({Mode::kSkip, nullptr, false, {}});
      return true;
    }
    if (mode == Mode::kMerges) {
      if (is_object) {
        add_merge_problem(merges.size(), "", "{...}", "a string \"a b\" or a pair [\"a\", \"b\"]",
                          "merge is neither a string nor a pair");
        merges.push_back({"", 0, false});
        frames_.push_back({Mode::kSkip, nullptr, false, {}});
      } else {
        pair_parts_.clear();
        pair_bad_ = false;
        frames_.push_back({Mode::kMergePair, nullptr, false, {}});
      }
      return true;
    }
    if (mode == Mode::kMergePair) {
      pair_bad_ = true;
      frames_.push_back({Mode::kSkip, nullptr, false, {}});
      return true;
    }
    // DOM position: the root, an array element or an object member. Intercept the streamed members.
    if (frames_.empty()) {
      if (vocab_at_root_) {
        vocab_seen = true;
        if (!is_object) {
          vocab_not_object = true;
          frames_.push_back({Mode::kSkip, nullptr, false, {}});
        } else {
          frames_.push_back({Mode::kVocab, nullptr, false, {}});
        }
        return true;
      }
      root = is_object ? json::object() : json::array();
      frames_.push_back({Mode::kDom, &root, false, {}});
      return true;
    }
    Frame& f = frames_.back();
    if (f.is_model && f.key == "vocab") {
      vocab_seen = true;
      if (is_object) {
        frames_.push_back({Mode::kVocab, nullptr, false, {}});
        return true;
      }
      vocab_not_object = true;  // Unigram stores [piece, score] pairs; kept in the tree for the type check
    }
    if (f.is_model && f.key == "merges" && !is_object) {
      merges_seen = true;
      frames_.push_back({Mode::kMerges, nullptr, false, {}});
      return true;
    }
    json* child;
    if (f.node->is_array()) {
      f.node->push_back(is_object ? json::object() : json::array());
      child = &f.node->back();
    } else {
      json& slot = (*f.node)[f.key];
      slot = is_object ? json::object() : json::array();
      child = &slot;
    }
    bool is_model = !vocab_at_root_ && is_object && frames_.size() == 1 && f.key == "model";
    frames_.push_back({Mode::kDom, child, is_model, {}});
    return true;
  }

  bool end_container() {
    if (frames_.empty()) return true;
    Mode mode = frames_.back().mode;
    frames_.pop_back();
    if (mode == Mode::kMergePair) {
      RawMerge m{"", 0, !pair_bad_ && pair_parts_.size() == 2};
      if (m.valid) {
        m.split = static_cast<uint32_t>(pair_parts_[0].size());
        m.line.reserve(pair_parts_[0].size() + 1 + pair_parts_[1].size());
        m.line += pair_parts_[0];
        m.line += ' ';
        m.line += pair_parts_[1];
      } else {
        add_merge_problem(merges.size(), "", pair_bad_ ? "[...]" : str(pair_parts_.size(), " strings"),
                          "exactly two strings", "merge pair does not hold exactly two token strings");
      }
      merges.push_back(std::move(m));
    }
    return true;
  }

  ProblemList& problems_;
  bool vocab_at_root_;
  std::vector<Frame> frames_;
  std::string pending_token_;
  std::vector<std::string> pair_parts_;
  bool pair_bad_ = false;
};

void run_sax(std::string_view text, StreamingSax& sax, const std::string& file) {
  bool ok = json::sax_parse(text.begin(), text.end(), &sax, nlohmann::json::input_format_t::json, true);
  if (!ok || !sax.syntax_error.empty())
    throw FormatError(Problem{file, "", "", "", "", sax.syntax_error.empty() ? "malformed JSON" : sax.syntax_error});
}

// Fills tok.vocab / present / token_to_id from the streamed entries, recording duplicates and holes.
void build_vocabulary(Tokenizer& tok, std::vector<RawVocabEntry>& entries, ProblemList& problems,
                      const std::string& entry_prefix) {
  if (entries.empty()) {
    problems.add(entry_prefix, "", "{}", "at least one token", "empty vocabulary");
    return;
  }
  int64_t max_id = -1;
  for (const auto& e : entries) max_id = std::max(max_id, e.id);
  if (max_id < 0) return;
  tok.vocab.assign(static_cast<size_t>(max_id) + 1, std::string());
  tok.present.assign(static_cast<size_t>(max_id) + 1, 0);
  tok.token_to_id.reserve(entries.size());
  for (auto& e : entries) {
    if (e.id < 0) continue;
    auto id = static_cast<uint32_t>(e.id);
    if (tok.present[id]) {
      problems.add(str(entry_prefix, "[", quote_token(e.token), "]"), "id", str(id), "unique ids",
                   str("duplicate id: also used by ", quote_token(tok.vocab[id])));
      continue;
    }
    tok.vocab[id] = std::move(e.token);
    int64_t other = tok.token_to_id.insert(tok.vocab, id);
    if (other >= 0) {
      problems.add(str(entry_prefix, "[", quote_token(tok.vocab[id]), "]"), "", "", "unique tokens",
                   str("duplicate token (ids ", other, " and ", id, ")"));
      tok.vocab[id].clear();
      continue;
    }
    tok.present[id] = 1;
    ++tok.vocab_count;
  }
}

// Resolves merge strings to ids, checking both parts and their concatenation against the vocabulary.
void build_merges(Tokenizer& tok, std::vector<RawMerge>& raw, ProblemList& problems, const std::string& prefix,
                  bool line_numbers) {
  if (raw.size() > kMaxMerges) {
    problems.add(prefix, "count", str(raw.size()), str("<= ", kMaxMerges), "too many merges");
    return;
  }
  tok.merges.reserve(raw.size());
  tok.merge_lines.reserve(raw.size());
  // Entry names are built only when a problem is reported: formatting one per merge would dominate loading.
  auto entry = [&](size_t i) { return line_numbers ? str("line ", i + 1) : str(prefix, "[", i, "]"); };
  std::string joined;
  for (size_t i = 0; i < raw.size(); ++i) {
    RawMerge& m = raw[i];
    if (!m.valid) continue;
    int64_t l = tok.token_to_id.find(tok.vocab, m.left());
    int64_t r = tok.token_to_id.find(tok.vocab, m.right());
    if (l < 0 || r < 0) {
      std::string_view missing = l < 0 ? m.left() : m.right();
      problems.add(entry(i), "", quote_token(m.line), "tokens of the vocabulary",
                   str("merge names token ", quote_token(missing), " which is not in the vocabulary"));
      continue;
    }
    joined = m.left();
    joined += m.right();
    int64_t res = tok.token_to_id.find(tok.vocab, joined);
    if (res < 0) {
      problems.add(entry(i), "", quote_token(m.line), "tokens of the vocabulary",
                   str("merged token ", quote_token(joined), " is not in the vocabulary"));
      continue;
    }
    tok.merges.push_back({static_cast<uint32_t>(l), static_cast<uint32_t>(r), static_cast<uint32_t>(res)});
    tok.merge_lines.push_back(std::move(m.line));
  }
  // Duplicate pairs, counted with an open-addressing set of the packed (left, right) keys. A pair never
  // packs to ~0 (ids are below 2^24), so ~0 marks an empty slot.
  size_t cap = 16;
  while (cap < tok.merges.size() * 2) cap <<= 1;
  std::vector<uint64_t> slots(cap, ~uint64_t{0});
  for (const Merge& mg : tok.merges) {
    uint64_t key = (uint64_t(mg.left) << 32) | mg.right;
    uint64_t h = key * 0x9E3779B97F4A7C15ULL;
    size_t i = static_cast<size_t>(h >> 20) & (cap - 1);
    while (slots[i] != ~uint64_t{0} && slots[i] != key) i = (i + 1) & (cap - 1);
    if (slots[i] == key) ++tok.duplicate_merges;
    else slots[i] = key;
  }
}

bool get_bool(const json& obj, const char* key, bool fallback, ProblemList& problems, const std::string& entry) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) {
    problems.add(entry, key, quote_untrusted(it->dump(), 60), "true or false", "not a boolean");
    return fallback;
  }
  return it->get<bool>();
}

void read_added_tokens(Tokenizer& tok, const json& root, ProblemList& problems) {
  auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return;
  if (!it->is_array()) {
    problems.add("added_tokens", "", quote_untrusted(it->dump(), 60), "an array", "added_tokens is not an array");
    return;
  }
  std::unordered_map<uint32_t, size_t> by_id;
  std::unordered_map<std::string, size_t> by_content;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& a = (*it)[i];
    std::string entry = str("added_tokens[", i, "]");
    if (!a.is_object()) {
      problems.add(entry, "", quote_untrusted(a.dump(), 60), "an object", "added token is not an object");
      continue;
    }
    AddedToken t;
    auto id = a.find("id");
    if (id == a.end() || !id->is_number_integer()) {
      problems.add(entry, "id", id == a.end() ? "missing" : quote_untrusted(id->dump(), 40), "an integer",
                   "added token has no integer id");
      continue;
    }
    int64_t v = id->get<int64_t>();
    if (v < 0 || v >= static_cast<int64_t>(kMaxVocabularyId)) {
      problems.add(entry, "id", str(v), str("0 .. ", kMaxVocabularyId - 1), "added token id out of range");
      continue;
    }
    t.id = static_cast<uint32_t>(v);
    auto content = a.find("content");
    if (content == a.end() || !content->is_string() || content->get_ref<const std::string&>().empty()) {
      problems.add(entry, "content", content == a.end() ? "missing" : quote_untrusted(content->dump(), 40),
                   "a non-empty string", "added token has no content");
      continue;
    }
    t.content = content->get<std::string>();
    t.special = get_bool(a, "special", false, problems, entry);
    t.normalized = get_bool(a, "normalized", !t.special, problems, entry);
    t.lstrip = get_bool(a, "lstrip", false, problems, entry);
    t.rstrip = get_bool(a, "rstrip", false, problems, entry);
    t.single_word = get_bool(a, "single_word", false, problems, entry);
    if (auto [p, ok] = by_id.emplace(t.id, i); !ok) {
      problems.add(entry, "id", str(t.id), "unique ids", str("duplicate added token id: also added_tokens[", p->second, "]"));
      continue;
    }
    if (auto [p, ok] = by_content.emplace(t.content, i); !ok) {
      problems.add(entry, "content", quote_token(t.content), "unique contents",
                   str("duplicate added token: also added_tokens[", p->second, "]"));
      continue;
    }
    tok.added_tokens.push_back(std::move(t));
  }
}

bool json_has_type(const json& node, std::string_view type) {
  if (node.is_object()) {
    auto t = node.find("type");
    if (t != node.end() && t->is_string() && t->get_ref<const std::string&>() == type) return true;
    for (const auto& [k, v] : node.items())
      if ((v.is_array() || v.is_object()) && json_has_type(v, type)) return true;
  } else if (node.is_array()) {
    for (const auto& v : node)
      if (json_has_type(v, type)) return true;
  }
  return false;
}

// Does any Replace step in `node` turn `from` into `to`?
bool json_has_replace(const json& node, std::string_view from, std::string_view to) {
  if (node.is_object()) {
    auto t = node.find("type");
    if (t != node.end() && t->is_string() && t->get_ref<const std::string&>() == "Replace") {
      auto p = node.find("pattern");
      auto c = node.find("content");
      if (p != node.end() && p->is_object() && c != node.end() && c->is_string()) {
        auto s = p->find("String");
        if (s != p->end() && s->is_string() && s->get_ref<const std::string&>() == from &&
            c->get_ref<const std::string&>() == to)
          return true;
      }
    }
    for (const auto& [k, v] : node.items())
      if ((v.is_array() || v.is_object()) && json_has_replace(v, from, to)) return true;
  } else if (node.is_array()) {
    for (const auto& v : node)
      if (json_has_replace(v, from, to)) return true;
  }
  return false;
}

TokenSpelling detect_spelling(const Tokenizer& tok) {
  if (json_has_type(tok.pre_tokenizer, "ByteLevel") || json_has_type(tok.decoder, "ByteLevel"))
    return TokenSpelling::kByteLevel;
  static constexpr std::string_view kMeta = "\xE2\x96\x81";
  if (json_has_type(tok.pre_tokenizer, "Metaspace") || json_has_type(tok.decoder, "Metaspace") ||
      json_has_replace(tok.decoder, kMeta, " ") || json_has_replace(tok.normalizer, " ", kMeta))
    return TokenSpelling::kSentencePiece;
  return TokenSpelling::kPlain;
}

std::string dir_name_of(const fs::path& file) {
  fs::path parent = file.parent_path();
  std::string name = parent.filename().string();
  return name.empty() ? file.filename().string() : name;
}

}  // namespace

Tokenizer parse_tokenizer_json(std::string_view text, const std::string& file) {
  ProblemList problems(file, "entry");
  StreamingSax sax(problems, /*vocab_at_root=*/false);
  run_sax(text, sax, file);
  Tokenizer tok;
  tok.path = file;
  tok.name = dir_name_of(fs::path(file));
  tok.format = SourceFormat::kTokenizerJson;
  tok.file_sha256 = sha256_hex(text);
  const json& root = sax.root;
  if (!root.is_object()) {
    problems.add("", "", "", "a JSON object", "tokenizer.json is not a JSON object");
    problems.throw_all();
  }
  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) {
    problems.add("model", "", model_it == root.end() ? "missing" : model_it->type_name(), "an object",
                 "tokenizer.json has no model object");
    problems.throw_all();
  }
  const json& model = *model_it;
  std::string type;
  if (auto t = model.find("type"); t != model.end()) {
    if (!t->is_string()) {
      problems.add("model", "type", quote_untrusted(t->dump(), 40), "a string", "model type is not a string");
      problems.throw_all();
    }
    type = t->get<std::string>();
  } else if (sax.vocab_seen && !sax.vocab_not_object && sax.merges_seen) {
    type = "BPE";  // the type tag is optional; a vocabulary object with merges is a BPE model
  } else if (sax.vocab_not_object) {
    type = "Unigram";
  } else if (sax.vocab_seen) {
    type = "WordPiece or WordLevel";
  }
  tok.model_type = type;
  if (type != "BPE") {
    problems.add("model", "type", type.empty() ? "missing" : quote_token(type), "BPE",
                 "unsupported tokenizer model (only BPE is supported)");
    problems.throw_all();
  }
  if (!sax.vocab_seen || sax.vocab_not_object) {
    problems.add("model.vocab", "", sax.vocab_seen ? "not an object" : "missing", "an object of token -> id",
                 "BPE model has no vocabulary object");
    problems.throw_all();
  }
  if (!sax.merges_seen) {
    problems.add("model.merges", "", "missing", "an array", "BPE model has no merges array");
    problems.throw_all();
  }

  build_vocabulary(tok, sax.vocab, problems, "model.vocab");
  sax.vocab.clear();
  sax.vocab.shrink_to_fit();
  if (!problems.empty()) problems.throw_all();  // merges cannot be checked against a broken vocabulary
  build_merges(tok, sax.merges, problems, "model.merges", false);
  sax.merges.clear();
  sax.merges.shrink_to_fit();

  // Model options the encoder honours; the ones it cannot honour are refused rather than ignored.
  if (auto u = model.find("unk_token"); u != model.end() && !u->is_null()) {
    if (!u->is_string())
      problems.add("model", "unk_token", quote_untrusted(u->dump(), 40), "a string or null", "not a string");
    else
      tok.bpe.unk_token = u->get<std::string>();
  }
  tok.bpe.byte_fallback = get_bool(model, "byte_fallback", false, problems, "model");
  tok.bpe.fuse_unk = get_bool(model, "fuse_unk", false, problems, "model");
  tok.bpe.ignore_merges = get_bool(model, "ignore_merges", false, problems, "model");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it == model.end() || it->is_null()) continue;
    if (!it->is_string())
      problems.add("model", key, quote_untrusted(it->dump(), 40), "a string or null", "not a string");
    else if (!it->get_ref<const std::string&>().empty())
      problems.add("model", key, quote_token(it->get<std::string>()), "empty",
                   "BPE with a word prefix/suffix is not supported");
  }

  read_added_tokens(tok, root, problems);
  for (const char* key : {"normalizer", "pre_tokenizer", "decoder", "post_processor"}) {
    auto it = root.find(key);
    json value = it == root.end() ? json(nullptr) : *it;
    if (!value.is_null() && !value.is_object())
      problems.add(key, "", quote_untrusted(value.dump(), 40), "an object or null", "not an object");
    if (std::strcmp(key, "normalizer") == 0) tok.normalizer = std::move(value);
    else if (std::strcmp(key, "pre_tokenizer") == 0) tok.pre_tokenizer = std::move(value);
    else if (std::strcmp(key, "decoder") == 0) tok.decoder = std::move(value);
    else tok.post_processor = std::move(value);
  }
  if (tok.bpe.unk_token) {
    bool known = tok.contains(*tok.bpe.unk_token);
    for (const auto& a : tok.added_tokens) known = known || a.content == *tok.bpe.unk_token;
    if (!known)
      problems.add("model", "unk_token", quote_token(*tok.bpe.unk_token), "a token of the vocabulary",
                   "unknown-token string is not in the vocabulary");
  }
  problems.throw_if_any();
  tok.spelling = detect_spelling(tok);
  return tok;
}

Tokenizer parse_vocab_merges(std::string_view vocab_json, std::string_view merges_txt, const std::string& vocab_file,
                             const std::string& merges_file) {
  ProblemList vocab_problems(vocab_file, "entry");
  StreamingSax sax(vocab_problems, /*vocab_at_root=*/true);
  run_sax(vocab_json, sax, vocab_file);
  if (sax.vocab_not_object || !sax.vocab_seen)
    throw FormatError(Problem{vocab_file, "", "", "", "an object of token -> id", "vocab.json is not a JSON object"});
  Tokenizer tok;
  tok.path = vocab_file;
  tok.name = dir_name_of(fs::path(vocab_file));
  tok.format = SourceFormat::kVocabMerges;
  tok.file_sha256 = sha256_hex(vocab_json);
  build_vocabulary(tok, sax.vocab, vocab_problems, "vocab");
  vocab_problems.throw_if_any();

  ProblemList merge_problems(merges_file, "entry");
  std::vector<RawMerge> raw;
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < merges_txt.size()) {
    size_t end = merges_txt.find('\n', pos);
    if (end == std::string_view::npos) end = merges_txt.size();
    std::string_view line = merges_txt.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_no == 1 && starts_with(line, "#version")) {
      raw.push_back({"", 0, false});  // keeps merge index == line number - 1 for messages
      continue;
    }
    RawMerge m{std::string(line), 0, true};
    if (line.empty() && pos >= merges_txt.size()) {
      m.valid = false;  // the newline at the end of the file
    } else {
      auto space = line.find(' ');
      if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
        merge_problems.add(str("line ", line_no), "", quote_token(line), "two tokens separated by one space",
                           "merge line does not name exactly two tokens");
        m.valid = false;
      } else {
        m.split = static_cast<uint32_t>(space);
      }
    }
    raw.push_back(std::move(m));
  }
  build_merges(tok, raw, merge_problems, "merges", true);
  merge_problems.throw_if_any();
  // GPT-2's convention for this pair of files: byte-level BPE behind the GPT-2 pre-tokenizer pattern. A
  // vocabulary with characters outside the byte-level alphabet is treated as plain text.
  bool byte_level = true;
  std::string scratch;
  for (size_t id = 0; id < tok.vocab.size() && byte_level; ++id)
    if (tok.present[id] && !byte_level_decode(tok.vocab[id], scratch)) byte_level = false;
  tok.spelling = byte_level ? TokenSpelling::kByteLevel : TokenSpelling::kPlain;
  if (byte_level) {
    tok.pre_tokenizer = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    tok.decoder = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  }
  return tok;
}

Tokenizer parse_tiktoken(std::string_view text, const std::string& file) {
  ProblemList problems(file, "entry");
  Tokenizer tok;
  tok.path = file;
  tok.name = dir_name_of(fs::path(file));
  tok.format = SourceFormat::kTiktoken;
  tok.spelling = TokenSpelling::kRawBytes;
  tok.file_sha256 = sha256_hex(text);
  std::vector<RawVocabEntry> entries;
  std::unordered_map<std::string, uint32_t> bytes_to_rank;
  size_t pos = 0, line_no = 0;
  std::string bytes;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty() && pos >= text.size()) break;  // final newline
    std::string entry = str("line ", line_no);
    auto space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
      problems.add(entry, "", quote_token(line), "\"<base64> <rank>\"", "line is not a base64 token and a rank");
      if (problems.full()) break;
      continue;
    }
    std::string_view b64 = line.substr(0, space), rank_text = line.substr(space + 1);
    if (!base64_decode(b64, bytes)) {
      problems.add(entry, "token", quote_token(b64), "canonical RFC 4648 base64", "invalid base64");
      continue;
    }
    uint64_t rank = 0;
    bool rank_ok = !rank_text.empty() && rank_text.size() <= 10;
    for (char c : rank_text) {
      if (c < '0' || c > '9') rank_ok = false;
      if (rank_ok) rank = rank * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!rank_ok || rank >= kMaxVocabularyId) {
      problems.add(entry, "rank", quote_token(rank_text), str("an integer 0 .. ", kMaxVocabularyId - 1),
                   "invalid or out-of-range rank");
      continue;
    }
    if (auto [it, ok] = bytes_to_rank.emplace(bytes, static_cast<uint32_t>(rank)); !ok) {
      problems.add(entry, "token", quote_token(b64), "unique tokens", str("duplicate token (also rank ", it->second, ")"));
      continue;
    }
    entries.push_back({byte_level_encode(bytes), static_cast<int64_t>(rank)});
  }
  if (entries.empty() && problems.empty()) problems.add("", "", "no lines", "at least one token", "empty vocabulary");
  problems.throw_if_any();
  build_vocabulary(tok, entries, problems, "rank");
  problems.throw_if_any();

  // Merges as the Hugging Face converter derives them: each multi-byte token, in rank order, is split by BPE
  // over the byte string using only ranks below its own; the two parts left are its merge.
  std::vector<uint32_t> order;
  for (uint32_t id = 0; id < tok.vocab.size(); ++id)
    if (tok.present[id]) order.push_back(id);
  std::vector<std::string> parts;
  for (uint32_t id : order) {
    std::string token_bytes_value;
    byte_level_decode(tok.vocab[id], token_bytes_value);
    if (token_bytes_value.size() < 2) continue;
    parts.clear();
    for (char c : token_bytes_value) parts.emplace_back(1, c);
    while (parts.size() > 1) {
      size_t best = SIZE_MAX;
      uint32_t best_rank = UINT32_MAX;
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        auto it = bytes_to_rank.find(parts[i] + parts[i + 1]);
        if (it != bytes_to_rank.end() && it->second < best_rank) {
          best_rank = it->second;
          best = i;
        }
      }
      if (best == SIZE_MAX || best_rank >= id) break;
      parts[best] += parts[best + 1];
      parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
    if (parts.size() != 2) {
      ++tok.merges_not_derivable;
      continue;
    }
    uint32_t l = bytes_to_rank.at(parts[0]), r = bytes_to_rank.at(parts[1]);
    tok.merges.push_back({l, r, id});
    tok.merge_lines.push_back(tok.vocab[l] + " " + tok.vocab[r]);
  }
  return tok;
}

void attach_config(Tokenizer& tok, std::string_view text, const std::string& file) {
  json cfg;
  try {
    cfg = json::parse(text);
  } catch (const json::parse_error& e) {
    throw FormatError(Problem{file, "", "", "", "", str("malformed JSON: ", e.what())});
  }
  if (!cfg.is_object()) throw FormatError(Problem{file, "", "", cfg.type_name(), "an object", "not a JSON object"});
  tok.config = std::move(cfg);
  tok.config_path = file;
}

namespace {

// added_tokens.json ({"content": id}) beside vocab.json + merges.txt.
void attach_added_tokens_json(Tokenizer& tok, std::string_view text, const std::string& file) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw FormatError(Problem{file, "", "", "", "", str("malformed JSON: ", e.what())});
  }
  ProblemList problems(file, "entry");
  if (!j.is_object()) problems.add("", "", j.type_name(), "an object", "added_tokens.json is not an object");
  else
    for (const auto& [content, id] : j.items()) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= int64_t(kMaxVocabularyId)) {
        problems.add(quote_untrusted(content), "id", quote_untrusted(id.dump(), 40),
                     str("0 .. ", kMaxVocabularyId - 1), "invalid id");
        continue;
      }
      AddedToken t;
      t.content = content;
      t.id = static_cast<uint32_t>(id.get<int64_t>());
      // added_tokens.json does not say which tokens are special (special_tokens_map.json does, by role); they
      // are matched in the raw text either way, since this format has no normalizer.
      t.special = false;
      tok.added_tokens.push_back(std::move(t));
    }
  problems.throw_if_any();
  std::sort(tok.added_tokens.begin(), tok.added_tokens.end(),
            [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
}

}  // namespace

Located locate_tokenizer(const fs::path& path) {
  Located loc;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    std::string name = path.filename().string();
    loc.file = path;
    if (ends_with(name, ".tiktoken")) loc.format = SourceFormat::kTiktoken;
    else if (name == "vocab.json" || name == "merges.txt") {
      loc.format = SourceFormat::kVocabMerges;
      loc.file = path.parent_path() / "vocab.json";
    } else loc.format = SourceFormat::kTokenizerJson;
    return loc;
  }
  if (!fs::is_directory(path, ec)) {
    loc.skip_reason = "no such file or directory";
    return loc;
  }
  if (fs::is_regular_file(path / "tokenizer.json", ec)) {
    loc.file = path / "tokenizer.json";
    return loc;
  }
  if (fs::is_regular_file(path / "vocab.json", ec) && fs::is_regular_file(path / "merges.txt", ec)) {
    loc.file = path / "vocab.json";
    loc.format = SourceFormat::kVocabMerges;
    return loc;
  }
  std::vector<std::string> tiktoken, others;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    std::string name = entry.path().filename().string();
    if (ends_with(name, ".tiktoken")) tiktoken.push_back(name);
    else if (name == "tokenizer_config.json" || name == "tokenizer.model" || name == "special_tokens_map.json" ||
             name == "added_tokens.json" || name == "vocab.json" || name == "merges.txt")
      others.push_back(name);
  }
  std::sort(tiktoken.begin(), tiktoken.end());
  std::sort(others.begin(), others.end());
  if (tiktoken.size() == 1) {
    loc.file = path / tiktoken.front();
    loc.format = SourceFormat::kTiktoken;
    return loc;
  }
  if (tiktoken.size() > 1) {
    loc.skip_reason = str("several tiktoken files (", join(tiktoken, ", "), "); name one");
  } else if (others.empty()) {
    loc.skip_reason = "no tokenizer file (tokenizer.json, vocab.json + merges.txt or *.tiktoken)";
  } else {
    bool sp_model = std::find(others.begin(), others.end(), "tokenizer.model") != others.end();
    loc.skip_reason = str("no vocabulary file, only ", join(others, ", "),
                          sp_model ? " (SentencePiece tokenizer.model protobufs are not read)" : "");
  }
  return loc;
}

Tokenizer load_tokenizer(const fs::path& path) {
  Located loc = locate_tokenizer(path);
  if (loc.file.empty()) throw UsageError(str(path.string(), ": ", loc.skip_reason));
  Tokenizer tok;
  fs::path dir = loc.file.parent_path();
  std::error_code ec;
  switch (loc.format) {
    case SourceFormat::kTokenizerJson:
      tok = parse_tokenizer_json(read_small_file(loc.file), loc.file.string());
      if (fs::is_regular_file(dir / "tokenizer_config.json", ec))
        attach_config(tok, read_small_file(dir / "tokenizer_config.json", 64u << 20),
                      (dir / "tokenizer_config.json").string());
      break;
    case SourceFormat::kVocabMerges: {
      fs::path merges = dir / "merges.txt";
      tok = parse_vocab_merges(read_small_file(loc.file), read_small_file(merges), loc.file.string(), merges.string());
      if (fs::is_regular_file(dir / "added_tokens.json", ec))
        attach_added_tokens_json(tok, read_small_file(dir / "added_tokens.json", 64u << 20),
                                 (dir / "added_tokens.json").string());
      if (fs::is_regular_file(dir / "tokenizer_config.json", ec))
        attach_config(tok, read_small_file(dir / "tokenizer_config.json", 64u << 20),
                      (dir / "tokenizer_config.json").string());
      break;
    }
    case SourceFormat::kTiktoken:
      tok = parse_tiktoken(read_small_file(loc.file), loc.file.string());
      if (fs::is_regular_file(dir / "tokenizer_config.json", ec))
        attach_config(tok, read_small_file(dir / "tokenizer_config.json", 64u << 20),
                      (dir / "tokenizer_config.json").string());
      break;
  }
  // Reports name a tokenizer by its directory, which is what users pass on the command line.
  if (fs::is_directory(path, ec)) {
    std::string name = fs::path(path).lexically_normal().filename().string();
    if (name.empty()) name = fs::path(path).lexically_normal().parent_path().filename().string();
    if (!name.empty()) tok.name = name;
  }
  return tok;
}

}  // namespace fromscratch::tokenizer
