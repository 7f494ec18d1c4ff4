#include "fromscratch/core/errors.hpp"

#include <cstring>

#include "fromscratch/core/strings.hpp"

namespace fromscratch {

std::string Problem::describe(const std::string& entry_kind) const {
  std::string s = file.empty() ? std::string("<input>") : file;
  if (!entry.empty()) s += str(": ", entry_kind, " '", quote_untrusted(entry), "'");
  if (!field.empty()) {
    s += str(": ", field);
    if (!value.empty()) s += str(" = ", value);
  } else if (!value.empty()) {
    s += str(": value ", value);
  }
  if (!message.empty()) s += str(": ", message);
  if (!limit.empty()) s += str(" (limit: ", limit, ")");
  return s;
}

static std::string render(const std::vector<Problem>& problems, const std::string& kind) {
  if (problems.empty()) return "invalid input";
  if (problems.size() == 1) return problems.front().describe(kind);
  std::string s = str(problems.size(), " problems in ", problems.front().file, ":");
  for (const auto& p : problems) s += "\n  " + p.describe(kind);
  return s;
}

FormatError::FormatError(std::vector<Problem> problems, const std::string& entry_kind)
    : Error(render(problems, entry_kind)), problems_(std::move(problems)) {}

FormatError::FormatError(Problem p, const std::string& entry_kind)
    : FormatError(std::vector<Problem>{std::move(p)}, entry_kind) {}

IoError::IoError(const std::string& path, const std::string& operation, int errno_value)
    : Error(str(path, ": ", operation, " failed: ", std::strerror(errno_value))), path_(path) {}

IoError::IoError(const std::string& path, const std::string& what) : Error(str(path, ": ", what)), path_(path) {}

void ProblemList::add(std::string entry, std::string field, std::string value, std::string limit,
                      std::string message) {
  if (full()) {
    ++dropped_;
    return;
  }
  problems_.push_back(
      Problem{file_, std::move(entry), std::move(field), std::move(value), std::move(limit), std::move(message)});
}

void ProblemList::throw_all() const {
  auto all = problems_;
  if (dropped_ > 0)
    all.push_back(Problem{file_, "", "", "", str(kMaxProblems, " problems reported"),
                          str(dropped_, " further problems not listed")});
  throw FormatError(std::move(all), entry_kind_);
}

}  // namespace fromscratch
