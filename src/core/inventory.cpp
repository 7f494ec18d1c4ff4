#include "fromscratch/core/inventory.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "fromscratch/core/strings.hpp"
#include "fromscratch/core/tensor_roles.hpp"

namespace fromscratch {

namespace {

using json = nlohmann::json;

struct Tally {
  uint64_t tensors = 0, params = 0, bytes = 0;
  void add(uint64_t p, uint64_t b) {
    ++tensors;
    params += p;
    bytes += b;
  }
  json to_json(bool with_sizes) const {
    json j = {{"tensors", tensors}};
    if (with_sizes) {
      j["parameters"] = params;
      j["bytes"] = bytes;
    }
    return j;
  }
};

// Structure seen through roles: layers, MTP layers, experts per layer.
struct Structure {
  std::set<int> layers, mtp_layers;
  std::map<int, std::set<int>> experts_by_layer;
  bool stacked_experts = false;
  uint64_t other = 0;
  void add(const TensorRole& r) {
    if (r.is_mtp) {
      if (r.layer >= 0) mtp_layers.insert(r.layer);
    } else if (r.layer >= 0) {
      layers.insert(r.layer);
    }
    if (r.expert >= 0 && r.layer >= 0) experts_by_layer[r.layer].insert(r.expert);
    if (r.stacks_all_experts()) stacked_experts = true;
    if (r.kind == RoleKind::other) ++other;
  }
  json to_json() const {
    json j;
    j["decoder_layers"] = layers.size();
    j["layer_index_max"] = layers.empty() ? -1 : *layers.rbegin();
    j["mtp_layers"] = mtp_layers.size();
    size_t emin = SIZE_MAX, emax = 0;
    for (const auto& [l, e] : experts_by_layer) {
      emin = std::min(emin, e.size());
      emax = std::max(emax, e.size());
    }
    j["moe_layers"] = experts_by_layer.size();
    j["experts_per_layer_min"] = experts_by_layer.empty() ? 0 : emin;
    j["experts_per_layer_max"] = emax;
    j["stacked_expert_tensors"] = stacked_experts;
    j["tensors_without_role"] = other;
    return j;
  }
};

json hint_json(const ConfigHint& hint) {
  return {{"config", hint.path}, {"model_type", hint.model_type}, {"family", std::string(family_name(hint.family))},
          {"num_hidden_layers", hint.num_hidden_layers}};
}

}  // namespace

json inventory_json(const Checkpoint& ck, const ConfigHint& hint, bool list_tensors) {
  std::map<std::string, Tally> by_dtype, by_group, by_kind;
  std::vector<Tally> by_shard(ck.shards.size());
  Tally total;
  Structure structure;
  json tensors = json::array();
  for (const auto& t : ck.tensors) {
    TensorRole role = classify_tensor(t.info.name, hint.family, hint.num_hidden_layers);
    uint64_t p = t.info.num_elements(), b = t.info.byte_size();
    total.add(p, b);
    by_dtype[std::string(dtype_name(t.info.dtype))].add(p, b);
    by_group[std::string(role_group(role.kind))].add(p, b);
    by_kind[std::string(role_kind_name(role.kind))].add(p, b);
    by_shard[t.shard].add(p, b);
    structure.add(role);
    if (list_tensors) {
      json e = {{"name", t.info.name}, {"role", std::string(role_kind_name(role.kind))}, {"layer", role.layer},
                {"expert", role.expert}, {"dtype", std::string(dtype_name(t.info.dtype))}, {"shape", t.info.shape},
                {"shard", ck.shards[t.shard].name}, {"offset", t.file_offset}, {"bytes", b}};
      if (!role.reason.empty()) e["role_reason"] = role.reason;
      tensors.push_back(std::move(e));
    }
  }
  json j;
  j["kind"] = "inventory";
  j["source"] = ck.source;
  j["index"] = ck.index_path;
  j["model"] = hint_json(hint);
  j["totals"] = total.to_json(true);
  j["totals"]["shards"] = ck.shards.size();
  j["structure"] = structure.to_json();
  for (auto* m : {&by_dtype, &by_group, &by_kind}) {
    json o = json::object();
    for (const auto& [k, v] : *m) o[k] = v.to_json(true);
    j[m == &by_dtype ? "by_dtype" : m == &by_group ? "by_role_group" : "by_role"] = o;
  }
  json shards = json::array();
  for (size_t i = 0; i < ck.shards.size(); ++i) {
    json s = by_shard[i].to_json(true);
    s["name"] = ck.shards[i].name;
    s["file_size"] = ck.shards[i].file_size;
    s["header_size"] = ck.shards[i].header_size;
    shards.push_back(s);
  }
  j["shards"] = shards;
  std::vector<std::string> warnings = ck.warnings;
  warnings.insert(warnings.end(), hint.warnings.begin(), hint.warnings.end());
  j["warnings"] = warnings;
  if (list_tensors) j["tensors"] = tensors;
  return j;
}

json index_inventory_json(const ShardIndex& index, const ConfigHint& hint, bool list_tensors) {
  std::map<std::string, Tally> by_group, by_kind, by_shard;
  Tally total;
  Structure structure;
  json tensors = json::array();
  for (const auto& [name, shard] : index.weight_map) {
    TensorRole role = classify_tensor(name, hint.family, hint.num_hidden_layers);
    total.add(0, 0);
    by_group[std::string(role_group(role.kind))].add(0, 0);
    by_kind[std::string(role_kind_name(role.kind))].add(0, 0);
    by_shard[shard].add(0, 0);
    structure.add(role);
    if (list_tensors) {
      json e = {{"name", name}, {"role", std::string(role_kind_name(role.kind))}, {"layer", role.layer},
                {"expert", role.expert}, {"shard", shard}};
      if (!role.reason.empty()) e["role_reason"] = role.reason;
      tensors.push_back(std::move(e));
    }
  }
  json j;
  j["kind"] = "inventory";
  j["source"] = index.path;
  j["index"] = index.path;
  j["index_only"] = true;
  j["model"] = hint_json(hint);
  j["totals"] = total.to_json(false);
  j["totals"]["shards"] = index.shard_names.size();
  for (const auto& [k, v] : index.metadata)
    if (k == "total_size") j["totals"]["index_total_size"] = v;
  j["structure"] = structure.to_json();
  for (auto* m : {&by_group, &by_kind}) {
    json o = json::object();
    for (const auto& [k, v] : *m) o[k] = v.to_json(false);
    j[m == &by_group ? "by_role_group" : "by_role"] = o;
  }
  json shards = json::array();
  for (const auto& [name, t] : by_shard) {
    json s = t.to_json(false);
    s["name"] = name;
    shards.push_back(s);
  }
  j["shards"] = shards;
  j["warnings"] = hint.warnings;
  if (list_tensors) j["tensors"] = tensors;
  return j;
}

std::string inventory_text(const json& inv) {
  std::ostringstream os;
  bool sizes = !inv.value("index_only", false);
  const auto& tot = inv["totals"];
  os << "checkpoint  " << inv["source"].get<std::string>() << "\n";
  const auto& m = inv["model"];
  if (!m["model_type"].get<std::string>().empty())
    os << "model_type  " << m["model_type"].get<std::string>() << " (naming family " << m["family"].get<std::string>()
       << ", num_hidden_layers " << m["num_hidden_layers"].get<int>() << ")\n";
  os << "tensors     " << tot["tensors"].get<uint64_t>() << " in " << tot["shards"].get<uint64_t>() << " shard(s)\n";
  if (sizes) {
    os << "parameters  " << tot["parameters"].get<uint64_t>() << " (" << human_count(static_cast<double>(tot["parameters"].get<uint64_t>())) << ")\n";
    os << "bytes       " << tot["bytes"].get<uint64_t>() << " (" << human_bytes(static_cast<double>(tot["bytes"].get<uint64_t>())) << ")\n";
  } else {
    os << "(index only: shard files absent, so dtypes, shapes and sizes are unknown)\n";
  }
  const auto& s = inv["structure"];
  os << "layers      " << s["decoder_layers"].get<uint64_t>() << " decoder";
  if (s["mtp_layers"].get<uint64_t>()) os << " + " << s["mtp_layers"].get<uint64_t>() << " MTP";
  os << "\n";
  if (s["moe_layers"].get<uint64_t>())
    os << "experts     " << s["moe_layers"].get<uint64_t>() << " MoE layers, " << s["experts_per_layer_min"].get<uint64_t>()
       << (s["experts_per_layer_min"] == s["experts_per_layer_max"] ? std::string() : str("..", s["experts_per_layer_max"].get<uint64_t>()))
       << " routed experts per layer\n";
  if (s["stacked_expert_tensors"].get<bool>()) os << "experts     stored stacked (one tensor holds every expert of a layer)\n";
  auto table = [&](const char* title, const json& o) {
    os << "\n" << title << "\n";
    for (const auto& [k, v] : o.items()) {
      os << "  " << k;
      for (size_t i = k.size(); i < 30; ++i) os << ' ';
      os << v["tensors"].get<uint64_t>() << " tensors";
      if (sizes) os << ", " << v["parameters"].get<uint64_t>() << " params, " << human_bytes(static_cast<double>(v["bytes"].get<uint64_t>()));
      os << "\n";
    }
  };
  if (inv.contains("by_dtype")) table("by dtype", inv["by_dtype"]);
  table("by role group", inv["by_role_group"]);
  for (const auto& w : inv["warnings"]) os << "\nwarning: " << w.get<std::string>();
  if (!inv["warnings"].empty()) os << "\n";
  return os.str();
}

}  // namespace fromscratch
