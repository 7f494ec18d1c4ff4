// The data the behaviour probes ship with (compiled into the binary from src/behave/data/) and the readers
// of users' own files in the same formats: the multilingual prompt corpus, the dated question bank and the
// refusal/identity prompts. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fromscratch::behave {

// A user's data file, whole (at most `limit` bytes); throws IoError naming the path.
std::string read_text_file(const std::string& path, size_t limit = 64u << 20);

// Bytes of a shipped data file ("prompts.txt", "questions.jsonl", "refusal.txt"); throws UsageError otherwise.
std::string_view builtin_file(std::string_view name);

// Corpus: one text a line, '#' comments and blank lines skipped, a literal "\n" stands for a newline.
std::vector<std::string> corpus_lines(std::string_view text);
// n distinct prompts drawn with a fixed seed: a line and a prefix of 12..51 code points of it (never cut inside
// a UTF-8 sequence). The same (corpus, n, seed) always gives the same prompts in the same order.
std::vector<std::string> draw_prompts(const std::vector<std::string>& lines, size_t n, uint64_t seed);

// Question bank: JSON lines {"month": "YYYY-MM", "question": "...", "answers": ["..."], "source": "URL"}; a
// line with a "format" key is a header; '#' lines are comments. Malformed lines throw one FormatError that
// names every bad line (file, line number, field, value).
struct Question {
  int month = 0;
  std::string question;
  std::vector<std::string> answers;
  std::string source;
  size_t line = 0;
};
std::vector<Question> parse_question_bank(std::string_view text, const std::string& path);
// Whether any accepted answer occurs in the reply (case-insensitive for ASCII letters).
bool answer_matches(std::string_view reply, const std::vector<std::string>& answers);

// Refusal/identity prompts: KIND<TAB>TEXT a line, KIND is "refuse" or "identity".
struct ProbePrompt {
  std::string kind;
  std::string text;
};
std::vector<ProbePrompt> parse_probe_prompts(std::string_view text, const std::string& path);

}  // namespace fromscratch::behave
