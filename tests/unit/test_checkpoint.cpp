// Sharded checkpoints: index parsing, path confinement, index/header agreement, and real indexes.
#include "fromscratch/core/checkpoint.hpp"

#include <filesystem>

#include "fromscratch/core/errors.hpp"
#include "safetensors_builder.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::test;
namespace fs = std::filesystem;

namespace {

// A two-shard checkpoint: shard 1 holds a, b; shard 2 holds c.
void write_two_shards(const fs::path& dir, const std::string& index_json) {
  write_file(dir / "model-00001-of-00002.safetensors",
             safetensors_bytes("{" + tensor_entry("a", "BF16", "[2,2]", 0, 8) + "," + tensor_entry("b", "F32", "[2]", 8, 16) + "}",
                               std::string(16, '\x02')));
  write_file(dir / "model-00002-of-00002.safetensors",
             safetensors_bytes("{" + tensor_entry("c", "U8", "[3]", 0, 3) + "}", "xyz"));
  write_file(dir / "model.safetensors.index.json", index_json);
}

const char* kGoodIndex = R"({"metadata":{"total_size":19},"weight_map":{
  "a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}})";

TEST(Checkpoint, OpensShardedFolderIndexFileAndSingleFile) {
  TempDir dir;
  write_two_shards(dir.path(), kGoodIndex);
  for (const auto& p : {dir.path().string(), (dir / "model.safetensors.index.json").string()}) {
    auto ck = open_checkpoint(p);
    ASSERT_EQ(ck.tensors.size(), 3u);
    ASSERT_EQ(ck.shards.size(), 2u);
    EXPECT_EQ(ck.total_tensor_bytes(), 19u);
    EXPECT_TRUE(ck.warnings.empty()) << ck.warnings.front();
    const auto* c = ck.find("c");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(ck.shards[c->shard].name, "model-00002-of-00002.safetensors");
    EXPECT_EQ(c->file_offset, 8 + ck.shards[c->shard].header_size);
  }
  auto single = open_checkpoint((dir / "model-00002-of-00002.safetensors").string());
  EXPECT_EQ(single.tensors.size(), 1u);
}

TEST(Checkpoint, TotalSizeDisagreementIsAWarningNotAnError) {
  TempDir dir;
  std::string idx = kGoodIndex;
  idx.replace(idx.find("19"), 2, "20");
  write_two_shards(dir.path(), idx);
  auto ck = open_checkpoint(dir.path().string());
  ASSERT_EQ(ck.warnings.size(), 1u);
  EXPECT_NE(ck.warnings[0].find("total_size = 20 but the tensors hold 19 bytes"), std::string::npos) << ck.warnings[0];
}

struct BadIndex {
  const char* name;
  std::string index;
  const char* expected;
};

std::vector<BadIndex> bad_indexes() {
  const std::string s1 = "\"model-00001-of-00002.safetensors\"", s2 = "\"model-00002-of-00002.safetensors\"";
  auto wm = [](const std::string& body) { return "{\"metadata\":{},\"weight_map\":{" + body + "}}"; };
  return {
      {"missing_shard", wm("\"a\":" + s1 + ",\"b\":" + s1 + ",\"c\":\"model-00003-of-00003.safetensors\""), "shard \"model-00003-of-00003.safetensors\": no such file in"},
      {"dotdot_escape", wm("\"a\":" + s1 + ",\"b\":" + s1 + ",\"c\":\"../outside.safetensors\""), "'..' component"},
      {"absolute_path", wm("\"a\":" + s1 + ",\"b\":" + s1 + ",\"c\":\"/etc/passwd\""), "absolute shard path"},
      {"backslash", wm("\"a\":" + s1 + ",\"b\":" + s1 + ",\"c\":\"..\\\\x.safetensors\""), "backslash"},
      {"empty_shard_name", wm("\"a\":" + s1 + ",\"b\":" + s1 + ",\"c\":\"\""), "empty shard name"},
      {"listed_not_in_header", wm("\"a\":" + s1 + ",\"b\":" + s1 + ",\"c\":" + s2 + ",\"d\":" + s2), "absent from that shard's header"},
      {"not_listed", wm("\"a\":" + s1 + ",\"c\":" + s2), "'b': weight_map: present in shard model-00001-of-00002.safetensors but not listed"},
      {"wrong_shard", wm("\"a\":" + s1 + ",\"b\":" + s1 + ",\"c\":" + s1), "absent from that shard's header"},
      {"duplicate_tensor", wm("\"a\":" + s1 + ",\"a\":" + s1 + ",\"b\":" + s1 + ",\"c\":" + s2), "tensor listed twice"},
      {"not_json", "{\"weight_map\": {\"a\": ", "invalid JSON"},
      {"no_weight_map", "{\"metadata\":{}}", "weight_map: missing section"},
      {"shard_not_string", wm("\"a\":1,\"b\":" + s1 + ",\"c\":" + s2), "shard name must be a string"},
      {"weight_map_array", "{\"weight_map\":[1,2]}", "weight_map must be an object"},
      {"index_is_array", "[]", "the index must be a JSON object"},
  };
}

class BadIndexTest : public ::testing::TestWithParam<BadIndex> {};
TEST_P(BadIndexTest, IsRejectedNamingTheIndexAndEntry) {
  TempDir dir;
  write_two_shards(dir.path(), GetParam().index);
  try {
    open_checkpoint(dir.path().string());
    FAIL() << GetParam().name << " accepted";
  } catch (const Error& e) {
    std::string w = e.what();
    EXPECT_NE(w.find(GetParam().expected), std::string::npos) << w;
    EXPECT_NE(w.find("model"), std::string::npos) << "should name a file: " << w;
  }
}
INSTANTIATE_TEST_SUITE_P(Matrix, BadIndexTest, ::testing::ValuesIn(bad_indexes()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Checkpoint, SymlinkLeadingOutOfTheFolderIsRejected) {
  TempDir outside, dir;
  write_two_shards(dir.path(), kGoodIndex);
  fs::rename(dir / "model-00002-of-00002.safetensors", outside / "real.safetensors");
  fs::create_symlink(outside / "real.safetensors", dir / "model-00002-of-00002.safetensors");
  EXPECT_THROW_MSG(open_checkpoint(dir.path().string()), FormatError, "leads outside the checkpoint folder");
  // A symlink that stays inside the folder is fine.
  fs::remove(dir / "model-00002-of-00002.safetensors");
  fs::create_directory(dir / "blobs");
  fs::rename(outside / "real.safetensors", dir / "blobs" / "c.safetensors");
  fs::create_symlink(dir / "blobs" / "c.safetensors", dir / "model-00002-of-00002.safetensors");
  EXPECT_EQ(open_checkpoint(dir.path().string()).tensors.size(), 3u);
}

TEST(Checkpoint, TensorInTwoShardsIsRejected) {
  TempDir dir;
  write_file(dir / "x.safetensors", safetensors_bytes("{" + tensor_entry("w", "U8", "[1]", 0, 1) + "}", "a"));
  write_file(dir / "y.safetensors", safetensors_bytes("{" + tensor_entry("w", "U8", "[1]", 0, 1) + "}", "b"));
  EXPECT_THROW_MSG(open_checkpoint(dir.path().string()), FormatError,
                   "tensor 'w': name: tensor appears in both x.safetensors and y.safetensors");
}

TEST(Checkpoint, ProblemsOfEveryShardAreReportedTogether) {
  TempDir dir;
  write_two_shards(dir.path(), kGoodIndex);
  write_file(dir / "model-00001-of-00002.safetensors", safetensors_bytes("{}", "", 9999));
  write_file(dir / "model-00002-of-00002.safetensors", safetensors_bytes("{" + tensor_entry("c", "Q", "[3]", 0, 3) + "}", "xyz"));
  try {
    open_checkpoint(dir.path().string());
    FAIL();
  } catch (const FormatError& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("model-00001-of-00002.safetensors: header length = 9999"), std::string::npos) << w;
    EXPECT_NE(w.find("model-00002-of-00002.safetensors: tensor 'c': dtype"), std::string::npos) << w;
  }
}

TEST(Checkpoint, PickleCheckpointsAreRefusedWithAReason) {
  TempDir dir;
  write_file(dir / "pytorch_model.bin.index.json", R"({"weight_map":{"a":"pytorch_model-00001.bin"}})");
  EXPECT_THROW_MSG(open_checkpoint(dir.path().string()), IoError, "reads safetensors only");
}

// Every real index in ../shared/data parses, with every shard name safe and the tensor count of the file.
TEST(Checkpoint, RealIndexesParse) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  size_t indexes = 0;
  for (const auto& e : fs::recursive_directory_iterator(shared_data() / "models")) {
    auto name = e.path().filename().string();
    if (name != "model.safetensors.index.json" && name != "pytorch_model.bin.index.json") continue;
    auto idx = read_shard_index(e.path().string());
    EXPECT_GT(idx.weight_map.size(), 100u) << e.path();
    EXPECT_GE(idx.shard_names.size(), 1u) << e.path();
    ++indexes;
  }
  EXPECT_GE(indexes, 18u);
  auto mixtral = read_shard_index((shared_data() / "models/mistralai_Mixtral-8x7B-v0.1/model.safetensors.index.json").string());
  EXPECT_EQ(mixtral.weight_map.size(), 995u);
  EXPECT_EQ(mixtral.shard_names.size(), 19u);
}

}  // namespace
