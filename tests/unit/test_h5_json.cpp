// JSON documents written to HDF5 read back equal, and the file is readable by h5py (an independent reader).
#include <cstdlib>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/io/h5_file.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::test;
using json = nlohmann::json;

TEST(H5Json, RoundTripsObjectsArraysAndScalars) {
  TempDir dir;
  auto path = (dir / "doc.h5").string();
  json doc = {{"kind", "test"},
              {"count", 42},
              {"ratio", 0.25},
              {"flag", true},
              {"names", {"alpha", "beta", "γάμμα"}},
              {"ints", {1, -2, 3}},
              {"floats", {0.5, 1.5}},
              {"matrix", {{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}},
              {"nested", {{"a/b", "slash key"}, {"deeper", {{"x", 1}}}}},
              {"pairs", json::array({{{"name", "p"}, {"v", 1}}, {{"name", "q"}, {"v", 2}}})},
              {"mixed", {1, "two"}}};
  io::write_json_h5(path, doc, {"fromscratch", "test"}, false);
  auto f = io::H5File::open_read(path);
  json back = f.read_json("/");
  back.erase("provenance");
  json expect = doc;
  expect["flag"] = 1;  // booleans are stored as int64 0/1
  EXPECT_EQ(back, expect) << back.dump(1);
  EXPECT_EQ(f.read_json("/provenance")["tool"], "fromscratch");
}

TEST(H5Json, RefusesToOverwriteWithoutForce) {
  TempDir dir;
  auto path = (dir / "doc.h5").string();
  io::write_json_h5(path, {{"a", 1}}, {}, false);
  EXPECT_THROW_MSG(io::write_json_h5(path, {{"a", 2}}, {}, false), UsageError, "pass --force");
  io::write_json_h5(path, {{"a", 3}}, {}, true);
  EXPECT_EQ(io::H5File::open_read(path).read_json("/")["a"], 3);
}

TEST(H5Json, H5pyReadsTheSameValues) {
  TempDir dir;
  auto path = (dir / "doc.h5").string();
  io::write_json_h5(path, {{"names", {"x", "yy"}}, {"values", {1.5, 2.5}}, {"group", {{"n", 7}}}}, {}, false);
  std::string script = "import h5py,sys; f=h5py.File(sys.argv[1],'r'); "
                       "assert [s.decode() for s in f['names'][:]]==['x','yy']; "
                       "assert list(f['values'][:])==[1.5,2.5]; assert int(f['group'].attrs['n'])==7";
  std::string cmd = "/usr/bin/python3 -c \"" + script + "\" " + path;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST(H5Json, ErrorsNameTheHdf5CallAndObject) {
  EXPECT_THROW_MSG(io::H5File::open_read("/nonexistent/file.h5"), Error, "HDF5: H5Fopen failed for '/nonexistent/file.h5'");
}
