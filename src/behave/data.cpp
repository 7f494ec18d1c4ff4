// Shipped probe data and its readers (see include/fromscratch/behave/data.hpp).
#include "fromscratch/behave/data.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "fromscratch/behave/stats.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::behave {
namespace detail {
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_data_files();
}

std::string read_text_file(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path, "open", errno);
  std::string out;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    out.append(buf, static_cast<size_t>(in.gcount()));
    if (out.size() > limit) throw IoError(path, str("larger than the limit of ", limit, " bytes"));
  }
  return out;
}

std::string_view builtin_file(std::string_view name) {
  for (const auto& [n, bytes] : detail::embedded_data_files())
    if (n == name) return bytes;
  throw UsageError(str("no shipped behaviour data file '", name, "'"));
}

namespace {
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    start = end + 1;
  }
  return out;
}
bool skippable(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
  return i == line.size() || line[i] == '#';
}
uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Byte offset after the first `cps` code points (never inside a UTF-8 sequence).
size_t prefix_bytes(std::string_view s, size_t cps) {
  size_t i = 0, n = 0;
  while (i < s.size() && n < cps) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
    ++n;
  }
  return i;
}
}  // namespace

std::vector<std::string> corpus_lines(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view line : split_lines(text)) {
    if (skippable(line)) continue;
    std::string s;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == 'n') {
        s.push_back('\n');
        ++i;
      } else {
        s.push_back(line[i]);
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> draw_prompts(const std::vector<std::string>& lines, size_t n, uint64_t seed) {
  std::vector<std::string> out;
  if (lines.empty() || n == 0) return out;
  std::set<std::string> seen;
  uint64_t s = seed;
  for (size_t tries = 0; out.size() < n && tries < 50 * n + 1000; ++tries) {
    const std::string& line = lines[splitmix(s) % lines.size()];
    const size_t cps = 12 + splitmix(s) % 40;
    std::string p = line.substr(0, prefix_bytes(line, cps));
    if (p.empty() || !seen.insert(p).second) continue;
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<Question> parse_question_bank(std::string_view text, const std::string& path) {
  std::vector<Question> out;
  ProblemList problems(path, "line");
  const auto lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (skippable(line)) continue;
    const std::string where = str("line ", i + 1);
    if (!is_valid_utf8(line)) {
      problems.add(where, "", "", "", "not UTF-8");
      continue;
    }
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      problems.add(where, "", quote_untrusted(std::string(line.substr(0, 60))), "", "not a JSON object");
      continue;
    }
    if (j.contains("format")) continue;
    Question q;
    q.line = i + 1;
    const auto month = j.find("month");
    if (month == j.end() || !month->is_string() || (q.month = parse_month(month->get<std::string>())) < 0) {
      problems.add(where, "month", month == j.end() ? "(missing)" : quote_untrusted(month->dump()), "YYYY-MM",
                   "bad month");
      continue;
    }
    const auto question = j.find("question");
    if (question == j.end() || !question->is_string() || question->get<std::string>().empty()) {
      problems.add(where, "question", question == j.end() ? "(missing)" : quote_untrusted(question->dump()), "",
                   "needs a non-empty string");
      continue;
    }
    q.question = question->get<std::string>();
    const auto answers = j.find("answers");
    bool ok = answers != j.end() && answers->is_array() && !answers->empty();
    if (ok)
      for (const auto& a : *answers) {
        if (!a.is_string() || a.get<std::string>().empty()) {
          ok = false;
          break;
        }
        q.answers.push_back(a.get<std::string>());
      }
    if (!ok) {
      problems.add(where, "answers", answers == j.end() ? "(missing)" : quote_untrusted(answers->dump()), "",
                   "needs a non-empty list of non-empty strings");
      continue;
    }
    const auto source = j.find("source");
    if (source != j.end() && source->is_string()) q.source = source->get<std::string>();
    out.push_back(std::move(q));
  }
  problems.throw_if_any();
  if (out.empty())
    throw FormatError(Problem{path, "", "", "0 questions", ">= 1", "the question bank holds no question"}, "line");
  return out;
}

bool answer_matches(std::string_view reply, const std::vector<std::string>& answers) {
  auto lower = [](std::string_view s) {
    std::string r(s);
    for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
  };
  const std::string r = lower(reply);
  return std::any_of(answers.begin(), answers.end(),
                     [&](const std::string& a) { return r.find(lower(a)) != std::string::npos; });
}

std::vector<ProbePrompt> parse_probe_prompts(std::string_view text, const std::string& path) {
  std::vector<ProbePrompt> out;
  ProblemList problems(path, "line");
  const auto lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (skippable(lines[i])) continue;
    const size_t tab = lines[i].find('\t');
    const std::string kind(tab == std::string_view::npos ? lines[i] : lines[i].substr(0, tab));
    if (tab == std::string_view::npos || (kind != "refuse" && kind != "identity") || tab + 1 >= lines[i].size()) {
      problems.add(str("line ", i + 1), "kind", quote_untrusted(kind.substr(0, 40)), "refuse|identity",
                   "expected KIND<TAB>TEXT");
      continue;
    }
    out.push_back({kind, std::string(lines[i].substr(tab + 1))});
  }
  problems.throw_if_any();
  return out;
}

}  // namespace fromscratch::behave
