// The reference catalog: every real config is in it byte-for-JSON with its source and checksum, the dispute
// pair is rebuilt only from sourced fields, and the user folder round-trips through write/read.
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>

#include "fromscratch/arch/catalog.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::arch;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string sha256_of(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  return to_hex(md, len);
}

}  // namespace

TEST(ArchCatalog, HoldsEveryRealConfigVerbatimWithItsChecksum) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  const Catalog c = Catalog::built_in();
  const fs::path root = fromscratch::test::shared_data();
  int found = 0;
  for (const auto& dir : fs::directory_iterator(root / "models")) {
    const fs::path cfg = dir.path() / "config.json";
    if (!fs::exists(cfg)) continue;
    SCOPED_TRACE(cfg.string());
    const std::string rel = "shared/data/models/" + dir.path().filename().string() + "/config.json";
    const CatalogEntry* hit = nullptr;
    for (const auto& e : c.entries())
      if (e.document["source"].value("file", "") == rel) hit = &e;
    ASSERT_NE(hit, nullptr) << "no catalog entry sourced from " << rel;
    const std::string bytes = test::read_file(cfg);
    EXPECT_EQ(hit->config(), json::parse(bytes));
    EXPECT_EQ(hit->document["source"]["sha256"], sha256_of(bytes));
    EXPECT_FALSE(hit->document["source"].value("origin", "").empty());
    ++found;
  }
  EXPECT_GE(found, 21);
}

TEST(ArchCatalog, DisputePairIsBuiltFromSourcedFieldsOnly) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  const Catalog c = Catalog::built_in();
  // Every key of the rebuilt configs is either in sionic-ai's published config summary or named in
  // field_sources with its source.
  const json compare = json::parse(test::read_file(fromscratch::test::shared_data() /
                                                    "dispute/sionic-ai_solar-vs-glm/origin/out_solar_vs_glm45/00_config_compare.json"));
  for (auto [name, side] : {std::pair<const char*, const char*>{"upstage/Solar-Open-100B", "A"}, {"zai-org/GLM-4.5-Air", "B"}}) {
    SCOPED_TRACE(name);
    const CatalogEntry* e = c.find(name);
    ASSERT_NE(e, nullptr);
    const json& summary = compare[side]["config_summary"];
    const json& field_sources = e->document["source"]["field_sources"];
    for (auto it = e->config().begin(); it != e->config().end(); ++it) {
      if (summary.contains(it.key())) {
        EXPECT_EQ(summary[it.key()], it.value()) << it.key();
      } else {
        EXPECT_TRUE(field_sources.contains(it.key())) << it.key() << " has no stated source";
      }
    }
    EXPECT_TRUE(e->document.contains("published"));
  }
}

TEST(ArchCatalog, EveryEntryStatesItsSourceAndHasAUniqueName) {
  const Catalog c = Catalog::built_in();
  std::set<std::string> names;
  for (const auto& e : c.entries()) {
    EXPECT_TRUE(names.insert(e.name).second) << e.name;
    EXPECT_TRUE(e.document["source"].contains("kind")) << e.name;
    EXPECT_TRUE(e.document["source"].contains("file") || e.document["source"].contains("origin")) << e.name;
  }
  EXPECT_GE(c.entries().size(), 23u);
}

TEST(ArchCatalog, FindsByNameIdAndUniqueShortName) {
  const Catalog c = Catalog::built_in();
  ASSERT_NE(c.find("mistralai/Mixtral-8x7B-v0.1"), nullptr);
  EXPECT_EQ(c.find("MISTRALAI/MIXTRAL-8X7B-V0.1"), c.find("mistralai/Mixtral-8x7B-v0.1"));
  EXPECT_EQ(c.find("mistralai_mixtral-8x7b-v0.1"), c.find("mistralai/Mixtral-8x7B-v0.1"));
  EXPECT_EQ(c.find("Solar-Open-100B"), c.find("upstage/Solar-Open-100B"));
  EXPECT_EQ(c.find("no-such-model"), nullptr);
}

TEST(ArchCatalog, UserFolderRoundTripAndRefusals) {
  test::TempDir dir;
  const fs::path cfg_dir = dir / "my-model";
  fs::create_directories(cfg_dir);
  const std::string cfg = R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
      "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})";
  test::write_file(cfg_dir / "config.json", cfg);
  const fs::path catalog_dir = dir / "catalog";

  json doc = make_user_entry((cfg_dir / "config.json").string(), "acme/My-Model", "unit test");
  EXPECT_EQ(doc["source"]["sha256"], sha256_of(cfg));
  const std::string written = write_user_entry(catalog_dir.string(), doc, false);
  EXPECT_EQ(fs::path(written).filename(), "acme_my-model.json");
  EXPECT_THROW_MSG(write_user_entry(catalog_dir.string(), doc, false), UsageError, "--force");
  EXPECT_NO_THROW(write_user_entry(catalog_dir.string(), doc, true));

  Catalog c = Catalog::built_in();
  const size_t before = c.entries().size();
  c.add_folder(catalog_dir.string());
  ASSERT_EQ(c.entries().size(), before + 1);
  const CatalogEntry* e = c.find("acme/my-model");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->spec.hidden_size, 64u);
  EXPECT_EQ(e->origin, written);

  // A name the built-in catalog holds is refused.
  json dup = doc;
  dup["name"] = "mistralai/Mixtral-8x7B-v0.1";
  EXPECT_THROW_MSG(write_user_entry(catalog_dir.string(), dup, false), UsageError, "built-in catalog");
  // A config that does not parse is refused before anything is written.
  test::write_file(dir / "bad.json", R"({"model_type": "llama", "hidden_size": -1})");
  EXPECT_THROW_MSG(make_user_entry((dir / "bad.json").string(), "x", ""), FormatError, "hidden_size");
}

TEST(ArchCatalog, MalformedUserEntriesNameTheFile) {
  test::TempDir dir;
  test::write_file(dir / "a.json", R"({"name": "x", "config": {"model_type": "llama"}})");
  Catalog c = Catalog::built_in();
  EXPECT_THROW_MSG(c.add_folder(dir.path().string()), FormatError, "a.json");
  test::write_file(dir / "a.json", R"({"name": "x", "source": {}, "config": {"model_type": "llama"}})");
  Catalog c2 = Catalog::built_in();
  EXPECT_THROW_MSG(c2.add_folder(dir.path().string()), FormatError, "hidden_size");
  test::write_file(dir / "a.json", "not json");
  Catalog c3 = Catalog::built_in();
  EXPECT_THROW_MSG(c3.add_folder(dir.path().string()), FormatError, "a.json");
  // A missing folder adds nothing.
  Catalog c4 = Catalog::built_in();
  EXPECT_NO_THROW(c4.add_folder((dir / "absent").string()));
}

TEST(ArchCatalog, IdsAreFileSafe) {
  EXPECT_EQ(catalog_id("Org/Model Name v2"), "org_model_name_v2");
  EXPECT_EQ(catalog_id("../../etc/passwd"), "etc_passwd");
  EXPECT_EQ(catalog_id("///"), "");
  EXPECT_LE(catalog_id(std::string(500, 'a')).size(), 120u);
}
