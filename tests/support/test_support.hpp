// Helpers shared by all tests: paths to test data, temporary folders, and EXPECT_THROW_MSG.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace fromscratch::test {

// The repository root (for tests/data, results/ schemas...).
std::filesystem::path source_dir();
// ../shared/data, or $FROMSCRATCH_SHARED_DATA. Empty when absent.
std::filesystem::path shared_data();
// The built fromscratch executable.
std::filesystem::path fromscratch_binary();

// A fresh empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& p, const std::string& bytes);
std::string read_file(const std::filesystem::path& p);

// Golden files: compares `actual` with tests/data/golden/<name>; with FROMSCRATCH_UPDATE_GOLDENS=1 rewrites it.
void expect_matches_golden(const std::string& name, const std::string& actual);

}  // namespace fromscratch::test

// Skips the current test when ../shared/data is absent (a user's machine), saying so; fails instead when
// FROMSCRATCH_REQUIRE_SHARED_DATA=1 (CI always has the data).
#define FROMSCRATCH_REQUIRE_SHARED_DATA()                                                               \
  do {                                                                                                  \
    if (::fromscratch::test::shared_data().empty()) {                                                   \
      if (const char* req = std::getenv("FROMSCRATCH_REQUIRE_SHARED_DATA"); req && std::string(req) == "1") \
        FAIL() << "../shared/data is required (FROMSCRATCH_REQUIRE_SHARED_DATA=1) but absent";        \
      GTEST_SKIP() << "skipped: ../shared/data (real model metadata) is absent on this machine";       \
    }                                                                                                   \
  } while (0)

// Expects `stmt` to throw `exc` whose what() contains `substr`.
#define EXPECT_THROW_MSG(stmt, exc, substr)                                                       \
  do {                                                                                            \
    try {                                                                                         \
      stmt;                                                                                       \
      ADD_FAILURE() << "expected " #exc " containing '" << (substr) << "', nothing was thrown"; \
    } catch (const exc& e_) {                                                                     \
      EXPECT_NE(std::string(e_.what()).find(substr), std::string::npos)                          \
          << "message was: " << e_.what() << "\nexpected to contain: " << (substr);              \
    }                                                                                             \
  } while (0)
