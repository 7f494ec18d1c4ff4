#include "fromscratch/arch/catalog.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::arch {

namespace detail {
// Generated at build time from src/arch/catalog/*.json (embed_catalog.cmake).
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_catalog_files();
}  // namespace detail

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

json parse_document(std::string_view bytes, const std::string& origin) {
  try {
    return json::parse(bytes);
  } catch (const json::parse_error& e) {
    throw FormatError(Problem{origin, "", "", "", "", str("not valid JSON: ", e.what())}, "entry");
  }
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path, "open", errno);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    if (in.gcount() > 0) EVP_DigestUpdate(ctx, buf, static_cast<size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  if (in.bad()) throw IoError(path, "read", errno);
  return to_hex(md, len);
}

}  // namespace

CatalogEntry Catalog::parse_entry(const json& doc, const std::string& id, const std::string& origin) {
  ProblemList problems(origin, "entry field");
  if (!doc.is_object()) {
    problems.add("", "", "", "a JSON object", "a catalog entry must be an object");
    problems.throw_all();
  }
  auto name = doc.find("name");
  if (name == doc.end() || !name->is_string() || name->get_ref<const std::string&>().empty())
    problems.add("name", "", "", "a non-empty string", "missing or not a string");
  auto config = doc.find("config");
  if (config == doc.end() || !config->is_object()) problems.add("config", "", "", "an object", "missing or not an object");
  auto source = doc.find("source");
  if (source == doc.end() || !source->is_object())
    problems.add("source", "", "", "an object", "every entry must state its source");
  problems.throw_if_any();
  CatalogEntry e;
  e.id = id;
  e.name = name->get<std::string>();
  e.origin = origin;
  e.document = doc;
  e.spec = parse_config(*config, str(origin, " (config of ", quote_untrusted(e.name), ")"));
  return e;
}

Catalog Catalog::built_in() {
  Catalog c;
  for (const auto& [file, bytes] : detail::embedded_catalog_files()) {
    std::string id(file.substr(0, file.size() - 5));  // strip ".json"
    std::string origin = str("built-in catalog ", file);
    c.entries_.push_back(parse_entry(parse_document(bytes, origin), id, "built-in"));
  }
  return c;
}

void Catalog::add_folder(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  if (!fs::is_directory(dir, ec)) throw IoError(dir, "catalog folder is not a directory");
  std::vector<fs::path> files;
  for (const auto& de : fs::directory_iterator(dir, ec))
    if (de.is_regular_file() && de.path().extension() == ".json") files.push_back(de.path());
  if (ec) throw IoError(dir, str("cannot list catalog folder: ", ec.message()));
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    const std::string path = p.string();
    json doc = read_config_json(path);  // size-limited, duplicate keys rejected
    CatalogEntry e = parse_entry(doc, p.stem().string(), path);
    if (const CatalogEntry* other = find(e.name); other && lower(other->name) == lower(e.name))
      throw FormatError(Problem{path, "name", "", str("\"", quote_untrusted(e.name), "\""),
                                str("unique (already in ", other->origin, ")"), "duplicate catalog name"},
                        "entry field");
    entries_.push_back(std::move(e));
  }
}

const CatalogEntry* Catalog::find(std::string_view key) const {
  const std::string k = lower(key);
  for (const auto& e : entries_)
    if (lower(e.id) == k || lower(e.name) == k) return &e;
  const CatalogEntry* hit = nullptr;
  for (const auto& e : entries_) {
    auto slash = e.name.find('/');
    if (slash != std::string::npos && lower(e.name.substr(slash + 1)) == k) {
      if (hit) return nullptr;  // ambiguous short name
      hit = &e;
    }
  }
  return hit;
}

std::string default_user_catalog_dir() {
  if (const char* d = std::getenv("FROMSCRATCH_CATALOG"); d && *d) return d;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return (fs::path(x) / "fromscratch" / "catalog").string();
  if (const char* h = std::getenv("HOME"); h && *h)
    return (fs::path(h) / ".local" / "share" / "fromscratch" / "catalog").string();
  return "";
}

std::string catalog_id(std::string_view name) {
  // Letters, digits and '-' are kept; '.' only right after a letter or digit (so no "." or ".." component
  // can form); anything else becomes one '_'.
  std::string id;
  for (unsigned char c : name) {
    const bool after_alnum = !id.empty() && std::isalnum(static_cast<unsigned char>(id.back()));
    if (std::isalnum(c) || c == '-')
      id += static_cast<char>(std::tolower(c));
    else if (c == '.' && after_alnum)
      id += '.';
    else if (!id.empty() && id.back() != '_')
      id += '_';
  }
  while (!id.empty() && (id.back() == '_' || id.back() == '.')) id.pop_back();
  if (id.size() > 120) id.resize(120);
  return id;
}

json make_user_entry(const std::string& config_path, const std::string& name, const std::string& note) {
  json config = read_config_json(config_path);
  ArchSpec spec = parse_config(config, config_path);  // refuse what does not parse
  json doc;
  doc["name"] = name;
  doc["description"] = note;
  doc["source"] = {{"kind", "config.json added by the user (arch add)"},
                   {"file", fs::absolute(config_path).lexically_normal().string()},
                   {"sha256", sha256_file(config_path)}};
  doc["config"] = config;
  (void)spec;
  return doc;
}

std::string write_user_entry(const std::string& dir, const json& doc, bool force) {
  const std::string name = doc.at("name").get<std::string>();
  const std::string id = catalog_id(name);
  if (id.empty())
    throw UsageError(str("catalog name \"", quote_untrusted(name), "\" has no letters or digits; pass --name"));
  Catalog builtin = Catalog::built_in();
  if (const CatalogEntry* e = builtin.find(name); e && lower(e->name) == lower(name))
    throw UsageError(str("\"", quote_untrusted(name), "\" is already in the built-in catalog; pass another --name"));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError(dir, str("cannot create catalog folder: ", ec.message()));
  const fs::path path = fs::path(dir) / (id + ".json");
  if (!force && fs::exists(path))
    throw UsageError(str(path.string(), " exists; pass --force to overwrite it"));
  // Write to a temporary name first so a crash never leaves half an entry under the real name.
  const fs::path tmp = fs::path(dir) / (id + ".json.tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError(tmp.string(), "open for writing", errno);
    out << doc.dump(2) << "\n";
    out.flush();
    if (!out) throw IoError(tmp.string(), "write", errno);
  }
  fs::rename(tmp, path, ec);
  if (ec) throw IoError(path.string(), str("rename failed: ", ec.message()));
  return path.string();
}

}  // namespace fromscratch::arch
