// The multilingual corpus for the encoding metrics (tokens per character, words split identically): English,
// Korean, Chinese, Japanese, code, numbers and emoji, written for this project and compiled into the tool so
// that every run measures the same text. `--corpus FILE` replaces it with JSON lines {"category", "text"}.
#pragma once

#include <string>
#include <vector>

namespace fromscratch::tokenizer {

struct CorpusEntry {
  std::string category;
  std::string text;
};
using Corpus = std::vector<CorpusEntry>;

const Corpus& builtin_corpus();
// Reads JSON lines {"category": ..., "text": ...}; throws FormatError naming the line.
Corpus read_corpus(const std::string& path);

// Words of a text: maximal runs of non-whitespace (JavaScript's whitespace, as the encoders use).
std::vector<std::string> corpus_words(const std::string& text);

// What one tokenizer did with the corpus. Word signatures are aligned across tokenizers (same corpus, same
// word order), so two profiles compare word by word.
struct CorpusProfile {
  bool available = false;
  std::string skip_reason;
  struct Category {
    std::string name;
    size_t chars = 0;   // code points
    size_t tokens = 0;  // tokens of the texts encoded whole
    std::vector<std::string> word_signatures;  // the word's pieces as decoded bytes, length-prefixed
  };
  std::vector<Category> categories;
};

}  // namespace fromscratch::tokenizer
