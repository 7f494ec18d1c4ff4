#include "fromscratch/arch/compare.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::arch {

using nlohmann::json;

ParsedConfig parse_for_compare(const json& raw, const std::string& label) {
  ParsedConfig p;
  p.label = label;
  p.raw = raw;
  try {
    p.spec = parse_config(raw, label);
  } catch (const FormatError& e) {
    p.parse_error = e.what();
  }
  return p;
}

std::string_view to_string(ShapeStatus s) {
  switch (s) {
    case ShapeStatus::kEqual: return "equal";
    case ShapeStatus::kRelated: return "related";
    case ShapeStatus::kIncomparable: return "incomparable";
    case ShapeStatus::kOnlyInA: return "only_in_a";
    case ShapeStatus::kOnlyInB: return "only_in_b";
  }
  return "?";
}

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::kIdentical: return "identical";
    case Verdict::kSameArchitecture: return "same_architecture";
    case Verdict::kRenamedCopy: return "renamed_copy";
    case Verdict::kSameShapes: return "same_shapes";
    case Verdict::kDifferent: return "different";
  }
  return "?";
}

namespace {

// ---------------------------------------------------------------------------------------------------------
// Shape map

// One role of one model: per layer, the unit shape (one expert's for expert tensors), the expert count and
// the parameters.
struct LayerShape {
  std::vector<uint64_t> shape;
  uint64_t experts = 0;
  uint64_t params = 0;
};
using RoleKey = std::tuple<bool /*mtp*/, RoleKind, bool /*bias*/>;
using RoleLayers = std::map<int64_t, LayerShape>;

std::map<RoleKey, RoleLayers> group_by_role(const std::vector<TensorSpec>& inv) {
  std::map<RoleKey, RoleLayers> out;
  for (const auto& t : inv) {
    // MTP blocks are compared among themselves, numbered from 0, so GLM's layer 46 meets another model's 61.
    RoleKey key{t.mtp, t.kind, t.bias};
    auto& layers = out[key];
    auto& ls = layers[t.layer];
    const uint64_t n = t.numel();
    ls.params += n;
    if (t.stacked_experts) {
      ls.shape = t.unit_shape();
      ls.experts = t.stacked_experts;
    } else if (t.expert >= 0) {
      ls.shape = t.shape;
      ls.experts = std::max<uint64_t>(ls.experts, static_cast<uint64_t>(t.expert) + 1);
    } else {
      ls.shape = t.shape;
    }
  }
  // Renumber MTP layers from 0 within each model.
  for (auto& [key, layers] : out) {
    if (!std::get<0>(key)) continue;
    RoleLayers renumbered;
    int64_t first = layers.empty() ? 0 : layers.begin()->first;
    for (auto& [l, ls] : layers) renumbered[l < 0 ? l : l - first] = ls;
    layers = std::move(renumbered);
  }
  return out;
}

bool is_mlp_width_role(RoleKind k) {
  switch (k) {
    case RoleKind::dense_gate: case RoleKind::dense_up: case RoleKind::dense_down:
    case RoleKind::expert_gate: case RoleKind::expert_up: case RoleKind::expert_down:
    case RoleKind::expert_gate_up_fused: case RoleKind::shared_expert_gate_proj: case RoleKind::shared_expert_up:
    case RoleKind::shared_expert_down:
      return true;
    default:
      return false;
  }
}

bool is_vocab_role(RoleKind k) {
  return k == RoleKind::embed_tokens || k == RoleKind::lm_head || k == RoleKind::mtp_embed_tokens ||
         k == RoleKind::mtp_shared_head_head;
}

// Classifies two differing unit shapes of one role.
void classify(RoleComparison& rc, const LayerShape& la, const LayerShape& lb, const ArchSpec& A, const ArchSpec& B) {
  const auto& sa = la.shape;
  const auto& sb = lb.shape;
  const std::string role = role_label(rc.kind, rc.bias);
  if (sa == sb) {  // same tensor shape, different number of experts
    rc.status = ShapeStatus::kRelated;
    rc.relation = "expert_count";
    rc.detail = str(la.experts, " vs ", lb.experts,
                    " routed experts per layer with equal shapes: experts are unordered, so match them (router rows or "
                    "weight signatures) before comparing; the extra experts have no counterpart");
    return;
  }
  if (sa.size() != sb.size()) {
    rc.status = ShapeStatus::kIncomparable;
    rc.relation = "rank";
    rc.detail = str("different ranks ", shape_to_string(sa), " vs ", shape_to_string(sb));
    return;
  }
  std::vector<size_t> diff;
  for (size_t d = 0; d < sa.size(); ++d)
    if (sa[d] != sb[d]) diff.push_back(d);
  if (diff.size() > 1) {
    rc.status = ShapeStatus::kIncomparable;
    rc.relation = "several_dims";
    rc.detail = str(shape_to_string(sa), " vs ", shape_to_string(sb), ": more than one dimension differs");
    return;
  }
  const size_t d = diff[0];
  const uint64_t a = sa[d], b = sb[d];
  if (A.hidden_size != B.hidden_size && a == A.hidden_size && b == B.hidden_size) {
    rc.status = ShapeStatus::kIncomparable;
    rc.relation = "residual_width";
    rc.detail = str("hidden size ", a, " vs ", b, ": the residual streams differ in width");
    return;
  }
  rc.status = ShapeStatus::kRelated;
  const bool rows = d == 0;
  if (is_vocab_role(rc.kind) && rows) {
    rc.relation = "vocab_rows";
    rc.detail = str(a, " vs ", b,
                    " vocabulary rows: compare the rows of tokens both vocabularies contain, aligned by token string "
                    "(ids differ between tokenizers)");
    return;
  }
  const bool q_heads = (rc.kind == RoleKind::attn_q && rows) || (rc.kind == RoleKind::attn_o && !rc.bias && d == 1) ||
                       (rc.kind == RoleKind::attn_sinks);
  if (q_heads && A.head_dim == B.head_dim && A.head_dim) {
    const uint64_t mult_a = (rc.kind == RoleKind::attn_q && A.attention_output_gate) ? 2 : 1;
    const uint64_t mult_b = (rc.kind == RoleKind::attn_q && B.attention_output_gate) ? 2 : 1;
    const uint64_t ha = rc.kind == RoleKind::attn_sinks ? a : a / (A.head_dim * mult_a);
    const uint64_t hb = rc.kind == RoleKind::attn_sinks ? b : b / (B.head_dim * mult_b);
    rc.relation = "extra_heads";
    rc.detail = str(ha, " vs ", hb, " query heads of dim ", A.head_dim, ": the first ", std::min(ha, hb),
                    " heads form a comparable ", rows ? "row" : "column",
                    " block (match heads within each key/value group; head order is free)");
    return;
  }
  if ((rc.kind == RoleKind::attn_k || rc.kind == RoleKind::attn_v) && rows && A.head_dim == B.head_dim && A.head_dim) {
    rc.relation = "extra_kv_heads";
    rc.detail = str(a / A.head_dim, " vs ", b / B.head_dim, " key/value heads of dim ", A.head_dim,
                    ": the first heads form a comparable row block");
    return;
  }
  if (is_mlp_width_role(rc.kind)) {
    rc.relation = "wider_mlp";
    rc.detail = str("MLP width ", a, " vs ", b, " (", rows ? "rows" : "columns",
                    "): neurons are unordered; match them before comparing; a widened copy keeps the narrower "
                    "model's neurons as a subset");
    return;
  }
  if (rc.kind == RoleKind::router || rc.kind == RoleKind::router_score_correction_bias) {
    rc.relation = "expert_count";
    rc.detail = str(a, " vs ", b, " experts (router rows): match experts before comparing");
    return;
  }
  rc.relation = "other_dim";
  rc.detail = str(role, ": dimension ", d, " is ", a, " vs ", b, "; compare the common prefix only if the two are "
                  "known to share an ordering");
}

std::vector<int64_t> keys_of(const RoleLayers& m) {
  std::vector<int64_t> out;
  for (const auto& [l, _] : m) out.push_back(l);
  return out;
}

std::string layer_kind(const ArchSpec& s, int64_t i) {
  if (i >= static_cast<int64_t>(s.num_layers)) return "";
  return str(s.layer_is_moe[i] ? "moe" : "dense", "/", to_string(s.layer_attention[i]));
}

// "0-45, 47"
std::string ranges(const std::vector<int64_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!out.empty()) out += ", ";
    out += v[i] < 0 ? std::string("global") : (i == j ? std::to_string(v[i]) : str(v[i], "-", v[j]));
    i = j + 1;
  }
  return out;
}

json layers_json(const std::vector<int64_t>& v) { return ranges(v); }

}  // namespace

ShapeMap shape_compatibility(const ArchSpec& A, const ArchSpec& B) {
  ShapeMap map;
  const auto inv_a = tensor_inventory(A);
  const auto inv_b = tensor_inventory(B);
  for (const auto& t : inv_a) map.total_a += t.numel();
  for (const auto& t : inv_b) map.total_b += t.numel();
  auto ga = group_by_role(inv_a);
  auto gb = group_by_role(inv_b);
  std::set<RoleKey> keys;
  for (const auto& [k, _] : ga) keys.insert(k);
  for (const auto& [k, _] : gb) keys.insert(k);
  for (const auto& key : keys) {
    RoleComparison rc;
    rc.mtp = std::get<0>(key);
    rc.kind = std::get<1>(key);
    rc.bias = std::get<2>(key);
    const RoleLayers empty;
    const RoleLayers& la = ga.count(key) ? ga.at(key) : empty;
    const RoleLayers& lb = gb.count(key) ? gb.at(key) : empty;
    for (const auto& [l, s] : la) rc.params_a += s.params;
    for (const auto& [l, s] : lb) rc.params_b += s.params;
    if (!la.empty()) {
      rc.shape_a = la.begin()->second.shape;
      rc.experts_a = la.begin()->second.experts;
    }
    if (!lb.empty()) {
      rc.shape_b = lb.begin()->second.shape;
      rc.experts_b = lb.begin()->second.experts;
    }
    for (const auto& [l, s] : la) (lb.count(l) ? rc.layers_common : rc.layers_only_a).push_back(l);
    for (const auto& [l, s] : lb)
      if (!la.count(l)) rc.layers_only_b.push_back(l);
    if (la.empty()) {
      rc.status = ShapeStatus::kOnlyInB;
      rc.detail = "no tensor of this role in A";
    } else if (lb.empty()) {
      rc.status = ShapeStatus::kOnlyInA;
      rc.detail = "no tensor of this role in B";
    } else if (rc.layers_common.empty()) {
      rc.status = ShapeStatus::kIncomparable;
      rc.relation = "no_common_layers";
      rc.detail = str("A has it in layers ", ranges(keys_of(la)), ", B in layers ", ranges(keys_of(lb)));
    } else {
      const LayerShape* first_diff_a = nullptr;
      const LayerShape* first_diff_b = nullptr;
      for (int64_t l : rc.layers_common) {
        const auto& sa = la.at(l);
        const auto& sb = lb.at(l);
        if (sa.shape == sb.shape && sa.experts == sb.experts) {
          rc.comparable_params_a += sa.params;
          rc.comparable_params_b += sb.params;
        } else {
          rc.layers_differing.push_back(l);
          if (!first_diff_a) {
            first_diff_a = &sa;
            first_diff_b = &sb;
            rc.shape_a = sa.shape;
            rc.shape_b = sb.shape;
            rc.experts_a = sa.experts;
            rc.experts_b = sb.experts;
          }
        }
      }
      if (!first_diff_a) {
        rc.status = ShapeStatus::kEqual;
        rc.detail = str("equal shapes in ", rc.layers_common.size() == 1 && rc.layers_common[0] < 0
                                                ? std::string("the global tensor")
                                                : str("layers ", ranges(rc.layers_common)));
      } else {
        classify(rc, *first_diff_a, *first_diff_b, A, B);
        if (rc.layers_differing.size() < rc.layers_common.size())
          rc.detail += str(" (layers ", ranges(rc.layers_differing), "; equal in the other common layers)");
      }
      if (!rc.layers_only_a.empty()) rc.detail += str("; only A has layers ", ranges(rc.layers_only_a));
      if (!rc.layers_only_b.empty()) rc.detail += str("; only B has layers ", ranges(rc.layers_only_b));
    }
    map.comparable_a += rc.comparable_params_a;
    map.comparable_b += rc.comparable_params_b;
    map.roles.push_back(std::move(rc));
  }
  const int64_t n = static_cast<int64_t>(std::max(A.num_layers, B.num_layers));
  for (int64_t i = 0; i < n; ++i) map.layers.push_back({i, layer_kind(A, i), layer_kind(B, i)});
  return map;
}

json ShapeMap::to_json() const {
  json roles_json = json::array();
  for (const auto& r : roles) {
    json j;
    j["role"] = role_label(r.kind, r.bias);
    j["kind"] = std::string(role_kind_name(r.kind));
    j["bias"] = r.bias;
    j["mtp"] = r.mtp;
    j["status"] = std::string(to_string(r.status));
    j["relation"] = r.relation;
    j["detail"] = r.detail;
    j["shape_a"] = r.shape_a;
    j["shape_b"] = r.shape_b;
    j["experts_a"] = r.experts_a;
    j["experts_b"] = r.experts_b;
    j["layers_common"] = layers_json(r.layers_common);
    j["layers_differing"] = layers_json(r.layers_differing);
    j["layers_only_a"] = layers_json(r.layers_only_a);
    j["layers_only_b"] = layers_json(r.layers_only_b);
    j["params_a"] = r.params_a;
    j["params_b"] = r.params_b;
    j["comparable_params_a"] = r.comparable_params_a;
    j["comparable_params_b"] = r.comparable_params_b;
    roles_json.push_back(std::move(j));
  }
  json layers_j = json::array();
  for (const auto& l : layers) layers_j.push_back({{"layer", l.layer}, {"a", l.a}, {"b", l.b}});
  return json{{"roles", roles_json},
              {"layers", layers_j},
              {"total_params_a", total_a},
              {"total_params_b", total_b},
              {"comparable_params_a", comparable_a},
              {"comparable_params_b", comparable_b},
              {"comparable_fraction_a", total_a ? static_cast<double>(comparable_a) / total_a : 0.0},
              {"comparable_fraction_b", total_b ? static_cast<double>(comparable_b) / total_b : 0.0}};
}

std::vector<TensorPair> tensor_pairs(const ArchSpec& A, const ArchSpec& B) {
  const ShapeMap map = shape_compatibility(A, B);
  std::map<RoleKey, const RoleComparison*> by_role;
  for (const auto& rc : map.roles) by_role[{rc.mtp, rc.kind, rc.bias}] = &rc;
  // Key of one tensor: role, layer (MTP renumbered from 0), expert.
  using PairKey = std::tuple<bool, RoleKind, bool, int64_t, int64_t>;
  auto index = [](const std::vector<TensorSpec>& inv, const ArchSpec& s) {
    std::map<PairKey, const TensorSpec*> out;
    for (const auto& t : inv) {
      const int64_t layer = t.mtp ? t.layer - static_cast<int64_t>(s.num_layers) : t.layer;
      out[{t.mtp, t.kind, t.bias, layer, t.expert}] = &t;
    }
    return out;
  };
  const auto inv_a = tensor_inventory(A);
  const auto inv_b = tensor_inventory(B);
  const auto ia = index(inv_a, A);
  const auto ib = index(inv_b, B);
  std::vector<TensorPair> pairs;
  for (const auto& [key, ta] : ia) {
    auto it = ib.find(key);
    if (it == ib.end()) continue;
    const TensorSpec* tb = it->second;
    TensorPair p;
    p.name_a = ta->name;
    p.name_b = tb->name;
    p.kind = ta->kind;
    p.bias = ta->bias;
    p.mtp = ta->mtp;
    p.layer = std::get<3>(key);
    p.expert = ta->expert;
    p.shape_a = ta->shape;
    p.shape_b = tb->shape;
    if (ta->shape == tb->shape && ta->stacked_experts == tb->stacked_experts) {
      p.status = ShapeStatus::kEqual;
    } else {
      const RoleComparison* rc = by_role.at({ta->mtp, ta->kind, ta->bias});
      p.status = rc->status == ShapeStatus::kEqual ? ShapeStatus::kRelated : rc->status;
      p.relation = rc->relation;
    }
    pairs.push_back(std::move(p));
  }
  return pairs;
}

// ---------------------------------------------------------------------------------------------------------
// Distance

double architecture_distance(const ArchSpec& a, const ArchSpec& b, json* terms) {
  double d = 0;
  auto size_term = [&](const char* name, uint64_t x, uint64_t y) {
    if (x == y) return;
    // Ordered so that d(a, b) == d(b, a) exactly, not just up to rounding.
    const double hi = static_cast<double>(std::max(x, y)) + 1, lo = static_cast<double>(std::min(x, y)) + 1;
    double t = std::log2(hi / lo);
    d += t;
    if (terms) (*terms)[name] = t;
  };
  auto cat_term = [&](const char* name, bool differ) {
    if (!differ) return;
    d += 1;
    if (terms) (*terms)[name] = 1.0;
  };
  size_term("hidden_size", a.hidden_size, b.hidden_size);
  size_term("num_layers", a.num_layers, b.num_layers);
  size_term("num_heads", a.num_heads, b.num_heads);
  size_term("num_kv_heads", a.num_kv_heads, b.num_kv_heads);
  size_term("head_dim", a.head_dim, b.head_dim);
  size_term("intermediate_size", a.intermediate_size, b.intermediate_size);
  size_term("moe_intermediate_size", a.moe_intermediate_size, b.moe_intermediate_size);
  size_term("shared_expert_intermediate_size", a.shared_expert_intermediate_size, b.shared_expert_intermediate_size);
  size_term("n_routed_experts", a.n_routed_experts, b.n_routed_experts);
  size_term("experts_per_token", a.experts_per_token, b.experts_per_token);
  size_term("dense_layers", a.num_dense_layers(), b.num_dense_layers());
  size_term("vocab_size", a.vocab_size, b.vocab_size);
  size_term("mtp_layers", a.mtp_layers, b.mtp_layers);
  cat_term("attention", a.attention != b.attention);
  cat_term("router_scoring", a.router.scoring != b.router.scoring);
  cat_term("norm", a.norm != b.norm);
  cat_term("qk_norm", a.qk_norm != b.qk_norm);
  cat_term("qkv_bias", a.qkv_bias != b.qkv_bias);
  cat_term("tie_word_embeddings", a.tie_word_embeddings != b.tie_word_embeddings);
  cat_term("rotary_fraction", std::fabs(a.rope.partial_factor - b.rope.partial_factor) > 1e-12);
  cat_term("sandwich_norm", a.sandwich_norm != b.sandwich_norm);
  cat_term("sliding_window", (a.sliding_window > 0) != (b.sliding_window > 0));
  cat_term("linear_attention", a.linear_attention.has_value() != b.linear_attention.has_value());
  return d;
}

// ---------------------------------------------------------------------------------------------------------
// Diffs and verdict

namespace {

// Per-layer arrays become run-length strings ("dense x1, moe x45") so a diff line stays readable.
json compact_layers(const json& arr) {
  std::string out;
  for (size_t i = 0; i < arr.size();) {
    size_t j = i;
    while (j + 1 < arr.size() && arr[j + 1] == arr[i]) ++j;
    if (!out.empty()) out += ", ";
    out += str(arr[i].get<std::string>(), " x", j - i + 1);
    i = j + 1;
  }
  return out;
}

void flatten(const json& j, const std::string& prefix, std::map<std::string, json>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
      if (prefix == "layers" && it.value().is_array()) {
        out[key] = compact_layers(it.value());
        continue;
      }
      flatten(it.value(), key, out);
    }
  } else {
    out[prefix] = j;
  }
}

const std::set<std::string>& identity_keys() {
  static const std::set<std::string> k = {"model_type", "architectures", "auto_map"};
  return k;
}

std::string key_category(const std::string& key, const ParsedConfig& a, const ParsedConfig& b) {
  if (identity_keys().count(key)) return "identity";
  if (is_metadata_key(key)) return "metadata";
  for (const ParsedConfig* p : {&a, &b}) {
    if (!p->spec) continue;
    if (p->spec->unknown_keys.contains(key)) return "unknown";
    if (p->spec->behaviour.contains(key)) return "behaviour";
  }
  if (key == "rope_scaling" || key == "rope_theta" || key == "rms_norm_eps" || key == "routed_scaling_factor" ||
      key == "norm_topk_prob" || key == "scoring_func" || key == "topk_method" || key == "hidden_act" ||
      key == "max_position_embeddings" || key == "partial_rotary_factor" || key == "rope_parameters" ||
      key == "n_group" || key == "topk_group" || key == "layer_norm_epsilon" || key == "rotary_emb_base")
    return "behaviour";
  return "architecture";
}

json without(const json& j, const std::set<std::string>& drop) {
  json out = json::object();
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!drop.count(it.key())) out[it.key()] = it.value();
  return out;
}

}  // namespace

CompareResult compare_configs(const ParsedConfig& a, const ParsedConfig& b) {
  CompareResult r;
  r.label_a = a.label;
  r.label_b = b.label;

  // Raw, top-level keys.
  std::set<std::string> keys;
  if (a.raw.is_object())
    for (auto it = a.raw.begin(); it != a.raw.end(); ++it) keys.insert(it.key());
  if (b.raw.is_object())
    for (auto it = b.raw.begin(); it != b.raw.end(); ++it) keys.insert(it.key());
  for (const auto& k : keys) {
    json va = a.raw.is_object() && a.raw.contains(k) ? a.raw.at(k) : json();
    json vb = b.raw.is_object() && b.raw.contains(k) ? b.raw.at(k) : json();
    if (va == vb) continue;
    r.raw_diffs.push_back({k, key_category(k, a, b), va, vb});
  }
  if (!a.spec) r.notes.push_back(str("A does not parse: ", a.parse_error));
  if (!b.spec) r.notes.push_back(str("B does not parse: ", b.parse_error));

  bool same_arch = false, same_identity = false, same_shapes = false;
  if (a.spec && b.spec) {
    std::map<std::string, json> fa, fb;
    flatten(architecture_fields(*a.spec), "", fa);
    flatten(architecture_fields(*b.spec), "", fb);
    std::set<std::string> ck;
    for (const auto& [k, _] : fa) ck.insert(k);
    for (const auto& [k, _] : fb) ck.insert(k);
    for (const auto& k : ck) {
      json va = fa.count(k) ? fa[k] : json();
      json vb = fb.count(k) ? fb[k] : json();
      if (va != vb) r.canonical_diffs.push_back({k, starts_with(k, "behaviour") ? "behaviour" : "architecture", va, vb});
    }
    same_arch = r.canonical_diffs.empty();
    same_identity = a.spec->family == b.spec->family && a.raw.value("model_type", json()) == b.raw.value("model_type", json()) &&
                    a.raw.value("architectures", json()) == b.raw.value("architectures", json());
    json terms = json::object();
    r.distance = architecture_distance(*a.spec, *b.spec, &terms);
    r.distance_terms = terms;
    r.shape_map = shape_compatibility(*a.spec, *b.spec);
    same_shapes = std::all_of(r.shape_map->roles.begin(), r.shape_map->roles.end(), [](const RoleComparison& rc) {
      return rc.status == ShapeStatus::kEqual && rc.layers_only_a.empty() && rc.layers_only_b.empty();
    });
    for (const auto* s : {&*a.spec, &*b.spec}) {
      if (!s->family_note.empty()) r.notes.push_back(str(s->source, ": ", s->family_note));
      for (const auto& w : s->warnings) r.notes.push_back(str(s->source, ": ", w));
      if (!s->defaults.empty()) {
        std::vector<std::string> keys;
        for (const auto& d : s->defaults) keys.push_back(str(d.key, "=", d.value));
        r.notes.push_back(str(s->source, ": absent from the config, family defaults assumed (differences in these "
                              "are assumptions, not facts): ", join(keys, ", ")));
      }
    }
  }

  auto differing = [&](const std::string& category) {
    std::vector<std::string> out;
    for (const auto& d : r.raw_diffs)
      if (d.category == category) out.push_back(d.field);
    return out;
  };
  if (a.raw == b.raw) {
    r.verdict = Verdict::kIdentical;
    r.verdict_text = "identical config.json documents";
  } else if (same_arch && same_identity) {
    r.verdict = Verdict::kSameArchitecture;
    std::vector<std::string> fields;
    for (const auto& d : r.raw_diffs) fields.push_back(d.field);
    r.verdict_text = str("identical architecture; the files differ only in: ", join(fields, ", "));
  } else if (same_arch || (a.raw.is_object() && b.raw.is_object() &&
                           without(a.raw, {"model_type", "architectures", "auto_map", "_name_or_path",
                                           "transformers_version"}) ==
                               without(b.raw, {"model_type", "architectures", "auto_map", "_name_or_path",
                                               "transformers_version"}))) {
    r.verdict = Verdict::kRenamedCopy;
    auto ids = differing("identity");
    r.verdict_text = str("renamed copy: the same architecture numbers under a different ",
                         ids.empty() ? std::string("name") : join(ids, " / "));
  } else if (same_shapes) {
    r.verdict = Verdict::kSameShapes;
    std::vector<std::string> fields;
    for (const auto& d : r.canonical_diffs) fields.push_back(d.field);
    r.verdict_text = str("every tensor has the same shape; the configs differ in: ", join(fields, ", "));
  } else {
    r.verdict = Verdict::kDifferent;
    if (r.shape_map) {
      uint64_t ne = 0, nr = 0, ni = 0, no = 0;
      for (const auto& rc : r.shape_map->roles) {
        if (rc.mtp) continue;  // the MTP block is summarised below
        if (rc.status == ShapeStatus::kEqual) ++ne;
        else if (rc.status == ShapeStatus::kRelated) ++nr;
        else if (rc.status == ShapeStatus::kIncomparable) ++ni;
        else ++no;
      }
      const uint64_t mtp_a = a.spec->mtp_layers, mtp_b = b.spec->mtp_layers;
      r.verdict_text = str("different architectures: of the decoder's tensor roles ", ne, " have equal shapes, ", nr,
                           " differ by a simple relation, ", ni, " are incomparable and ", no, " exist in one model only",
                           mtp_a || mtp_b ? str("; MTP layers: ", mtp_a, " in A, ", mtp_b, " in B") : std::string());
    } else {
      r.verdict_text = "different configs (architecture not parsed on both sides: raw keys compared only)";
    }
  }
  return r;
}

json CompareResult::to_json() const {
  auto diffs_json = [](const std::vector<FieldDiff>& diffs) {
    json arr = json::array();
    for (const auto& d : diffs) arr.push_back({{"field", d.field}, {"category", d.category}, {"a", d.a}, {"b", d.b}});
    return arr;
  };
  json j;
  j["a"] = label_a;
  j["b"] = label_b;
  j["verdict"] = std::string(to_string(verdict));
  j["verdict_text"] = verdict_text;
  j["raw_diffs"] = diffs_json(raw_diffs);
  j["canonical_diffs"] = diffs_json(canonical_diffs);
  if (distance) {
    j["distance"] = *distance;
    j["distance_terms"] = distance_terms;
    j["distance_definition"] =
        "sum over size fields of |log2((a+1)/(b+1))| plus 1 per differing categorical choice (docs/arch.md)";
  }
  if (shape_map) j["shape_map"] = shape_map->to_json();
  j["notes"] = notes;
  return j;
}

namespace {
std::string md_cell(const json& v) {
  std::string s = v.is_null() ? std::string("—") : v.is_string() ? v.get<std::string>() : v.dump();
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  if (out.size() > 160) out = out.substr(0, 157) + "...";
  return out;
}
std::string pct(uint64_t part, uint64_t whole) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(2);
  os << (whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0) << "%";
  return os.str();
}
}  // namespace

std::string CompareResult::to_markdown() const {
  std::ostringstream os;
  os << "## Architecture comparison\n\n";
  os << "- A: `" << md_cell(label_a) << "`\n- B: `" << md_cell(label_b) << "`\n";
  os << "- Verdict: **" << to_string(verdict) << "**: " << md_cell(verdict_text) << "\n";
  if (distance) os << "- Architecture distance: " << *distance << " (0 = identical; docs/arch.md)\n";
  for (const auto& n : notes) os << "- Note: " << md_cell(n) << "\n";
  if (!canonical_diffs.empty()) {
    os << "\n### Canonical fields that differ\n\n| field | A | B |\n|---|---|---|\n";
    for (const auto& d : canonical_diffs) os << "| " << d.field << " | " << md_cell(d.a) << " | " << md_cell(d.b) << " |\n";
  }
  if (!raw_diffs.empty()) {
    os << "\n### config.json keys that differ\n\n| key | category | A | B |\n|---|---|---|---|\n";
    for (const auto& d : raw_diffs)
      os << "| " << md_cell(d.field) << " | " << d.category << " | " << md_cell(d.a) << " | " << md_cell(d.b) << " |\n";
  }
  if (shape_map) {
    os << "\n### Shape compatibility\n\n";
    os << "Directly comparable parameters: " << pct(shape_map->comparable_a, shape_map->total_a) << " of A, "
       << pct(shape_map->comparable_b, shape_map->total_b) << " of B.\n\n";
    os << "| role | status | shape A | shape B | layers both | detail |\n|---|---|---|---|---|---|\n";
    size_t mtp_only_a = 0, mtp_only_b = 0, mtp_total = 0;
    for (const auto& rc : shape_map->roles) {
      if (!rc.mtp) continue;
      ++mtp_total;
      mtp_only_a += rc.status == ShapeStatus::kOnlyInA;
      mtp_only_b += rc.status == ShapeStatus::kOnlyInB;
    }
    const bool collapse_mtp = mtp_total > 0 && (mtp_only_a == mtp_total || mtp_only_b == mtp_total);
    for (const auto& rc : shape_map->roles) {
      if (rc.mtp && collapse_mtp) continue;
      std::string role = role_label(rc.kind, rc.bias) + (rc.mtp ? " (MTP)" : "");
      os << "| " << role << " | " << to_string(rc.status) << (rc.relation.empty() ? "" : " (" + rc.relation + ")")
         << " | " << shape_to_string(rc.shape_a) << (rc.experts_a ? str(" x", rc.experts_a) : "") << " | "
         << shape_to_string(rc.shape_b) << (rc.experts_b ? str(" x", rc.experts_b) : "") << " | "
         << md_cell(ranges(rc.layers_common)) << " | " << md_cell(rc.detail) << " |\n";
    }
    if (collapse_mtp)
      os << "| MTP block (" << mtp_total << " roles) | " << (mtp_only_a ? "only_in_a" : "only_in_b")
         << " | | | | the multi-token-prediction layers exist in one model only |\n";
  }
  return os.str();
}

}  // namespace fromscratch::arch
