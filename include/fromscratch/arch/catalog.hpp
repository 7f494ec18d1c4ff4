// The reference catalog: real configs shipped with the tool (src/arch/catalog/*.json, compiled in) plus a
// user folder that `arch add` writes.
//
// One JSON document per model:
//   {"name": "org/model", "description": "...", "source": {"kind", "file", "sha256", "origin", ...},
//    "published": {"total", "active", "reference"} (optional), "config": {... config.json ...}}
// Built-in entries carry only sourced values: verbatim config.json files from ../shared/data/models, and
// Solar-Open-100B / GLM-4.5-Air rebuilt from the dispute's published config comparison with each field's
// source named in source.field_sources.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fromscratch/arch/spec.hpp"

namespace fromscratch::arch {

struct CatalogEntry {
  std::string id;      // file stem, lower case ("mistralai_mixtral-8x7b-v0.1")
  std::string name;    // "mistralai/Mixtral-8x7B-v0.1"
  std::string origin;  // "built-in" or the user file's path
  nlohmann::json document;
  ArchSpec spec;       // parsed from document["config"]

  const nlohmann::json& config() const { return document.at("config"); }
};

class Catalog {
 public:
  // The entries compiled into the binary. Throws FormatError if one does not parse (a build defect).
  static Catalog built_in();
  // Adds every *.json of `dir` (sorted by name). A missing folder adds nothing; a malformed file, a file
  // whose config does not parse, or a name already present throws FormatError naming the file.
  void add_folder(const std::string& dir);
  // Parses one catalog document; `origin` names it in messages.
  static CatalogEntry parse_entry(const nlohmann::json& doc, const std::string& id, const std::string& origin);

  const std::vector<CatalogEntry>& entries() const { return entries_; }
  // By id or name, case-insensitively; also by the part of the name after '/' when that is unique.
  const CatalogEntry* find(std::string_view name_or_id) const;

 private:
  std::vector<CatalogEntry> entries_;
};

// The folder `arch add` writes: $FROMSCRATCH_CATALOG, else $XDG_DATA_HOME/fromscratch/catalog, else
// $HOME/.local/share/fromscratch/catalog. Empty when none of these variables is set.
std::string default_user_catalog_dir();

// "Org/Model-Name v2" -> "org_model-name_v2": the file stem for a name.
std::string catalog_id(std::string_view name);

// A catalog document for a user config file: validates it parses, records its path and SHA-256.
nlohmann::json make_user_entry(const std::string& config_path, const std::string& name, const std::string& note);

// Writes `doc` as <dir>/<id>.json (creating dir). Refuses to replace a file unless force; refuses a name
// that the built-in catalog already holds. Returns the path written.
std::string write_user_entry(const std::string& dir, const nlohmann::json& doc, bool force);

}  // namespace fromscratch::arch
