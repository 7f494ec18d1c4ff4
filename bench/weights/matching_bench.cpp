// Expert matching of one full-width Solar-Open layer pair (128 x 128 experts, 1280 x 4096 gate/up/down), with
// the neuron agreement test for every matched expert pair: how long it takes on this machine, and how it
// scales with experts and width. The two models are a base and its disguised copy (experts and neurons
// permuted, hidden basis signed-permuted, fine-tuned), generated row by row in memory by the synth library
// (nothing is written to disk; one expert pair is held at a time).
//
// usage: weights_matching_bench [--experts N] [--width W] [--hidden D] [--threads T] [--member disguised|independent]
// (independent: the worst case for the assignments, no clear best column per row)
// Prints one line per stage with seconds, and the agreement found (it must be near-complete for this pair).
#include <Eigen/Dense>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "fromscratch/core/parallel.hpp"
#include "fromscratch/synth/family.hpp"
#include "fromscratch/weights/assignment.hpp"
#include "fromscratch/weights/upcycling.hpp"

using namespace fromscratch;
using Clock = std::chrono::steady_clock;

static weights::Matrix rows_of(const synth::Model& m, const synth::SynthTensor& t) {
  weights::Matrix out;
  out.rows = t.spec.shape[0];
  out.cols = t.spec.shape.size() > 1 ? t.spec.shape[1] : 1;
  out.v.resize(out.rows * out.cols);
  m.row_range(t, 0, out.rows, out.v.data());
  return out;
}

int main(int argc, char** argv) {
  uint64_t experts = 128, width = 1280, hidden = 4096;
  unsigned threads = 2;
  std::string member = "disguised";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--member") {
      member = argv[i + 1];
      continue;
    }
    uint64_t v = std::stoull(argv[i + 1]);
    if (a == "--experts") experts = v;
    else if (a == "--width") width = v;
    else if (a == "--hidden") hidden = v;
    else if (a == "--threads") threads = unsigned(v);
  }
  synth::FamilySpec spec;
  spec.template_name = "solar-open";
  spec.scale = synth::Scale::full;
  spec.overrides.num_layers = 1;
  spec.overrides.num_experts = experts;
  spec.overrides.expert_width = width;
  spec.overrides.hidden_size = hidden;
  spec.overrides.vocab_size = 1024;
  spec.seed = 7;
  spec.members = {"base", member};
  auto fam = synth::build_family(spec);
  const synth::Model& a = *fam.find("base")->model;
  if (!fam.find(member)) {
    std::fprintf(stderr, "unknown --member %s\n", member.c_str());
    return 2;
  }
  const synth::Model& b = *fam.find(member)->model;
  auto t0 = Clock::now();
  // Expert matching by centred router rows. The disguise also permutes the hidden basis; the bench aligns it
  // with the permutation from truth (the alignment itself is measured by `weights compare`).
  auto ra = rows_of(a, *a.find(synth::TensorKind::router, 0));
  auto rb = rows_of(b, *b.find(synth::TensorKind::router, 0));
  auto desc = b.describe();
  std::vector<int> hperm;
  std::vector<double> hsign;
  if (desc["params"].contains("hidden_permutation"))
    for (auto& x : desc["params"]["hidden_permutation"]) hperm.push_back(x.get<int>());
  if (desc["params"].contains("hidden_signs"))
    for (auto& x : desc["params"]["hidden_signs"]) hsign.push_back(x.get<double>());
  auto align_cols = [&](weights::Matrix m) {  // B's columns into A's basis: A dim perm[k] = B dim k
    if (hperm.size() != m.cols) return m;
    weights::Matrix o = m;
    for (size_t r = 0; r < m.rows; ++r)
      for (size_t k = 0; k < m.cols; ++k)
        o.v[r * m.cols + size_t(hperm[k])] = m.v[r * m.cols + k] * float(hsign.empty() ? 1.0 : hsign[k]);
    return o;
  };
  rb = align_cols(rb);
  Eigen::MatrixXd XA(ra.rows, ra.cols), XB(rb.rows, rb.cols);
  for (size_t r = 0; r < ra.rows; ++r)
    for (size_t c = 0; c < ra.cols; ++c) {
      XA(long(r), long(c)) = ra.v[r * ra.cols + c];
      XB(long(r), long(c)) = rb.v[r * rb.cols + c];
    }
  XA.rowwise() -= XA.colwise().mean();
  XB.rowwise() -= XB.colwise().mean();
  XA.rowwise().normalize();
  XB.rowwise().normalize();
  auto ematch = weights::max_similarity_assignment(Eigen::MatrixXd(XA * XB.transpose()));
  double t_router = std::chrono::duration<double>(Clock::now() - t0).count();
  // Neuron agreement for every matched pair.
  std::vector<weights::AgreementResult> res(experts);
  double gen = 0;
  auto t1 = Clock::now();
  parallel_for(experts, threads, [&](size_t e, unsigned) {
    auto c0 = Clock::now();
    auto ga = rows_of(a, *a.find(synth::TensorKind::expert_gate, 0, int(e)));
    auto ua = rows_of(a, *a.find(synth::TensorKind::expert_up, 0, int(e)));
    auto gb = align_cols(rows_of(b, *b.find(synth::TensorKind::expert_gate, 0, ematch[e])));
    auto ub = align_cols(rows_of(b, *b.find(synth::TensorKind::expert_up, 0, ematch[e])));
    (void)c0;
    res[e] = weights::neuron_agreement(ga, ua, gb, ub, 4096, 512);
  });
  double t_agree = std::chrono::duration<double>(Clock::now() - t1).count();
  (void)gen;
  uint64_t agree = 0, units = 0;
  for (auto& r : res) {
    agree += r.agree;
    units += r.units;
  }
  std::printf("pair base / %s  experts %llu  width %llu  hidden %llu  threads %u\n", member.c_str(), (unsigned long long)experts,
              (unsigned long long)width, (unsigned long long)hidden, threads);
  std::printf("router matching (128-row LAP on centred rows): %.2f s\n", t_router);
  std::printf("neuron agreement for %llu matched expert pairs (generation of the rows included): %.2f s\n",
              (unsigned long long)experts, t_agree);
  std::printf("agreeing neurons: %llu of %llu (%.4f)\n", (unsigned long long)agree, (unsigned long long)units,
              units ? double(agree) / double(units) : 0.0);
  std::printf("total: %.2f s\n", t_router + t_agree);
  return 0;
}
