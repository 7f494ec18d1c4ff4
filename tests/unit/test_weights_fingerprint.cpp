// labels: unit
// Fingerprints (weights/fingerprint.hpp): what a sweep keeps of each tensor, checked against direct
// computations on the same bytes: digests equal hash_tensor's, moments equal the statistics pass, sketches equal
// S W (or W S^T) computed here in double, kept rows equal the decoded rows, and the result does not depend on
// the thread count. A ModelView over a fingerprint keeps the original shapes and serves the kept values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/tensor_hash.hpp"
#include "fromscratch/weights/fingerprint.hpp"
#include "fromscratch/weights/tensor_stats.hpp"
#include "test_support.hpp"

namespace fromscratch::weights {
namespace {

std::vector<uint16_t> to_bf16(const std::vector<float>& f) {
  std::vector<uint16_t> out(f.size());
  for (size_t i = 0; i < f.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &f[i], 4);
    out[i] = uint16_t((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
  }
  return out;
}

float from_bf16(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

struct Tiny {
  test::TempDir dir;
  std::vector<float> norm, gate, down, embed;  // values as stored (bf16-rounded for BF16 tensors)
  static constexpr size_t d = 64, inter = 300, vocab = 500;

  Tiny() {
    std::mt19937_64 rng(11);
    std::normal_distribution<float> nf(0, 1);
    auto draw = [&](size_t n) {
      std::vector<float> v(n);
      for (auto& x : v) x = nf(rng);
      return v;
    };
    norm = draw(d);
    for (auto& x : norm) x = 1.0f + 0.1f * x;
    auto g = to_bf16(draw(inter * d)), w = to_bf16(draw(d * inter)), e = to_bf16(draw(vocab * d));
    for (auto h : g) gate.push_back(from_bf16(h));
    for (auto h : w) down.push_back(from_bf16(h));
    for (auto h : e) embed.push_back(from_bf16(h));
    struct T {
      std::string name, dtype, shape;
      std::string bytes;
    };
    auto raw = [](const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); };
    std::vector<T> ts = {
        {"model.embed_tokens.weight", "BF16", "[500,64]", raw(e.data(), e.size() * 2)},
        {"model.layers.0.input_layernorm.weight", "F32", "[64]", raw(norm.data(), norm.size() * 4)},
        {"model.layers.0.mlp.down_proj.weight", "BF16", "[64,300]", raw(w.data(), w.size() * 2)},
        {"model.layers.0.mlp.gate_proj.weight", "BF16", "[300,64]", raw(g.data(), g.size() * 2)},
    };
    std::string header = "{", data;
    for (size_t i = 0; i < ts.size(); ++i) {
      header += (i ? "," : "") + std::string("\"") + ts[i].name + "\":{\"dtype\":\"" + ts[i].dtype +
                "\",\"shape\":" + ts[i].shape + ",\"data_offsets\":[" + std::to_string(data.size()) + "," +
                std::to_string(data.size() + ts[i].bytes.size()) + "]}";
      data += ts[i].bytes;
    }
    header += "}";
    while (header.size() % 8) header += ' ';
    std::string file(8, '\0');
    uint64_t len = header.size();
    std::memcpy(file.data(), &len, 8);
    test::write_file(dir / "model.safetensors", file + header + data);
    test::write_file(dir / "config.json", R"({"model_type": "llama", "num_hidden_layers": 1, "hidden_size": 64,
      "num_attention_heads": 4, "num_key_value_heads": 4})");
  }
};

FingerprintOptions small_options() {
  FingerprintOptions o;
  o.full_max_elements = 1000;
  o.sketch_dim = 8;
  o.max_tokens = 100;
  return o;
}

const TensorPrint& by_name(const ModelPrint& p, const std::string& name) {
  for (const auto& t : p.tensors)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

TEST(WeightsFingerprint, SketchMatrixIsDeterministicAndScaled) {
  Matrix a = sketch_matrix(5, 16, 2000), b = sketch_matrix(5, 16, 2000), c = sketch_matrix(6, 16, 2000);
  EXPECT_EQ(a.v, b.v);
  EXPECT_NE(a.v, c.v);
  double s = 0, s2 = 0;
  for (float x : a.v) {
    s += x;
    s2 += double(x) * x;
  }
  const double n = double(a.v.size()), mean = s / n, var = s2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 4 * std::sqrt(1.0 / 16 / n));
  EXPECT_NEAR(var, 1.0 / 16, 0.05 / 16);  // 32000 draws: sd of the variance estimate ~0.008/16
}

TEST(WeightsFingerprint, KeptValuesDigestsAndMomentsMatchDirectComputation) {
  Tiny m;
  ModelView view((m.dir / "model.safetensors").string());
  const auto o = small_options();
  ModelPrint p = fingerprint_model(view, "tiny", o, 1);
  ASSERT_EQ(p.tensors.size(), 4u);

  const auto& norm = by_name(p, "model.layers.0.input_layernorm.weight");
  EXPECT_EQ(norm.kept, KeptForm::full);
  EXPECT_EQ(norm.values.v, m.norm);

  // gate_proj reads the residual stream (hidden = columns): sketch = S (8 x 300) W (300 x 64).
  const auto& gate = by_name(p, "model.layers.0.mlp.gate_proj.weight");
  ASSERT_EQ(gate.kept, KeptForm::sketch);
  ASSERT_EQ(gate.values.rows, 8u);
  ASSERT_EQ(gate.values.cols, 64u);
  Matrix S = sketch_matrix(o.seed, 8, 300);
  for (size_t i = 0; i < 8; ++i)
    for (size_t c = 0; c < 64; ++c) {
      double v = 0;
      for (size_t r = 0; r < 300; ++r) v += double(S.v[i * 300 + r]) * m.gate[r * 64 + c];
      EXPECT_NEAR(gate.values.v[i * 64 + c], v, 1e-5 * (1 + std::fabs(v)));
    }
  // down_proj writes it (hidden = rows): sketch = W (64 x 300) S^T.
  const auto& down = by_name(p, "model.layers.0.mlp.down_proj.weight");
  ASSERT_EQ(down.kept, KeptForm::sketch);
  ASSERT_EQ(down.values.rows, 64u);
  ASSERT_EQ(down.values.cols, 8u);
  for (size_t r = 0; r < 64; ++r)
    for (size_t i = 0; i < 8; ++i) {
      double v = 0;
      for (size_t c = 0; c < 300; ++c) v += double(m.down[r * 300 + c]) * S.v[i * 300 + c];
      EXPECT_NEAR(down.values.v[r * 8 + i], v, 1e-5 * (1 + std::fabs(v)));
    }
  // Embeddings: no tokenizer, so the first max_tokens ids, rows as stored.
  const auto& emb = by_name(p, "model.embed_tokens.weight");
  ASSERT_EQ(emb.kept, KeptForm::token_rows);
  ASSERT_EQ(emb.token_ids.size(), 100u);
  for (size_t i = 0; i < 100; ++i) {
    ASSERT_EQ(emb.token_ids[i], i);
    for (size_t c = 0; c < 64; ++c) ASSERT_EQ(emb.values.v[i * 64 + c], m.embed[i * 64 + c]);
  }
  // Digests and moments from the one read agree with the hashing and statistics passes.
  const Checkpoint& ck = view.checkpoint();
  for (const auto& t : p.tensors) {
    const auto* ct = ck.find(t.name);
    ASSERT_NE(ct, nullptr);
    HashOptions ho;
    ho.keep_row_digests = true;
    TensorDigest d = hash_tensor(ck.shards[ct->shard], *ct, ho);
    EXPECT_EQ(t.sha256, d.sha256) << t.name;
    EXPECT_EQ(t.row_multiset, d.row_multiset) << t.name;
    EXPECT_EQ(t.row_digests, d.row_digests) << t.name;
    TensorStats s = compute_tensor_stats(ck, *ct);
    EXPECT_EQ(t.stats.count, s.count);
    EXPECT_EQ(t.stats.zeros, s.zeros);
    EXPECT_NEAR(t.stats.mean(), s.mean(), 1e-12 * (1 + std::fabs(s.mean())));
    EXPECT_NEAR(t.stats.variance_population(), s.variance_population(), 1e-10 * s.variance_population());
    EXPECT_EQ(t.stats.min, s.min);
    EXPECT_EQ(t.stats.max, s.max);
  }
}

TEST(WeightsFingerprint, SameResultForAnyThreadCount) {
  Tiny m;
  ModelView view((m.dir / "model.safetensors").string());
  ModelPrint one = fingerprint_model(view, "tiny", small_options(), 1);
  ModelPrint two = fingerprint_model(view, "tiny", small_options(), 3);
  ASSERT_EQ(one.tensors.size(), two.tensors.size());
  for (size_t i = 0; i < one.tensors.size(); ++i) {
    EXPECT_EQ(one.tensors[i].values.v, two.tensors[i].values.v);
    EXPECT_EQ(one.tensors[i].sha256, two.tensors[i].sha256);
    EXPECT_EQ(one.tensors[i].stats.moments.m2, two.tensors[i].stats.moments.m2);
  }
}

TEST(WeightsFingerprint, ViewKeepsOriginalShapesAndServesKeptValues) {
  Tiny m;
  ModelView view((m.dir / "model.safetensors").string());
  ModelPrint p = fingerprint_model(view, "tiny", small_options(), 1);
  ModelView fv(p);
  EXPECT_TRUE(fv.from_fingerprint());
  EXPECT_EQ(fv.hidden_size(), 64u);
  EXPECT_EQ(fv.num_layers(), 1);
  EXPECT_EQ(fv.head_dim(), 16u);
  RoleKey gate{RoleKind::dense_gate, 0, -1, false};
  ASSERT_NE(fv.find(gate), nullptr);
  EXPECT_EQ(fv.shape(gate), (std::vector<uint64_t>{300, 64}));
  auto g = fv.get(gate);
  EXPECT_EQ(g->rows, 8u);
  fv.forget(gate);
  fv.clear_cache();
  EXPECT_EQ(fv.get(gate)->v, g->v);  // resident: nothing to re-read
  EXPECT_FALSE(fv.large());
}

}  // namespace
}  // namespace fromscratch::weights
