// The Q&A record: a Markdown file that grows by one numbered entry per investigation.
//
// The project this tool grew from keeps its findings as a Q&A tutorial. The file holds a marker line, a line
// that begins with `<!-- TUTORIAL_MARKER` (any text may follow on that line); each new entry goes directly
// above it, as
//
//     ### Q{N}: {question}
//
//     **질문 시각**: {YYYY-MM-DD}          (English: **Asked**: {YYYY-MM-DD})
//
//     **답변**:                            (English: **Answer**:)
//
//     {answer, Markdown}
//
//     ---
//
// N is one more than the highest `### Q<digits>:` heading anywhere in the file. Nothing else in the file
// changes: the result is the old bytes with the entry inserted at one offset (byte-for-byte, whatever the
// rest of the file holds, invalid UTF-8 included). Decisions on the edge cases (tested in
// tests/unit/test_report_qa.cpp):
//
//   * Marker: a line whose first bytes are `<!-- TUTORIAL_MARKER` (column 0; after a UTF-8 byte-order mark on
//     the first line). Marker lines inside fenced code blocks (``` or ~~~) are ignored, so a document may
//     show the format. With several marker lines the FIRST one is used and the others are left as they are.
//   * No marker (a Markdown file that lost it, or notes the user wants to start a record in): the entry is
//     appended at the end, followed by a new marker line, so the next append lands above it. Nothing is
//     refused and nothing existing moves. If the file ends inside an unclosed fenced code block, a closing
//     fence line is inserted first (otherwise the entry and the marker would be code).
//   * A missing or empty file is created with a title line, the entry and the marker.
//   * Numbering counts `### Q<digits>:` headings on any line (fenced blocks included: a number is never
//     reused). A number above kMaxQaNumber is a FormatError naming the line.
//   * Line endings: when the marker line ends in CRLF (or, without a marker, the file's first line does), the
//     inserted text uses CRLF; otherwise LF. The answer's own line endings are normalised to the file's.
//   * Separators: the entry ends with a `---` line. If entries already stand above the marker and the last
//     non-blank line there is not `---`, a `---` line is inserted first. A blank line always precedes `---`
//     (otherwise Markdown would read the line above it as a heading).
//   * The question is one line, the date a real YYYY-MM-DD date; the question and the answer are valid UTF-8
//     with no control characters other than tab (and newlines in the answer), and the answer holds no marker
//     line and no `### Q<digits>:` heading (either would corrupt the next append). Breaking any of these is a
//     UsageError that says which.
//   * Size: a file over kMaxQaFileBytes is refused (FormatError naming the size and the limit): the file is
//     rewritten whole, and a Q&A record that large is not one.
//   * The file wrapper writes a temporary file in the same folder and renames it over the original (a reader
//     sees the old file or the new one, never half), keeps the file's permission bits, writes through a
//     symlink to its target, refuses a file the user cannot write and anything but a regular file, and takes
//     an flock so that two runs appending to one file at once (a Slurm array) both land, numbered in turn;
//     the new file and its folder entry are fsynced before the call returns.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fromscratch::report {

enum class QaLang { kKo, kEn };

// "ko" or "en"; anything else is a UsageError naming the value.
QaLang parse_qa_lang(std::string_view s);
const char* qa_lang_name(QaLang lang);

struct QaEntry {
  std::string question;         // one line, e.g. derivation_question(...)
  std::string date;             // YYYY-MM-DD
  std::string answer_markdown;  // the verdict, its key numbers, the command that reproduces them
};

inline constexpr std::string_view kQaMarkerPrefix = "<!-- TUTORIAL_MARKER";
inline constexpr uint64_t kQaMaxNumber = 999'999'999;
inline constexpr uint64_t kQaMaxFileBytes = 64ull << 20;

// What a scan of an existing record finds.
struct QaScan {
  bool has_marker = false;
  size_t marker_offset = 0;    // byte offset of the start of the first marker line (outside fences)
  size_t marker_line = 0;      // its 1-based line number
  size_t marker_lines = 0;     // how many marker lines outside fences
  uint64_t highest_number = 0; // highest `### Q<digits>:` (0 when none)
  size_t entries = 0;          // how many such headings
  bool crlf = false;           // the inserted text's line ending (see above)
  std::string unclosed_fence;  // the fence that would close a fenced block still open at the end ("" if none)
};

// Throws FormatError (naming `file` and the line) on a Q number above kQaMaxNumber.
QaScan scan_qa_text(std::string_view text, const std::string& file = "<text>");

struct QaAppendResult {
  std::string text;             // the whole new file
  uint64_t number = 0;          // N of the new entry
  size_t inserted_at = 0;       // byte offset where the insertion starts (old bytes before it, unchanged)
  size_t inserted_bytes = 0;    // new text = old[0, inserted_at) + inserted + old[inserted_at, end)
  bool marker_added = false;    // the text had no marker (a new marker line is part of the insertion)
  bool created = false;         // the text was empty: title, entry and marker
};

// The record with `entry` inserted (see the rules above). Throws UsageError for a malformed entry and
// FormatError for an impossible existing text.
QaAppendResult append_qa_entry(std::string_view existing_text, const QaEntry& entry, QaLang lang,
                               const std::string& file = "<text>");

// The same on a file: creates it when missing, otherwise inserts in place (temporary file + rename, under an
// flock). Throws IoError (path and errno text) when the file or its folder cannot be read or written.
// result.text is the new content.
QaAppendResult append_qa_entry_to_file(const std::string& path, const QaEntry& entry, QaLang lang);

// Just the entry block, as append_qa_entry inserts it above the marker (LF endings, no leading separator).
std::string render_qa_entry(const QaEntry& entry, uint64_t number, QaLang lang);

// The standard question of a verify run:
//   en: "Was X trained from scratch, or derived from Y?" ("... derived from Y or Z?", "Y, Z or W")
//   ko: "X: 처음부터 학습한(from scratch) 모델인가, 아니면 Y에서 파생된 모델인가?" ("Y 또는 Z에서", "Y, Z 또는 W에서")
// The Korean form puts the name before a colon, so no particle has to agree with how a Latin-script model
// name is read. Control characters in names become spaces (the question is a one-line heading).
std::string derivation_question(const std::string& candidate, const std::vector<std::string>& references,
                                QaLang lang);

// Today's date in local time, YYYY-MM-DD.
std::string today_iso_date();
// Throws UsageError unless `date` is YYYY-MM-DD and a real calendar date (1900..9999).
void check_iso_date(std::string_view date);

}  // namespace fromscratch::report
