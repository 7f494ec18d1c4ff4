// fromscratch device: which accelerator this binary would use here (include/fromscratch/weights/accelerator.hpp),
// a self-check of a device against the CPU twin, and a throughput benchmark of decode, moments and sketch
// projection on the tensors of a checkpoint (bench/gpu/gpu_bench.sh runs it next to a PyTorch script).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/tensor_data.hpp"
#include "fromscratch/weights/accelerator.hpp"

namespace fromscratch::cli {
namespace {

using nlohmann::ordered_json;
using weights::Accelerator;
using weights::Matrix;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Matrix gaussian(size_t rows, size_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f / std::sqrt(static_cast<float>(rows)));
  Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.v.resize(rows * cols);
  for (auto& x : m.v) x = d(rng);
  return m;
}

// Device against the CPU twin on random data: decode mismatches, moment bits, worst sketch error / tolerance.
ordered_json self_check(Accelerator& acc) {
  auto cpu = weights::make_cpu_accelerator();
  ordered_json out = ordered_json::object();
  bool ok = true;
  std::mt19937_64 rng(1);
  for (DType t : {DType::BF16, DType::F16, DType::F32, DType::F8_E4M3, DType::F8_E5M2}) {
    const size_t w = dtype_bits(t) / 8, n = 1'000'003;
    std::vector<uint8_t> bytes(n * w);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng() >> 13);
    if (t == DType::F32)  // random bit patterns are mostly huge or NaN: use ordinary values
      for (size_t i = 0; i < n; ++i) {
        const float f = static_cast<float>(static_cast<int64_t>(rng() % 2000001) - 1000000) * 1e-6f;
        std::memcpy(bytes.data() + 4 * i, &f, 4);
      }
    std::vector<float> a(n), b(n);
    acc.decode(t, bytes.data(), n, a.data());
    cpu->decode(t, bytes.data(), n, b.data());
    size_t mismatched = 0;
    for (size_t i = 0; i < n; ++i)
      if (!(std::isnan(a[i]) && std::isnan(b[i])) && std::memcmp(&a[i], &b[i], 4) != 0) ++mismatched;
    const weights::Moments ma = acc.moments(t, bytes.data(), n), mb = cpu->moments(t, bytes.data(), n);
    const bool same = ma.n == mb.n && std::memcmp(&ma.mean, &mb.mean, 8) == 0 && std::memcmp(&ma.m2, &mb.m2, 8) == 0 &&
                      std::memcmp(&ma.m3, &mb.m3, 8) == 0 && std::memcmp(&ma.m4, &mb.m4, 8) == 0;
    ok = ok && mismatched == 0 && same;
    out[std::string(dtype_name(t))] = {{"values", n}, {"decode_mismatches", mismatched}, {"moments_bit_identical", same}};
  }
  // Sketch: S (64 x 2048) W (2048 x 1024), BF16.
  const size_t k = 64, n = 2048, m = 1024;
  const Matrix s = gaussian(k, n, 2);
  std::vector<uint8_t> wb(n * m * 2);
  std::normal_distribution<float> d(0.0f, 0.02f);
  for (size_t i = 0; i < n * m; ++i) {
    const uint16_t h = float_to_bf16(d(rng));
    std::memcpy(wb.data() + 2 * i, &h, 2);
  }
  std::vector<float> wf(n * m);
  cpu->decode(DType::BF16, wb.data(), n * m, wf.data());
  const Matrix ga = acc.sketch_rows(s, DType::BF16, wb.data(), n, m), gb = cpu->sketch_rows(s, DType::BF16, wb.data(), n, m);
  std::vector<double> col(m, 0.0);
  for (size_t j = 0; j < n; ++j)
    for (size_t c = 0; c < m; ++c) col[c] += double(wf[j * m + c]) * wf[j * m + c];
  double worst = 0;
  for (size_t i = 0; i < k; ++i) {
    double sn = 0;
    for (size_t j = 0; j < n; ++j) sn += double(s.v[i * n + j]) * s.v[i * n + j];
    for (size_t c = 0; c < m; ++c)
      worst = std::max(worst, std::fabs(double(ga.v[i * m + c]) - gb.v[i * m + c]) / (1e-4 * std::sqrt(sn * col[c]) + 1e-30));
  }
  ok = ok && worst <= 1.0;
  out["sketch_bf16_64x2048x1024"] = {{"worst_error_over_tolerance", worst}, {"tolerance", "1e-4 |S row| |W column|"}};
  out["ok"] = ok;
  return out;
}

// Throughput on every tensor of a checkpoint with a supported dtype: read (from the page cache or disk),
// decode, moments, sketch (k x rows times W for 2-D tensors), in GB of stored bytes per second.
ordered_json bench(Accelerator& acc, const std::string& path, size_t k, int repeats) {
  const Checkpoint ck = open_checkpoint(path);
  double bytes = 0, t_read = 0, t_decode = 0, t_moments = 0, t_sketch = 0, sketch_bytes = 0;
  size_t tensors = 0;
  std::vector<uint8_t> buf;
  std::vector<float> out;
  std::map<size_t, Matrix> sketches;  // by row count
  for (const auto& t : ck.tensors) {
    if (!weights::accelerator_supports(t.info.dtype)) continue;
    const size_t nbytes = t.info.byte_size(), n = t.info.num_elements();
    if (n == 0) continue;
    ++tensors;
    buf.resize(nbytes);
    out.resize(n);
    auto t0 = std::chrono::steady_clock::now();
    read_tensor_bytes(ck, t, 0, nbytes, buf.data());
    t_read += seconds_since(t0);
    for (int r = 0; r < repeats; ++r) {
      bytes += static_cast<double>(nbytes);
      t0 = std::chrono::steady_clock::now();
      acc.decode(t.info.dtype, buf.data(), n, out.data());
      t_decode += seconds_since(t0);
      t0 = std::chrono::steady_clock::now();
      const weights::Moments m = acc.moments(t.info.dtype, buf.data(), n);
      (void)m;
      t_moments += seconds_since(t0);
      if (t.info.shape.size() == 2) {
        const size_t rows = t.info.shape[0], cols = t.info.shape[1];
        auto it = sketches.find(rows);
        if (it == sketches.end()) it = sketches.emplace(rows, gaussian(k, rows, rows)).first;
        t0 = std::chrono::steady_clock::now();
        const Matrix sk = acc.sketch_rows(it->second, t.info.dtype, buf.data(), rows, cols);
        (void)sk;
        t_sketch += seconds_since(t0);
        sketch_bytes += static_cast<double>(nbytes);
      }
    }
  }
  auto rate = [](double b, double s) { return s > 0 ? b / s / 1e9 : 0.0; };
  const double read_bytes = repeats > 0 ? bytes / repeats : 0;
  return {{"checkpoint", path},
          {"accelerator", acc.name()},
          {"tensors", tensors},
          {"bytes", read_bytes},
          {"repeats", repeats},
          {"sketch_k", k},
          {"gbps", {{"read", rate(read_bytes, t_read)},
                    {"decode", rate(bytes, t_decode)},
                    {"moments", rate(bytes, t_moments)},
                    {"sketch", rate(sketch_bytes, t_sketch)}}},
          {"seconds", {{"read", t_read}, {"decode", t_decode}, {"moments", t_moments}, {"sketch", t_sketch}}}};
}

int run_device(Context& ctx, const Args& args) {
  po::options_description opts("device options");
  std::string preference = "auto", bench_path;
  size_t k = 64;
  int repeats = 3;
  opts.add_options()
    ("accelerator", po::value<std::string>(&preference), "auto (a device when present, else the CPU twin), cpu, or cuda (default auto; $FROMSCRATCH_ACCELERATOR overrides auto)")
    ("check", "compare the chosen accelerator with the CPU twin on random data (decode and moments bit for bit, sketches within 1e-4 |S row| |W column|); exit 1 on a mismatch")
    ("bench", po::value<std::string>(&bench_path), "throughput of read, decode, moments and sketch on every BF16/F16/F32/F8 tensor of this checkpoint (GB/s of stored bytes)")
    ("cpu-baseline", "with --bench: also run the CPU twin on the same tensors")
    ("sketch-dim", po::value<size_t>(&k), "with --bench: sketch rows k (default 64)")
    ("repeats", po::value<int>(&repeats), "with --bench: passes over the tensors after one read (default 3)")
    ("json", "print JSON");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_command_line(ctx, "device", "[--accelerator auto|cpu|cuda] [--check] [--bench CHECKPOINT [--cpu-baseline]] [--json]",
                          opts, pos, args, vm))
    return kExitOk;
  if (k < 1 || k > 4096) throw UsageError("--sketch-dim " + std::to_string(k) + " out of range (limit: 1..4096)");
  if (repeats < 1 || repeats > 1000) throw UsageError("--repeats " + std::to_string(repeats) + " out of range (limit: 1..1000)");
  weights::AcceleratorChoice choice = weights::select_accelerator(preference);
  ordered_json doc = {{"accelerator", choice.accelerator->name()},
                      {"device", choice.accelerator->is_device()},
                      {"message", choice.message},
                      {"registered", weights::registered_accelerators()}};
  int rc = kExitOk;
  if (vm.count("check")) {
    doc["check"] = self_check(*choice.accelerator);
    if (!doc["check"]["ok"].get<bool>()) rc = kExitFailure;
  }
  if (!bench_path.empty()) {
    doc["bench"] = ordered_json::array();
    doc["bench"].push_back(bench(*choice.accelerator, bench_path, k, repeats));
    if (vm.count("cpu-baseline") && choice.accelerator->is_device()) {
      auto cpu = weights::make_cpu_accelerator();
      doc["bench"].push_back(bench(*cpu, bench_path, k, repeats));
    }
  }
  if (vm.count("json")) {
    ctx.out() << doc.dump(2) << "\n";
    return rc;
  }
  ctx.out() << choice.message << "\n";
  std::string kinds;
  for (const auto& r : weights::registered_accelerators()) kinds += " " + r;
  ctx.out() << "built-in accelerators: cpu" << kinds << "\n";
  if (doc.contains("check")) {
    for (auto& [key, v] : doc["check"].items()) {
      if (key == "ok") continue;
      ctx.out() << "check " << key << ": " << v.dump() << "\n";
    }
    ctx.out() << "check: " << (rc == kExitOk ? "ok" : "MISMATCH") << "\n";
  }
  if (doc.contains("bench"))
    for (const auto& b : doc["bench"])
      ctx.out() << "bench " << b["accelerator"].get<std::string>() << ": " << b["tensors"] << " tensors, "
                << b["bytes"].get<double>() / 1e9 << " GB; GB/s read " << b["gbps"]["read"] << ", decode "
                << b["gbps"]["decode"] << ", moments " << b["gbps"]["moments"] << ", sketch " << b["gbps"]["sketch"]
                << "\n";
  return rc;
}

}  // namespace
FROMSCRATCH_COMMAND("device", "the accelerator used here (GPU when present, else CPU), a self-check against the CPU twin, a throughput benchmark",
                    run_device);
}  // namespace fromscratch::cli
