// The safetensors reader on valid files, on a matrix of hand-made malformed files (each rejected with its own
// message, within a memory bound), on seeded random corruptions, and on injected I/O faults.
#include "fromscratch/core/safetensors.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/file_io.hpp"
#include "safetensors_builder.hpp"
#include "test_support.hpp"

// ---- allocation accounting: peak live heap bytes while a parse runs ----
namespace {
std::atomic<int64_t> g_live{0}, g_peak{0};
std::atomic<bool> g_tracking{false};
void note_alloc(int64_t n) {
  if (!g_tracking.load(std::memory_order_relaxed)) return;
  int64_t now = g_live.fetch_add(n) + n;
  int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}
}  // namespace

// GCC cannot see that the size header belongs to the block it frees; the pairing is correct by construction.
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  // Size header in front of the block so delete knows what to subtract.
  auto* p = static_cast<std::size_t*>(std::malloc(n + 16));
  if (!p) throw std::bad_alloc();
  p[0] = n;
  note_alloc(static_cast<int64_t>(n));
  return reinterpret_cast<char*>(p) + 16;
}
void operator delete(void* q) noexcept {
  if (!q) return;
  auto* p = reinterpret_cast<std::size_t*>(static_cast<char*>(q) - 16);
  if (g_tracking.load(std::memory_order_relaxed)) g_live.fetch_sub(static_cast<int64_t>(p[0]));
  std::free(p);
}
void operator delete(void* q, std::size_t) noexcept { operator delete(q); }
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete[](void* q) noexcept { operator delete(q); }
void operator delete[](void* q, std::size_t) noexcept { operator delete(q); }

using namespace fromscratch;
using namespace fromscratch::test;

namespace {

struct Tracked {
  Tracked() {
    g_live = 0;
    g_peak = 0;
    g_tracking = true;
  }
  ~Tracked() { g_tracking = false; }
  int64_t peak() const { return g_peak.load(); }
};

// ---- valid files ----

TEST(Safetensors, ParsesEveryDtypeWithMetadataInOffsetOrder) {
  // One tensor per byte-addressable dtype, shape [2, 3]; laid out in reverse name order to check sorting.
  const char* dtypes[] = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "I64", "I32",
                          "I16", "I8",  "U8",  "BOOL", "U16",     "U32",     "U64",     "C64"};
  std::string header = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"}";
  uint64_t off = 0;
  std::vector<std::pair<std::string, uint64_t>> expected;
  for (const char* d : dtypes) {
    auto t = parse_dtype(d);
    ASSERT_TRUE(t) << d;
    uint64_t bytes = 6 * dtype_bits(*t) / 8;
    header += "," + tensor_entry(std::string("t_") + d, d, "[2,3]", off, off + bytes);
    expected.emplace_back(std::string("t_") + d, bytes);
    off += bytes;
  }
  header += "," + tensor_entry("packed_f4", "F4", "[2,4]", off, off + 4) + "}";
  off += 4;
  auto st = parse_safetensors_bytes(safetensors_bytes(header, std::string(off, 'x')), "ok.safetensors");
  ASSERT_EQ(st.tensors.size(), expected.size() + 1);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(st.tensors[i].name, expected[i].first);
    EXPECT_EQ(st.tensors[i].byte_size(), expected[i].second);
    EXPECT_EQ(st.tensors[i].num_rows(), 2u);
  }
  EXPECT_EQ(st.tensors.back().dtype, DType::F4);
  ASSERT_EQ(st.metadata.size(), 2u);
  EXPECT_EQ(st.metadata[0], (std::pair<std::string, std::string>{"format", "pt"}));
}

TEST(Safetensors, AcceptsSpacePaddingScalarsAndZeroSizeTensors) {
  std::string header = "{" + tensor_entry("a", "F32", "[]", 0, 4) + "," + tensor_entry("empty", "BF16", "[0,8]", 4, 4) +
                       "," + tensor_entry("b", "BF16", "[2]", 4, 8) + "}    ";
  auto st = parse_safetensors_bytes(safetensors_bytes(header, std::string(8, '\0')), "pad.safetensors");
  ASSERT_EQ(st.tensors.size(), 3u);
  EXPECT_EQ(st.tensors[0].name, "a");
  EXPECT_EQ(st.tensors[0].num_rows(), 1u);  // scalar: one row
  EXPECT_EQ(st.tensors[1].name, "empty");
  EXPECT_EQ(st.tensors[1].num_rows(), 0u);
  EXPECT_EQ(st.tensors[2].num_rows(), 2u);  // 1-D: one row per element
  EXPECT_EQ(st.data_offset(), 8 + header.size());
}

// ---- the corrupt-file matrix ----

struct Corrupt {
  const char* name;
  std::string bytes;
  const char* expected;  // substring of the error message
};

std::string one(const std::string& entry, size_t data_bytes) {
  return safetensors_bytes("{" + entry + "}", std::string(data_bytes, '\0'));
}

std::vector<Corrupt> corrupt_matrix() {
  std::vector<Corrupt> m;
  m.push_back({"too_small", "abc", "too small to hold the header length"});
  m.push_back({"header_over_limit", safetensors_bytes("{}", "", 200'000'000), "header too large"});
  m.push_back({"header_past_eof", safetensors_bytes("{}", "", 4096), "header extends past the end of the file"});
  m.push_back({"empty_header", safetensors_bytes("", ""), "empty header"});
  m.push_back({"truncated_header", safetensors_bytes("{\"a\":{\"dtype\":\"F3", ""), "invalid JSON"});
  m.push_back({"leading_space", safetensors_bytes(" {}", ""), "must begin with '{'"});
  m.push_back({"header_is_array", safetensors_bytes("[1,2]", ""), "must be a JSON object"});
  m.push_back({"garbage_json", safetensors_bytes("{\"a\" 1}", ""), "invalid JSON"});
  m.push_back({"invalid_utf8_name", safetensors_bytes("{\"\xff\xfe\":{}}", ""), "invalid JSON"});
  m.push_back({"trailing_garbage", safetensors_bytes("{} x", ""), "invalid JSON"});
  m.push_back({"unknown_dtype", one(tensor_entry("w", "Q4_K", "[2]", 0, 2), 2), "unknown dtype"});
  m.push_back({"missing_dtype", safetensors_bytes("{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", std::string(1, 0)),
               "dtype: missing field"});
  m.push_back({"missing_offsets", safetensors_bytes("{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", ""), "data_offsets: missing field"});
  m.push_back({"negative_dim", one(tensor_entry("w", "U8", "[-1]", 0, 0), 0), "shape[0] = -1: must be a non-negative integer"});
  m.push_back({"float_dim", one(tensor_entry("w", "U8", "[1.5]", 0, 0), 0), "non-integer"});
  m.push_back({"string_dim", one(tensor_entry("w", "U8", "[\"4\"]", 0, 0), 0), "must be a non-negative integer"});
  m.push_back({"rank_over_limit", one(tensor_entry("w", "U8", "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]", 0, 1), 1), "too many dimensions"});
  m.push_back({"offsets_three", safetensors_bytes("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", std::string(1, 0)),
               "wrong length"});
  m.push_back({"begin_after_end", one(tensor_entry("w", "U8", "[0]", 4, 2), 4), "begin is after end"});
  m.push_back({"span_mismatch", one(tensor_entry("w", "BF16", "[4,4]", 0, 30), 30), "byte span does not match shape x dtype"});
  m.push_back({"offset_past_end",
               safetensors_bytes("{" + tensor_entry("w", "U8", "[64]", 0, 64) + "}", std::string(10, 0)),
               "points past the end of the file"});
  m.push_back({"overlap",
               safetensors_bytes("{" + tensor_entry("a", "U8", "[8]", 0, 8) + "," + tensor_entry("b", "U8", "[8]", 4, 12) + "}",
                                 std::string(12, 0)),
               "overlaps tensor 'a' by 4 bytes"});
  m.push_back({"gap",
               safetensors_bytes("{" + tensor_entry("a", "U8", "[4]", 0, 4) + "," + tensor_entry("b", "U8", "[4]", 8, 12) + "}",
                                 std::string(12, 0)),
               "gap of 4 unindexed bytes"});
  m.push_back({"gap_at_start", one(tensor_entry("a", "U8", "[4]", 4, 8), 8), "gap of 4 unindexed bytes before this tensor"});
  m.push_back({"trailing_bytes", one(tensor_entry("a", "U8", "[4]", 0, 4), 9), "5 trailing bytes not covered by any tensor"});
  m.push_back({"shape_product_overflow",
               one(tensor_entry("w", "U8", "[4294967296,4294967296]", 0, 0), 0), "product of dimensions overflows 64 bits"});
  m.push_back({"byte_size_overflow", one(tensor_entry("w", "F64", "[4611686018427387904]", 0, 0), 0),
               "overflows 64 bits"});
  m.push_back({"offset_beyond_u64", one("\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}", 1),
               "non-integer"});
  m.push_back({"duplicate_name",
               safetensors_bytes("{" + tensor_entry("w", "U8", "[1]", 0, 1) + "," + tensor_entry("w", "U8", "[1]", 1, 2) + "}",
                                 std::string(2, 0)),
               "duplicate tensor name"});
  m.push_back({"duplicate_field",
               safetensors_bytes("{\"w\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", std::string(1, 0)),
               "field appears twice"});
  m.push_back({"unknown_field",
               safetensors_bytes("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"extra\":[1,{}]}}", std::string(1, 0)),
               "extra: unknown field"});
  m.push_back({"entry_not_object", safetensors_bytes("{\"w\":[1,2]}", ""), "entry must be an object"});
  m.push_back({"metadata_not_string", safetensors_bytes("{\"__metadata__\":{\"k\":5}}", ""), "metadata values must be strings"});
  m.push_back({"empty_name", one(tensor_entry("", "U8", "[1]", 0, 1), 1), "empty tensor name"});
  m.push_back({"f4_half_byte", one(tensor_entry("w", "F4", "[3]", 0, 2), 2), "do not fill whole bytes"});
  m.push_back({"deep_nesting", safetensors_bytes("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":" +
                                                     std::string(5000, '[') + std::string(5000, ']') + "}}",
                                                 std::string(1, 0)),
               "unknown field"});
  return m;
}

class CorruptFile : public ::testing::TestWithParam<Corrupt> {};

TEST_P(CorruptFile, IsRejectedWithItsOwnMessageWithinTheMemoryBound) {
  const auto& c = GetParam();
  TempDir dir;
  auto path = (dir / (std::string(c.name) + ".safetensors")).string();
  write_file(path, c.bytes);
  std::string message;
  int64_t peak = 0;
  {
    Tracked tracked;
    try {
      read_safetensors_header(path);
    } catch (const FormatError& e) {
      message = e.what();
    } catch (const IoError& e) {
      message = e.what();
    }
    peak = tracked.peak();
  }
  ASSERT_FALSE(message.empty()) << c.name << " was accepted";
  EXPECT_NE(message.find(c.expected), std::string::npos) << c.name << ": " << message;
  EXPECT_NE(message.find(path), std::string::npos) << "message must name the file: " << message;
  EXPECT_GT(peak, 0) << "allocation tracking is not active";
  // No allocation beyond the file's own size plus a fixed allowance for messages and parser state.
  EXPECT_LE(peak, static_cast<int64_t>(c.bytes.size()) + 64 * 1024) << c.name << " peak heap " << peak;
}

INSTANTIATE_TEST_SUITE_P(Matrix, CorruptFile, ::testing::ValuesIn(corrupt_matrix()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Safetensors, CollectsAllProblemsOfAFileBeforeFailing) {
  std::string header = "{" + tensor_entry("a", "Q9", "[1]", 0, 1) + "," + tensor_entry("b", "U8", "[-2]", 1, 2) + "," +
                       tensor_entry("c", "U8", "[1]", 2, 3) + "," + tensor_entry("c", "U8", "[1]", 3, 4) + "}";
  try {
    parse_safetensors_bytes(safetensors_bytes(header, std::string(4, 0)), "multi.safetensors");
    FAIL() << "accepted";
  } catch (const FormatError& e) {
    EXPECT_GE(e.problems().size(), 3u) << e.what();
    std::string w = e.what();
    EXPECT_NE(w.find("unknown dtype"), std::string::npos) << w;
    EXPECT_NE(w.find("tensor 'b': shape[0] = -2"), std::string::npos) << w;
    EXPECT_NE(w.find("tensor 'c': name: duplicate tensor name"), std::string::npos) << w;
  }
}

TEST(Safetensors, ErrorNamesFileTensorFieldValueAndLimit) {
  auto bytes = safetensors_bytes("{" + tensor_entry("layers.7.w", "U8", "[812]", 0, 812) + "}", std::string(800, 0));
  EXPECT_THROW_MSG(parse_safetensors_bytes(bytes, "model-00003.safetensors"), FormatError,
                   "model-00003.safetensors: tensor 'layers.7.w': data_offsets.end = 812: points past the end of the "
                   "file (limit: <= 800 (data section size))");
}

TEST(Safetensors, HostileNamesAreQuotedInMessages) {
  auto bytes = one(tensor_entry("evil\\u001b[31m\\n", "Q", "[1]", 0, 1), 1);
  try {
    parse_safetensors_bytes(bytes, "x.safetensors");
    FAIL();
  } catch (const FormatError& e) {
    std::string w = e.what();
    EXPECT_EQ(w.find('\x1b'), std::string::npos) << "escape byte leaked into the message";
    EXPECT_NE(w.find("\\x1b"), std::string::npos) << w;
  }
}

// Seeded random corruption of a valid file: every outcome is either a clean parse or a FormatError/IoError.
TEST(Safetensors, RandomCorruptionsNeverCrash) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}," + tensor_entry("a.weight", "BF16", "[4,4]", 0, 32) + "," +
                       tensor_entry("b.bias", "F32", "[4]", 32, 48) + "}";
  std::string valid = safetensors_bytes(header, std::string(48, '\x01'));
  uint64_t seed = 12345;
  if (const char* s = std::getenv("FROMSCRATCH_TEST_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::mt19937_64 rng(seed);
  int accepted = 0, rejected = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    std::string b = valid;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 4) {
        case 0: b[rng() % b.size()] = static_cast<char>(rng()); break;                       // flip a byte
        case 1: b.resize(rng() % (b.size() + 1)); if (b.empty()) b = "x"; break;             // truncate
        case 2: b.insert(rng() % b.size(), 1, "{}[]\",:0-9e"[rng() % 12]); break;            // insert syntax
        case 3: b[rng() % std::min<size_t>(8, b.size())] = static_cast<char>(rng()); break;  // length field
      }
    }
    try {
      parse_safetensors_bytes(b, "fuzz.safetensors");
      ++accepted;
    } catch (const FormatError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 4000) << "seed " << seed;
  RecordProperty("accepted", accepted);
}

// ---- I/O faults through the pread seam ----

ssize_t short_and_eintr_pread(int fd, void* buf, size_t n, off_t off) {
  static int call = 0;
  if (++call % 3 == 0) {
    errno = EINTR;
    return -1;
  }
  return ::pread(fd, buf, std::min<size_t>(n, 3), off);  // at most 3 bytes per call
}
ssize_t eio_pread(int, void*, size_t, off_t) {
  errno = EIO;
  return -1;
}

TEST(FileIo, ShortReadsAndEintrAreRetried) {
  TempDir dir;
  std::string header = "{" + tensor_entry("w", "U8", "[5]", 0, 5) + "}";
  write_file(dir / "a.safetensors", safetensors_bytes(header, "hello"));
  testing_seam::set_pread(short_and_eintr_pread);
  auto st = read_safetensors_header((dir / "a.safetensors").string());
  testing_seam::set_pread(nullptr);
  ASSERT_EQ(st.tensors.size(), 1u);
  EXPECT_EQ(st.tensors[0].name, "w");
}

TEST(FileIo, ReadErrorsNameThePathAndOffset) {
  TempDir dir;
  write_file(dir / "a.safetensors", safetensors_bytes("{}", ""));
  testing_seam::set_pread(eio_pread);
  EXPECT_THROW_MSG(read_safetensors_header((dir / "a.safetensors").string()), IoError, "read of 8 bytes at offset 0");
  testing_seam::set_pread(nullptr);
}

TEST(FileIo, FifoIsRefusedWithoutBlocking) {
  TempDir dir;
  auto fifo = (dir / "model.safetensors").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THROW_MSG(read_safetensors_header(fifo), IoError, "is not a regular file");
}

}  // namespace
