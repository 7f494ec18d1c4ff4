#include "fromscratch/core/errors.hpp"

#include "test_support.hpp"

using namespace fromscratch;

TEST(Errors, ProblemNamesFileEntryFieldValueAndLimit) {
  Problem p{"model-00003.safetensors", "layers.7.w", "data_offsets.end", "812", "<= 800 (data size)",
            "points past the end of the data"};
  EXPECT_EQ(p.describe(),
            "model-00003.safetensors: tensor 'layers.7.w': data_offsets.end = 812: points past the end of the data "
            "(limit: <= 800 (data size))");
}

TEST(Errors, ProblemListThrowsEveryProblemAtOnce) {
  ProblemList list("f.safetensors");
  list.add("a", "dtype", "\"Q7\"", "", "unknown dtype");
  list.add("b", "shape", "[-1]", "", "negative dimension");
  try {
    list.throw_all();
    FAIL();
  } catch (const FormatError& e) {
    ASSERT_EQ(e.problems().size(), 2u);
    std::string what = e.what();
    EXPECT_NE(what.find("2 problems in f.safetensors"), std::string::npos) << what;
    EXPECT_NE(what.find("tensor 'a': dtype = \"Q7\": unknown dtype"), std::string::npos) << what;
    EXPECT_NE(what.find("tensor 'b': shape = [-1]"), std::string::npos) << what;
  }
}

TEST(Errors, ProblemListCapsHostileFloods) {
  ProblemList list("f");
  for (int i = 0; i < 5000; ++i) list.add("t", "x", "", "", "bad");
  EXPECT_EQ(list.size(), ProblemList::kMaxProblems);
  try {
    list.throw_all();
  } catch (const FormatError& e) {
    EXPECT_EQ(e.problems().size(), ProblemList::kMaxProblems + 1);
    EXPECT_NE(std::string(e.what()).find("4000 further problems not listed"), std::string::npos);
  }
}
