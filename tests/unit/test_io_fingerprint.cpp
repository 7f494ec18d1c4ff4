// Fingerprint files and the sweep journal without MPI: round trip, every kind of broken file rejected with a
// FormatError naming file / object / field (truncated at many lengths, seeded byte flips, a foreign HDF5
// file, plain text), journal records cut short or garbled, and exact sums independent of the order of adds.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/dist/comm.hpp"
#include "fromscratch/dist/reduce.hpp"
#include "fromscratch/io/fingerprint_h5.hpp"
#include "fromscratch/io/fingerprint_journal.hpp"
#include "fromscratch/io/h5_file.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::weights;
namespace fs = std::filesystem;

namespace {

TensorPrint make_print(size_t i) {
  std::mt19937 rng(static_cast<unsigned>(i) + 1);
  TensorPrint p;
  p.index = i;
  p.name = "model.layers." + std::to_string(i) + ".self_attn.k_proj.weight";
  p.role = {RoleKind::attn_k, static_cast<int>(i), -1, false};
  p.dtype = DType::F32;
  p.shape = {4 + i, 8};
  p.sha256 = std::string(64, 'a');
  p.row_multiset = std::string(32, 'b');
  for (uint64_t r = 0; r < p.shape[0]; ++r) p.row_digests.push_back(rng());
  p.stats.count = p.shape[0] * 8;
  p.stats.moments.n = p.stats.count;
  p.stats.moments.mean = 0.5;
  p.stats.moments.m2 = 2;
  p.stats.min = -1;
  p.stats.max = 1;
  p.kept = KeptForm::full;
  p.values.rows = p.shape[0];
  p.values.cols = 8;
  for (size_t k = 0; k < p.shape[0] * 8; ++k) p.values.v.push_back(static_cast<float>(rng() % 1000) / 100.f);
  return p;
}

ModelPrint make_model(size_t n) {
  ModelPrint m;
  m.name = "tiny";
  m.source = "nowhere";
  m.config_json = "{}";
  m.vocab_ids = {5, 6};
  m.vocab_bytes = {"x", "yz"};
  for (size_t i = 0; i < n; ++i) m.tensors.push_back(make_print(i));
  return m;
}

std::string write_model(const fs::path& dir, const ModelPrint& m, const std::string& name = "fp.h5") {
  std::string path = (dir / name).string();
  io::FingerprintWriteOptions wo;
  wo.force = true;
  io::write_fingerprint(path, m, m.tensors, m.tensors.size(), {}, dist::Comm::world(), wo);
  return path;
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void spit(const std::string& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

TEST(FingerprintFile, RoundTripSerialAndCompressed) {
  test::TempDir dir;
  ModelPrint m = make_model(5);
  std::string path = write_model(dir.path(), m);
  ModelPrint r = io::read_fingerprint(path);
  ASSERT_EQ(r.tensors.size(), 5u);
  EXPECT_EQ(r.vocab_bytes, m.vocab_bytes);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(r.tensors[i].values.v, m.tensors[i].values.v);
    EXPECT_EQ(r.tensors[i].row_digests, m.tensors[i].row_digests);
    EXPECT_EQ(r.tensors[i].name, m.tensors[i].name);
  }
  EXPECT_TRUE(io::looks_like_fingerprint(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(FingerprintFile, ForeignAndPlainFilesAreRejectedByName) {
  test::TempDir dir;
  std::string text = (dir.path() / "text.h5").string();
  spit(text, "not hdf5 at all\n");
  try {
    io::read_fingerprint(text);
    FAIL() << "accepted a text file";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not an HDF5 file"), std::string::npos) << e.what();
  }
  std::string foreign = (dir.path() / "foreign.h5").string();
  io::write_json_h5(foreign, {{"kind", "hash"}, {"x", 1}}, {"test"}, true);
  try {
    io::read_fingerprint(foreign);
    FAIL() << "accepted a foreign HDF5 file";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not a fingerprint"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("format"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(io::looks_like_fingerprint(foreign));
  EXPECT_THROW(io::read_fingerprint((dir.path() / "missing.h5").string()), IoError);
}

TEST(FingerprintFile, TruncatedAtEveryFewBytesIsRejected) {
  test::TempDir dir;
  std::string path = write_model(dir.path(), make_model(3));
  std::string bytes = slurp(path);
  std::string cut = (dir.path() / "cut.h5").string();
  size_t step = std::max<size_t>(1, bytes.size() / 60);
  int rejected = 0;
  for (size_t len = 0; len < bytes.size(); len += step) {
    spit(cut, bytes.substr(0, len));
    try {
      io::read_fingerprint(cut);
      ADD_FAILURE() << "a file truncated to " << len << " of " << bytes.size() << " bytes was accepted";
    } catch (const FormatError& e) {
      ++rejected;
      EXPECT_NE(std::string(e.what()).find(cut), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(rejected, 10);
}

TEST(FingerprintFile, SeededByteFlipsNeverCrashAndAreMostlyCaught) {
  test::TempDir dir;
  ModelPrint m = make_model(3);
  std::string path = write_model(dir.path(), m);
  std::string bytes = slurp(path);
  std::string bad = (dir.path() / "bad.h5").string();
  std::mt19937_64 rng(20260101);
  int rejected = 0, same = 0, changed = 0;
  for (int trial = 0; trial < 150; ++trial) {
    std::string b = bytes;
    for (int k = 0; k < 4; ++k) b[rng() % b.size()] ^= static_cast<char>(1 + rng() % 255);
    spit(bad, b);
    try {
      ModelPrint r = io::read_fingerprint(bad);
      bool eq = r.tensors.size() == m.tensors.size();
      for (size_t i = 0; eq && i < r.tensors.size(); ++i)
        eq = r.tensors[i].values.v == m.tensors[i].values.v && r.tensors[i].row_digests == m.tensors[i].row_digests;
      (eq ? same : changed)++;
    } catch (const FormatError&) {
      ++rejected;
    } catch (const Error& e) {
      ADD_FAILURE() << "a garbled file gave a non-format error: " << e.what();
    }
  }
  // Flips in unused space or padding change nothing; flips in compressed chunks fail their checks; a flip in
  // raw uncompressed bytes may change a value undetected (HDF5 does not checksum raw data by default).
  std::printf("byte flips: %d rejected, %d read back unchanged, %d changed values\n", rejected, same, changed);
  EXPECT_GT(rejected + same, 100);
}

TEST(FingerprintFile, UnfinishedAndInconsistentFilesAreRejected) {
  test::TempDir dir;
  ModelPrint m = make_model(2);
  // A sketch whose shape disagrees with sketch_dim, a kept form that keeps the wrong count.
  m.tensors[1].kept = KeptForm::sketch;
  m.options.sketch_dim = 3;
  std::string path = write_model(dir.path(), m);
  try {
    io::read_fingerprint(path);
    FAIL();
  } catch (const FormatError& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("tensor #1"), std::string::npos) << w;
    EXPECT_NE(w.find("sketch_dim"), std::string::npos) << w;
  }
  ModelPrint m2 = make_model(2);
  m2.tensors[0].stats.moments.n = 1;  // finite + nan + inf != count
  path = write_model(dir.path(), m2, "b.h5");
  try {
    io::read_fingerprint(path);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("stats/n"), std::string::npos) << e.what();
  }
}

TEST(Journal, TornAndGarbledRecordsAreSkippedAndTheKeyIsChecked) {
  test::TempDir dir;
  std::string jdir = (dir.path() / "fp.h5.journal").string();
  nlohmann::json key = {{"tensors", 3}, {"seed", 1}};
  {
    io::FingerprintJournal j(jdir, key);
    j.create();
    j.open_for_append(0);
    j.append(make_print(0));
    j.append(make_print(1));
    j.close();
  }
  io::FingerprintJournal j(jdir, key);
  EXPECT_EQ(j.finished(), (std::set<size_t>{0, 1}));
  auto loaded = j.load({1, 0});
  EXPECT_EQ(loaded[0].values.v, make_print(1).values.v);
  EXPECT_EQ(loaded[1].row_digests, make_print(0).row_digests);
  // Cut the last record short (a kill during the write): record 1 disappears, record 0 stays.
  std::string f = jdir + "/rank-0.bin";
  std::string bytes = slurp(f);
  spit(f, bytes.substr(0, bytes.size() - 9));
  EXPECT_EQ(j.finished(), (std::set<size_t>{0}));
  // Appending after a torn tail first cuts it, so the new record is reachable.
  j.open_for_append(0);
  j.append(make_print(2));
  j.close();
  EXPECT_EQ(j.finished(), (std::set<size_t>{0, 2}));
  // A garbled byte inside record 0 invalidates it (and what follows in that file).
  bytes = slurp(f);
  bytes[40] ^= 0x5a;
  spit(f, bytes);
  EXPECT_TRUE(j.finished().empty());
  EXPECT_THROW(j.load({0}), FormatError);
  // Another sweep's journal is refused.
  io::FingerprintJournal other(jdir, {{"tensors", 4}, {"seed", 1}});
  EXPECT_THROW(other.check_key(), UsageError);
  EXPECT_NO_THROW(j.check_key());
}

TEST(ExactSumLocal, OrderDoesNotMatterAndCancellationIsExact) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  std::vector<double> xs;
  for (int i = 0; i < 5000; ++i) xs.push_back(std::ldexp(g(rng), static_cast<int>(rng() % 80) - 40));
  dist::ExactSum a(1), b(1);
  for (double x : xs) a.add_at(0, x);
  std::shuffle(xs.begin(), xs.end(), rng);
  for (double x : xs) b.add_at(0, x);
  double va = a.value()[0], vb = b.value()[0];
  EXPECT_EQ(std::memcmp(&va, &vb, 8), 0);
  dist::ExactSum c(2);
  c.add(std::vector<double>{1e40, 1e-40});
  c.add(std::vector<double>{1.0, -1e-40});
  c.add(std::vector<double>{-1e40, 5e-41});
  EXPECT_EQ(c.value()[0], 1.0);
  EXPECT_EQ(c.value()[1], 5e-41);
  EXPECT_THROW(c.add_at(0, std::nan("")), UsageError);
  EXPECT_THROW(c.add_at(0, 1e50), UsageError);
}

}  // namespace
