// open_model on a real hub-style HTTP server on 127.0.0.1 (tests/support/hub/hub_server.py): tensor values
// read through core's tensor_data equal the local ones, prefetch fetches only the chunks the ranges touch, the
// second open fetches nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/tensor_data.hpp"
#include "fromscratch/remote/byte_cache.hpp"
#include "fromscratch/remote/open_model.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace fromscratch;
using fromscratch::test::TempDir;

namespace {

// The hub test server as a child process; killed when the object dies.
class HubServer {
 public:
  explicit HubServer(const fs::path& root, const fs::path& work) {
    port_file_ = work / "port";
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string script = (test::source_dir() / "tests/support/hub/hub_server.py").string();
      ::execl("/usr/bin/python3", "python3", script.c_str(), "--root", root.c_str(), "--port-file", port_file_.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 400 && !fs::exists(port_file_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ~HubServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string endpoint() const { return "http://127.0.0.1:" + test::read_file(port_file_); }
  bool up() const { return fs::exists(port_file_); }

 private:
  pid_t pid_ = -1;
  fs::path port_file_;
};

}  // namespace

TEST(RemoteHub, TensorValuesPrefetchAndCache) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "skipped: /usr/bin/python3 absent";
  TempDir d;
  const fs::path model = test::source_dir() / "tests/data/trained/moe-a";
  fs::create_directories(d / "hub" / "test");
  fs::copy(model, d / "hub" / "test" / "moe-a", fs::copy_options::recursive);
  HubServer server(d / "hub", d.path());
  ASSERT_TRUE(server.up());
  setenv("HF_ENDPOINT", server.endpoint().c_str(), 1);
  remote::OpenOptions oo;
  oo.cache_root = (d / "cache").string();

  Checkpoint local = open_checkpoint(model.string());
  remote::Model m = remote::open_model("hf://test/moe-a", oo);
  ASSERT_TRUE(m.is_hub());
  ASSERT_EQ(m.checkpoint.tensors.size(), local.tensors.size());
  EXPECT_EQ(m.checkpoint.source, "hf://test/moe-a@" + m.commit);
  const uint64_t after_open = m.stats().data_bytes;

  // The last tensor's rows 1..2, declared first: only the chunks they touch are fetched.
  const CheckpointTensor& t = m.checkpoint.tensors.back();
  const CheckpointTensor* lt = local.find(t.info.name);
  ASSERT_NE(lt, nullptr);
  ASSERT_GE(t.info.num_rows(), 3u);
  const uint64_t rb = t.info.row_bytes();
  remote::prefetch(m.checkpoint, {{t.shard, t.file_offset + rb, 2 * rb}});
  const uint64_t fetched = m.stats().data_bytes - after_open;
  const uint64_t C = remote::ByteCache::kChunkBytes;
  const uint64_t first = (t.file_offset + rb) / C, last = (t.file_offset + 3 * rb - 1) / C;
  EXPECT_LE(fetched, (last - first + 1) * C);
  const uint64_t row_len = tensor_row_length(t.info);
  std::vector<float> a(2 * row_len), b(2 * row_len);
  read_tensor_rows_f32(m.checkpoint, t, 1, 3, a.data());
  read_tensor_rows_f32(local, *lt, 1, 3, b.data());
  EXPECT_EQ(a, b);
  EXPECT_EQ(m.stats().data_bytes - after_open, fetched);  // the read itself fetched nothing more

  // Every tensor's values equal the local ones; a second open (pinned to the sha) fetches nothing.
  for (const auto& rt : m.checkpoint.tensors) {
    if (rt.info.dtype != DType::BF16 && rt.info.dtype != DType::F32) continue;
    EXPECT_EQ(read_tensor_f32(m.checkpoint, rt), read_tensor_f32(local, *local.find(rt.info.name))) << rt.info.name;
  }
  remote::Model again = remote::open_model("hf://test/moe-a@" + m.commit, oo);
  for (const auto& rt : again.checkpoint.tensors) (void)read_tensor_bytes(again.checkpoint, rt, 0, 0, nullptr);
  EXPECT_EQ(again.stats().data_bytes, 0u);
  EXPECT_EQ(again.stats().http_requests, 0u);
  unsetenv("HF_ENDPOINT");
}
