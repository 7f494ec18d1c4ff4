// The byte-source seam: a checkpoint whose shards come from another source is validated exactly like a local
// one; the byte cache writes atomically and ignores chunks of the wrong length.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "fromscratch/core/byte_source.hpp"
#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/tensor_hash.hpp"
#include "fromscratch/remote/byte_cache.hpp"
#include "safetensors_builder.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace fromscratch;
using fromscratch::test::TempDir;

namespace {

// Bytes held in memory: a real ByteSource (as a cache or download buffer would be), not a mock.
class MemorySource final : public ByteSource {
 public:
  MemorySource(std::string name, std::string bytes) : name_(std::move(name)), bytes_(std::move(bytes)) {}
  uint64_t size() const override { return bytes_.size(); }
  void read(uint64_t offset, size_t n, uint8_t* out) const override {
    if (offset > bytes_.size() || n > bytes_.size() - offset) throw IoError(name_, "read past the end");
    std::memcpy(out, bytes_.data() + offset, n);
  }
  const std::string& name() const override { return name_; }

 private:
  std::string name_, bytes_;
};

std::string shard(const std::string& tensor, char fill) {
  return test::safetensors_bytes("{" + test::tensor_entry(tensor, "F32", "[2]", 0, 8) + "}", std::string(8, fill));
}

}  // namespace

TEST(RemoteSources, CheckpointFromSourcesMatchesLocal) {
  TempDir d;
  std::map<std::string, std::string> files = {{"a.safetensors", shard("x", '\1')}, {"b.safetensors", shard("y", '\2')}};
  for (const auto& [n, b] : files) test::write_file(d / n, b);
  std::string index = R"({"metadata":{"total_size":16},"weight_map":{"x":"a.safetensors","y":"b.safetensors"}})";
  test::write_file(d / "model.safetensors.index.json", index);
  Checkpoint local = open_checkpoint(d.path().string());
  auto opener = [&](const std::string& name) -> std::shared_ptr<const ByteSource> {
    auto it = files.find(name);
    return it == files.end() ? nullptr : std::make_shared<MemorySource>("mem://" + name, it->second);
  };
  Checkpoint remote = open_checkpoint_from_sources("mem://ck", "mem://root", "model.safetensors.index.json", index, {}, opener);
  ASSERT_EQ(remote.tensors.size(), local.tensors.size());
  for (size_t i = 0; i < local.tensors.size(); ++i) {
    EXPECT_EQ(remote.tensors[i].info.name, local.tensors[i].info.name);
    EXPECT_EQ(remote.tensors[i].file_offset, local.tensors[i].file_offset);
    EXPECT_EQ(hash_tensor(remote.shards[remote.tensors[i].shard], remote.tensors[i], HashOptions{}).sha256,
              hash_tensor(local.shards[local.tensors[i].shard], local.tensors[i], HashOptions{}).sha256);
  }
  EXPECT_EQ(remote.shards[0].path, "mem://root/a.safetensors");
  ASSERT_TRUE(remote.shards[0].source);
  EXPECT_FALSE(local.shards[0].source);  // local shards stay plain paths
}

TEST(RemoteSources, SameValidationAsLocal) {
  std::map<std::string, std::string> files = {{"a.safetensors", shard("x", '\1')}};
  auto opener = [&](const std::string& name) -> std::shared_ptr<const ByteSource> {
    auto it = files.find(name);
    return it == files.end() ? nullptr : std::make_shared<MemorySource>("mem://" + name, it->second);
  };
  // the index names a shard that escapes, one that is missing, a tensor the header lacks
  EXPECT_THROW_MSG(open_checkpoint_from_sources("s", "r", "i.json", R"({"weight_map":{"x":"../a.safetensors"}})", {}, opener),
                   FormatError, "..");
  EXPECT_THROW_MSG(open_checkpoint_from_sources("s", "r", "i.json", R"({"weight_map":{"x":"c.safetensors"}})", {}, opener),
                   FormatError, "no such file");
  EXPECT_THROW_MSG(open_checkpoint_from_sources("s", "r", "i.json",
                                                R"({"weight_map":{"x":"a.safetensors","z":"a.safetensors"}})", {}, opener),
                   FormatError, "absent from that shard's header");
  EXPECT_THROW_MSG(open_checkpoint_from_sources("s", "r", "", "", {"/etc/passwd"}, opener), FormatError, "absolute");
  // a truncated source: the header reader refuses it exactly as for a file
  files["a.safetensors"].resize(12);
  EXPECT_THROW(open_checkpoint_from_sources("s", "r", "", "", {"a.safetensors"}, opener), FormatError);
}

TEST(RemoteSources, ShardSourceSizeChecked) {
  ShardFile sf;
  sf.name = "a";
  sf.file_size = 99;
  sf.source = std::make_shared<MemorySource>("mem://a", std::string(10, 'x'));
  EXPECT_THROW_MSG(open_shard_source(sf), IoError, "file size changed");
  sf.file_size = 10;
  EXPECT_EQ(open_shard_source(sf)->size(), 10u);
}

TEST(RemoteSources, ByteCacheChunksAndFiles) {
  TempDir d;
  remote::ByteCache c(d.path().string(), "org/name", std::string(40, 'a'));
  uint8_t buf[8];
  EXPECT_FALSE(c.read_chunk("m.safetensors", 0, 8, buf));
  c.write_chunk("m.safetensors", 0, reinterpret_cast<const uint8_t*>("abcdefgh"), 8);
  EXPECT_TRUE(c.has_chunk("m.safetensors", 0, 8));
  EXPECT_FALSE(c.has_chunk("m.safetensors", 0, 7));  // a chunk of another length is absent
  ASSERT_TRUE(c.read_chunk("m.safetensors", 0, 8, buf));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 8), "abcdefgh");
  c.write_file("config.json", "{}");
  EXPECT_EQ(c.read_file("config.json", 100).value_or(""), "{}");
  EXPECT_FALSE(c.read_file("config.json", 1).has_value());  // over the limit
  EXPECT_FALSE(c.is_verified("m.safetensors"));
  c.mark_verified("m.safetensors", "x");
  EXPECT_TRUE(c.is_verified("m.safetensors"));
  c.drop_chunks("m.safetensors");
  EXPECT_FALSE(c.has_chunk("m.safetensors", 0, 8));
  // no temporary file is left behind
  for (const auto& e : fs::recursive_directory_iterator(d.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}
