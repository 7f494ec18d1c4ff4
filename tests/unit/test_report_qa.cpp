// The Q&A record: numbering, the marker, earlier entries, repeated appends, both languages, byte-for-byte
// preservation of everything but the inserted text, and the file wrapper (create, in place, locks).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/report/qa_record.hpp"

namespace fs = std::filesystem;
using namespace fromscratch;
using namespace fromscratch::report;

namespace {

QaEntry entry(std::string q, std::string a, std::string date = "2026-11-30") {
  return QaEntry{std::move(q), std::move(date), std::move(a)};
}

// The new text is the old one with one block inserted at one offset, nothing else touched.
void expect_only_insertion(const std::string& old_text, const QaAppendResult& r) {
  ASSERT_EQ(r.text.size(), old_text.size() + r.inserted_bytes);
  EXPECT_EQ(r.text.substr(0, r.inserted_at), old_text.substr(0, r.inserted_at));
  EXPECT_EQ(r.text.substr(r.inserted_at + r.inserted_bytes), old_text.substr(r.inserted_at));
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

template <class Fn>
std::string usage_error(Fn&& fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no UsageError";
  return "";
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "fromscratch-qa-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

TEST(QaRecord, ExactFormatEnglishThenSecondAppend) {
  const std::string old = "# T\n\nintro\n\n<!-- TUTORIAL_MARKER keep this text -->\ntail\n";
  QaAppendResult r = append_qa_entry(old, entry("Why?", "Because.\n"), QaLang::kEn);
  EXPECT_EQ(r.number, 1u);
  EXPECT_FALSE(r.marker_added);
  EXPECT_EQ(r.text,
            "# T\n\nintro\n\n"
            "### Q1: Why?\n\n**Asked**: 2026-11-30\n\n**Answer**:\n\nBecause.\n\n---\n\n"
            "<!-- TUTORIAL_MARKER keep this text -->\ntail\n");
  expect_only_insertion(old, r);

  // The second append goes above the marker again, after the first entry, which stays as it was.
  QaAppendResult r2 = append_qa_entry(r.text, entry("Next?", "Yes.", "2026-12-01"), QaLang::kEn);
  EXPECT_EQ(r2.number, 2u);
  EXPECT_EQ(r2.text,
            "# T\n\nintro\n\n"
            "### Q1: Why?\n\n**Asked**: 2026-11-30\n\n**Answer**:\n\nBecause.\n\n---\n\n"
            "### Q2: Next?\n\n**Asked**: 2026-12-01\n\n**Answer**:\n\nYes.\n\n---\n\n"
            "<!-- TUTORIAL_MARKER keep this text -->\ntail\n");
  expect_only_insertion(r.text, r2);
}

TEST(QaRecord, ExactFormatKorean) {
  const std::string old = "<!-- TUTORIAL_MARKER -->\n";
  QaAppendResult r = append_qa_entry(old, entry("X는 처음부터 학습되었나?", "**derived**: log10 p = -70"), QaLang::kKo);
  EXPECT_EQ(r.text,
            "### Q1: X는 처음부터 학습되었나?\n\n**질문 시각**: 2026-11-30\n\n**답변**:\n\n"
            "**derived**: log10 p = -70\n\n---\n\n<!-- TUTORIAL_MARKER -->\n");
  EXPECT_EQ(r.inserted_at, 0u);
  expect_only_insertion(old, r);
}

TEST(QaRecord, NumberingIsOneMoreThanTheHighestHeadingAnywhere) {
  EXPECT_EQ(append_qa_entry("<!-- TUTORIAL_MARKER -->\n", entry("q", "a"), QaLang::kEn).number, 1u);
  // Gaps, out-of-order headings, leading zeros and headings below the marker all count.
  std::string text =
      "### Q3: c\n\n---\n\n### Q1: a\n\n---\n\n### Q007: g\n\n---\n\n<!-- TUTORIAL_MARKER -->\n\n### Q12: after\n";
  EXPECT_EQ(scan_qa_text(text).highest_number, 12u);
  EXPECT_EQ(append_qa_entry(text, entry("q", "a"), QaLang::kEn).number, 13u);
  // A heading inside a fenced block counts too (a number is never reused).
  EXPECT_EQ(scan_qa_text("```\n### Q40: shown as an example\n```\n").highest_number, 40u);
  // Not headings: other levels, a space before the colon, no digits, indented.
  EXPECT_EQ(scan_qa_text("#### Q9: x\n### Q9 : x\n### Q: x\n ### Q9: x\n## Q9: x\n### q9: x\n").highest_number, 0u);
  EXPECT_EQ(scan_qa_text("### Q0: zero\n").highest_number, 0u);
  EXPECT_EQ(append_qa_entry("### Q0: zero\n\n---\n\n<!-- TUTORIAL_MARKER -->\n", entry("q", "a"), QaLang::kEn).number, 1u);
  EXPECT_EQ(scan_qa_text("### Q999999999: last\n").highest_number, 999999999u);
}

TEST(QaRecord, NumberAboveTheLimitIsAFormatErrorNamingTheLine) {
  try {
    scan_qa_text("intro\n### Q1000000000: too far\n", "notes.md");
    FAIL() << "no FormatError";
  } catch (const FormatError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("notes.md"), std::string::npos) << m;
    EXPECT_NE(m.find("line 2"), std::string::npos) << m;
    EXPECT_NE(m.find("999999999"), std::string::npos) << m;
  }
  EXPECT_THROW(scan_qa_text("### Q123456789012345678901234567890: x\n"), FormatError);
}

TEST(QaRecord, MarkerIsALineBeginningWithThePrefixAnyTextAfter) {
  for (std::string marker : {"<!-- TUTORIAL_MARKER -->", "<!-- TUTORIAL_MARKER: 새 항목은 위에 -->",
                             "<!-- TUTORIAL_MARKER", "<!-- TUTORIAL_MARKER_V2 whatever"}) {
    std::string old = "before\n\n" + marker + "\nafter\n";
    QaAppendResult r = append_qa_entry(old, entry("q", "a"), QaLang::kEn);
    EXPECT_FALSE(r.marker_added) << marker;
    EXPECT_EQ(r.inserted_at, 8u) << marker;
    expect_only_insertion(old, r);
  }
  // Not markers: indented, mid-line, a different comment.
  for (std::string text : {" <!-- TUTORIAL_MARKER -->\n", "see <!-- TUTORIAL_MARKER -->\n", "<!-- TUTORIAL -->\n",
                           "<!--TUTORIAL_MARKER-->\n"}) {
    EXPECT_FALSE(scan_qa_text(text).has_marker) << text;
  }
  // A marker on the last line without a line ending, and after a byte-order mark on the first line.
  EXPECT_TRUE(scan_qa_text("x\n<!-- TUTORIAL_MARKER -->").has_marker);
  QaScan bom = scan_qa_text("\xEF\xBB\xBF<!-- TUTORIAL_MARKER -->\n");
  EXPECT_TRUE(bom.has_marker);
  EXPECT_EQ(bom.marker_offset, 0u);
}

TEST(QaRecord, FirstOfSeveralMarkersIsUsedAndTheOthersStay) {
  const std::string old = "a\n\n<!-- TUTORIAL_MARKER one -->\n\nb\n\n<!-- TUTORIAL_MARKER two -->\n";
  QaScan s = scan_qa_text(old);
  EXPECT_EQ(s.marker_lines, 2u);
  EXPECT_EQ(s.marker_line, 3u);
  QaAppendResult r = append_qa_entry(old, entry("q", "a"), QaLang::kEn);
  EXPECT_EQ(r.inserted_at, 3u);
  expect_only_insertion(old, r);
  EXPECT_NE(r.text.find("<!-- TUTORIAL_MARKER two -->\n"), std::string::npos);
}

TEST(QaRecord, MarkerInsideAFencedBlockIsAnExampleNotTheMarker) {
  const std::string old =
      "How the record looks:\n\n```markdown\n### Q1: example\n<!-- TUTORIAL_MARKER -->\n```\n\n"
      "~~~~\n<!-- TUTORIAL_MARKER -->\n~~~\nstill fenced\n~~~~\n\n<!-- TUTORIAL_MARKER real -->\n";
  QaScan s = scan_qa_text(old);
  EXPECT_EQ(s.marker_lines, 1u);
  EXPECT_EQ(old.substr(s.marker_offset, 27), "<!-- TUTORIAL_MARKER real -");
  QaAppendResult r = append_qa_entry(old, entry("q", "a"), QaLang::kEn);
  EXPECT_EQ(r.number, 2u);  // the example heading counts
  EXPECT_EQ(r.inserted_at, s.marker_offset);
  expect_only_insertion(old, r);
}

TEST(QaRecord, WithoutMarkerTheEntryAndAMarkerAreAppendedAtTheEnd) {
  const std::string old = "# my notes\n\nsomething";  // no final newline
  QaAppendResult r = append_qa_entry(old, entry("q", "a"), QaLang::kEn);
  EXPECT_TRUE(r.marker_added);
  EXPECT_EQ(r.inserted_at, old.size());
  EXPECT_EQ(r.text,
            "# my notes\n\nsomething\n\n### Q1: q\n\n**Asked**: 2026-11-30\n\n**Answer**:\n\na\n\n---\n\n"
            "<!-- TUTORIAL_MARKER: new entries go directly above this line -->\n");
  expect_only_insertion(old, r);
  // The next append lands above the new marker, not at the end again.
  QaAppendResult r2 = append_qa_entry(r.text, entry("q2", "b"), QaLang::kEn);
  EXPECT_FALSE(r2.marker_added);
  EXPECT_EQ(r2.number, 2u);
  EXPECT_EQ(r2.inserted_at, r.text.find("<!-- TUTORIAL_MARKER"));
}

TEST(QaRecord, EmptyTextGetsTitleEntryAndMarker) {
  QaAppendResult ko = append_qa_entry("", entry("질문", "답"), QaLang::kKo);
  EXPECT_TRUE(ko.created);
  EXPECT_EQ(ko.text.rfind("# 질의응답 기록", 0), 0u);
  EXPECT_NE(ko.text.find("### Q1: 질문\n\n**질문 시각**: 2026-11-30\n\n**답변**:\n\n답\n\n---\n\n<!-- TUTORIAL_MARKER"),
            std::string::npos);
  QaAppendResult en = append_qa_entry("", entry("q", "a"), QaLang::kEn);
  EXPECT_EQ(en.text.rfind("# Q&A record", 0), 0u);
  EXPECT_TRUE(scan_qa_text(en.text).has_marker);
}

TEST(QaRecord, SeparatorAddedWhenTheLastEntryLacksOne) {
  // An entry written by hand without its "---", then text right above the marker.
  const std::string old = "### Q4: old\n\nanswer text\n<!-- TUTORIAL_MARKER -->\n";
  QaAppendResult r = append_qa_entry(old, entry("q", "a"), QaLang::kEn);
  EXPECT_EQ(r.number, 5u);
  EXPECT_EQ(r.text,
            "### Q4: old\n\nanswer text\n\n---\n\n### Q5: q\n\n**Asked**: 2026-11-30\n\n**Answer**:\n\na\n\n---\n\n"
            "<!-- TUTORIAL_MARKER -->\n");
  expect_only_insertion(old, r);
  // An existing "- - -" or "-----" counts as a separator.
  QaAppendResult r2 = append_qa_entry("### Q1: a\n\nx\n\n- - -\n<!-- TUTORIAL_MARKER -->\n", entry("q", "a"), QaLang::kEn);
  EXPECT_EQ(r2.text.find("---\n\n### Q2"), std::string::npos);
  EXPECT_NE(r2.text.find("- - -\n\n### Q2: q"), std::string::npos);
}

TEST(QaRecord, CrlfFilesGetCrlfAndKeepEveryOtherByte) {
  const std::string old = "# T\r\n\r\n### Q1: a\r\n\r\nb\r\n\r\n---\r\n\r\n<!-- TUTORIAL_MARKER -->\r\nend\r\n";
  EXPECT_TRUE(scan_qa_text(old).crlf);
  QaAppendResult r = append_qa_entry(old, entry("q", "line one\nline two\r\nline three"), QaLang::kKo);
  expect_only_insertion(old, r);
  std::string ins = r.text.substr(r.inserted_at, r.inserted_bytes);
  EXPECT_EQ(ins,
            "### Q2: q\r\n\r\n**질문 시각**: 2026-11-30\r\n\r\n**답변**:\r\n\r\nline one\r\nline two\r\nline three\r\n\r\n"
            "---\r\n\r\n");
  // A CRLF file without a marker gets a CRLF marker line.
  QaAppendResult r2 = append_qa_entry("notes\r\n", entry("q", "a"), QaLang::kEn);
  EXPECT_NE(r2.text.find("-->\r\n"), std::string::npos);
  EXPECT_EQ(r2.text.find("\n\n"), std::string::npos);  // no bare LF pair anywhere
  // An LF file gets LF even when the answer came with CRLF.
  QaAppendResult r3 = append_qa_entry("<!-- TUTORIAL_MARKER -->\n", entry("q", "x\r\ny"), QaLang::kEn);
  EXPECT_EQ(r3.text.find('\r'), std::string::npos);
}

TEST(QaRecord, RestOfTheFileIsPreservedByteForByteEvenWhenNotUtf8) {
  std::string old = "title \xff\xfe bytes\n";
  old += std::string("nul\0inside\n", 11);
  old += "\xC3\x28 broken\n\n### Q2: earlier\n\nkept \x80\n\n---\n\n<!-- TUTORIAL_MARKER \xE2\x82 -->\n\xF0\x9F trailing";
  QaAppendResult r = append_qa_entry(old, entry("q", "a"), QaLang::kEn);
  EXPECT_EQ(r.number, 3u);
  expect_only_insertion(old, r);
  EXPECT_EQ(r.inserted_at, old.find("<!-- TUTORIAL_MARKER"));
}

TEST(QaRecord, AnswerIsNormalisedOnlyAtItsEdges) {
  QaAppendResult r = append_qa_entry("<!-- TUTORIAL_MARKER -->\n",
                                     entry("  spaced question  ", "\n\n    code line\n\n| a | b |\n|---|---|\n\n\n  \n"),
                                     QaLang::kEn);
  EXPECT_NE(r.text.find("### Q1: spaced question\n"), std::string::npos);
  EXPECT_NE(r.text.find("**Answer**:\n\n    code line\n\n| a | b |\n|---|---|\n\n---\n\n"), std::string::npos);
  // A closed fence in the answer is fine and does not hide the marker next time.
  QaAppendResult r2 = append_qa_entry(r.text, entry("q", "```sh\nfromscratch verify x --against y\n```"), QaLang::kEn);
  QaAppendResult r3 = append_qa_entry(r2.text, entry("q", "a"), QaLang::kEn);
  EXPECT_FALSE(r3.marker_added);
  EXPECT_EQ(r3.number, 3u);
}

TEST(QaRecord, MalformedEntriesAreUsageErrorsSayingWhy) {
  const std::string m = "<!-- TUTORIAL_MARKER -->\n";
  EXPECT_NE(usage_error([&] { append_qa_entry(m, entry("", "a"), QaLang::kEn); }).find("question is empty"), std::string::npos);
  EXPECT_NE(usage_error([&] { append_qa_entry(m, entry("two\nlines", "a"), QaLang::kEn); }).find("one line"), std::string::npos);
  EXPECT_NE(usage_error([&] { append_qa_entry(m, entry("bad \xff", "a"), QaLang::kEn); }).find("UTF-8"), std::string::npos);
  EXPECT_NE(usage_error([&] { append_qa_entry(m, entry("q", " \n\t\n"), QaLang::kEn); }).find("answer is empty"), std::string::npos);
  EXPECT_NE(usage_error([&] { append_qa_entry(m, entry("q", "a\xC0\xAF"), QaLang::kEn); }).find("UTF-8 at byte 1"), std::string::npos);
  EXPECT_NE(usage_error([&] { append_qa_entry(m, entry("q", "a\x01"), QaLang::kEn); }).find("control character 0x01"), std::string::npos);
  EXPECT_NE(usage_error([&] { append_qa_entry(m, entry("q", "x\n<!-- TUTORIAL_MARKER -->"), QaLang::kEn); }).find("line 2"), std::string::npos);
  EXPECT_NE(usage_error([&] { append_qa_entry(m, entry("q", "### Q3: fake"), QaLang::kEn); }).find("Q3"), std::string::npos);
  EXPECT_NE(usage_error([&] { append_qa_entry(m, entry("q", "text\n\n```\nnever closed"), QaLang::kEn); }).find("line 3"), std::string::npos);
  for (std::string d : {"2026-2-1", "2026/02/01", "2026-13-01", "2026-02-30", "2025-02-29", "1899-12-31", "2026-00-10", "abcd-ef-gh"})
    EXPECT_NE(usage_error([&] { append_qa_entry(m, entry("q", "a", d), QaLang::kEn); }).find("YYYY-MM-DD"), std::string::npos) << d;
  EXPECT_NO_THROW(append_qa_entry(m, entry("q", "a", "2024-02-29"), QaLang::kEn));
  EXPECT_NO_THROW(check_iso_date(today_iso_date()));
  EXPECT_THROW(parse_qa_lang("kr"), UsageError);
  EXPECT_EQ(parse_qa_lang("ko"), QaLang::kKo);
  EXPECT_EQ(parse_qa_lang("en"), QaLang::kEn);
}

TEST(QaRecord, OversizedTextIsRefused) {
  std::string big(kQaMaxFileBytes + 1, 'x');
  EXPECT_THROW(append_qa_entry(big, entry("q", "a"), QaLang::kEn), FormatError);
}

TEST(QaRecord, DerivationQuestionInBothLanguages) {
  EXPECT_EQ(derivation_question("Solar-Open-100B", {"GLM-4.5-Air"}, QaLang::kEn),
            "Was Solar-Open-100B trained from scratch, or derived from GLM-4.5-Air?");
  EXPECT_EQ(derivation_question("c", {"a", "b"}, QaLang::kEn), "Was c trained from scratch, or derived from a or b?");
  EXPECT_EQ(derivation_question("c", {"a", "b", "d"}, QaLang::kEn),
            "Was c trained from scratch, or derived from a, b or d?");
  EXPECT_EQ(derivation_question("c", {}, QaLang::kEn), "Was c trained from scratch?");
  EXPECT_EQ(derivation_question("Solar-Open-100B", {"GLM-4.5-Air"}, QaLang::kKo),
            "Solar-Open-100B: 처음부터 학습한(from scratch) 모델인가, 아니면 GLM-4.5-Air에서 파생된 모델인가?");
  EXPECT_EQ(derivation_question("c", {"a", "b", "d"}, QaLang::kKo),
            "c: 처음부터 학습한(from scratch) 모델인가, 아니면 a, b 또는 d에서 파생된 모델인가?");
  EXPECT_EQ(derivation_question("c", {}, QaLang::kKo), "c: 처음부터 학습한(from scratch) 모델인가?");
  // Names with line breaks or broken bytes still make a one-line question the record accepts.
  std::string q = derivation_question("evil\nname", {"x\xff"}, QaLang::kEn);
  EXPECT_EQ(q, "Was evil name trained from scratch, or derived from x??");
  EXPECT_NO_THROW(append_qa_entry("", entry(q, "a"), QaLang::kEn));
}

TEST(QaRecordFile, CreatesThenAppendsInPlace) {
  TempDir dir;
  fs::path p = dir.path() / "qa.md";
  const mode_t old_mask = ::umask(027);
  QaAppendResult a = append_qa_entry_to_file(p.string(), entry("first", "one"), QaLang::kKo);
  ::umask(old_mask);
  EXPECT_TRUE(a.created);
  EXPECT_EQ(read_file(p), a.text);
  struct stat created{};
  ASSERT_EQ(::stat(p.c_str(), &created), 0);
  EXPECT_EQ(created.st_mode & 0777, 0640u);  // a new file: 0666 less the umask, like any other
  ::chmod(p.c_str(), 0604);
  QaAppendResult b = append_qa_entry_to_file(p.string(), entry("second", "two"), QaLang::kKo);
  EXPECT_EQ(b.number, 2u);
  EXPECT_FALSE(b.created);
  EXPECT_EQ(read_file(p), b.text);
  expect_only_insertion(a.text, b);
  struct stat st{};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0604u);  // an existing file keeps its mode
  // No temporary file left behind.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST(QaRecordFile, WritesThroughASymlink) {
  TempDir dir;
  fs::path target = dir.path() / "real.md";
  fs::path link = dir.path() / "link.md";
  write_file(target, "<!-- TUTORIAL_MARKER -->\n");
  fs::create_symlink(target, link);
  append_qa_entry_to_file(link.string(), entry("q", "a"), QaLang::kEn);
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_NE(read_file(target).find("### Q1: q"), std::string::npos);
}

TEST(QaRecordFile, RefusalsLeaveTheFileAsItWas) {
  TempDir dir;
  EXPECT_THROW(append_qa_entry_to_file((dir.path() / "no-such-folder" / "qa.md").string(), entry("q", "a"), QaLang::kEn),
               IoError);
  EXPECT_THROW(append_qa_entry_to_file(dir.path().string(), entry("q", "a"), QaLang::kEn), IoError);
  // A FIFO is refused at once (opened non-blocking, then checked), never waited on.
  fs::path fifo = dir.path() / "fifo.md";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  EXPECT_THROW(append_qa_entry_to_file(fifo.string(), entry("q", "a"), QaLang::kEn), IoError);
  fs::path p = dir.path() / "qa.md";
  const std::string old = "<!-- TUTORIAL_MARKER -->\n";
  write_file(p, old);
  // A bad entry is refused before anything is written.
  EXPECT_THROW(append_qa_entry_to_file(p.string(), entry("q", "a", "2026-02-31"), QaLang::kEn), UsageError);
  EXPECT_EQ(read_file(p), old);
  // Too large: refused, unchanged (a sparse file, so the test costs no disk).
  fs::path big = dir.path() / "big.md";
  write_file(big, old);
  fs::resize_file(big, kQaMaxFileBytes + 1);
  EXPECT_THROW(append_qa_entry_to_file(big.string(), entry("q", "a"), QaLang::kEn), FormatError);
  EXPECT_EQ(fs::file_size(big), kQaMaxFileBytes + 1);
  if (::geteuid() != 0) {  // root may write anything; the permission checks mean nothing then
    ::chmod(p.c_str(), 0444);
    EXPECT_THROW(append_qa_entry_to_file(p.string(), entry("q", "a"), QaLang::kEn), IoError);
    EXPECT_EQ(read_file(p), old);
    ::chmod(p.c_str(), 0644);
    fs::permissions(dir.path(), fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                    fs::perm_options::remove);
    EXPECT_THROW(append_qa_entry_to_file(p.string(), entry("q", "a"), QaLang::kEn), IoError);
    fs::permissions(dir.path(), fs::perms::owner_write, fs::perm_options::add);
    EXPECT_EQ(read_file(p), old);
  }
}

TEST(QaRecordFile, ConcurrentAppendsAllLandNumberedInTurn) {
  TempDir dir;
  fs::path p = dir.path() / "qa.md";
  constexpr int kThreads = 4, kEach = 5;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i)
        append_qa_entry_to_file(p.string(), entry("thread " + std::to_string(t) + " item " + std::to_string(i), "a"),
                                QaLang::kEn);
    });
  }
  for (auto& t : ts) t.join();
  const std::string text = read_file(p);
  QaScan s = scan_qa_text(text);
  EXPECT_EQ(s.entries, size_t(kThreads * kEach));
  EXPECT_EQ(s.highest_number, uint64_t(kThreads * kEach));
  EXPECT_EQ(s.marker_lines, 1u);
  std::set<std::string> questions;
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kEach; ++i) {
      std::string q = ": thread " + std::to_string(t) + " item " + std::to_string(i) + "\n";
      EXPECT_NE(text.find(q), std::string::npos) << q;
    }
  for (int n = 1; n <= kThreads * kEach; ++n)
    EXPECT_NE(text.find("### Q" + std::to_string(n) + ": "), std::string::npos) << n;
}

TEST(QaRecord, FileEndingInsideAnOpenFenceGetsTheFenceClosedFirst) {
  const std::string old = "notes\n\n~~~~\nsome code, never closed";
  QaScan s = scan_qa_text(old);
  EXPECT_FALSE(s.has_marker);
  EXPECT_EQ(s.unclosed_fence, "~~~~");
  QaAppendResult r = append_qa_entry(old, entry("q", "a"), QaLang::kEn);
  expect_only_insertion(old, r);
  EXPECT_EQ(r.text.substr(old.size(), 12), "\n~~~~\n\n### Q");
  QaScan after = scan_qa_text(r.text);
  EXPECT_TRUE(after.has_marker);  // the new marker is outside any fence
  EXPECT_TRUE(after.unclosed_fence.empty());
  EXPECT_FALSE(append_qa_entry(r.text, entry("q2", "b"), QaLang::kEn).marker_added);
}

// Seeded random texts built from the pieces a record is made of (markers, headings, fences, separators, CRLF,
// stray bytes): every append is one insertion, numbers go up by one, the marker in use stays the first one, and
// a second append lands above the same marker. Seed from FROMSCRATCH_QA_SEED to reproduce a failure.
TEST(QaRecord, RandomRecordsKeepTheInvariants) {
  uint64_t seed = 20261130;
  if (const char* v = std::getenv("FROMSCRATCH_QA_SEED")) seed = std::strtoull(v, nullptr, 10);
  std::mt19937_64 rng(seed);
  const std::vector<std::string> pieces = {
      "<!-- TUTORIAL_MARKER -->", "<!-- TUTORIAL_MARKER x", " <!-- TUTORIAL_MARKER", "### Q1: a", "### Q17: b",
      "### Q0042: c", "#### Q9: d", "### Q: e", "```", "```sh", "~~~", "````", "   ```", "---", "- - -", "",
      "   ", "text", "**Answer**:", "\xEF\xBB\xBF", "\xff\xfe", std::string("\0", 1), "\r", "| a | b |"};
  for (int iter = 0; iter < 3000; ++iter) {
    std::string text;
    const int lines = int(rng() % 14);
    const bool crlf = rng() % 3 == 0;
    for (int i = 0; i < lines; ++i) {
      text += pieces[rng() % pieces.size()];
      if (i + 1 < lines || rng() % 2) text += crlf ? "\r\n" : "\n";
    }
    SCOPED_TRACE(testing::Message() << "seed " << seed << " iteration " << iter << " text \"" << text << "\"");
    const QaScan before = scan_qa_text(text);
    const QaLang lang = rng() % 2 ? QaLang::kKo : QaLang::kEn;
    std::string answer = rng() % 2 ? "plain answer" : "first\n\n```sh\nfromscratch qa scan x\n```\nlast";
    QaAppendResult r = append_qa_entry(text, entry("question", answer), lang);
    expect_only_insertion(text, r);
    const QaScan after = scan_qa_text(r.text);
    EXPECT_EQ(r.number, before.highest_number + 1);
    EXPECT_EQ(after.highest_number, r.number);
    EXPECT_EQ(after.entries, before.entries + 1);
    ASSERT_TRUE(after.has_marker);
    EXPECT_TRUE(after.unclosed_fence.empty() || before.has_marker);
    if (before.has_marker) {
      EXPECT_FALSE(r.marker_added);
      EXPECT_EQ(r.inserted_at, before.marker_offset);
      EXPECT_EQ(after.marker_offset, before.marker_offset + r.inserted_bytes);
      EXPECT_EQ(after.marker_lines, before.marker_lines);
    } else {
      EXPECT_TRUE(r.marker_added);
      EXPECT_EQ(after.marker_lines, before.marker_lines + 1);
    }
    // The entry's heading starts a line, and the line before it is blank (or the file starts there).
    size_t h = r.text.find("### Q" + std::to_string(r.number) + ": question");
    ASSERT_NE(h, std::string::npos);
    ASSERT_TRUE(h == 0 || r.text[h - 1] == '\n');
    if (h > 0) {
      size_t b = r.text.rfind('\n', h - 2 < h ? h - 2 : 0);
      b = (h < 2 || b == std::string::npos) ? 0 : b + 1;
      std::string prev = r.text.substr(b, h - 1 - b);
      EXPECT_EQ(prev.find_first_not_of(" \t\r"), std::string::npos) << "line before the heading: " << prev;
    }
    QaAppendResult r2 = append_qa_entry(r.text, entry("again", "b"), lang);
    EXPECT_EQ(r2.number, r.number + 1);
    EXPECT_FALSE(r2.marker_added);
    EXPECT_EQ(r2.inserted_at, after.marker_offset);
  }
}
