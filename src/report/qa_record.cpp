// The Q&A record (include/fromscratch/report/qa_record.hpp): scan, insert above the marker, write in place.
#include "fromscratch/report/qa_record.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <filesystem>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::report {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// One line of a text: [begin, end) without its '\n'; `content` also without a final '\r'.
struct Line {
  size_t begin = 0;
  size_t end = 0;        // offset of the '\n' (or text.size() for a last line without one)
  bool has_newline = false;
  std::string_view content;
};

template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  size_t pos = 0;
  size_t number = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    Line l;
    l.begin = pos;
    l.end = nl == std::string_view::npos ? text.size() : nl;
    l.has_newline = nl != std::string_view::npos;
    l.content = text.substr(pos, l.end - pos);
    if (!l.content.empty() && l.content.back() == '\r') l.content.remove_suffix(1);
    ++number;
    if (!fn(l, number)) return;
    pos = l.has_newline ? l.end + 1 : text.size();
  }
}

bool is_blank(std::string_view s) { return s.find_first_not_of(" \t") == std::string_view::npos; }

// A thematic break made of hyphens ("---", "- - -", "-----"), the entries' separator.
bool is_hyphen_break(std::string_view s) {
  size_t hyphens = 0;
  for (char c : s) {
    if (c == '-') ++hyphens;
    else if (c != ' ' && c != '\t') return false;
  }
  return hyphens >= 3;
}

// Tracks fenced code blocks (CommonMark: up to 3 spaces, then >= 3 backticks or tildes; the closing fence
// uses the same character, at least as many, and nothing else but spaces).
class FenceTracker {
 public:
  // Feeds one line; returns true when the line is inside a fence or is a fence line itself.
  bool feed(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && i < 3 && s[i] == ' ') ++i;
    size_t run = 0;
    char c = i < s.size() ? s[i] : '\0';
    if (c == '`' || c == '~') {
      while (i + run < s.size() && s[i + run] == c) ++run;
    }
    if (open_) {
      if (run >= 3 && c == fence_char_ && run >= fence_len_ && is_blank(s.substr(i + run))) open_ = false;
      return true;
    }
    if (run >= 3 && !(c == '`' && s.substr(i + run).find('`') != std::string_view::npos)) {
      open_ = true;
      fence_char_ = c;
      fence_len_ = run;
      return true;
    }
    return false;
  }
  bool open() const { return open_; }
  std::string closing_fence() const { return std::string(fence_len_, fence_char_); }

 private:
  bool open_ = false;
  char fence_char_ = '\0';
  size_t fence_len_ = 0;
};

// `### Q<digits>:` at column 0. Returns false when the line is no such heading; sets `digits` otherwise.
bool q_heading_digits(std::string_view s, std::string_view& digits) {
  constexpr std::string_view kHead = "### Q";
  if (s.substr(0, kHead.size()) != kHead) return false;
  size_t i = kHead.size();
  size_t j = i;
  while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
  if (j == i || j >= s.size() || s[j] != ':') return false;
  digits = s.substr(i, j - i);
  return true;
}

bool is_marker(std::string_view s) { return s.substr(0, kQaMarkerPrefix.size()) == kQaMarkerPrefix; }

// Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code points above U+10FFFF
// included), or npos when the text is valid.
size_t first_invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
    else return i;
    if (i + n >= s.size()) return i;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += n + 1;
  }
  return std::string_view::npos;
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

std::string clean_question(std::string_view q) {
  std::string t = trim(q);
  if (t.empty()) throw UsageError("Q&A entry: the question is empty");
  if (size_t bad = first_invalid_utf8(t); bad != std::string_view::npos)
    throw UsageError(str("Q&A entry: the question is not valid UTF-8 at byte ", bad, ": \"", quote_untrusted(t), "\""));
  for (unsigned char c : t) {
    if (c < 0x20 || c == 0x7F)
      throw UsageError(str("Q&A entry: the question must be one line without control characters: \"",
                           quote_untrusted(t), "\""));
  }
  return t;
}

// The answer with LF endings, without leading and trailing blank lines; checked (see the header).
std::string clean_answer(std::string_view a) {
  if (size_t bad = first_invalid_utf8(a); bad != std::string_view::npos)
    throw UsageError(str("Q&A entry: the answer is not valid UTF-8 at byte ", bad));
  std::string s;
  s.reserve(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c == '\r') {
      s += '\n';
      if (i + 1 < a.size() && a[i + 1] == '\n') ++i;
      continue;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7F)
      throw UsageError(str("Q&A entry: the answer holds control character 0x", to_hex(&u, 1), " at byte ", i));
    s += c;
  }
  // Trailing whitespace and blank lines go; leading blank lines go (leading spaces stay: they mean code).
  size_t e = s.find_last_not_of(" \t\n");
  if (e == std::string::npos) throw UsageError("Q&A entry: the answer is empty");
  s.erase(e + 1);
  size_t first_line = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n') first_line = i + 1;
    else if (s[i] != ' ' && s[i] != '\t') break;
  }
  s.erase(0, first_line);
  FenceTracker fences;
  size_t fence_line = 0;
  for_each_line(s, [&](const Line& l, size_t n) {
    std::string_view digits;
    if (is_marker(l.content))
      throw UsageError(str("Q&A entry: answer line ", n, " begins with \"", kQaMarkerPrefix,
                           "\"; a second marker would move where the next entry goes"));
    if (q_heading_digits(l.content, digits))
      throw UsageError(str("Q&A entry: answer line ", n, " is a \"### Q", digits,
                           ":\" heading; it would read as an entry of its own"));
    bool was_open = fences.open();
    fences.feed(l.content);
    if (!was_open && fences.open()) fence_line = n;
    return true;
  });
  if (fences.open())
    throw UsageError(str("Q&A entry: answer line ", fence_line,
                         " opens a fenced code block that never closes; it would hide the marker"));
  return s;
}

std::string with_eol(std::string_view lf_text, std::string_view eol) {
  if (eol == "\n") return std::string(lf_text);
  std::string out;
  out.reserve(lf_text.size() + lf_text.size() / 16);
  for (char c : lf_text) {
    if (c == '\n') out += eol;
    else out += c;
  }
  return out;
}

std::string marker_line(QaLang lang) {
  return lang == QaLang::kKo ? "<!-- TUTORIAL_MARKER: 새 항목은 이 줄 바로 위에 추가됩니다 -->"
                             : "<!-- TUTORIAL_MARKER: new entries go directly above this line -->";
}

std::string title_block(QaLang lang) {
  return lang == QaLang::kKo
             ? "# 질의응답 기록 (fromscratch)\n\n"
               "`fromscratch verify --qa`와 `fromscratch qa append`가 맨 아래 표식 바로 위에 번호를 붙인 항목을 "
               "추가합니다. 이미 있는 항목은 다시 쓰지 않습니다.\n\n"
             : "# Q&A record (fromscratch)\n\n"
               "`fromscratch verify --qa` and `fromscratch qa append` add numbered entries directly above the "
               "marker at the end; earlier entries are never rewritten.\n\n";
}

std::string render_lf(const std::string& question, const std::string& date, const std::string& answer,
                      uint64_t number, QaLang lang) {
  const bool ko = lang == QaLang::kKo;
  return str("### Q", number, ": ", question, "\n\n", ko ? "**질문 시각**: " : "**Asked**: ", date, "\n\n",
             ko ? "**답변**:" : "**Answer**:", "\n\n", answer, "\n\n---\n\n");
}

// The line that ends at `pos`: pos is a line start (the line before it) or text.size() (the last line, which
// may lack its '\n'). Returns its start; `content` without '\n' and a final '\r'.
size_t line_ending_at(std::string_view text, size_t pos, std::string_view& content) {
  size_t end = (pos > 0 && text[pos - 1] == '\n') ? pos - 1 : pos;
  size_t begin = 0;
  if (end > 0) {
    size_t nl = text.rfind('\n', end - 1);
    begin = nl == std::string_view::npos ? 0 : nl + 1;
  }
  content = text.substr(begin, end - begin);
  if (!content.empty() && content.back() == '\r') content.remove_suffix(1);
  return begin;
}

// The last non-blank line ending at or before `pos`, or "" when there is none.
std::string_view last_nonblank_before(std::string_view text, size_t pos) {
  while (pos > 0) {
    std::string_view l;
    pos = line_ending_at(text, pos, l);
    if (!is_blank(l)) return l;
  }
  return {};
}

}  // namespace

QaLang parse_qa_lang(std::string_view s) {
  if (s == "ko") return QaLang::kKo;
  if (s == "en") return QaLang::kEn;
  throw UsageError(str("--lang must be ko or en, not \"", quote_untrusted(s), "\""));
}

const char* qa_lang_name(QaLang lang) { return lang == QaLang::kKo ? "ko" : "en"; }

void check_iso_date(std::string_view d) {
  auto bad = [&](const char* why) {
    throw UsageError(str("Q&A entry: date \"", quote_untrusted(d), "\" is not a YYYY-MM-DD date (", why, ")"));
  };
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') bad("form");
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (d[i] < '0' || d[i] > '9') bad("form");
  auto num = [&](size_t at, size_t n) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) v = v * 10 + (d[i] - '0');
    return v;
  };
  int y = num(0, 4), m = num(5, 2), day = num(8, 2);
  if (y < 1900) bad("year before 1900");
  if (m < 1 || m > 12) bad("month");
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  int max_day = kDays[m - 1] + (m == 2 && leap ? 1 : 0);
  if (day < 1 || day > max_day) bad("day of month");
}

std::string today_iso_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

QaScan scan_qa_text(std::string_view text, const std::string& file) {
  QaScan s;
  FenceTracker fences;
  bool first_line_crlf = false;
  bool seen_first_line = false;
  for_each_line(text, [&](const Line& l, size_t n) {
    std::string_view c = l.content;
    if (n == 1 && c.substr(0, kBom.size()) == kBom) c.remove_prefix(kBom.size());
    if (!seen_first_line && l.has_newline) {
      seen_first_line = true;
      first_line_crlf = l.end > l.begin && text[l.end - 1] == '\r';
    }
    std::string_view digits;
    if (q_heading_digits(c, digits)) {
      ++s.entries;
      size_t z = digits.find_first_not_of('0');
      std::string_view significant = z == std::string_view::npos ? std::string_view("0") : digits.substr(z);
      uint64_t v = 0;
      if (significant.size() > 9) v = kQaMaxNumber + 1;
      else
        for (char ch : significant) v = v * 10 + uint64_t(ch - '0');
      if (v > kQaMaxNumber)
        throw FormatError(Problem{file, str("line ", n), "Q number", std::string(quote_untrusted(digits, 40)),
                                  str("<= ", kQaMaxNumber), "a Q&A heading number this large cannot be continued"},
                          "entry");
      if (v > s.highest_number) s.highest_number = v;
    }
    bool fenced = fences.feed(c);
    if (!fenced && is_marker(c)) {
      if (!s.has_marker) {
        s.has_marker = true;
        s.marker_offset = l.begin;
        s.marker_line = n;
        s.crlf = l.has_newline && l.end > l.begin && text[l.end - 1] == '\r';
        if (!l.has_newline) s.crlf = first_line_crlf;  // a marker on the last line without a line ending
      }
      ++s.marker_lines;
    }
    return true;
  });
  if (!s.has_marker) s.crlf = first_line_crlf;
  if (fences.open()) s.unclosed_fence = fences.closing_fence();
  return s;
}

std::string render_qa_entry(const QaEntry& entry, uint64_t number, QaLang lang) {
  check_iso_date(entry.date);
  return render_lf(clean_question(entry.question), entry.date, clean_answer(entry.answer_markdown), number, lang);
}

QaAppendResult append_qa_entry(std::string_view text, const QaEntry& entry, QaLang lang, const std::string& file) {
  const std::string question = clean_question(entry.question);
  check_iso_date(entry.date);
  const std::string answer = clean_answer(entry.answer_markdown);
  if (text.size() > kQaMaxFileBytes)
    throw FormatError(Problem{file, "", "size", str(text.size(), " bytes"), str("<= ", kQaMaxFileBytes, " bytes"),
                              "too large for a Q&A record (the file is rewritten whole)"},
                      "entry");
  QaAppendResult r;
  if (text.empty()) {
    r.number = 1;
    r.created = true;
    r.marker_added = true;
    r.text = title_block(lang) + render_lf(question, entry.date, answer, 1, lang) + marker_line(lang) + "\n";
    r.inserted_at = 0;
    r.inserted_bytes = r.text.size();
    return r;
  }
  const QaScan scan = scan_qa_text(text, file);
  const std::string eol = scan.crlf ? "\r\n" : "\n";
  r.number = scan.highest_number + 1;

  std::string prefix;
  size_t at = 0;
  size_t entries_above = 0;
  if (scan.has_marker) {
    at = scan.marker_offset;
    // Entries above the marker: count headings in [0, at) (cheap: the scan already proved the numbers fine).
    for_each_line(text.substr(0, at), [&](const Line& l, size_t n) {
      std::string_view digits, c = l.content;
      if (n == 1 && c.substr(0, kBom.size()) == kBom) c.remove_prefix(kBom.size());
      if (q_heading_digits(c, digits)) ++entries_above;
      return true;
    });
  } else {
    at = text.size();
    entries_above = scan.entries;
    if (text.back() != '\n') prefix += eol;  // finish the last line first
    // A file that ends inside a fenced code block: close it, or the entry and the marker would be code.
    if (!scan.unclosed_fence.empty()) prefix += scan.unclosed_fence + eol;
  }
  // A blank line before the entry (or the separator) unless one is there already.
  std::string_view prev;
  if (at > 0) line_ending_at(text, at, prev);
  if (at > 0 && (!prefix.empty() || !is_blank(prev))) prefix += eol;
  if (entries_above > 0 && !is_hyphen_break(last_nonblank_before(text, at))) prefix += "---" + eol + eol;

  std::string inserted = prefix + with_eol(render_lf(question, entry.date, answer, r.number, lang), eol);
  if (!scan.has_marker) {
    inserted += marker_line(lang) + eol;
    r.marker_added = true;
  }
  r.inserted_at = at;
  r.inserted_bytes = inserted.size();
  r.text.reserve(text.size() + inserted.size());
  r.text.append(text.substr(0, at));
  r.text.append(inserted);
  r.text.append(text.substr(at));
  return r;
}

std::string derivation_question(const std::string& candidate, const std::vector<std::string>& references,
                                QaLang lang) {
  auto clean = [](const std::string& name) {
    std::string out;
    std::string_view rest = name;
    while (!rest.empty()) {
      size_t bad = first_invalid_utf8(rest);
      std::string_view good = rest.substr(0, bad == std::string_view::npos ? rest.size() : bad);
      for (char c : good) {
        unsigned char u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7F) ? ' ' : c;
      }
      if (bad == std::string_view::npos) break;
      out += '?';
      rest.remove_prefix(bad + 1);
    }
    std::string t = trim(out);
    return t.empty() ? std::string("?") : t;
  };
  const bool ko = lang == QaLang::kKo;
  std::string refs;
  for (size_t i = 0; i < references.size(); ++i) {
    if (i > 0) refs += (i + 1 == references.size()) ? (ko ? " 또는 " : " or ") : ", ";
    refs += clean(references[i]);
  }
  const std::string x = clean(candidate);
  if (ko) {
    if (references.empty()) return str(x, ": 처음부터 학습한(from scratch) 모델인가?");
    return str(x, ": 처음부터 학습한(from scratch) 모델인가, 아니면 ", refs, "에서 파생된 모델인가?");
  }
  if (references.empty()) return str("Was ", x, " trained from scratch?");
  return str("Was ", x, " trained from scratch, or derived from ", refs, "?");
}

// ---- the file wrapper --------------------------------------------------------------------------------------

namespace {

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string read_all(int fd, const std::string& path, uint64_t size) {
  std::string text(size, '\0');
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, text.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(path, "read", errno);
    }
    if (n == 0) throw IoError(path, str("file shrank while being read (", done, " of ", size, " bytes)"));
    done += size_t(n);
  }
  return text;
}

// Writes `bytes` to a new temporary file next to `path`, fsynced, and returns its name; the caller renames or
// links it into place. `like` (the file it replaces): its permission bits, and its owner where allowed; without
// it the file gets 0666 less the umask, as any new file.
std::string write_temp(const fs::path& path, std::string_view bytes, const struct stat* like) {
  static std::atomic<uint64_t> counter{0};
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::string tmp = (dir / str(".", path.filename().string(), ".qa-tmp.", ::getpid(), ".", counter++)).string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, like ? 0600 : 0666);
  if (fd < 0) throw IoError(tmp, "create a temporary file in the Q&A file's folder", errno);
  auto fail = [&](const char* what) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw IoError(tmp, what, e);
  };
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    done += size_t(w);
  }
  if (like) {
    if (::fchmod(fd, like->st_mode & 07777) != 0) fail("chmod");
    (void)!::fchown(fd, like->st_uid, like->st_gid);  // only root may give a file away; fine if not
  }
  if (::fsync(fd) != 0) fail("fsync");
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw IoError(tmp, "close", e);
  }
  return tmp;
}

// After a rename or link: the folder's entry reaches the disk too (a crash cannot bring back the old record
// once the call has returned). Best effort: some file systems refuse fsync on a folder.
void sync_folder(const fs::path& path) {
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

QaAppendResult append_qa_entry_to_file(const std::string& path_arg, const QaEntry& entry, QaLang lang) {
  // Check the entry before touching the file system, so a bad entry never leaves anything behind.
  (void)render_qa_entry(entry, 1, lang);
  fs::path path = path_arg;
  {
    std::error_code ec;
    if (fs::is_symlink(fs::symlink_status(path, ec))) {
      fs::path target = fs::weakly_canonical(path, ec);  // write through the link: the link stays a link
      if (ec) throw IoError(path_arg, str("cannot resolve symlink: ", ec.message()));
      path = target;
    }
  }
  const std::string p = path.string();
  for (int attempt = 0; attempt < 100; ++attempt) {
    int raw = ::open(p.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (raw < 0) {
      if (errno != ENOENT) throw IoError(p, "open", errno);
      // A new record: write it whole under a temporary name, then link it in; link() fails if another run
      // created the file meanwhile, and then this run appends to theirs.
      QaAppendResult r = append_qa_entry("", entry, lang, p);
      std::string tmp = write_temp(path, r.text, nullptr);
      if (::link(tmp.c_str(), p.c_str()) == 0) {
        ::unlink(tmp.c_str());
        sync_folder(path);
        return r;
      }
      int e = errno;
      if (e == EEXIST) {
        ::unlink(tmp.c_str());
        continue;
      }
      if (e == EPERM || e == EOPNOTSUPP || e == EMLINK) {  // file systems without hard links
        if (::rename(tmp.c_str(), p.c_str()) == 0) {
          sync_folder(path);
          return r;
        }
        e = errno;
      }
      ::unlink(tmp.c_str());
      throw IoError(p, "create", e);
    }
    Fd fd(raw);
    struct stat st{};
    if (::fstat(fd.fd, &st) != 0) throw IoError(p, "stat", errno);
    if (!S_ISREG(st.st_mode)) throw IoError(p, "is not a regular file; a Q&A record must be one");
    if (::access(p.c_str(), W_OK) != 0) throw IoError(p, "open for writing", errno);
    while (::flock(fd.fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      if (errno == ENOLCK || errno == EOPNOTSUPP || errno == ENOSYS) break;  // no locks here: go on unlocked
      throw IoError(p, "lock", errno);
    }
    // Another run may have replaced the file while this one waited for the lock: start again on the new one.
    struct stat now{};
    if (::stat(p.c_str(), &now) != 0) {
      if (errno == ENOENT) continue;
      throw IoError(p, "stat", errno);
    }
    if (now.st_ino != st.st_ino || now.st_dev != st.st_dev) continue;
    if (::fstat(fd.fd, &st) != 0) throw IoError(p, "stat", errno);
    if (uint64_t(st.st_size) > kQaMaxFileBytes)
      throw FormatError(Problem{p, "", "size", str(st.st_size, " bytes"), str("<= ", kQaMaxFileBytes, " bytes"),
                                "too large for a Q&A record (the file is rewritten whole)"},
                        "entry");
    std::string text = read_all(fd.fd, p, uint64_t(st.st_size));
    QaAppendResult r = append_qa_entry(text, entry, lang, p);
    std::string tmp = write_temp(path, r.text, &st);
    if (::rename(tmp.c_str(), p.c_str()) != 0) {
      int e = errno;
      ::unlink(tmp.c_str());
      throw IoError(p, "rename the new version into place", e);
    }
    sync_folder(path);
    return r;  // the lock goes with fd, after the rename
  }
  throw IoError(p, "other runs kept replacing the file; gave up after 100 tries");
}

}  // namespace fromscratch::report
