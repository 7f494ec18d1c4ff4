// A tokenizer as the comparison and the encoder see it: the model vocabulary by id, the ordered merge list, the
// added (special) tokens with their flags and the pipeline configuration, read from any of three formats:
//
//   tokenizer.json          Hugging Face tokenizers (BPE; merges as "a b" strings or as [a, b] pairs), with the
//                           tokenizer_config.json next to it when present
//   vocab.json + merges.txt GPT-2 style byte-level BPE (plus added_tokens.json when present)
//   *.tiktoken              base64 token and rank per line (Qwen-7B v1, OpenAI); its merges are derived from the
//                           ranks the way the Hugging Face converter does, so merge lists compare across formats
//
// Every reader treats its file as hostile: all problems of a file are collected and thrown together as one
// FormatError naming the file, the entry (model.vocab['tok'], model.merges[12], line 7...), the field, the value
// and the limit broken. Only BPE models are supported; Unigram and WordPiece are refused with a clear error.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fromscratch::tokenizer {

// Upper bounds on vocabulary ids and merge counts: 16x above any real tokenizer (the largest today hold ~260k
// tokens and ~580k merges), low enough that one hostile number cannot make us allocate more than ~150 MB.
inline constexpr uint32_t kMaxVocabularyId = 1u << 22;
inline constexpr size_t kMaxMerges = size_t{1} << 23;
// Nesting deeper than this is refused (real tokenizer.json files nest fewer than 10 levels); the pipeline
// code walks these trees recursively.
inline constexpr size_t kMaxJsonDepth = 64;
// A tokenizer.json larger than this is refused before it is read (the largest real one, Gemma-3, is 33 MB).
inline constexpr uint64_t kMaxTokenizerFileBytes = uint64_t{1} << 30;

enum class SourceFormat { kTokenizerJson, kVocabMerges, kTiktoken };
std::string_view to_string(SourceFormat f);

// How the vocabulary spells the bytes a token stands for. Decides how tokens of different tokenizers are
// compared by the bytes they encode (see token_identity.hpp).
enum class TokenSpelling {
  kByteLevel,      // GPT-2 byte-to-unicode map: 'Ġ' is the space byte, 'Ċ' the newline byte (Llama-3, Qwen...)
  kSentencePiece,  // '▁' is a space, <0xNN> a raw byte when byte_fallback is on (Llama-2, Mistral, Gemma)
  kPlain,          // the token is its UTF-8 text
  kRawBytes,       // the file stores bytes directly (tiktoken; kept in `vocab` in byte-level spelling)
};
std::string_view to_string(TokenSpelling s);

struct AddedToken {
  std::string content;
  uint32_t id = 0;
  bool special = false;
  bool normalized = false;  // matched after normalization (true) or in the raw text (false)
  bool lstrip = false;      // eats whitespace on its left
  bool rstrip = false;      // eats whitespace on its right
  bool single_word = false;
};

// One BPE merge: the tokens `left` and `right` (ids in the model vocabulary) merge into `result`.
struct Merge {
  uint32_t left = 0;
  uint32_t right = 0;
  uint32_t result = 0;
};

struct BpeOptions {
  std::optional<std::string> unk_token;  // emitted for pieces the vocabulary cannot spell
  bool byte_fallback = false;            // spell unknown pieces as <0xNN> byte tokens instead
  bool fuse_unk = false;                 // consecutive unknown tokens become one
  bool ignore_merges = false;            // a pre-token that is itself in the vocabulary is emitted whole
};

// Hash for string-keyed maps that are probed with string_views (no temporary std::string per lookup).
// Deliberately not noexcept: libstdc++ then stores each node's hash, so a lookup walking a bucket compares
// stored hashes instead of rehashing every string it passes.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// token string -> id over a vocabulary vector that holds the strings: an open-addressing table of (id, hash
// tag) slots, 8 bytes each, that never copies a token. Loading 262k tokens and resolving 515k merges (three
// lookups each) is dominated by these lookups, which is why this is not a node-based std::unordered_map.
class TokenIndex {
 public:
  void reserve(size_t tokens);
  // Adds vocab[id]. Returns -1 when added, else the id already holding the same string.
  int64_t insert(const std::vector<std::string>& vocab, uint32_t id);
  // The id of `token`, or -1.
  int64_t find(const std::vector<std::string>& vocab, std::string_view token) const;
  size_t size() const { return size_; }

 private:
  static uint64_t hash(std::string_view s);
  void grow(const std::vector<std::string>& vocab);
  std::vector<uint64_t> slots_;  // (hash tag << 32) | (id + 1); 0 = empty
  size_t size_ = 0;
  size_t mask_ = 0;
};

struct Tokenizer {
  std::string name;         // directory name (or file name) used in reports
  std::string path;         // the file the vocabulary came from
  std::string config_path;  // tokenizer_config.json, empty when absent
  SourceFormat format = SourceFormat::kTokenizerJson;
  std::string model_type = "BPE";
  TokenSpelling spelling = TokenSpelling::kPlain;

  // Model vocabulary (without added tokens) by id. Ids may have holes: present[id] says which exist.
  std::vector<std::string> vocab;
  std::vector<uint8_t> present;
  size_t vocab_count = 0;  // number of present ids
  TokenIndex token_to_id;

  std::vector<Merge> merges;           // rank order as in the file (a later duplicate of a pair wins, as in
  size_t duplicate_merges = 0;         // the reference implementations; duplicates are counted here)
  std::vector<std::string> merge_lines;  // each merge as "left right", the form whose SHA-256 is published
  size_t merges_not_derivable = 0;     // tiktoken only: multi-byte tokens no rank-limited BPE splits in two

  std::vector<AddedToken> added_tokens;
  BpeOptions bpe;

  // Pipeline configuration, kept as JSON (null when absent) for equality checks and for the encoder.
  nlohmann::json normalizer;
  nlohmann::json pre_tokenizer;
  nlohmann::json decoder;
  nlohmann::json post_processor;
  nlohmann::json config;  // tokenizer_config.json (null when absent)

  std::string file_sha256;  // of `path`

  bool has_id(uint32_t id) const { return id < present.size() && present[id]; }
  // Id of a model-vocabulary token, or nullopt.
  std::optional<uint32_t> find(std::string_view token) const;
  bool contains(std::string_view token) const { return token_to_id.find(vocab, token) >= 0; }
};

// Where a tokenizer lives under a path. `path` may be a directory (tokenizer.json preferred, then vocab.json +
// merges.txt, then a single *.tiktoken) or one of those files. When none is found, `file` is empty and
// `skip_reason` says what the directory holds instead (e.g. only tokenizer_config.json).
struct Located {
  std::filesystem::path file;
  SourceFormat format = SourceFormat::kTokenizerJson;
  std::string skip_reason;
};
Located locate_tokenizer(const std::filesystem::path& path);

// Loads the tokenizer under `path` (see locate_tokenizer). Throws IoError, FormatError or UsageError (no
// tokenizer there).
Tokenizer load_tokenizer(const std::filesystem::path& path);

// The readers, also usable on bytes in memory (tests, fuzzing). `file` names the input in error messages.
Tokenizer parse_tokenizer_json(std::string_view text, const std::string& file);
Tokenizer parse_vocab_merges(std::string_view vocab_json, std::string_view merges_txt, const std::string& vocab_file,
                             const std::string& merges_file);
Tokenizer parse_tiktoken(std::string_view text, const std::string& file);

// Applies tokenizer_config.json (or added_tokens.json for vocab.json + merges.txt) read from `text`.
void attach_config(Tokenizer& tok, std::string_view text, const std::string& file);

// Reads a whole regular file (refusing FIFOs and devices, and files over max_bytes).
std::string read_small_file(const std::filesystem::path& path, uint64_t max_bytes = kMaxTokenizerFileBytes);

std::string sha256_hex(std::string_view bytes);

}  // namespace fromscratch::tokenizer
