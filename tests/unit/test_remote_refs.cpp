// Model references, the Hugging Face cache layout, the revision API parser and byte sizes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/net/http.hpp"
#include "fromscratch/remote/hub.hpp"
#include "fromscratch/remote/model_ref.hpp"
#include "fromscratch/remote/open_model.hpp"
#include "safetensors_builder.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace fromscratch;
using namespace fromscratch::remote;
using fromscratch::test::TempDir;
using fromscratch::test::write_file;

namespace {

// Sets an environment variable for the scope of one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_, old_.c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

const std::string kSha = "0123456789abcdef0123456789abcdef01234567";

// A repository in the Hugging Face cache layout: blobs/, snapshots/SHA/ with links to ../../blobs, refs/main.
fs::path make_cache_repo(const fs::path& hub, const std::string& org, const std::string& name) {
  fs::path repo = hub / ("models--" + org + "--" + name);
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "snapshots" / kSha);
  fs::create_directories(repo / "refs");
  write_file(repo / "refs" / "main", kSha + "\n");
  std::string header = "{" + test::tensor_entry("w", "F32", "[2]", 0, 8) + "}";
  write_file(repo / "blobs" / "aa11", test::safetensors_bytes(header, std::string(8, '\1')));
  fs::create_symlink("../../blobs/aa11", repo / "snapshots" / kSha / "model.safetensors");
  write_file(repo / "blobs" / "bb22", "{\"model_type\": \"llama\"}");
  fs::create_symlink("../../blobs/bb22", repo / "snapshots" / kSha / "config.json");
  return repo;
}

}  // namespace

TEST(RemoteRefs, RepoIdAndRevisionRules) {
  EXPECT_EQ(check_repo_id("upstage/Solar-Open-100B"), "");
  EXPECT_EQ(check_repo_id("zai-org/GLM-4.5-Air"), "");
  EXPECT_NE(check_repo_id("noslash"), "");
  EXPECT_NE(check_repo_id("a/b/c"), "");
  EXPECT_NE(check_repo_id("../etc"), "");
  EXPECT_NE(check_repo_id("a/.."), "");
  EXPECT_NE(check_repo_id("a/b c"), "");
  EXPECT_NE(check_repo_id("-a/b"), "");
  EXPECT_NE(check_repo_id("a/" + std::string(97, 'x')), "");
  EXPECT_EQ(check_revision("main"), "");
  EXPECT_EQ(check_revision("refs/pr/1"), "");
  EXPECT_EQ(check_revision(kSha), "");
  EXPECT_NE(check_revision(""), "");
  EXPECT_NE(check_revision("../x"), "");
  EXPECT_NE(check_revision("a b"), "");
  EXPECT_NE(check_revision("/abs"), "");
}

TEST(RemoteRefs, HubReferences) {
  ModelRef r = parse_model_ref("hf://upstage/Solar-Open-100B");
  EXPECT_EQ(r.kind, RefKind::Hub);
  EXPECT_EQ(r.repo, "upstage/Solar-Open-100B");
  EXPECT_EQ(r.revision, "main");
  r = parse_model_ref("hf://zai-org/GLM-4.5-Air@" + kSha);
  EXPECT_EQ(r.kind, RefKind::Hub);
  EXPECT_EQ(r.revision, kSha);
  EXPECT_THROW_MSG(parse_model_ref("hf://bad"), UsageError, "ORG/NAME");
  EXPECT_THROW_MSG(parse_model_ref("hf://a/b@"), UsageError, "revision");
  EXPECT_THROW_MSG(parse_model_ref("hf://a/b@x/../y"), UsageError, "..");
}

TEST(RemoteRefs, LocalPathWins) {
  TempDir d;
  fs::create_directories(d / "org" / "name");
  fs::path old = fs::current_path();
  fs::current_path(d.path());
  ModelRef r = parse_model_ref("org/name");
  fs::current_path(old);
  EXPECT_EQ(r.kind, RefKind::Local);
  EXPECT_EQ(r.path, "org/name");
}

TEST(RemoteRefs, HfCacheLayout) {
  TempDir d;
  fs::path repo = make_cache_repo(d / "hub", "test", "tiny");
  {
    ScopedEnv e("HF_HUB_CACHE", (d / "hub").string());
    EXPECT_EQ(hf_hub_cache_dir(), (d / "hub").string());
    ModelRef r = parse_model_ref("test/tiny");
    ASSERT_EQ(r.kind, RefKind::HfCache);
    EXPECT_EQ(r.commit, kSha);
    EXPECT_EQ(r.path, (repo / "snapshots" / kSha).string());
    EXPECT_EQ(parse_model_ref("test/tiny@" + kSha).kind, RefKind::HfCache);
    ModelRef missing = parse_model_ref("test/other");
    EXPECT_EQ(missing.kind, RefKind::NotFound);
    ASSERT_EQ(missing.looked_for.size(), 2u);
    EXPECT_NE(missing.looked_for[1].find("models--test--other"), std::string::npos);
    EXPECT_EQ(parse_model_ref("test/tiny@v2").kind, RefKind::NotFound);  // no refs/v2

    Model m = open_model("test/tiny");
    EXPECT_EQ(m.commit, kSha);
    ASSERT_EQ(m.checkpoint.tensors.size(), 1u);
    EXPECT_EQ(m.checkpoint.tensors[0].info.name, "w");
    EXPECT_EQ(m.summary(), "");
    EXPECT_TRUE(fs::exists(fs::path(m.folder) / "config.json"));
    EXPECT_THROW_MSG(open_model("test/other"), IoError, "models--test--other");
  }
  {
    ScopedEnv u("HF_HUB_CACHE", "");
    ScopedEnv e("HF_HOME", d.path().string());
    EXPECT_EQ(hf_hub_cache_dir(), (d / "hub").string());
    EXPECT_EQ(parse_model_ref("test/tiny").kind, RefKind::HfCache);
  }
}

TEST(RemoteRefs, HfCacheLinkLeavingTheRepositoryIsRefused) {
  TempDir d;
  fs::path repo = make_cache_repo(d / "hub", "test", "tiny");
  std::string header = "{" + test::tensor_entry("w", "F32", "[2]", 0, 8) + "}";
  write_file(d / "outside.safetensors", test::safetensors_bytes(header, std::string(8, '\1')));
  fs::remove(repo / "snapshots" / kSha / "model.safetensors");
  fs::create_symlink(d / "outside.safetensors", repo / "snapshots" / kSha / "model.safetensors");
  ScopedEnv e("HF_HUB_CACHE", (d / "hub").string());
  EXPECT_THROW_MSG(open_model("test/tiny"), FormatError, "outside the cached repository");
}

TEST(RemoteRefs, ByteSizes) {
  EXPECT_EQ(parse_byte_size("4096", "x"), 4096u);
  EXPECT_EQ(parse_byte_size("300M", "x"), 300'000'000u);
  EXPECT_EQ(parse_byte_size("1.5G", "x"), 1'500'000'000u);
  EXPECT_EQ(parse_byte_size("10GiB", "x"), 10ull << 30);
  EXPECT_EQ(parse_byte_size("2k", "x"), 2000u);
  EXPECT_THROW_MSG(parse_byte_size("", "--max-download"), UsageError, "--max-download");
  EXPECT_THROW_MSG(parse_byte_size("12Q", "--max-download"), UsageError, "12Q");
  EXPECT_THROW_MSG(parse_byte_size("-1", "x"), UsageError, "size");
  EXPECT_THROW_MSG(parse_byte_size("99999999999T", "x"), UsageError, "size");
}

TEST(RemoteRefs, RevisionJson) {
  const std::string sha256(64, 'a');
  std::string ok = R"({"id":"o/n","sha":")" + kSha + R"(","siblings":[
      {"rfilename":"model.safetensors","size":10,"lfs":{"sha256":")" + sha256 + R"(","size":10}},
      {"rfilename":"config.json","size":3,"blobId":")" + kSha + R"("}]})";
  RepoRevision r = parse_revision_json(ok, "o/n", "main", "URL");
  EXPECT_EQ(r.commit, kSha);
  ASSERT_EQ(r.files.size(), 2u);
  EXPECT_EQ(r.files[0].name, "config.json");  // sorted
  ASSERT_NE(r.find("model.safetensors"), nullptr);
  EXPECT_EQ(r.find("model.safetensors")->lfs_sha256, sha256);
  EXPECT_EQ(r.find("model.safetensors")->size, 10u);
  EXPECT_EQ(r.find("absent"), nullptr);

  EXPECT_THROW_MSG(parse_revision_json("[]", "o/n", "main", "URL"), FormatError, "not a JSON object");
  EXPECT_THROW_MSG(parse_revision_json("{\"siblings\":[]}", "o/n", "main", "URL"), FormatError, "no commit sha");
  EXPECT_THROW_MSG(parse_revision_json(R"({"sha":"xyz","siblings":[]})", "o/n", "main", "URL"), FormatError, "sha");
  EXPECT_THROW_MSG(parse_revision_json(R"({"sha":")" + kSha + R"("})", "o/n", "main", "URL"), FormatError, "siblings");
  for (const char* bad : {"../../etc/passwd", "/abs.safetensors", "a\\\\b"}) {
    std::string j = R"({"sha":")" + kSha + R"(","siblings":[{"rfilename":")" + bad + R"(","size":1}]})";
    EXPECT_THROW_MSG(parse_revision_json(j, "o/n", "main", "URL"), FormatError, "rfilename");
  }
  std::string dup = R"({"sha":")" + kSha + R"(","siblings":[{"rfilename":"a","size":1},{"rfilename":"a","size":1}]})";
  EXPECT_THROW_MSG(parse_revision_json(dup, "o/n", "main", "URL"), FormatError, "listed twice");
  std::string badlfs = R"({"sha":")" + kSha + R"(","siblings":[{"rfilename":"a","size":1,"lfs":{"sha256":"zz"}}]})";
  EXPECT_THROW_MSG(parse_revision_json(badlfs, "o/n", "main", "URL"), FormatError, "sha256");
  std::string sizes = R"({"sha":")" + kSha + R"(","siblings":[{"rfilename":"a","size":1,"lfs":{"sha256":")" + sha256 +
                      R"(","size":2}}]})";
  EXPECT_THROW_MSG(parse_revision_json(sizes, "o/n", "main", "URL"), FormatError, "sizes disagree");
}

TEST(NetUrl, OriginsAndRedirects) {
  EXPECT_EQ(net::origin_of("https://huggingface.co/api/x"), "https://huggingface.co:443");
  EXPECT_EQ(net::origin_of("http://127.0.0.1:8080/a"), "http://127.0.0.1:8080");
  EXPECT_EQ(net::origin_of("HTTP://Example.COM/a"), "http://example.com:80");
  EXPECT_EQ(net::origin_of("ftp://x/y"), "");
  EXPECT_EQ(net::origin_of("not a url"), "");
  EXPECT_EQ(net::resolve_url("http://h:1/a/b/c", "/x/y"), "http://h:1/x/y");
  EXPECT_EQ(net::resolve_url("http://h:1/a/b/c", "d"), "http://h:1/a/b/d");
  EXPECT_EQ(net::resolve_url("http://h:1/a", "https://cdn.example/z?sig=1"), "https://cdn.example/z?sig=1");
  EXPECT_EQ(net::redact_url("https://cdn/x?X-Amz-Signature=secret"), "https://cdn/x?…");
  EXPECT_EQ(url_quote("a b/c+d", true), "a%20b/c%2Bd");
  EXPECT_EQ(url_quote("refs/pr/1", false), "refs%2Fpr%2F1");
}
