// The floor under `weights stats` on 16-bit weights: what an exact 65,536-bin bit-pattern histogram costs by
// itself. Every element needs one counter increment (a load, an add and a store to a table that does not
// fit in L1), and that, with the page-cache copy, bounds the statistics pass however the rest is written.
// Reads the given files once (the weights bench's BF16 shards; the few header bytes are counted as data,
// which does not change a rate) in 8 MiB preads split across threads, and reports GB/s of one pass:
//   --mode histogram (default): pread + one increment per 16-bit element (one table per thread, summed)
//   --mode read:                pread only (the copy out of the page cache)
// One pass per run, so that bench/weights/stats_bench.sh times it like every other command.
// usage: weights_histogram_floor [--threads T] [--mode histogram|read] FILE...
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Piece {
  int fd;
  uint64_t offset, bytes;
};

double run(const std::vector<Piece>& pieces, unsigned threads, bool histogram, uint64_t& checksum) {
  std::atomic<size_t> next{0};
  std::vector<std::vector<uint64_t>> tables(threads);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      // Four table copies, consecutive elements to different copies, one 64-bit load per four elements: the
      // kernel `weights stats` uses (src/weights/tensor_stats.cpp, bf16_row), so the floor is the tool's own
      // increment cost and not a slower single-table loop's (which stalls when equal values follow each other).
      std::vector<uint32_t> h(histogram ? 4 * 65536 : 0, 0);
      std::vector<uint8_t> buf(8u << 20);
      uint64_t since_flush = 0;
      std::vector<uint64_t> total(histogram ? 65536 : 0, 0);
      for (size_t i; (i = next.fetch_add(1)) < pieces.size();) {
        const Piece& p = pieces[i];
        ssize_t got = pread(p.fd, buf.data(), p.bytes, off_t(p.offset));
        if (got != ssize_t(p.bytes)) {
          std::perror("pread");
          std::exit(1);
        }
        if (!histogram) continue;
        const uint64_t n = p.bytes / 2;
        uint32_t *h0 = h.data(), *h1 = h0 + 65536, *h2 = h0 + 2 * 65536, *h3 = h0 + 3 * 65536;
        uint64_t j = 0;
        for (; j + 4 <= n; j += 4) {
          uint64_t w;
          std::memcpy(&w, buf.data() + 2 * j, 8);
          ++h0[w & 0xFFFF];
          ++h1[(w >> 16) & 0xFFFF];
          ++h2[(w >> 32) & 0xFFFF];
          ++h3[w >> 48];
        }
        for (; j < n; ++j) {
          uint16_t v;
          std::memcpy(&v, buf.data() + 2 * j, 2);
          ++h0[v];
        }
        since_flush += n;
        if (since_flush > (1ull << 31)) {  // 32-bit counters: flush long before they could wrap
          for (size_t b = 0; b < h.size(); ++b) total[b % 65536] += h[b], h[b] = 0;
          since_flush = 0;
        }
      }
      for (size_t b = 0; b < h.size(); ++b) total[b % 65536] += h[b];
      tables[t] = std::move(total);
    });
  for (auto& th : pool) th.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  checksum = 0;
  for (auto& tb : tables)
    for (size_t b = 0; b < tb.size(); ++b) checksum += tb[b] * (b + 1);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned threads = 2;
  std::string mode = "histogram";
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = unsigned(std::stoul(argv[++i]));
    else if (a == "--mode" && i + 1 < argc) mode = argv[++i];
    else files.push_back(a);
  }
  if (files.empty() || threads == 0 || (mode != "histogram" && mode != "read")) {
    std::fprintf(stderr, "usage: weights_histogram_floor [--threads T] [--mode histogram|read] FILE...\n");
    return 2;
  }
  std::vector<Piece> pieces;
  uint64_t total = 0;
  for (const auto& f : files) {
    int fd = open(f.c_str(), O_RDONLY);
    if (fd < 0) {
      std::perror(f.c_str());
      return 1;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    for (uint64_t o = 0; o < uint64_t(size); o += 8u << 20) {
      uint64_t n = std::min<uint64_t>(8u << 20, uint64_t(size) - o) & ~uint64_t(1);
      if (n) pieces.push_back({fd, o, n});
      total += n;
    }
  }
  uint64_t checksum = 0;
  const double s = run(pieces, threads, mode == "histogram", checksum);
  std::printf("%s, %u threads: %.3f GB in %.3f s, %.3f GB/s (checksum %llu)\n", mode.c_str(), threads,
              double(total) / 1e9, s, double(total) / s / 1e9, (unsigned long long)checksum);
  return 0;
}
