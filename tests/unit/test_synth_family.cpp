// The ground-truth families: a tiny family is written to disk, read back with the project's safetensors
// reader, and every property docs/synth.md claims is checked numerically: trained-looking norms (raw cosine
// of independent members ~1 while their Pearson correlation is ~0, within-model layer correlation), heavy
// tails and outlier columns, and each relation (bit-identical deep values after fine-tuning, exact expert
// permutation, near-copies after upcycling, byte-identical norms with independent matrices, ...).
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/file_io.hpp"
#include "fromscratch/core/tensor_hash.hpp"
#include "fromscratch/synth/family.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::synth;
using json = nlohmann::json;

namespace {

struct Stats {
  static double mean(const std::vector<double>& x) { return std::accumulate(x.begin(), x.end(), 0.0) / double(x.size()); }
  static double cosine(const std::vector<double>& a, const std::vector<double>& b) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < a.size(); ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
    return ab / std::sqrt(aa * bb);
  }
  static double pearson(const std::vector<double>& a, const std::vector<double>& b) {
    double ma = mean(a), mb = mean(b), ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      double x = a[i] - ma, y = b[i] - mb;
      ab += x * y, aa += x * x, bb += y * y;
    }
    return ab / std::sqrt(aa * bb);
  }
  static double excess_kurtosis(const std::vector<double>& x) {
    double m = mean(x), m2 = 0, m4 = 0;
    for (double v : x) {
      double d = (v - m) * (v - m);
      m2 += d, m4 += d * d;
    }
    m2 /= double(x.size()), m4 /= double(x.size());
    return m4 / (m2 * m2) - 3;
  }
};

// A checkpoint read back through the project's reader.
class Reader {
 public:
  explicit Reader(const std::string& dir) : ck_(open_checkpoint(dir)) {}
  bool has(const std::string& name) const { return ck_.find(name) != nullptr; }
  std::string raw(const std::string& name) const {
    const CheckpointTensor* t = ck_.find(name);
    if (!t) throw std::runtime_error("no tensor " + name + " in " + ck_.source);
    std::string bytes(t->info.byte_size(), '\0');
    File::open_read(ck_.shards[t->shard].path).read_exact(bytes.data(), bytes.size(), t->file_offset);
    return bytes;
  }
  std::vector<double> values(const std::string& name) const {
    const CheckpointTensor* t = ck_.find(name);
    std::string bytes = raw(name);
    std::vector<double> v(t->info.num_elements());
    decode_to_double(t->info.dtype, reinterpret_cast<const uint8_t*>(bytes.data()), v.size(), v.data());
    return v;
  }
  std::vector<uint64_t> shape(const std::string& name) const { return ck_.find(name)->info.shape; }
  const Checkpoint& checkpoint() const { return ck_; }

 private:
  Checkpoint ck_;
};

double identical_fraction(const std::string& a, const std::string& b) {
  size_t same = 0, n = a.size() / 2;
  for (size_t i = 0; i < n; ++i) same += a[2 * i] == b[2 * i] && a[2 * i + 1] == b[2 * i + 1];
  return double(same) / double(n);
}

std::string layer(int L, const std::string& rest) { return "model.layers." + std::to_string(L) + "." + rest; }

// One tiny solar-open family for the whole suite (writing it takes well under a second).
class SynthFamily : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fromscratch::test::TempDir();
    FamilySpec spec;
    spec.template_name = "solar-open";
    spec.scale = Scale::tiny;
    spec.seed = 7;
    family_ = new Family(build_family(spec));
    std::vector<CheckpointJob> jobs;
    std::vector<std::string> names;
    for (const auto& m : family_->members) {
      jobs.push_back({(dir_->path() / m.name).string(), m.model});
      names.push_back(m.name);
    }
    prepare_output_dirs(jobs, {}, false);
    WriteOptions wo;
    wo.threads = 2;
    auto written = write_checkpoints(jobs, wo);
    truth_ = new json(truth_json(*family_, written, names));
    for (const auto& m : family_->members) readers_[m.name] = new Reader((dir_->path() / m.name).string());
  }
  static void TearDownTestSuite() {
    for (auto& [k, r] : readers_) delete r;
    readers_.clear();
    delete truth_;
    delete family_;
    delete dir_;
  }
  static const Reader& member(const std::string& name) { return *readers_.at(name); }
  static const json& truth_member(const std::string& name) {
    for (const auto& m : (*truth_)["members"])
      if (m["name"] == name) return m;
    throw std::runtime_error("no member " + name);
  }
  static int layers() { return int(family_->arch.num_layers); }

  static fromscratch::test::TempDir* dir_;
  static Family* family_;
  static json* truth_;
  static std::map<std::string, Reader*> readers_;
};
fromscratch::test::TempDir* SynthFamily::dir_ = nullptr;
Family* SynthFamily::family_ = nullptr;
json* SynthFamily::truth_ = nullptr;
std::map<std::string, Reader*> SynthFamily::readers_;

const char* kNorms[] = {"input_layernorm.weight", "post_attention_layernorm.weight"};

}  // namespace

TEST_F(SynthFamily, NormsOfIndependentMembersHaveRawCosineNearOneAndPearsonNearZero) {
  const auto& a = member("base");
  const auto& b = member("independent");
  const double d = double(family_->arch.hidden_size);
  std::vector<double> pearsons;
  for (int L = 1; L < layers(); ++L)
    for (const char* kind : kNorms) {
      auto x = a.values(layer(L, kind)), y = b.values(layer(L, kind));
      EXPECT_GT(Stats::cosine(x, y), 0.9) << layer(L, kind);
      double r = Stats::pearson(x, y);
      EXPECT_LT(std::abs(r), 4 / std::sqrt(d)) << layer(L, kind);  // 4 sd of the null, 1 / sqrt(d)
      pearsons.push_back(r);
    }
  EXPECT_LT(std::abs(Stats::mean(pearsons)), 2 / std::sqrt(d));
  // Layer 0's input norm has std > mean (Solar: mean 0.016, std 0.041): there raw cosine is low too.
  auto x0 = a.values(layer(0, kNorms[0]));
  double m0 = Stats::mean(x0), v0 = 0;
  for (double v : x0) v0 += (v - m0) * (v - m0);
  EXPECT_GT(std::sqrt(v0 / double(x0.size())), m0);
  EXPECT_LT(Stats::cosine(x0, b.values(layer(0, kNorms[0]))), 0.5);
}

TEST_F(SynthFamily, NormMeansArePositiveAndLayerDependent) {
  for (const char* m : {"base", "independent"}) {
    const auto& r = member(m);
    std::vector<double> in, post;
    for (int L = 0; L < layers(); ++L) {
      in.push_back(Stats::mean(r.values(layer(L, kNorms[0]))));
      post.push_back(Stats::mean(r.values(layer(L, kNorms[1]))));
    }
    for (int L = 0; L < layers(); ++L) {
      EXPECT_GT(in[L], 0) << m << " layer " << L;
      EXPECT_GT(post[L], in[L]) << m << " layer " << L;  // post-attention norms are larger
    }
    EXPECT_LT(in[0], 0.1 * in[layers() - 1]) << m;  // input norm ramps up from ~0.03 x its deep value
    for (int L = 1; L < layers(); ++L) EXPECT_GT(post[L], post[L - 1]) << m;  // post norms grow with depth
  }
}

TEST_F(SynthFamily, NormsCorrelateBetweenLayersWithinAModelOnly) {
  const auto& a = member("base");
  const auto& b = member("independent");
  for (const char* kind : kNorms)
    for (int i = 1; i < layers(); ++i)
      for (int j = i + 1; j < layers(); ++j) {
        double within = Stats::pearson(a.values(layer(i, kind)), a.values(layer(j, kind)));
        EXPECT_GT(within, 0.25) << kind << " " << i << "-" << j;  // measured in real models: 0.25-0.88
        EXPECT_LT(within, 0.95) << kind << " " << i << "-" << j;
        double across = Stats::pearson(a.values(layer(i, kind)), b.values(layer(j, kind)));
        EXPECT_LT(std::abs(across), 0.25) << kind << " " << i << "-" << j;
      }
}

TEST_F(SynthFamily, MatricesAreHeavyTailedWithOutlierEmbeddingColumns) {
  const auto& a = member("base");
  for (const std::string& name : {layer(1, "self_attn.q_proj.weight"), layer(2, "mlp.experts.3.down_proj.weight"),
                                 std::string("model.embed_tokens.weight")})
    EXPECT_GT(Stats::excess_kurtosis(a.values(name)), 1.0) << name;  // a normal has 0, Laplace 3
  // The outlier ("massive activation") dimensions truth.json names have the largest embedding columns.
  auto e = a.values("model.embed_tokens.weight");
  auto shape = a.shape("model.embed_tokens.weight");
  std::vector<double> col(shape[1], 0.0);
  for (uint64_t t = 0; t < shape[0]; ++t)
    for (uint64_t j = 0; j < shape[1]; ++j) col[j] += e[t * shape[1] + j] * e[t * shape[1] + j];
  std::vector<double> sorted = col;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  auto outliers = truth_member("base")["description"]["latents"]["outlier_dimensions"].get<std::vector<uint64_t>>();
  ASSERT_GE(outliers.size(), 2u);
  for (uint64_t j : outliers) EXPECT_GT(col[j] / median, 9.0) << "dimension " << j;  // column norm > 3x median
  // Independent members pick other dimensions.
  auto other = truth_member("independent")["description"]["latents"]["outlier_dimensions"].get<std::vector<uint64_t>>();
  EXPECT_NE(outliers, other);
}

// The model's hidden basis shows in every matrix that reads the residual stream: column norms of q_proj and
// of an expert's up_proj, layers apart, follow the same per-dimension profile; another model's do not.
TEST_F(SynthFamily, HiddenProfileIsSharedAcrossTensorsOfOneModelOnly) {
  auto column_norms = [](const Reader& r, const std::string& name) {
    auto v = r.values(name);
    auto shape = r.shape(name);
    std::vector<double> c(shape[1], 0.0);
    for (uint64_t i = 0; i < shape[0]; ++i)
      for (uint64_t j = 0; j < shape[1]; ++j) c[j] += v[i * shape[1] + j] * v[i * shape[1] + j];
    for (double& x : c) x = std::log(x);
    return c;
  };
  auto q = column_norms(member("base"), layer(1, "self_attn.q_proj.weight"));
  auto up = column_norms(member("base"), layer(3, "mlp.experts.4.up_proj.weight"));
  auto other = column_norms(member("independent"), layer(3, "mlp.experts.4.up_proj.weight"));
  EXPECT_GT(Stats::pearson(q, up), 0.3);
  EXPECT_LT(std::abs(Stats::pearson(q, other)), 0.2);
}

TEST_F(SynthFamily, FineTunedKeepsDeepValuesBitIdenticalAndChangesEarlyOnes) {
  const auto& base = member("base");
  const auto& ft = member("fine-tuned");
  const int deep = layers() - 1;
  for (const std::string rest : {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "mlp.experts.0.up_proj.weight",
                                 "mlp.gate.weight", "input_layernorm.weight", "post_attention_layernorm.weight"}) {
    EXPECT_GT(identical_fraction(base.raw(layer(deep, rest)), ft.raw(layer(deep, rest))), 0.99) << rest;
    if (rest.find("norm") == std::string::npos) {  // norm entries are far from zero: they change less
      EXPECT_LT(identical_fraction(base.raw(layer(0, rest)), ft.raw(layer(0, rest))), 0.5) << rest;
    }
    EXPECT_GT(Stats::pearson(base.values(layer(0, rest)), ft.values(layer(0, rest))), 0.999) << rest;
  }
  EXPECT_NE(base.raw(layer(deep, "self_attn.q_proj.weight")), ft.raw(layer(deep, "self_attn.q_proj.weight")));
}

TEST_F(SynthFamily, ContinuedPretrainingChangesEveryValueButStaysCorrelated) {
  const auto& base = member("base");
  const auto& cpt = member("continued-pretraining");
  const auto& ind = member("independent");
  for (int L = 0; L < layers(); ++L)
    for (const std::string rest : {"self_attn.v_proj.weight", "mlp.experts.5.gate_proj.weight", "mlp.gate.weight"}) {
      auto n = layer(L, rest);
      EXPECT_LT(identical_fraction(base.raw(n), cpt.raw(n)), 0.05) << n;
      double r = Stats::pearson(base.values(n), cpt.values(n));
      EXPECT_GT(r, 0.4) << n;
      EXPECT_LT(r, 0.95) << n;
      EXPECT_LT(std::abs(Stats::pearson(ind.values(n), cpt.values(n))), 0.1) << n;
    }
}

TEST_F(SynthFamily, ExpertPermutedIsAnExactPermutationOfExpertsRoutersAndNeurons) {
  const auto& base = member("base");
  const auto& perm = member("expert-permuted");
  const json& params = truth_member("expert-permuted")["description"]["params"]["layers"];
  const uint64_t h = family_->arch.hidden_size, w = family_->arch.expert_width;
  bool moved = false;
  for (const auto& l : params) {
    const int L = l["layer"];
    auto experts = l["experts"].get<std::vector<uint64_t>>();
    // Router rows and score-correction biases follow the experts.
    std::string rb = base.raw(layer(L, "mlp.gate.weight")), rp = perm.raw(layer(L, "mlp.gate.weight"));
    std::string bb = base.raw(layer(L, "mlp.gate.e_score_correction_bias")),
                bp = perm.raw(layer(L, "mlp.gate.e_score_correction_bias"));
    for (size_t e = 0; e < experts.size(); ++e) {
      moved |= experts[e] != e;
      EXPECT_EQ(rp.substr(e * h * 2, h * 2), rb.substr(experts[e] * h * 2, h * 2)) << "router row " << e;
      EXPECT_EQ(bp.substr(e * 4, 4), bb.substr(experts[e] * 4, 4)) << "bias " << e;
      auto neurons = l["expert_neurons"][e].get<std::vector<uint64_t>>();
      const std::string src = "mlp.experts." + std::to_string(experts[e]) + ".";
      const std::string dst = "mlp.experts." + std::to_string(e) + ".";
      for (const char* m : {"gate_proj.weight", "up_proj.weight"}) {
        std::string pb = base.raw(layer(L, src + m)), pp = perm.raw(layer(L, dst + m));
        for (uint64_t n = 0; n < w; ++n) ASSERT_EQ(pp.substr(n * h * 2, h * 2), pb.substr(neurons[n] * h * 2, h * 2));
      }
      std::string db = base.raw(layer(L, src + "down_proj.weight")), dp = perm.raw(layer(L, dst + "down_proj.weight"));
      for (uint64_t i = 0; i < h; ++i)
        for (uint64_t n = 0; n < w; ++n)
          ASSERT_EQ(dp.substr((i * w + n) * 2, 2), db.substr((i * w + neurons[n]) * 2, 2));
    }
  }
  EXPECT_TRUE(moved);
  // The digest a matcher would use agrees: row multisets of router and gate matrices are unchanged.
  const Checkpoint& cb = base.checkpoint();
  const Checkpoint& cp = perm.checkpoint();
  for (const std::string& name : {layer(1, "mlp.gate.weight"), layer(1, "mlp.shared_experts.up_proj.weight")}) {
    size_t ib = size_t(cb.find(name) - cb.tensors.data()), ip = size_t(cp.find(name) - cp.tensors.data());
    auto db = hash_tensors(cb, {ib}, 1, {}), dp = hash_tensors(cp, {ip}, 1, {});
    EXPECT_EQ(db[0].row_multiset, dp[0].row_multiset) << name;
    EXPECT_NE(db[0].sha256, dp[0].sha256) << name;  // same rows, another order
  }
  // Everything outside the MLPs is untouched.
  EXPECT_EQ(base.raw(layer(2, "self_attn.q_proj.weight")), perm.raw(layer(2, "self_attn.q_proj.weight")));
  EXPECT_EQ(base.raw("model.embed_tokens.weight"), perm.raw("model.embed_tokens.weight"));
}

TEST_F(SynthFamily, UpcycledExpertsAreNearCopiesOfTheDenseMlpWithAFreshRouter) {
  const auto& dense = member("dense");
  const auto& up = member("upcycled");
  const auto& base = member("base");
  for (int L = 0; L < layers(); ++L) {
    auto dg = dense.values(layer(L, "mlp.gate_proj.weight"));
    auto dd = dense.values(layer(L, "mlp.down_proj.weight"));
    for (uint64_t e = 0; e < family_->arch.num_experts; ++e) {
      const std::string x = "mlp.experts." + std::to_string(e) + ".";
      EXPECT_GT(Stats::pearson(dg, up.values(layer(L, x + "gate_proj.weight"))), 0.9) << L << " " << e;
      EXPECT_GT(Stats::pearson(dd, up.values(layer(L, x + "down_proj.weight"))), 0.9) << L << " " << e;
    }
    // Experts are not identical to one another: each got its own noise.
    EXPECT_NE(up.raw(layer(L, "mlp.experts.0.up_proj.weight")), up.raw(layer(L, "mlp.experts.1.up_proj.weight")));
    EXPECT_GT(Stats::pearson(dense.values(layer(L, "self_attn.k_proj.weight")), up.values(layer(L, "self_attn.k_proj.weight"))),
              0.98);
    // The router is new: unrelated to base's.
    EXPECT_LT(std::abs(Stats::pearson(base.values(layer(L, "mlp.gate.weight")), up.values(layer(L, "mlp.gate.weight")))),
              0.1);
  }
  EXPECT_EQ(json::parse(fromscratch::test::read_file(dir_->path() / "dense" / "config.json"))["model_type"], "llama");
}

TEST_F(SynthFamily, NormOnlyCopiesNormsByteForByteAndNothingElse) {
  const auto& base = member("base");
  const auto& no = member("norm-only");
  for (int L = 0; L < layers(); ++L) {
    for (const char* kind : kNorms) EXPECT_EQ(base.raw(layer(L, kind)), no.raw(layer(L, kind)));
    for (const std::string rest : {"self_attn.k_proj.weight", "self_attn.v_proj.weight", "mlp.gate.weight",
                                   "mlp.experts.1.down_proj.weight"}) {
      auto n = layer(L, rest);
      EXPECT_LT(std::abs(Stats::pearson(base.values(n), no.values(n))), 0.1) << n;
      EXPECT_LT(identical_fraction(base.raw(n), no.raw(n)), 0.02) << n;
    }
  }
  EXPECT_EQ(base.raw("model.norm.weight"), no.raw("model.norm.weight"));
  EXPECT_LT(std::abs(Stats::pearson(base.values("model.embed_tokens.weight"), no.values("model.embed_tokens.weight"))),
            0.05);
}

TEST_F(SynthFamily, SameInitLeavesAFaintCorrelationInMatricesOnly) {
  const auto& base = member("base");
  const auto& si = member("same-init");
  for (int L = 0; L < layers(); ++L) {
    for (const std::string rest : {"self_attn.q_proj.weight", "mlp.experts.2.up_proj.weight"}) {
      double r = Stats::pearson(base.values(layer(L, rest)), si.values(layer(L, rest)));
      EXPECT_GT(r, 0.05) << layer(L, rest);
      EXPECT_LT(r, 0.35) << layer(L, rest);
    }
    EXPECT_LT(std::abs(Stats::pearson(base.values(layer(L, kNorms[1])), si.values(layer(L, kNorms[1])))), 0.25);
  }
}

TEST_F(SynthFamily, RetokenizedTransplantsLayersUnderNewEmbeddings) {
  const auto& base = member("base");
  const auto& rt = member("re-tokenized");
  const uint64_t v_new = rt.shape("model.embed_tokens.weight")[0];
  EXPECT_NE(v_new, base.shape("model.embed_tokens.weight")[0]);
  EXPECT_EQ(rt.shape("lm_head.weight")[0], v_new);
  EXPECT_EQ(json::parse(fromscratch::test::read_file(dir_->path() / "re-tokenized" / "config.json"))["vocab_size"], v_new);
  for (int L = 0; L < layers(); ++L) {
    auto n = layer(L, "self_attn.o_proj.weight");
    EXPECT_GT(Stats::pearson(base.values(n), rt.values(n)), 0.99) << n;
    double same = identical_fraction(base.raw(n), rt.raw(n));
    EXPECT_GT(same, 0.1) << n;   // lightly perturbed...
    EXPECT_LT(same, 0.99) << n;  // ...but perturbed
  }
  // New embedding rows share nothing with the old ones row for row, beyond the residual basis: once each
  // matrix's column means (the shared mean direction) are removed, row t of one is unrelated to row t of the other.
  auto centred = [](std::vector<double> v, uint64_t rows, uint64_t cols) {
    for (uint64_t j = 0; j < cols; ++j) {
      double m = 0;
      for (uint64_t t = 0; t < rows; ++t) m += v[t * cols + j];
      m /= double(rows);
      for (uint64_t t = 0; t < rows; ++t) v[t * cols + j] -= m;
    }
    return v;
  };
  const uint64_t cols = family_->arch.hidden_size;
  auto eb = centred(base.values("model.embed_tokens.weight"), base.shape("model.embed_tokens.weight")[0], cols);
  auto er = centred(rt.values("model.embed_tokens.weight"), v_new, cols);
  eb.resize(er.size());
  EXPECT_LT(std::abs(Stats::pearson(eb, er)), 0.05);
}

TEST_F(SynthFamily, TruthNamesEveryMemberParentAndExpectedVerdict) {
  const json& t = *truth_;
  EXPECT_EQ(t["format"], "fromscratch-synth-truth");
  EXPECT_EQ(t["members"].size(), all_member_names().size());
  std::map<std::pair<std::string, std::string>, json> pairs;
  for (const auto& p : t["pairs"]) pairs[{p["a"], p["b"]}] = p;
  auto verdict = [&](const std::string& a, const std::string& b) -> std::string {
    auto it = pairs.find({a, b});
    if (it == pairs.end()) it = pairs.find({b, a});
    if (it == pairs.end()) throw std::runtime_error("no pair " + a + " " + b);
    return it->second["expected_verdict"];
  };
  EXPECT_EQ(verdict("base", "independent"), "independent");
  EXPECT_EQ(verdict("base", "fine-tuned"), "derived");
  EXPECT_EQ(verdict("base", "expert-permuted"), "derived");
  EXPECT_EQ(verdict("fine-tuned", "continued-pretraining"), "derived");  // siblings through base
  EXPECT_EQ(verdict("base", "norm-only"), "norms-only");
  EXPECT_EQ(verdict("base", "same-init"), "init-only");
  EXPECT_EQ(verdict("dense", "upcycled"), "derived");
  EXPECT_EQ(verdict("base", "upcycled"), "independent");
  EXPECT_EQ(verdict("re-tokenized", "norm-only"), "norms-only");
  EXPECT_EQ(truth_member("fine-tuned")["parent"], "base");
  EXPECT_TRUE(truth_member("base")["parent"].is_null());
  EXPECT_EQ(truth_member("upcycled")["parent"], "dense");
  EXPECT_EQ(truth_member("fine-tuned")["description"]["params"]["delta_deep"], 1e-6);
  for (const auto& m : t["members"]) {
    EXPECT_EQ(m["files"], json::array({"model.safetensors"})) << m["name"];
    EXPECT_GT(m["tensor_bytes"].get<uint64_t>(), 0u);
  }
}

// Any subset of rows, in any order, gives the rows a whole-tensor pass gives: what makes chunking and thread
// count irrelevant to the bytes.
TEST_F(SynthFamily, RowsAreIndependentOfHowATensorIsSplit) {
  for (const auto& m : family_->members) {
    for (const std::string& name : {layer(1, "mlp.experts.3.down_proj.weight"), layer(2, "mlp.gate.weight"),
                                   std::string("model.embed_tokens.weight"), layer(1, "input_layernorm.weight")}) {
      if (!m.model->find(name)) continue;  // the dense member has no experts or router
      const SynthTensor& t = m.model->tensor(name);
      const uint64_t rows = t.rows(), cols = t.cols();
      std::vector<float> all(rows * cols);
      m.model->row_range(t, 0, rows, all.data());
      std::vector<uint64_t> ids = {rows - 1, 0, rows / 2, 1, rows / 2};
      std::vector<float> some(ids.size() * cols);
      m.model->rows(t, ids.data(), ids.size(), some.data());
      for (size_t k = 0; k < ids.size(); ++k)
        for (uint64_t j = 0; j < cols; ++j)
          ASSERT_EQ(some[k * cols + j], all[ids[k] * cols + j]) << m.name << " " << name << " row " << ids[k];
    }
  }
}

TEST(SynthFamilyWrite, BytesDoNotDependOnThreadsOrChunksButOnTheSeed) {
  auto write = [](const std::filesystem::path& dir, unsigned threads, uint64_t chunk, uint64_t seed) {
    FamilySpec spec;
    spec.template_name = "glm4-moe";
    spec.seed = seed;
    spec.members = {"fine-tuned", "expert-permuted", "upcycled"};
    Family f = build_family(spec);
    std::vector<CheckpointJob> jobs;
    for (const auto& m : f.members) jobs.push_back({(dir / m.name).string(), m.model});
    WriteOptions wo;
    wo.threads = threads;
    wo.chunk_elements = chunk;
    wo.shard_bytes = 3'000'000;  // several shards and an index
    write_checkpoints(jobs, wo);
    std::map<std::string, std::string> digests;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
      if (entry.is_regular_file())
        digests[std::filesystem::relative(entry.path(), dir).string()] =
            sha256_file_range(entry.path().string(), 0, std::filesystem::file_size(entry.path()));
    return digests;
  };
  fromscratch::test::TempDir a, b, c;
  auto one = write(a.path(), 1, 1u << 20, 11);
  auto three = write(b.path(), 3, 777, 11);
  EXPECT_EQ(one, three);
  EXPECT_GT(one.size(), 12u);  // base, dense, 3 members; sharded with indexes
  EXPECT_EQ(one.count("upcycled/model.safetensors.index.json"), 1u);
  auto other = write(c.path(), 2, 1u << 20, 12);
  ASSERT_EQ(other.size(), one.size());
  EXPECT_NE(other.at("base/model-00001-of-00005.safetensors"), one.at("base/model-00001-of-00005.safetensors"));
  EXPECT_EQ(other.at("base/config.json"), one.at("base/config.json"));
}

TEST(SynthFamilyWrite, GlmMtpBlockStoresCopiesOfEmbeddingAndHead) {
  FamilySpec spec;
  spec.template_name = "glm4-moe";
  spec.members = {"base"};
  Family f = build_family(spec);
  const Model& m = *f.members[0].model;
  auto whole = [&](const std::string& name) {
    const SynthTensor& t = m.tensor(name);
    std::vector<float> v(t.rows() * t.cols());
    m.row_range(t, 0, t.rows(), v.data());
    return v;
  };
  const int mtp = int(f.arch.num_layers);
  EXPECT_EQ(whole(layer(mtp, "embed_tokens.weight")), whole("model.embed_tokens.weight"));
  EXPECT_EQ(whole(layer(mtp, "shared_head.head.weight")), whole("lm_head.weight"));
  EXPECT_NE(whole(layer(mtp, "enorm.weight")), whole(layer(mtp, "hnorm.weight")));
}

TEST(SynthFamilyWrite, RefusesUnknownMembersAndExistingOutput) {
  FamilySpec spec;
  spec.members = {"fine-tuned", "distilled"};
  EXPECT_THROW_MSG(build_family(spec), UsageError, "unknown member 'distilled'");
  FamilySpec dense;
  dense.template_name = "llama";
  dense.members = {"expert-permuted"};
  EXPECT_THROW_MSG(build_family(dense), UsageError, "needs an MoE template");
  FamilySpec ok;
  ok.members = {"fine-tuned"};  // base comes with it
  Family f = build_family(ok);
  ASSERT_EQ(f.members.size(), 2u);
  EXPECT_EQ(f.members[0].name, "base");
  fromscratch::test::TempDir dir;
  std::vector<CheckpointJob> jobs = {{(dir.path() / "base").string(), f.members[0].model}};
  prepare_output_dirs(jobs, {}, false);
  write_checkpoints(jobs, {});
  EXPECT_THROW_MSG(prepare_output_dirs(jobs, {}, false), UsageError, "--force");
  prepare_output_dirs(jobs, {}, true);  // removes the old files
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "base" / "model.safetensors"));
}

// A model that fails half-way: the error reaches the caller and no file that looks complete is left behind.
TEST(SynthFamilyWrite, AFailingTensorLeavesNoCheckpointBehind) {
  class Failing final : public Model {
   public:
    Failing() : Model("failing", make_architecture("mixtral", Scale::tiny), Recipe{}) {}
    double nominal_scale(const SynthTensor&) const override { return 0.02; }
    json describe() const override { return json::object(); }
    std::string relation() const override { return "test"; }

   protected:
    void generate(const SynthTensor& t, const uint64_t*, size_t n, float* out) const override {
      if (t.layer == 2) throw IoError("layer 2", "simulated failure");
      std::fill(out, out + n * t.cols(), 0.5f);
    }
  };
  fromscratch::test::TempDir dir;
  std::vector<CheckpointJob> jobs = {{(dir.path() / "m").string(), std::make_shared<Failing>()}};
  WriteOptions wo;
  wo.threads = 2;
  wo.shard_bytes = 2'000'000;
  EXPECT_THROW_MSG(write_checkpoints(jobs, wo), IoError, "simulated failure");
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "m"))
    ADD_FAILURE() << "left behind: " << e.path();
}
