#include "fromscratch/remote/plan.hpp"

#include <cstdio>
#include <map>
#include <set>

#include "fromscratch/arch/compare.hpp"
#include "fromscratch/arch/inventory.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::remote {

namespace {

using arch::Component;
using arch::TensorSpec;

std::string human(uint64_t b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = double(b);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

uint64_t digits(uint64_t v) {
  uint64_t d = 1;
  while (v >= 10) {
    v /= 10;
    ++d;
  }
  return d;
}

struct ModelView {
  std::vector<TensorSpec> inv;
  std::map<std::string, uint64_t> bytes_by_name;  // real bytes when a checkpoint is given
  uint64_t total = 0;
  uint64_t header_bytes = 0;
  bool exact = false;
  uint64_t bpp = 2;

  uint64_t bytes(const TensorSpec& t) const {
    auto it = bytes_by_name.find(t.name);
    return it != bytes_by_name.end() ? it->second : t.numel() * bpp;
  }
};

ModelView view_of(const PlanModel& m, const PlanOptions& o, std::vector<std::string>& notes) {
  ModelView v;
  v.bpp = o.bytes_per_param;
  v.inv = arch::tensor_inventory(*m.spec);
  if (m.checkpoint && !m.checkpoint->tensors.empty()) {
    v.exact = true;
    for (const auto& t : m.checkpoint->tensors) v.bytes_by_name[t.info.name] = t.info.byte_size();
    v.total = m.checkpoint->total_tensor_bytes();
    for (const auto& s : m.checkpoint->shards) v.header_bytes += 8 + s.header_size;
    return v;
  }
  // Estimated safetensors headers: one JSON entry per tensor, shards of o.shard_bytes.
  uint64_t json = 0;
  for (const auto& t : v.inv) {
    uint64_t b = v.bytes(t);
    v.total += b;
    json += t.name.size() + 2 + 40;  // "name":{"dtype":"BF16","shape":[],"data_offsets":[,]},
    for (uint64_t d : t.shape) json += digits(d) + 1;
    json += 2 * digits(std::max<uint64_t>(o.shard_bytes, 1));
  }
  uint64_t shards = std::max<uint64_t>(1, (v.total + o.shard_bytes - 1) / std::max<uint64_t>(o.shard_bytes, 1));
  v.header_bytes = json + shards * (8 + 40);
  notes.push_back(str(m.label, ": no shard headers at hand; header bytes estimated for ", shards, " shards of ",
                      human(o.shard_bytes), ", tensors at ", o.bytes_per_param, " bytes per parameter"));
  return v;
}

}  // namespace

BytePlan plan_pair(const PlanModel& a, const PlanModel& b, const PlanOptions& o) {
  BytePlan p;
  p.label_a = a.label;
  p.label_b = b.label;
  ModelView va = view_of(a, o, p.notes), vb = view_of(b, o, p.notes);
  p.checkpoint_a = va.total;
  p.checkpoint_b = vb.total;
  p.exact_headers_a = va.exact;
  p.exact_headers_b = vb.exact;

  auto sum_if = [](const ModelView& v, auto pred) {
    uint64_t s = 0;
    for (const auto& t : v.inv)
      if (pred(t)) s += v.bytes(t);
    return s;
  };
  auto add = [&](std::string id, std::string what, uint64_t x, uint64_t y) { p.tests.push_back(PlanTest{std::move(id), std::move(what), x, y, true}); };

  add("headers", "shard headers: inspect, arch compare, tensor inventory", va.header_bytes, vb.header_bytes);
  auto norm = [](const TensorSpec& t) { return t.component == Component::kNorms; };
  add("norms", "every norm vector", sum_if(va, norm), sum_if(vb, norm));
  auto router = [](const TensorSpec& t) { return t.component == Component::kRouter; };
  add("routers", "router matrices and correction biases", sum_if(va, router), sum_if(vb, router));

  std::set<std::string> eq_a, eq_b;
  for (const auto& tp : arch::tensor_pairs(*a.spec, *b.spec))
    if (tp.status == arch::ShapeStatus::kEqual) {
      eq_a.insert(tp.name_a);
      eq_b.insert(tp.name_b);
    }
  add("comparable", "tensors of equal shape in both (k/v projections, norms, routers ...)",
      sum_if(va, [&](const TensorSpec& t) { return eq_a.count(t.name) > 0; }),
      sum_if(vb, [&](const TensorSpec& t) { return eq_b.count(t.name) > 0; }));

  auto embed_rows = [&](const ModelView& v, const arch::ArchSpec& s) {
    for (const auto& t : v.inv)
      if (t.kind == RoleKind::embed_tokens && !t.shape.empty() && t.shape[0]) {
        uint64_t rows = std::min(o.rows, t.shape[0]);
        return v.bytes(t) / t.shape[0] * rows;
      }
    (void)s;
    return uint64_t(0);
  };
  add("embed_rows", str(o.rows, " input-embedding rows (shared tokens)"), embed_rows(va, *a.spec), embed_rows(vb, *b.spec));
  auto experts = [&](const TensorSpec& t) {
    if (t.component != Component::kRoutedExperts) return false;
    return t.expert >= 0 && uint64_t(t.expert) < o.experts;
  };
  auto stacked = [&](const ModelView& v) {  // stacked expert tensors: o.experts / stacked of the tensor
    uint64_t s = 0;
    for (const auto& t : v.inv)
      if (t.component == Component::kRoutedExperts && t.expert < 0 && t.stacked_experts > 0)
        s += v.bytes(t) / t.stacked_experts * std::min(o.experts, t.stacked_experts);
    return s;
  };
  add("expert_sample", str(o.experts, " routed experts of every MoE layer"), sum_if(va, experts) + stacked(va),
      sum_if(vb, experts) + stacked(vb));
  add("full", "every tensor (hash of the whole checkpoint)", va.total, vb.total);

  if (o.max_download) {
    uint64_t used = 0;
    for (auto& t : p.tests) {
      if (used + t.total() <= o.max_download) used += t.total();
      else t.runs = false;
    }
  }
  return p;
}

nlohmann::json BytePlan::to_json() const {
  nlohmann::json j;
  j["a"] = label_a;
  j["b"] = label_b;
  j["checkpoint_bytes"] = {{"a", checkpoint_a}, {"b", checkpoint_b}};
  j["exact_headers"] = {{"a", exact_headers_a}, {"b", exact_headers_b}};
  j["tests"] = nlohmann::json::array();
  for (const auto& t : tests)
    j["tests"].push_back({{"id", t.id}, {"what", t.what}, {"bytes_a", t.bytes_a}, {"bytes_b", t.bytes_b},
                          {"bytes", t.total()}, {"runs", t.runs}});
  j["notes"] = notes;
  return j;
}

std::string BytePlan::to_text() const {
  std::string s = str("A = ", label_a, " (", human(checkpoint_a), ")\nB = ", label_b, " (", human(checkpoint_b), ")\n");
  char line[256];
  std::snprintf(line, sizeof line, "%-14s %14s %14s %14s %9s  %s\n", "test", "bytes A", "bytes B", "total", "% of A+B", "status");
  s += line;
  const double all = double(checkpoint_a + checkpoint_b);
  for (const auto& t : tests) {
    std::snprintf(line, sizeof line, "%-14s %14s %14s %14s %8.4f%%  %s\n", t.id.c_str(), human(t.bytes_a).c_str(),
                  human(t.bytes_b).c_str(), human(t.total()).c_str(), all > 0 ? 100.0 * double(t.total()) / all : 0.0,
                  t.runs ? "runs" : "not run (over --max-download)");
    s += line;
  }
  for (const auto& t : tests) s += str("  ", t.id, ": ", t.what, "\n");
  for (const auto& n : notes) s += str("note: ", n, "\n");
  return s;
}

}  // namespace fromscratch::remote
