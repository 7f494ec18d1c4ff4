// The safetensors writer: byte-exact agreement with the reference implementation's own test vectors,
// ordering, multithreaded positional writes, the exactly-once rule, atomic publication, sharding and index.
#include "fromscratch/core/safetensors_writer.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/errors.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using fromscratch::test::read_file;
using fromscratch::test::TempDir;

namespace {

std::string f32_bytes(std::initializer_list<float> values) {
  std::string out;
  for (float f : values) out.append(reinterpret_cast<const char*>(&f), sizeof f);
  return out;
}

std::string bytes_of(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

std::string write_single(const std::filesystem::path& p, std::vector<TensorSpec> specs,
                         const std::vector<std::string>& data,
                         const std::vector<std::pair<std::string, std::string>>& metadata = {}) {
  SafetensorsWriter w(p.string(), specs, metadata);
  for (size_t i = 0; i < specs.size(); ++i) {
    size_t idx = w.index_of(specs[i].name);
    w.write_at(idx, 0, data[i].data(), data[i].size());
  }
  w.finish();
  return read_file(p);
}

}  // namespace

// Expected bytes below are copied from huggingface/safetensors safetensors/src/tensor.rs tests
// (test_serialization, test_empty, test_serialization_forced_alignement): the reference's own output.
TEST(SafetensorsWriter, MatchesReferenceSerializationBytes) {
  TempDir dir;
  std::string file = write_single(dir / "a.safetensors", {{"attn.0", DType::F32, {1, 2, 3}}},
                                  {f32_bytes({0, 1, 2, 3, 4, 5})});
  std::string expected = bytes_of({64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34,
                                   100, 116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112,
                                   101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102,
                                   102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125}) +
                         f32_bytes({0, 1, 2, 3, 4, 5});
  EXPECT_EQ(file, expected);
}

TEST(SafetensorsWriter, MatchesReferencePaddingBytes) {
  TempDir dir;
  std::string file = write_single(dir / "a.safetensors", {{"attn0", DType::F32, {1, 1, 2, 3}}},
                                  {f32_bytes({0, 1, 2, 3, 4, 5})});
  std::string expected =
      bytes_of({72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101,
                34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 49, 44, 50, 44, 51,
                93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93,
                125, 125, 32, 32, 32, 32, 32, 32, 32}) +
      f32_bytes({0, 1, 2, 3, 4, 5});
  EXPECT_EQ(file, expected);
}

TEST(SafetensorsWriter, MatchesReferenceEmptyAndMetadataBytes) {
  TempDir dir;
  EXPECT_EQ(write_single(dir / "e.safetensors", {}, {}), bytes_of({8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32,
                                                                     32, 32, 32}));
  EXPECT_EQ(write_single(dir / "m.safetensors", {}, {}, {{"framework", "pt"}}),
            bytes_of({40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34,
                      58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125,
                      32, 32, 32, 32, 32}));
}

TEST(SafetensorsWriter, OrdersByDtypeAlignmentThenNameAndAlignsData) {
  auto layout = plan_safetensors({{"b.weight", DType::BF16, {3}},
                                  {"a.weight", DType::BF16, {5}},
                                  {"layers.10.bias", DType::F32, {2}},
                                  {"layers.2.bias", DType::F32, {1}},
                                  {"mask", DType::U8, {3}}});
  std::vector<std::string> names;
  for (const auto& t : layout.tensors) names.push_back(t.spec.name);
  // F32 first, then BF16, then U8; byte order within a dtype ("layers.10" < "layers.2").
  EXPECT_EQ(names, (std::vector<std::string>{"layers.10.bias", "layers.2.bias", "a.weight", "b.weight", "mask"}));
  uint64_t expect_begin = 0;
  for (const auto& t : layout.tensors) {
    EXPECT_EQ(t.data_begin, expect_begin) << t.spec.name;
    expect_begin = t.data_end;
  }
  EXPECT_EQ(layout.data_size, 8 + 4 + 10 + 6 + 3);
  EXPECT_EQ(layout.data_offset() % 8, 0u);
  EXPECT_EQ(layout.file_size(), layout.data_offset() + layout.data_size);
  // The header is valid JSON naming exactly these offsets.
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<uint8_t>(layout.prefix[i])) << (8 * i);
  ASSERT_EQ(n + 8, layout.prefix.size());
  auto header = nlohmann::json::parse(layout.prefix.substr(8));
  EXPECT_EQ(header["a.weight"]["data_offsets"][0].get<uint64_t>(), layout.tensors[2].data_begin);
  EXPECT_EQ(header["a.weight"]["shape"][0].get<uint64_t>(), 5u);
  EXPECT_EQ(header["mask"]["dtype"], "U8");
}

TEST(SafetensorsWriter, AsGivenOrderKeepsCallerOrder) {
  auto layout = plan_safetensors({{"z", DType::U8, {1}}, {"a", DType::F32, {1}}}, {}, TensorOrder::kAsGiven);
  EXPECT_EQ(layout.tensors[0].spec.name, "z");
  EXPECT_EQ(layout.tensors[1].data_begin, 1u);
}

TEST(SafetensorsWriter, RejectsBadSpecs) {
  EXPECT_THROW_MSG(plan_safetensors({{"a", DType::U8, {1}}, {"a", DType::U8, {2}}}), UsageError, "duplicate");
  EXPECT_THROW_MSG(plan_safetensors({{"", DType::U8, {1}}}), UsageError, "empty name");
  EXPECT_THROW_MSG(plan_safetensors({{"x", DType::BF16, {1ull << 40, 1ull << 40}}}), UsageError, "overflows");
  EXPECT_THROW_MSG(plan_safetensors({{"x", DType::F4, {3}}}), UsageError, "whole number of bytes");
  EXPECT_THROW_MSG(plan_safetensors({{std::string("bad\xff", 4), DType::U8, {1}}}), UsageError, "UTF-8");
  EXPECT_THROW_MSG(plan_safetensors({}, {{"k", "1"}, {"k", "2"}}), UsageError, "duplicate metadata key");
}

TEST(SafetensorsWriter, ConcurrentOutOfOrderWritesProduceTheSameFileAsSequential) {
  TempDir dir;
  std::vector<TensorSpec> specs = {{"big", DType::BF16, {64, 1000}}, {"small", DType::F32, {7}}};
  auto content = [&](size_t tensor, uint64_t i) { return static_cast<uint8_t>((i * 131 + tensor * 7 + 3) & 0xff); };

  // Sequential reference with append().
  {
    SafetensorsWriter w((dir / "seq.safetensors").string(), specs);
    for (size_t t = 0; t < w.layout().tensors.size(); ++t) {
      std::string bytes(w.layout().tensors[t].byte_size(), '\0');
      for (uint64_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(content(t, i));
      w.append(bytes.data(), bytes.size());
    }
    EXPECT_EQ(w.bytes_missing(), 0u);
    w.finish();
  }
  // Four threads writing interleaved 1000-byte chunks in reverse order.
  {
    SafetensorsWriter w((dir / "par.safetensors").string(), specs);
    const uint64_t chunk = 1000;
    std::vector<std::thread> pool;
    for (int k = 0; k < 4; ++k) {
      pool.emplace_back([&, k] {
        for (size_t t = 0; t < w.layout().tensors.size(); ++t) {
          uint64_t size = w.layout().tensors[t].byte_size();
          uint64_t chunks = (size + chunk - 1) / chunk;
          for (uint64_t c = chunks; c-- > 0;) {
            if (c % 4 != static_cast<uint64_t>(k)) continue;
            uint64_t begin = c * chunk, end = std::min(size, begin + chunk);
            std::string bytes(end - begin, '\0');
            for (uint64_t i = begin; i < end; ++i) bytes[i - begin] = static_cast<char>(content(t, i));
            w.write_at(t, begin, bytes.data(), bytes.size());
          }
        }
      });
    }
    for (auto& th : pool) th.join();
    w.finish();
  }
  EXPECT_EQ(read_file(dir / "seq.safetensors"), read_file(dir / "par.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir / "par.safetensors.partial"));
}

TEST(SafetensorsWriter, RefusesOverlapsOverrunsAndHoles) {
  TempDir dir;
  auto path = (dir / "x.safetensors").string();
  {
    SafetensorsWriter w(path, {{"t", DType::U8, {10}}});
    char buf[10] = {};
    w.write_at(0, 2, buf, 3);
    EXPECT_THROW_MSG(w.write_at(0, 4, buf, 2), UsageError, "written twice");
    EXPECT_THROW_MSG(w.write_at(0, 0, buf, 3), UsageError, "written twice");
    EXPECT_THROW_MSG(w.write_at(0, 8, buf, 3), UsageError, "leaves tensor 't'");
    EXPECT_THROW_MSG(w.write_at(1, 0, buf, 1), UsageError, "out of range");
    w.write_at(0, 5, buf, 2);  // adjacent ranges merge
    EXPECT_EQ(w.bytes_missing(), 5u);
    EXPECT_THROW_MSG(w.finish(), UsageError, "first at offset 0");
    w.write_at(0, 0, buf, 2);
    EXPECT_THROW_MSG(w.finish(), UsageError, "first at offset 7");
    EXPECT_TRUE(std::filesystem::exists(path + ".partial"));
    EXPECT_FALSE(std::filesystem::exists(path));
  }
  // Abandoned without finish(): nothing is left behind, not even the partial file.
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SafetensorsWriter, RefusesToOverwriteWithoutPermission) {
  TempDir dir;
  auto path = (dir / "x.safetensors").string();
  fromscratch::test::write_file(path, "keep me");
  EXPECT_THROW_MSG(SafetensorsWriter(path, {{"t", DType::U8, {1}}}), UsageError, "--force");
  EXPECT_EQ(read_file(path), "keep me");
  SafetensorsWriter w(path, {{"t", DType::U8, {1}}}, {}, TensorOrder::kReference, /*overwrite=*/true);
  char b = 42;
  w.append(&b, 1);
  w.finish();
  EXPECT_EQ(read_file(path).back(), 42);
}

TEST(SafetensorsWriter, ShardPlanFollowsHuggingFaceRule) {
  std::vector<TensorSpec> t = {{"a", DType::U8, {40}}, {"b", DType::U8, {50}}, {"c", DType::U8, {20}},
                               {"huge", DType::U8, {500}}, {"d", DType::U8, {10}}};
  auto shards = plan_shards(t, 100);
  ASSERT_EQ(shards.size(), 4u);
  EXPECT_EQ(shards[0], (std::vector<size_t>{0, 1}));  // 40 + 50 = 90; + 20 would pass 100
  EXPECT_EQ(shards[1], (std::vector<size_t>{2}));
  EXPECT_EQ(shards[2], (std::vector<size_t>{3}));     // larger than the limit: alone
  EXPECT_EQ(shards[3], (std::vector<size_t>{4}));
  EXPECT_EQ(plan_shards(t, 10'000).size(), 1u);
  EXPECT_THROW(plan_shards(t, 0), UsageError);
  EXPECT_EQ(shard_file_name(3, 42), "model-00003-of-00042.safetensors");
}

TEST(SafetensorsWriter, IndexJsonIsSortedIndentedAndComplete) {
  std::string text = safetensors_index_json(1234, {{"model.norm.weight", "model-00002-of-00002.safetensors"},
                                                   {"lm_head.weight", "model-00002-of-00002.safetensors"},
                                                   {"model.embed_tokens.weight", "model-00001-of-00002.safetensors"}});
  EXPECT_EQ(text,
            "{\n"
            "  \"metadata\": {\n"
            "    \"total_size\": 1234\n"
            "  },\n"
            "  \"weight_map\": {\n"
            "    \"lm_head.weight\": \"model-00002-of-00002.safetensors\",\n"
            "    \"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\",\n"
            "    \"model.norm.weight\": \"model-00002-of-00002.safetensors\"\n"
            "  }\n"
            "}\n");
  EXPECT_THROW_MSG(safetensors_index_json(1, {{"a", "f"}, {"a", "g"}}), UsageError, "listed twice");
  TempDir dir;
  write_safetensors_index((dir / "i.json").string(), 1, {{"a", "f"}});
  EXPECT_THROW_MSG(write_safetensors_index((dir / "i.json").string(), 1, {{"a", "f"}}), UsageError, "--force");
}

// What the writer produces, the project's hostile-input reader accepts with the same layout.
TEST(SafetensorsWriter, ReaderAcceptsWrittenShardedCheckpoint) {
  TempDir dir;
  std::vector<TensorSpec> specs = {{"model.embed_tokens.weight", DType::BF16, {16, 8}},
                                   {"model.layers.0.mlp.gate.e_score_correction_bias", DType::F32, {4}},
                                   {"model.layers.0.input_layernorm.weight", DType::BF16, {8}},
                                   {"lm_head.weight", DType::BF16, {16, 8}}};
  auto shards = plan_shards(specs, 300);
  ASSERT_EQ(shards.size(), 2u);
  std::vector<std::pair<std::string, std::string>> weight_map;
  uint64_t total = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    std::vector<TensorSpec> mine;
    for (size_t i : shards[s]) mine.push_back(specs[i]);
    std::string name = shard_file_name(s + 1, shards.size());
    SafetensorsWriter w((dir / name).string(), mine, {{"format", "pt"}});
    for (size_t t = 0; t < w.layout().tensors.size(); ++t) {
      std::string bytes(w.layout().tensors[t].byte_size(), static_cast<char>(t + 1));
      w.write_at(t, 0, bytes.data(), bytes.size());
      weight_map.emplace_back(w.layout().tensors[t].spec.name, name);
      total += bytes.size();
    }
    w.finish();
  }
  write_safetensors_index((dir / "model.safetensors.index.json").string(), total, weight_map);
  Checkpoint ck = open_checkpoint(dir.path().string());
  EXPECT_TRUE(ck.warnings.empty());
  ASSERT_EQ(ck.tensors.size(), specs.size());
  EXPECT_EQ(ck.total_tensor_bytes(), total);
  for (const auto& spec : specs) {
    const CheckpointTensor* t = ck.find(spec.name);
    ASSERT_NE(t, nullptr) << spec.name;
    EXPECT_EQ(t->info.dtype, spec.dtype);
    EXPECT_EQ(t->info.shape, spec.shape);
    EXPECT_EQ(t->file_offset % 8, 0u) << "data of " << spec.name << " not 8-byte aligned";
  }
}
