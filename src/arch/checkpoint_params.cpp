#include "fromscratch/arch/checkpoint_params.hpp"

#include <charconv>
#include <map>
#include <unordered_map>

#include "fromscratch/arch/inventory.hpp"
#include "fromscratch/core/checked_math.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/core/tensor_roles.hpp"

namespace fromscratch::arch {

using nlohmann::json;

namespace {
uint64_t add_or_throw(uint64_t a, uint64_t b, const std::string& where) {
  auto r = checked_add(a, b);
  if (!r) throw FormatError(Problem{where, "", "", "", "< 2^64", "parameter count overflows 64 bits"});
  return *r;
}

std::optional<uint64_t> raw_uint(const json* cfg, std::initializer_list<const char*> keys) {
  if (!cfg || !cfg->is_object()) return std::nullopt;
  const json* obj = cfg;
  if (auto t = cfg->find("text_config"); t != cfg->end() && t->is_object() && !cfg->contains("num_hidden_layers"))
    obj = &*t;
  for (const char* k : keys)
    if (auto it = obj->find(k); it != obj->end()) {
      if (it->is_number_unsigned()) return it->get<uint64_t>();
      if (it->is_number_integer() && it->get<int64_t>() >= 0) return static_cast<uint64_t>(it->get<int64_t>());
    }
  return std::nullopt;
}
}  // namespace

CheckpointCount count_checkpoint(const Checkpoint& ck, const json* cfg) {
  CheckpointCount c;
  std::string model_type;
  if (cfg && cfg->is_object())
    if (auto it = cfg->find("model_type"); it != cfg->end() && it->is_string()) model_type = it->get<std::string>();
  const ModelFamily family = fromscratch::family_from_model_type(model_type);
  const auto layers = raw_uint(cfg, {"num_hidden_layers"});
  const int n_layers = layers && *layers < 1'000'000 ? static_cast<int>(*layers) : -1;
  const auto top_k = raw_uint(cfg, {"num_experts_per_tok", "experts_per_token", "moe_k"});

  struct LayerExperts {
    uint64_t elements = 0;
    uint64_t experts = 0;
  };
  std::map<int, LayerExperts> routed;  // per layer, main model only
  uint64_t non_routed_main = 0;
  bool routed_unrecognised = false;
  uint64_t skipped_aux = 0, skipped_buffers = 0, packed = 0;
  for (const auto& t : ck.tensors) {
    ++c.tensors;
    const TensorRole role = classify_tensor(t.info.name, family, n_layers);
    uint64_t n = t.info.num_elements();
    if (role.kind == RoleKind::quantization_aux) {
      ++skipped_aux;
      continue;
    }
    if (role.kind == RoleKind::rotary_buffer) {
      ++skipped_buffers;
      continue;
    }
    if (role.storage == TensorStorage::mxfp4_blocks && t.info.dtype == DType::U8) {
      auto doubled = checked_mul(n, 2);  // two FP4 values per byte
      if (!doubled) throw FormatError(Problem{ck.source, t.info.name, "shape", "", "", "element count overflows"});
      n = *doubled;
    } else if (role.storage == TensorStorage::packed_int) {
      ++packed;
    }
    c.total_params = add_or_throw(c.total_params, n, ck.source);
    const std::string group(role_group(role.kind));
    c.by_group[group] = add_or_throw(c.by_group.value(group, uint64_t{0}), n, ck.source);
    if (role.is_mtp) {
      c.mtp_params = add_or_throw(c.mtp_params, n, ck.source);
      continue;
    }
    if (group == "routed_experts") {
      auto& le = routed[role.layer];
      le.elements = add_or_throw(le.elements, n, ck.source);
      if (role.stacks_all_experts() && !t.info.shape.empty())
        le.experts = std::max(le.experts, t.info.shape[0]);
      else if (role.expert >= 0)
        le.experts = std::max<uint64_t>(le.experts, static_cast<uint64_t>(role.expert) + 1);
      else
        routed_unrecognised = true;
    } else {
      non_routed_main = add_or_throw(non_routed_main, n, ck.source);
    }
  }
  if (skipped_aux) c.notes.push_back(str(skipped_aux, " quantization side-data tensor(s) (scales, SCB ...) not counted"));
  if (skipped_buffers) c.notes.push_back(str(skipped_buffers, " rotary buffer(s) (inv_freq) not counted"));
  if (packed) c.notes.push_back(str(packed, " integer-packed tensor(s) counted by stored elements, not unpacked values"));
  if (routed.empty()) {
    c.active_params = non_routed_main;  // a dense checkpoint: every parameter is active
  } else if (top_k && !routed_unrecognised) {
    uint64_t active = non_routed_main;
    bool exact = true;
    for (const auto& [layer, le] : routed) {
      if (le.experts == 0 || *top_k > le.experts) {
        exact = false;
        break;
      }
      auto prod = checked_mul(le.elements / le.experts, *top_k);
      if (!prod || le.elements % le.experts) {
        exact = false;
        break;
      }
      active = add_or_throw(active, *prod, ck.source);
    }
    if (exact) c.active_params = active;
    else c.notes.push_back("active parameters not computed: experts of a layer differ in size or top-k exceeds them");
  } else {
    c.notes.push_back(top_k ? "active parameters not computed: some routed-expert tensors carry no expert index"
                            : "active parameters not computed: the config gives no experts-per-token");
  }
  return c;
}

json CheckpointCount::to_json() const {
  json j{{"method", "checkpoint tensor shapes"},
         {"tensors", tensors},
         {"total_with_mtp", total_params},
         {"total_params", total_params - mtp_params},
         {"mtp_params", mtp_params},
         {"by_group", by_group},
         {"notes", notes}};
  if (active_params) j["active_params"] = *active_params;
  return j;
}

CheckpointAgreement check_checkpoint(const ArchSpec& spec, const Checkpoint& ck) {
  CheckpointAgreement a;
  bool exact = true;
  const auto expected = stored_tensors(spec, DType::BF16, &exact);
  a.expected_tensors = expected.size();
  a.found_tensors = ck.tensors.size();
  std::unordered_map<std::string, const StoredTensor*> by_name;
  by_name.reserve(expected.size());
  for (const auto& e : expected) by_name.emplace(e.name, &e);
  std::unordered_map<std::string, bool> seen;
  const ModelFamily family = fromscratch::family_from_model_type(family_name(spec.family));
  for (const auto& t : ck.tensors) {
    auto it = by_name.find(t.info.name);
    if (it == by_name.end()) {
      const TensorRole role = classify_tensor(t.info.name, family, static_cast<int>(spec.num_layers));
      if (role.kind == RoleKind::rotary_buffer || (role.kind == RoleKind::quantization_aux && !exact)) {
        ++a.ignored_buffers;
        continue;
      }
      if (a.unexpected.size() < 50) a.unexpected.push_back(t.info.name);
      ++a.unexpected_count;
      continue;
    }
    seen[t.info.name] = true;
    if (t.info.shape != it->second->shape) {
      if (a.wrong_shape.size() < 50)
        a.wrong_shape.push_back(str(t.info.name, ": expected ", shape_to_string(it->second->shape), ", found ",
                                    shape_to_string(t.info.shape)));
      ++a.wrong_shape_count;
    }
  }
  for (const auto& e : expected) {
    if (seen.count(e.name)) continue;
    if (a.missing.size() < 50) a.missing.push_back(e.name);
    ++a.missing_count;
  }
  a.agrees = a.missing_count == 0 && a.unexpected_count == 0 && a.wrong_shape_count == 0;
  return a;
}

json CheckpointAgreement::to_json() const {
  return json{{"agrees", agrees},
              {"expected_tensors", expected_tensors},
              {"found_tensors", found_tensors},
              {"missing_count", missing_count},
              {"unexpected_count", unexpected_count},
              {"wrong_shape_count", wrong_shape_count},
              {"missing", missing},
              {"unexpected", unexpected},
              {"wrong_shape", wrong_shape},
              {"ignored_buffers", ignored_buffers}};
}

IndexAgreement check_index(const ArchSpec& spec, const ShardIndex& index) {
  IndexAgreement a;
  // The storage dtype: torch_dtype / dtype of the config; quantized checkpoints mix dtypes by construction.
  std::string dtype_name_s;
  for (const char* k : {"torch_dtype", "dtype"})
    if (auto it = spec.metadata.find(k); it != spec.metadata.end() && it->is_string()) dtype_name_s = it->get<std::string>();
  std::optional<DType> float_dtype;
  if (dtype_name_s == "bfloat16") float_dtype = DType::BF16;
  else if (dtype_name_s == "float16") float_dtype = DType::F16;
  else if (dtype_name_s == "float32") float_dtype = DType::F32;
  bool exact = true;
  const auto expected = stored_tensors(spec, float_dtype.value_or(DType::BF16), &exact);
  a.expected_tensors = expected.size();
  a.found_tensors = index.weight_map.size();
  std::unordered_map<std::string, const StoredTensor*> by_name;
  for (const auto& e : expected) by_name.emplace(e.name, &e);
  std::unordered_map<std::string, bool> seen;
  const ModelFamily family = fromscratch::family_from_model_type(family_name(spec.family));
  for (const auto& [name, shard] : index.weight_map) {
    if (by_name.count(name)) {
      seen[name] = true;
      continue;
    }
    const TensorRole role = classify_tensor(name, family, static_cast<int>(spec.num_layers));
    if (role.kind == RoleKind::rotary_buffer) {
      ++a.ignored_buffers;
      continue;
    }
    if (role.kind == RoleKind::quantization_aux && !exact) {
      ++a.ignored_quantization_aux;
      continue;
    }
    if (a.unexpected.size() < 50) a.unexpected.push_back(name);
    ++a.unexpected_count;
  }
  for (const auto& e : expected) {
    if (seen.count(e.name)) continue;
    if (a.missing.size() < 50) a.missing.push_back(e.name);
    ++a.missing_count;
  }
  a.names_agree = a.missing_count == 0 && a.unexpected_count == 0;
  for (const auto& [k, v] : index.metadata) {
    if (k != "total_size") continue;
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec == std::errc() && p == v.data() + v.size()) a.index_total_size = n;
  }
  // Bytes are predictable for a plain float checkpoint and for MXFP4; not for int8/fp8 with scales.
  if (float_dtype && exact && spec.quantization != "bitsandbytes") {
    uint64_t bytes = 0;
    for (const auto& e : expected) bytes += e.bytes();
    a.expected_bytes = bytes;
    a.dtype = dtype_name_s;
    if (a.index_total_size) a.bytes_agree = *a.index_total_size == bytes;
  }
  return a;
}

json IndexAgreement::to_json() const {
  json j{{"names_agree", names_agree},         {"expected_tensors", expected_tensors},
         {"found_tensors", found_tensors},     {"missing_count", missing_count},
         {"unexpected_count", unexpected_count}, {"missing", missing},
         {"unexpected", unexpected},           {"ignored_buffers", ignored_buffers},
         {"ignored_quantization_aux", ignored_quantization_aux}};
  if (index_total_size) j["index_total_size"] = *index_total_size;
  if (expected_bytes) {
    j["expected_bytes"] = *expected_bytes;
    j["dtype"] = dtype;
  }
  if (bytes_agree) j["bytes_agree"] = *bytes_agree;
  return j;
}

}  // namespace fromscratch::arch
