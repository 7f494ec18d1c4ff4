// An exact BPE encoder for tokenizer.json pipelines: added-token splitting, normalizers, pre-tokenizers and the
// BPE model, reproducing the reference implementation (Hugging Face tokenizers.js, the library that produced
// ../shared/data/golden/tokenizer-encodings.jsonl) id for id, without special tokens.
//
// Where tokenizers.js and the Rust tokenizers library read a configuration differently, this encoder follows
// tokenizers.js (docs/tokenizer.md lists the differences: Split behaviours other than Removed act as Isolated,
// Metaspace never splits, BPE dropout is ignored). Components it does not implement are refused when the
// Encoder is built, naming the tokenizer file and the component; nothing is silently skipped.
//
// Input text may be any bytes: ill-formed UTF-8 is first replaced as Node.js's decoder does (U+FFFD per
// maximal invalid subpart), which is what the reference sees when it reads the same bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fromscratch/tokenizer/tokenizer.hpp"

namespace fromscratch::tokenizer {

class Encoder {
 public:
  // Builds the pipeline of `tok`, which must outlive the Encoder. Throws FormatError for unsupported or
  // malformed pipeline components and for tiktoken files (they carry no pre-tokenizer pattern).
  explicit Encoder(const Tokenizer& tok);
  ~Encoder();
  Encoder(Encoder&&) noexcept;
  Encoder& operator=(Encoder&&) noexcept;

  // Token ids of `text`, without special tokens. Not thread-safe (the word cache is per Encoder).
  std::vector<uint32_t> encode(std::string_view text);
  void encode(std::string_view text, std::vector<uint32_t>& out);

  // Decoded bytes of an output id (model vocabulary or added token); empty for unknown ids. The table is
  // built on the first call.
  const std::string& id_bytes(uint32_t id);
  // Whether a leading space is added to the text (Prepend '▁' normalizer, Metaspace, ByteLevel prefix space).
  bool adds_prefix_space() const;

  struct Stats {
    uint64_t words = 0;        // pre-tokens given to the BPE model
    uint64_t cache_hits = 0;   // of those, answered from the word cache
  };
  const Stats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fromscratch::tokenizer
