#include "fromscratch/core/digest_compare.hpp"

#include <unordered_map>
#include <unordered_set>

namespace fromscratch {

DigestComparison compare_digests(const std::vector<TensorDigest>& a, const std::vector<TensorDigest>& b,
                                 const std::function<std::string(const std::string&)>& group_of) {
  DigestComparison out;
  out.tensors_a = a.size();
  out.tensors_b = b.size();
  std::unordered_map<std::string_view, const TensorDigest*> by_name;
  std::unordered_map<std::string_view, std::vector<std::string_view>> names_by_multiset;
  for (const auto& d : a) {
    by_name.emplace(d.name, &d);
    if (d.bytes >= kSmallTensorBytes) names_by_multiset[d.row_multiset].push_back(d.name);
  }
  for (const auto& d : b) {
    auto it = by_name.find(d.name);
    const TensorDigest* same = it == by_name.end() ? nullptr : it->second;
    if (same) ++out.shared_names;
    bool small = d.bytes < kSmallTensorBytes;
    if (small) {
      if (same && same->sha256 == d.sha256) ++out.small_identical;
      continue;
    }
    DigestMatchCounts& g = out.by_group[group_of(d.name)];
    for (DigestMatchCounts* c : {&out.all, &g}) {
      ++c->tensors;
      c->bytes += d.bytes;
      if (same && same->sha256 == d.sha256) {
        ++c->identical;
        c->identical_bytes += d.bytes;
      } else if (same && same->row_multiset == d.row_multiset) {
        ++c->rows_permuted;
      } else {
        auto m = names_by_multiset.find(d.row_multiset);
        if (m != names_by_multiset.end()) ++c->rows_elsewhere;
      }
    }
  }
  return out;
}

}  // namespace fromscratch
