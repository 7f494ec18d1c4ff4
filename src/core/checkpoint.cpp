#include "fromscratch/core/checkpoint.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/file_io.hpp"
#include "fromscratch/core/strings.hpp"

namespace fs = std::filesystem;

namespace fromscratch {

uint64_t Checkpoint::total_tensor_bytes() const {
  uint64_t s = 0;
  for (const auto& t : tensors) s += t.info.byte_size();
  return s;
}
uint64_t Checkpoint::total_elements() const {
  uint64_t s = 0;
  for (const auto& t : tensors) s += t.info.num_elements();
  return s;
}
const CheckpointTensor* Checkpoint::find(std::string_view name) const {
  auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                             [](const CheckpointTensor& t, std::string_view n) { return t.info.name < n; });
  return it != tensors.end() && it->info.name == name ? &*it : nullptr;
}

std::string check_shard_name(std::string_view name) {
  if (name.empty()) return "empty shard name";
  if (name.size() > 4096) return str("shard name of ", name.size(), " bytes (limit 4096)");
  if (name.find('\0') != std::string_view::npos) return "shard name contains a NUL byte";
  if (name.find('\\') != std::string_view::npos) return "shard name contains a backslash";
  if (name.front() == '/') return "absolute shard path";
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view part = name.substr(start, end - start);
    if (part == "..") return "shard path contains a '..' component";
    start = end + 1;
  }
  return "";
}

namespace {

using json = nlohmann::json;

// SAX reader for {"metadata": {...}, "weight_map": {"tensor": "shard", ...}}.
class IndexSax {
 public:
  IndexSax(ProblemList& problems, const ReaderLimits& limits, ShardIndex& out)
      : problems_(problems), limits_(limits), out_(out) {}

  bool null() { return value("null"); }
  bool boolean(bool v) { return value(v ? "true" : "false"); }
  bool number_integer(json::number_integer_t v) { return value(str(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return value(str(v)); }
  bool number_float(json::number_float_t, const json::string_t& s) { return value(s); }
  bool binary(json::binary_t&) { return value("<binary>"); }
  bool string(json::string_t& s) {
    if (depth_ == 2 && section_ == Section::weight_map && skip_ == 0) {
      if (!names_.insert(key_).second) {
        problems_.add(key_, "weight_map", "", "unique tensor names", "tensor listed twice");
      } else if (auto why = check_shard_name(s); !why.empty()) {
        problems_.add(key_, "weight_map", str('"', quote_untrusted(s, 120), '"'), "a file inside the checkpoint folder",
                      why);
      } else if (out_.weight_map.size() >= limits_.max_tensors) {
        if (!too_many_) problems_.add("", "weight_map", str("> ", limits_.max_tensors), str("<= ", limits_.max_tensors), "too many tensors");
        too_many_ = true;
      } else {
        out_.weight_map.emplace_back(key_, s);
      }
      return true;
    }
    return value(str('"', quote_untrusted(s, 80), '"'));
  }
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(json::string_t& k) {
    if (depth_ == 1) {
      key_ = k;
      if (k == "weight_map") section_ = Section::weight_map;
      else if (k == "metadata") section_ = Section::metadata;
      else section_ = Section::other;
      if (section_ != Section::other && !sections_seen_.insert(k).second)
        problems_.add("", k, "", "", "section appears twice");
    } else if (depth_ == 2) {
      key_ = k;
    }
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const json::exception& ex) {
    problems_.add("", "index JSON", str("byte ", position), "", str("invalid JSON: ", quote_untrusted(ex.what(), 160)));
    return false;
  }
  bool saw_weight_map() const { return sections_seen_.count("weight_map") > 0; }
  bool saw_object() const { return top_was_object_; }

 private:
  enum class Section { none, metadata, weight_map, other };
  bool open(bool is_object) {
    ++depth_;
    if (depth_ == 1) {
      if (!is_object) {
        problems_.add("", "index", "an array", "", "the index must be a JSON object");
        return false;
      }
      top_was_object_ = true;
      return true;
    }
    if (depth_ == 2) {
      if (section_ == Section::weight_map && !is_object) {
        problems_.add("", "weight_map", "an array", "", "weight_map must be an object of tensor -> shard file");
        skip_ = 1;
      } else if (section_ == Section::metadata && !is_object) {
        problems_.add("", "metadata", "an array", "", "metadata must be an object");
        skip_ = 1;
      }
      return true;
    }
    if (depth_ == 3 && section_ == Section::weight_map && skip_ == 0)
      problems_.add(key_, "weight_map", is_object ? "an object" : "an array", "", "shard name must be a string");
    if (depth_ == 3 && section_ == Section::metadata && skip_ == 0) {
      // Nested metadata values are kept only as a marker.
      out_.metadata.emplace_back(key_, is_object ? "{...}" : "[...]");
    }
    if (depth_ > 64) {
      problems_.add("", "index JSON", str("nesting depth ", depth_), "<= 64", "nested too deeply");
      return false;
    }
    return true;
  }
  bool close() {
    if (depth_ == 2) skip_ = 0;
    --depth_;
    return true;
  }
  bool value(const std::string& rendered) {
    if (depth_ == 0) {
      problems_.add("", "index", rendered, "", "the index must be a JSON object");
      return false;
    }
    if (depth_ == 2 && skip_ == 0) {
      if (section_ == Section::weight_map)
        problems_.add(key_, "weight_map", rendered, "", "shard name must be a string");
      else if (section_ == Section::metadata && out_.metadata.size() < limits_.max_metadata_entries)
        out_.metadata.emplace_back(key_, rendered);
    }
    return true;
  }

  ProblemList& problems_;
  const ReaderLimits& limits_;
  ShardIndex& out_;
  int depth_ = 0;
  int skip_ = 0;
  Section section_ = Section::none;
  std::string key_;
  std::unordered_set<std::string> names_;
  std::set<std::string> sections_seen_;
  bool too_many_ = false;
  bool top_was_object_ = false;
};

std::string unquote_metadata(const std::string& v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
  return v;
}

}  // namespace

ShardIndex parse_shard_index(std::string_view text, const std::string& path, const ReaderLimits& limits) {
  ProblemList problems(path);
  ShardIndex out;
  out.path = path;
  IndexSax sax(problems, limits, out);
  bool ok = json::sax_parse(text, &sax, json::input_format_t::json, true);
  if (ok && !sax.saw_object()) problems.add("", "index", "", "", "the index must be a JSON object");
  if (ok && sax.saw_object() && !sax.saw_weight_map()) problems.add("", "weight_map", "", "", "missing section");
  problems.throw_if_any();
  std::sort(out.weight_map.begin(), out.weight_map.end());
  std::set<std::string> shards;
  for (const auto& [t, s] : out.weight_map) shards.insert(s);
  if (shards.size() > limits.max_shards) {
    problems.add("", "weight_map", str(shards.size(), " shards"), str("<= ", limits.max_shards), "too many shard files");
    problems.throw_all();
  }
  out.shard_names.assign(shards.begin(), shards.end());
  return out;
}

ShardIndex read_shard_index(const std::string& path, const ReaderLimits& limits) {
  File f = File::open_read(path);
  if (f.size() > limits.max_index_bytes)
    throw FormatError(Problem{path, "", "file size", str(f.size(), " bytes"), str("<= ", limits.max_index_bytes),
                              "index file too large"});
  std::string text(f.size(), '\0');
  f.read_exact(text.data(), text.size(), 0);
  return parse_shard_index(text, path, limits);
}

namespace {

// Resolves a validated shard name inside root; returns empty and records a problem when it escapes or is missing.
std::string resolve_inside(const fs::path& root_canonical, const std::string& name, const std::string& listed_in,
                           ProblemList& problems) {
  std::error_code ec;
  std::string field = str("shard \"", quote_untrusted(name, 120), "\"");
  fs::path candidate = root_canonical / name;
  fs::path resolved = fs::weakly_canonical(candidate, ec);
  if (ec) {
    problems.add("", field, "", "", str("cannot resolve path: ", ec.message()));
    return "";
  }
  auto root_str = root_canonical.string();
  auto res_str = resolved.string();
  if (res_str.compare(0, root_str.size(), root_str) != 0 || res_str.size() <= root_str.size() ||
      res_str[root_str.size()] != '/') {
    problems.add("", field, str("resolves to ", res_str), str("inside ", root_str),
                 "shard path leads outside the checkpoint folder (symlink or escape)");
    return "";
  }
  if (!fs::exists(resolved, ec)) {
    problems.add("", field, "", "", str("no such file in ", root_str, " (listed in ", fs::path(listed_in).filename().string(), ")"));
    return "";
  }
  if (!fs::is_regular_file(resolved, ec)) {
    problems.add("", field, "", "", "shard is not a regular file");
    return "";
  }
  return res_str;
}

}  // namespace

namespace {

// Reads and validates every shard header (located by `locate`, which returns a ShardFile with an empty path
// after recording a problem), checks names unique across shards and the index against the headers.
template <class Locate>
void read_shard_headers(Checkpoint& ck, const std::optional<ShardIndex>& index,
                        const std::vector<std::string>& shard_names, ProblemList& problems,
                        const ReaderLimits& limits, Locate locate) {
  // Read every shard header, collecting problems from all of them before failing.
  std::vector<Problem> all_problems;
  for (const auto& name : shard_names) {
    ShardFile sf = locate(name, problems);
    if (sf.path.empty()) continue;
    const std::string resolved = sf.path;
    try {
      SafetensorsFile st = sf.source ? read_safetensors_header(*sf.source, limits) : read_safetensors_header(resolved, limits);
      uint32_t shard_id = static_cast<uint32_t>(ck.shards.size());
      sf.file_size = st.file_size;
      sf.header_size = st.header_size;
      sf.metadata = std::move(st.metadata);
      ck.shards.push_back(std::move(sf));
      for (auto& t : st.tensors) {
        uint64_t off = st.data_offset() + t.data_begin;
        ck.tensors.push_back(CheckpointTensor{std::move(t), shard_id, off});
      }
    } catch (const FormatError& e) {
      all_problems.insert(all_problems.end(), e.problems().begin(), e.problems().end());
    } catch (const IoError& e) {
      all_problems.push_back(Problem{resolved, "", "", "", "", e.what()});
    }
  }
  // Names unique across shards.
  std::sort(ck.tensors.begin(), ck.tensors.end(), [](const auto& a, const auto& b) {
    return a.info.name != b.info.name ? a.info.name < b.info.name : a.shard < b.shard;
  });
  for (size_t i = 1; i < ck.tensors.size(); ++i)
    if (ck.tensors[i].info.name == ck.tensors[i - 1].info.name)
      problems.add(ck.tensors[i].info.name, "name", "", "unique across shards",
                   str("tensor appears in both ", ck.shards[ck.tensors[i - 1].shard].name, " and ",
                       ck.shards[ck.tensors[i].shard].name));
  // Index and headers agree, both ways.
  if (index && all_problems.empty() && problems.empty()) {
    std::unordered_map<std::string_view, const std::string*> mapped;
    for (const auto& [t, s] : index->weight_map) mapped.emplace(t, &s);
    for (const auto& [t, s] : index->weight_map) {
      const CheckpointTensor* found = ck.find(t);
      if (!found)
        problems.add(t, "weight_map", str('"', quote_untrusted(s, 120), '"'), "", "listed in the index but absent from that shard's header");
      else if (ck.shards[found->shard].name != s)
        problems.add(t, "weight_map", str('"', quote_untrusted(s, 120), '"'), str("\"", ck.shards[found->shard].name, "\""),
                     "index names the wrong shard for this tensor");
    }
    for (const auto& t : ck.tensors)
      if (!mapped.count(t.info.name))
        problems.add(t.info.name, "weight_map", "", "", str("present in shard ", ck.shards[t.shard].name, " but not listed in the index"));
    for (const auto& [k, v] : ck.index_metadata) {
      if (k != "total_size") continue;
      std::string expected = str(ck.total_tensor_bytes());
      if (unquote_metadata(v) != expected)
        ck.warnings.push_back(str(ck.index_path, ": metadata.total_size = ", v, " but the tensors hold ", expected, " bytes"));
    }
  }
  for (const auto& pr : problems.problems()) all_problems.push_back(pr);
  if (!all_problems.empty()) throw FormatError(std::move(all_problems));
}

}  // namespace


Checkpoint open_checkpoint(const std::string& path, const ReaderLimits& limits) {
  Checkpoint ck;
  ck.source = path;
  std::error_code ec;
  fs::path p(path);
  if (!fs::exists(p, ec)) throw IoError(path, "no such file or folder");

  std::vector<std::string> shard_names;  // for index-less inputs: file names inside root
  std::optional<ShardIndex> index;
  // Shards found through an index or a folder listing must stay inside the folder; a file named directly by
  // the caller is taken as given.
  bool confine = false;
  if (fs::is_directory(p, ec)) {
    confine = true;
    ck.root = fs::canonical(p).string();
    if (fs::exists(p / "model.safetensors.index.json")) {
      ck.index_path = (p / "model.safetensors.index.json").string();
    } else if (fs::exists(p / "model.safetensors")) {
      shard_names.push_back("model.safetensors");
    } else {
      for (const auto& e : fs::directory_iterator(p, ec))
        if (e.path().extension() == ".safetensors") shard_names.push_back(e.path().filename().string());
      std::sort(shard_names.begin(), shard_names.end());
      if (shard_names.empty()) {
        if (fs::exists(p / "pytorch_model.bin.index.json") || fs::exists(p / "pytorch_model.bin"))
          throw IoError(path, "holds only pickle (.bin) weights; fromscratch reads safetensors only (unpickling a "
                              "stranger's file can run code): convert it to safetensors first");
        throw IoError(path, "folder holds no model.safetensors.index.json and no .safetensors file");
      }
      if (shard_names.size() > 1)
        ck.warnings.push_back(str("no model.safetensors.index.json: using all ", shard_names.size(),
                                  " .safetensors files in the folder"));
    }
  } else if (ends_with(path, ".json")) {
    ck.index_path = path;
    confine = true;
    ck.root = fs::canonical(p.has_parent_path() ? p.parent_path() : fs::path(".")).string();
  } else {
    ck.root = fs::canonical(p.has_parent_path() ? p.parent_path() : fs::path(".")).string();
    shard_names.push_back(p.filename().string());
  }

  ProblemList problems(ck.index_path.empty() ? path : ck.index_path, "tensor");
  if (!ck.index_path.empty()) {
    index = read_shard_index(ck.index_path, limits);
    if (ends_with(ck.index_path, "pytorch_model.bin.index.json"))
      throw IoError(ck.index_path, "indexes pickle (.bin) shards; fromscratch reads safetensors only (unpickling a "
                                   "stranger's file can run code): convert it to safetensors first");
    shard_names = index->shard_names;
    ck.index_metadata = index->metadata;
  }

  fs::path root(ck.root);
  const std::string listed_in = index ? ck.index_path : ck.root;
  read_shard_headers(ck, index, shard_names, problems, limits, [&](const std::string& name, ProblemList& pl) {
    ShardFile sf;
    sf.name = name;
    sf.path = confine ? resolve_inside(root, name, listed_in, pl) : (root / name).string();
    return sf;
  });
  return ck;
}

Checkpoint open_checkpoint_from_sources(const std::string& source, const std::string& root,
                                        const std::string& index_name, std::string_view index_text,
                                        std::vector<std::string> shard_names, const ShardOpener& open_shard,
                                        const ReaderLimits& limits) {
  Checkpoint ck;
  ck.source = source;
  ck.root = root;
  std::optional<ShardIndex> index;
  if (!index_name.empty()) {
    ck.index_path = root + "/" + index_name;
    if (index_text.size() > limits.max_index_bytes)
      throw FormatError(Problem{ck.index_path, "", "file size", str(index_text.size(), " bytes"),
                                str("<= ", limits.max_index_bytes), "index file too large"});
    index = parse_shard_index(index_text, ck.index_path, limits);
    shard_names = index->shard_names;
    ck.index_metadata = index->metadata;
  } else {
    ProblemList names(source, "shard");
    for (const auto& n : shard_names) {
      std::string why = check_shard_name(n);
      if (!why.empty()) names.add(quote_untrusted(n, 120), "name", "", "", why);
    }
    names.throw_if_any();
  }
  ProblemList problems(ck.index_path.empty() ? source : ck.index_path, "tensor");
  read_shard_headers(ck, index, shard_names, problems, limits, [&](const std::string& name, ProblemList& pl) {
    ShardFile sf;
    sf.name = name;
    sf.path = root + "/" + name;
    try {
      sf.source = open_shard(name);
      if (!sf.source) pl.add("", str("shard \"", quote_untrusted(name, 120), "\""), "", "", "no such file");
    } catch (const IoError& e) {
      pl.add("", str("shard \"", quote_untrusted(name, 120), "\""), "", "", e.what());
    }
    if (!sf.source) sf.path.clear();
    return sf;
  });
  return ck;
}

std::string checkpoint_folder(const std::string& path) {
  fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) return p.string();
  return p.has_parent_path() ? p.parent_path().string() : ".";
}

}  // namespace fromscratch
