// Error strategy of the pure libraries: throw typed exceptions that carry full context.
//
//   FormatError  hostile or malformed input (a checkpoint, index, tokenizer or config file). Carries every
//                Problem found in the file, each naming file, tensor/entry, field, value and the limit broken,
//                so a user fixes all of them in one pass instead of one per run.
//   IoError      an operating-system call failed (open/read/stat), with errno text and the path.
//   UsageError   the caller asked for something impossible (bad option value); the CLI maps it to exit code 2.
//
// The command-line layer catches these once per subcommand; the MPI layer turns a failure on any rank into
// the same decision on every rank before the next collective (see dist/comm.hpp).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace fromscratch {

// One defect of an input file. Empty fields are left out of the rendered message.
struct Problem {
  std::string file;    // path of the offending file
  std::string entry;   // tensor name, token, config key...: what inside the file
  std::string field;   // which field of the entry ("data_offsets", "shape", "dtype", ...)
  std::string value;   // the value found, rendered
  std::string limit;   // the bound it broke, rendered ("<= 800 (data size)")
  std::string message; // what is wrong, in words

  // "FILE: tensor 'NAME': FIELD = VALUE: MESSAGE (limit: LIMIT)"
  std::string describe(const std::string& entry_kind = "tensor") const;
};

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class FormatError : public Error {
 public:
  FormatError(std::vector<Problem> problems, const std::string& entry_kind = "tensor");
  explicit FormatError(Problem p, const std::string& entry_kind = "tensor");
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::vector<Problem> problems_;
};

class IoError : public Error {
 public:
  IoError(const std::string& path, const std::string& operation, int errno_value);
  IoError(const std::string& path, const std::string& what);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class UsageError : public Error {
 public:
  using Error::Error;
};

// Collects problems of one file, then throws them all at once.
class ProblemList {
 public:
  explicit ProblemList(std::string file, std::string entry_kind = "tensor")
      : file_(std::move(file)), entry_kind_(std::move(entry_kind)) {}
  void add(std::string entry, std::string field, std::string value, std::string limit, std::string message);
  bool empty() const { return problems_.empty(); }
  size_t size() const { return problems_.size(); }
  const std::vector<Problem>& problems() const { return problems_; }
  // Cap on how many problems one file may report (a hostile file could otherwise make millions).
  static constexpr size_t kMaxProblems = 1000;
  bool full() const { return problems_.size() >= kMaxProblems; }
  [[noreturn]] void throw_all() const;
  void throw_if_any() const {
    if (!problems_.empty()) throw_all();
  }

 private:
  std::string file_;
  std::string entry_kind_;
  std::vector<Problem> problems_;
  size_t dropped_ = 0;
};

}  // namespace fromscratch
