#include "test_support.hpp"

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace fromscratch::test {

std::filesystem::path source_dir() { return FROMSCRATCH_SOURCE_DIR; }

std::filesystem::path shared_data() {
  std::filesystem::path p = FROMSCRATCH_SHARED_DATA_DEFAULT;
  if (const char* env = std::getenv("FROMSCRATCH_SHARED_DATA")) p = env;
  if (std::filesystem::is_directory(p / "models")) return std::filesystem::canonical(p);
  return {};
}

std::filesystem::path fromscratch_binary() { return FROMSCRATCH_BINARY; }

TempDir::TempDir() {
  std::random_device rd;
  auto base = std::filesystem::temp_directory_path();
  for (int i = 0; i < 100; ++i) {
    auto p = base / ("fromscratch-test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(p)) {
      path_ = p;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

void expect_matches_golden(const std::string& name, const std::string& actual) {
  auto path = source_dir() / "tests" / "data" / "golden" / name;
  const char* update = std::getenv("FROMSCRATCH_UPDATE_GOLDENS");
  if (update && std::string(update) == "1") {
    std::filesystem::create_directories(path.parent_path());
    write_file(path, actual);
    return;
  }
  ASSERT_TRUE(std::filesystem::exists(path))
      << "golden file " << path << " is missing; create it with FROMSCRATCH_UPDATE_GOLDENS=1";
  EXPECT_EQ(read_file(path), actual) << "differs from golden " << path
                                     << " (regenerate with FROMSCRATCH_UPDATE_GOLDENS=1 if the change is intended)";
}

}  // namespace fromscratch::test
