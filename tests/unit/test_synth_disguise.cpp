// The disguised, disguised-rotated, width-pruned and depth-pruned members: every transformation truth.json
// describes reproduces the member from its parent (exactly for signed permutations, to F32 rounding for the
// rotation, to the heal noise for pruning), the architecture shrinks as recorded, and the pair verdicts.
// Function preservation itself is checked by tests/cli/synth_function.sh with a PyTorch forward pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/synth/family.hpp"

using namespace fromscratch;
using namespace fromscratch::synth;
using json = nlohmann::json;

namespace {

struct Matrix {
  uint64_t rows = 0, cols = 0;
  std::vector<float> v;
  float at(uint64_t r, uint64_t c) const { return v[r * cols + c]; }
};

Matrix read(const Model& m, const std::string& name) {
  const SynthTensor& t = m.tensor(name);
  Matrix x{t.rows(), t.cols(), std::vector<float>(t.rows() * t.cols())};
  m.row_range(t, 0, t.rows(), x.v.data());
  return x;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = std::accumulate(a.begin(), a.end(), 0.0) / double(a.size());
  double mb = std::accumulate(b.begin(), b.end(), 0.0) / double(b.size());
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) ab += (a[i] - ma) * (b[i] - mb), aa += (a[i] - ma) * (a[i] - ma), bb += (b[i] - mb) * (b[i] - mb);
  return ab / std::sqrt(aa * bb);
}

Family family(const std::string& templ, std::vector<std::string> members) {
  FamilySpec spec;
  spec.template_name = templ;
  spec.scale = Scale::tiny;
  spec.seed = 7;
  spec.members = std::move(members);
  return build_family(spec);
}

const json& params_of(const json& truth, const std::string& member) {
  for (const auto& m : truth["members"])
    if (m["name"] == member) return m["description"]["params"];
  throw std::runtime_error("no member " + member);
}

}  // namespace

TEST(SynthDisguise, MemberListKeepsTheOriginalOrderAndAppendsTheNewMembers) {
  const std::vector<std::string> original = {"base", "independent", "fine-tuned", "continued-pretraining",
                                             "expert-permuted", "dense", "upcycled", "re-tokenized", "norm-only",
                                             "same-init"};
  auto all = all_member_names();
  ASSERT_EQ(all.size(), original.size() + 4);
  EXPECT_TRUE(std::equal(original.begin(), original.end(), all.begin()));
  EXPECT_EQ(std::vector<std::string>(all.end() - 4, all.end()),
            (std::vector<std::string>{"disguised", "disguised-rotated", "width-pruned", "depth-pruned"}));
  // Dense templates have all four.
  auto dense = supported_members(make_architecture("llama", Scale::tiny));
  for (const char* m : {"disguised", "disguised-rotated", "width-pruned", "depth-pruned"})
    EXPECT_NE(std::find(dense.begin(), dense.end(), m), dense.end()) << m;
}

TEST(SynthDisguise, SignedPermutationReproducesFromTruthExactly) {
  for (const std::string templ : {"glm4-moe", "solar-open", "mixtral"}) {
    SCOPED_TRACE(templ);
    Family f = family(templ, {"disguised"});
    ASSERT_NE(f.find("fine-tuned"), nullptr);  // the parent is added
    const Model& ft = *f.find("fine-tuned")->model;
    const Model& dg = *f.find("disguised")->model;
    json truth = truth_json(f, {}, {});
    const json& p = params_of(truth, "disguised");
    EXPECT_EQ(p["hidden_transform"], "signed-permutation");
    const auto pi = p["hidden_permutation"].get<std::vector<uint32_t>>();
    const auto sign = p["hidden_signs"].get<std::vector<int>>();
    const Architecture& a = dg.arch();
    ASSERT_EQ(pi.size(), a.hidden_size);
    const bool mix = a.layout == Layout::mixtral;

    // Embeddings: columns; norms: permuted without signs; lm_head: columns.
    for (const char* name : {"model.embed_tokens.weight", "lm_head.weight"}) {
      Matrix x = read(ft, name), y = read(dg, name);
      for (uint64_t r = 0; r < x.rows; r += 37)
        for (uint64_t c = 0; c < x.cols; ++c) ASSERT_EQ(y.at(r, c), float(sign[c]) * x.at(r, pi[c])) << name;
    }
    for (const auto& l : p["layers"]) {
      const int L = l["layer"];
      const std::string pre = "model.layers." + std::to_string(L) + ".";
      Matrix gn = read(ft, pre + "input_layernorm.weight"), gd = read(dg, pre + "input_layernorm.weight");
      for (uint64_t c = 0; c < a.hidden_size; ++c) ASSERT_EQ(gd.v[c], gn.v[pi[c]]);
      // q rows: heads moved whole, columns signed-permuted.
      const auto qh = l["q_heads"].get<std::vector<uint32_t>>();
      const auto kvh = l["kv_heads"].get<std::vector<uint32_t>>();
      ASSERT_EQ(qh.size(), a.num_heads);
      const uint64_t qpg = a.num_heads / a.num_kv_heads, hd = a.head_dim;
      for (uint64_t h = 0; h < a.num_heads; ++h) EXPECT_EQ(qh[h] / qpg, kvh[h / qpg]) << "q head left its kv group";
      Matrix q0 = read(ft, pre + "self_attn.q_proj.weight"), q1 = read(dg, pre + "self_attn.q_proj.weight");
      for (uint64_t r = 0; r < q1.rows; r += 5)
        for (uint64_t c = 0; c < q1.cols; ++c)
          ASSERT_EQ(q1.at(r, c), float(sign[c]) * q0.at(qh[r / hd] * hd + r % hd, pi[c]));
      // o_proj: rows signed-permuted, columns follow the q heads.
      Matrix o0 = read(ft, pre + "self_attn.o_proj.weight"), o1 = read(dg, pre + "self_attn.o_proj.weight");
      for (uint64_t r = 0; r < o1.rows; r += 7)
        for (uint64_t c = 0; c < o1.cols; ++c)
          ASSERT_EQ(o1.at(r, c), float(sign[r]) * o0.at(pi[r], qh[c / hd] * hd + c % hd));
      if (a.qkv_bias) {
        Matrix b0 = read(ft, pre + "self_attn.k_proj.bias"), b1 = read(dg, pre + "self_attn.k_proj.bias");
        for (uint64_t r = 0; r < b1.rows; ++r) ASSERT_EQ(b1.v[r], b0.v[kvh[r / hd] * hd + r % hd]);
      }
      if (!l.contains("experts")) {
        const auto np = l["dense_neurons"].get<std::vector<uint32_t>>();
        Matrix d0 = read(ft, pre + "mlp.down_proj.weight"), d1 = read(dg, pre + "mlp.down_proj.weight");
        for (uint64_t r = 0; r < d1.rows; r += 3)
          for (uint64_t c = 0; c < d1.cols; ++c) ASSERT_EQ(d1.at(r, c), float(sign[r]) * d0.at(pi[r], np[c]));
        continue;
      }
      const auto ex = l["experts"].get<std::vector<uint32_t>>();
      const std::string moe = pre + (mix ? "block_sparse_moe." : "mlp.");
      Matrix r0 = read(ft, moe + "gate.weight"), r1 = read(dg, moe + "gate.weight");
      for (uint64_t e = 0; e < r1.rows; ++e)
        for (uint64_t c = 0; c < r1.cols; ++c) ASSERT_EQ(r1.at(e, c), float(sign[c]) * r0.at(ex[e], pi[c]));
      if (!mix) {
        Matrix c0 = read(ft, moe + "gate.e_score_correction_bias"), c1 = read(dg, moe + "gate.e_score_correction_bias");
        for (uint64_t e = 0; e < c1.rows; ++e) ASSERT_EQ(c1.v[e], c0.v[ex[e]]);
      }
      for (uint64_t e = 0; e < ex.size(); e += 3) {
        const auto np = l["expert_neurons"][e].get<std::vector<uint32_t>>();
        const std::string x = moe + "experts.", gate = mix ? ".w1.weight" : ".gate_proj.weight",
                          down = mix ? ".w2.weight" : ".down_proj.weight";
        Matrix g0 = read(ft, x + std::to_string(ex[e]) + gate), g1 = read(dg, x + std::to_string(e) + gate);
        for (uint64_t r = 0; r < g1.rows; ++r)
          for (uint64_t c = 0; c < g1.cols; ++c) ASSERT_EQ(g1.at(r, c), float(sign[c]) * g0.at(np[r], pi[c]));
        Matrix d0 = read(ft, x + std::to_string(ex[e]) + down), d1 = read(dg, x + std::to_string(e) + down);
        for (uint64_t r = 0; r < d1.rows; ++r)
          for (uint64_t c = 0; c < d1.cols; ++c) ASSERT_EQ(d1.at(r, c), float(sign[r]) * d0.at(pi[r], np[c]));
      }
    }
    // The GLM MTP block's eh_proj reads [enorm(e) | hnorm(h)] and writes the stream: both sides transformed.
    if (a.mtp_layers) {
      const std::string eh = "model.layers." + std::to_string(a.num_layers) + ".eh_proj.weight";
      Matrix e0 = read(ft, eh), e1 = read(dg, eh);
      const uint64_t d = a.hidden_size;
      for (uint64_t r = 0; r < d; r += 11)
        for (uint64_t c = 0; c < 2 * d; ++c)
          ASSERT_EQ(e1.at(r, c), float(sign[r] * sign[c % d]) * e0.at(pi[r], (c / d) * d + pi[c % d]));
    }
    // Nothing stays where it was: equal values at equal positions only by chance.
    Matrix q0 = read(ft, "model.layers.2.self_attn.q_proj.weight"), q1 = read(dg, "model.layers.2.self_attn.q_proj.weight");
    size_t same = 0;
    for (size_t i = 0; i < q0.v.size(); ++i) same += q0.v[i] == q1.v[i];
    EXPECT_LT(double(same) / double(q0.v.size()), 0.05);
  }
}

TEST(SynthDisguise, RotationIsOrthogonalNormsAreFoldedAndStorageIsF32) {
  Family f = family("glm4-moe", {"disguised-rotated"});
  const Model& ft = *f.find("fine-tuned")->model;
  const Model& rot = *f.find("disguised-rotated")->model;
  const std::vector<double>* q = disguise_rotation(rot);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(disguise_rotation(ft), nullptr);
  const uint64_t d = rot.arch().hidden_size;
  double worst = 0;
  for (uint64_t i = 0; i < d; i += 5)
    for (uint64_t j = 0; j < d; ++j) {
      double s = 0;
      for (uint64_t k = 0; k < d; ++k) s += (*q)[i * d + k] * (*q)[j * d + k];
      worst = std::max(worst, std::abs(s - (i == j ? 1.0 : 0.0)));
    }
  EXPECT_LT(worst, 1e-12);
  EXPECT_EQ(rot.tensor("model.layers.1.self_attn.q_proj.weight").spec.dtype, DType::F32);
  EXPECT_EQ(rot.tensor("model.layers.1.mlp.gate.e_score_correction_bias").spec.dtype, DType::F32);
  Matrix g = read(rot, "model.layers.1.input_layernorm.weight");
  for (float v : g.v) ASSERT_EQ(v, 1.0f);
  // Embedding row = Q x parent row; q_proj row = Q (g * parent row).
  Matrix e0 = read(ft, "model.embed_tokens.weight"), e1 = read(rot, "model.embed_tokens.weight");
  Matrix g0 = read(ft, "model.layers.1.input_layernorm.weight");
  Matrix w0 = read(ft, "model.layers.1.self_attn.k_proj.weight"), w1 = read(rot, "model.layers.1.self_attn.k_proj.weight");
  for (uint64_t r = 0; r < 8; ++r)
    for (uint64_t i = 0; i < d; ++i) {
      double se = 0, sw = 0;
      for (uint64_t k = 0; k < d; ++k) se += (*q)[i * d + k] * e0.at(r, k), sw += (*q)[i * d + k] * g0.v[k] * w0.at(r, k);
      ASSERT_NEAR(e1.at(r, i), se, 1e-6 * (1 + std::abs(se)));
      ASSERT_NEAR(w1.at(r, i), sw, 1e-6 * (1 + std::abs(sw)));
    }
  // eh_proj (MTP): rows rotated, both column blocks folded with enorm / hnorm and rotated.
  {
    const std::string pre = "model.layers." + std::to_string(rot.arch().num_layers) + ".";
    Matrix w = read(ft, pre + "eh_proj.weight"), w2 = read(rot, pre + "eh_proj.weight");
    Matrix ge = read(ft, pre + "enorm.weight"), gh = read(ft, pre + "hnorm.weight");
    for (uint64_t r : {uint64_t(0), d / 2, d - 1}) {
      std::vector<double> y(2 * d, 0.0);
      for (uint64_t j = 0; j < d; ++j)
        for (uint64_t c = 0; c < 2 * d; ++c) y[c] += (*q)[r * d + j] * w.at(j, c);
      for (uint64_t c = 0; c < 2 * d; ++c) {
        const uint64_t b = c / d, i = c % d;
        double z = 0;
        for (uint64_t k = 0; k < d; ++k) z += (*q)[i * d + k] * (b ? gh.v[k] : ge.v[k]) * y[b * d + k];
        ASSERT_NEAR(w2.at(r, c), z, 1e-6 * (1 + std::abs(z)));
      }
    }
  }
  json truth = truth_json(f, {}, {});
  const json& p = params_of(truth, "disguised-rotated");
  EXPECT_EQ(p["hidden_transform"], "rotation");
  EXPECT_EQ(p["dtype"], "F32");
  EXPECT_EQ(family_extra_files(f), std::vector<std::string>{"disguised-rotated.rotation.safetensors"});

  FamilySpec spec;
  spec.template_name = "glm4-moe";
  spec.seed = 7;
  spec.members = {"disguised-rotated"};
  spec.params.disguise.rotated_dtype = DType::BF16;
  Family fb = build_family(spec);
  EXPECT_EQ(fb.find("disguised-rotated")->model->tensor("lm_head.weight").spec.dtype, DType::BF16);
}

TEST(SynthDisguise, WidthPrunedKeepsTheRecordedRowsAndShrinksTheArchitecture) {
  for (const std::string templ : {"solar-open", "glm4-moe", "mixtral", "qwen2"}) {
    SCOPED_TRACE(templ);
    Family f = family(templ, {"width-pruned"});
    const Model& base = *f.find("base")->model;
    const Model& wp = *f.find("width-pruned")->model;
    const Architecture &a = base.arch(), &b = wp.arch();
    EXPECT_EQ(b.num_heads, a.num_heads * 3 / 4);
    EXPECT_EQ(b.num_kv_heads, a.num_kv_heads);
    if (a.is_moe()) {
      EXPECT_EQ(b.num_experts, a.num_experts * 3 / 4);
      EXPECT_EQ(b.expert_width, uint64_t(std::llround(a.expert_width * 0.75)));
    } else {
      EXPECT_EQ(b.intermediate_size, uint64_t(std::llround(a.intermediate_size * 0.75)));
    }
    json truth = truth_json(f, {}, {});
    const json& p = params_of(truth, "width-pruned");
    const json& l = p["layers"][1];
    const std::string pre = "model.layers.1.";
    const auto qh = l["q_heads"].get<std::vector<uint32_t>>();
    ASSERT_EQ(qh.size(), b.num_heads);
    EXPECT_TRUE(std::is_sorted(qh.begin(), qh.end()));
    Matrix q0 = read(base, pre + "self_attn.q_proj.weight"), q1 = read(wp, pre + "self_attn.q_proj.weight");
    std::vector<double> x, y;
    for (uint64_t r = 0; r < q1.rows; ++r)
      for (uint64_t c = 0; c < q1.cols; ++c)
        x.push_back(q1.at(r, c)), y.push_back(q0.at(qh[r / a.head_dim] * a.head_dim + r % a.head_dim, c));
    EXPECT_GT(pearson(x, y), 0.999);
    if (a.is_moe()) {
      const bool mix = a.layout == Layout::mixtral;
      const auto ex = l["experts"].get<std::vector<uint32_t>>();
      const auto np = l["expert_neurons"][1].get<std::vector<uint32_t>>();
      const std::string x0 = pre + (mix ? "block_sparse_moe.experts." : "mlp.experts."), down = mix ? ".w2.weight" : ".down_proj.weight";
      Matrix d0 = read(base, x0 + std::to_string(ex[1]) + down), d1 = read(wp, x0 + "1" + down);
      x.clear(), y.clear();
      for (uint64_t r = 0; r < d1.rows; ++r)
        for (uint64_t c = 0; c < d1.cols; ++c) x.push_back(d1.at(r, c)), y.push_back(d0.at(r, np[c]));
      EXPECT_GT(pearson(x, y), 0.999);
    }
  }
}

TEST(SynthDisguise, DepthPrunedMapsLayersAsRecorded) {
  for (const std::string templ : {"glm4-moe", "solar-open", "mistral"}) {
    SCOPED_TRACE(templ);
    Family f = family(templ, {"depth-pruned"});
    const Model& base = *f.find("base")->model;
    const Model& dp = *f.find("depth-pruned")->model;
    EXPECT_EQ(dp.arch().num_layers + 2, base.arch().num_layers);
    EXPECT_EQ(dp.arch().mtp_layers, base.arch().mtp_layers);
    json truth = truth_json(f, {}, {});
    const auto kept = params_of(truth, "depth-pruned")["kept_layers"].get<std::vector<uint32_t>>();
    const auto dropped = params_of(truth, "depth-pruned")["dropped_layers"].get<std::vector<uint32_t>>();
    EXPECT_EQ(kept.size(), dp.arch().checkpoint_layers());
    EXPECT_EQ(dropped.size(), 2u);
    EXPECT_EQ(kept.front(), 0u);  // the first layer is never dropped
    for (uint64_t i = 0; i < kept.size(); ++i) {
      const std::string n1 = "model.layers." + std::to_string(i) + ".self_attn.k_proj.weight";
      const std::string n0 = "model.layers." + std::to_string(kept[i]) + ".self_attn.k_proj.weight";
      Matrix a = read(base, n0), b = read(dp, n1);
      std::vector<double> x(a.v.begin(), a.v.end()), y(b.v.begin(), b.v.end());
      EXPECT_GT(pearson(x, y), 0.999) << i;
    }
  }
  FamilySpec spec;
  spec.template_name = "solar-open";
  spec.members = {"depth-pruned"};
  spec.params.depth_prune.drop_layers = 3;  // 4 layers: only 1 and 2 can go
  EXPECT_THROW(build_family(spec), UsageError);
}

TEST(SynthDisguise, PairsAreDerived) {
  Family f = family("solar-open", {"all"});
  json truth = truth_json(f, {}, {});
  std::map<std::pair<std::string, std::string>, json> v;
  for (const auto& p : truth["pairs"]) v[{p["a"], p["b"]}] = p;
  auto pair = [&](const char* a, const char* b) { return v[std::make_pair(std::string(a), std::string(b))]; };
  EXPECT_EQ(pair("fine-tuned", "disguised")["lineage"], "parent-child");
  EXPECT_EQ(pair("base", "disguised")["lineage"], "ancestor-descendant");
  EXPECT_EQ(pair("disguised", "disguised-rotated")["lineage"], "siblings");
  for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{{"base", "disguised"},
                                                                             {"base", "disguised-rotated"},
                                                                             {"base", "width-pruned"},
                                                                             {"base", "depth-pruned"},
                                                                             {"disguised", "width-pruned"},
                                                                             {"width-pruned", "depth-pruned"},
                                                                             {"expert-permuted", "disguised"}})
    EXPECT_EQ(v[std::make_pair(a, b)]["expected_verdict"], "derived") << a << " " << b;
  EXPECT_EQ(pair("independent", "disguised")["expected_verdict"], "independent");
  EXPECT_EQ(pair("norm-only", "depth-pruned")["expected_verdict"], "norms-only");
}
