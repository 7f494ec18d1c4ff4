// Exact-reuse counts from tensor digests: identical, permuted rows, rows under another name, small tensors apart.
#include "fromscratch/core/digest_compare.hpp"

#include "test_support.hpp"

using namespace fromscratch;

namespace {
TensorDigest d(const std::string& name, const std::string& sha, const std::string& multiset, uint64_t bytes = 4096) {
  TensorDigest t;
  t.name = name;
  t.sha256 = sha;
  t.row_multiset = multiset;
  t.bytes = bytes;
  return t;
}
std::string group(const std::string& name) { return name.substr(0, name.find('.')); }
}  // namespace

TEST(DigestCompare, CountsEachKindOfExactReuse) {
  std::vector<TensorDigest> a = {d("attn.q", "s1", "m1"), d("experts.0", "s2", "m2"), d("experts.1", "s3", "m3"),
                                 d("norm.0", "s4", "m4", 256), d("router", "s5", "m5")};
  std::vector<TensorDigest> b = {d("attn.q", "s1", "m1"),       // identical
                                 d("router", "s5x", "m5"),      // same rows, permuted
                                 d("experts.0", "s3y", "m3"),   // rows of experts.1 (relocated and permuted)
                                 d("experts.1", "s2", "m2"),    // bytes of experts.0 under another name: elsewhere
                                 d("norm.0", "s4", "m4", 256),  // small identical, counted apart
                                 d("new", "s9", "m9")};         // nothing
  auto c = compare_digests(a, b, group);
  EXPECT_EQ(c.tensors_a, 5u);
  EXPECT_EQ(c.tensors_b, 6u);
  EXPECT_EQ(c.shared_names, 5u);
  EXPECT_EQ(c.small_identical, 1u);
  EXPECT_EQ(c.all.tensors, 5u);
  EXPECT_EQ(c.all.identical, 1u);
  EXPECT_EQ(c.all.identical_bytes, 4096u);
  EXPECT_EQ(c.all.rows_permuted, 1u);
  EXPECT_EQ(c.all.rows_elsewhere, 2u);
  EXPECT_EQ(c.by_group.at("experts").rows_elsewhere, 2u);
  EXPECT_EQ(c.by_group.at("attn").identical, 1u);
  EXPECT_EQ(c.by_group.count("norm"), 0u);
}

TEST(DigestCompare, IndependentDigestsShareNothing) {
  std::vector<TensorDigest> a = {d("x", "a1", "b1"), d("y", "a2", "b2")};
  std::vector<TensorDigest> b = {d("x", "c1", "e1"), d("y", "c2", "e2")};
  auto c = compare_digests(a, b, group);
  EXPECT_EQ(c.all.identical + c.all.rows_permuted + c.all.rows_elsewhere, 0u);
  EXPECT_EQ(c.shared_names, 2u);
}
