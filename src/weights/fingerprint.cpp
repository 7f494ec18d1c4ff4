#include "fromscratch/weights/fingerprint.hpp"
#include "fromscratch/weights/sketch.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/parallel.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/core/tensor_data.hpp"
#include "fromscratch/core/tensor_hash.hpp"

namespace fromscratch::weights {

namespace {

// Bytes read per step of one tensor: whole rows, about this much (a row longer than this is one step).
constexpr uint64_t kStepBytes = uint64_t(32) << 20;

uint64_t splitmix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A standard normal from a counter (Box-Muller on two 53-bit uniforms): entry (i, j) of every sketch matrix
// is a function of (seed, n, i, j) alone, so any rank draws it without communication.
double counter_normal(uint64_t seed, uint64_t n, uint64_t i, uint64_t j) {
  uint64_t h = splitmix(seed ^ splitmix(n ^ splitmix(i * 0x100000001B3ull ^ splitmix(j))));
  uint64_t h2 = splitmix(h);
  double u1 = (double((h >> 11)) + 1.0) * (1.0 / 9007199254740993.0);  // (0, 1]
  double u2 = double(h2 >> 11) * (1.0 / 9007199254740992.0);           // [0, 1)
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

bool always_full(RoleKind k) {
  // Routers are needed row by row (experts are matched by them) and are small next to the experts.
  return k == RoleKind::router || k == RoleKind::shared_expert_router_gate;
}

bool embedding_like(RoleKind k) { return k == RoleKind::embed_tokens || k == RoleKind::lm_head; }

}  // namespace

const char* kept_form_name(KeptForm f) {
  switch (f) {
    case KeptForm::none: return "none";
    case KeptForm::full: return "full";
    case KeptForm::token_rows: return "token_rows";
    case KeptForm::sketch: return "sketch";
  }
  return "none";
}

KeptForm kept_form_from_name(const std::string& s) {
  for (KeptForm f : {KeptForm::none, KeptForm::full, KeptForm::token_rows, KeptForm::sketch})
    if (s == kept_form_name(f)) return f;
  Problem p;
  p.field = "kept";
  p.value = quote_untrusted(s, 40);
  p.message = "not a kept form";
  p.limit = "one of none, full, token_rows, sketch";
  throw FormatError(p);
}

Matrix sketch_matrix(uint64_t seed, size_t k, size_t n) {
  Matrix s;
  s.rows = k;
  s.cols = n;
  s.v.resize(k * n);
  const double scale = 1.0 / std::sqrt(double(std::max<size_t>(1, k)));
  for (size_t i = 0; i < k; ++i)
    for (size_t j = 0; j < n; ++j) s.v[i * n + j] = float(scale * counter_normal(seed, n, i, j));
  return s;
}

std::vector<uint32_t> common_token_rows(const ModelView& m, size_t max_tokens) {
  const auto& vocab = m.vocabulary();
  size_t rows = 0;
  RoleKey ek{RoleKind::embed_tokens, -1, -1, false};
  if (auto* t = m.find(ek); t && !t->info.shape.empty()) rows = size_t(t->info.shape[0]);
  else if (auto* h = m.find({RoleKind::lm_head, -1, -1, false}); h && !h->info.shape.empty()) rows = size_t(h->info.shape[0]);
  std::vector<uint32_t> ids;
  if (vocab.empty()) {
    for (size_t i = 0; i < std::min(rows, max_tokens); ++i) ids.push_back(uint32_t(i));
    return ids;
  }
  // Bottom-k by a hash of the decoded bytes: two tokenizers that share strings keep the same strings.
  std::vector<std::pair<uint64_t, uint32_t>> keyed;
  std::set<std::string> seen;
  for (size_t i = 0; i < vocab.size() && i < rows; ++i) {
    if (vocab[i].empty()) continue;
    if (!seen.insert(vocab[i]).second) continue;
    keyed.push_back({XXH3_64bits(vocab[i].data(), vocab[i].size()), uint32_t(i)});
  }
  if (keyed.size() > max_tokens) {
    std::nth_element(keyed.begin(), keyed.begin() + std::ptrdiff_t(max_tokens), keyed.end());
    keyed.resize(max_tokens);
  }
  for (const auto& kv : keyed) ids.push_back(kv.second);
  std::sort(ids.begin(), ids.end());
  return ids;
}

ModelPrint fingerprint_header(const ModelView& m, const std::string& name, const FingerprintOptions& options) {
  if (options.sketch_dim == 0 || options.sketch_dim > 4096)
    throw UsageError(str("fingerprint: sketch dimension ", options.sketch_dim, " is outside 1..4096"));
  ModelPrint p;
  p.name = name;
  p.source = m.path();
  p.options = options;
  if (!m.config().path.empty()) {
    std::ifstream in(m.config().path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() <= (4u << 20)) p.config_json = text;
  }
  // Embedding rows: all of them when the table is small enough to keep in full, else the common tokens.
  RoleKey ek{RoleKind::embed_tokens, -1, -1, false};
  uint64_t rows = 0, elements = 0;
  if (auto* t = m.find(ek); t && !t->info.shape.empty()) {
    rows = t->info.shape[0];
    elements = t->info.num_elements();
  } else if (auto* h = m.find({RoleKind::lm_head, -1, -1, false}); h && !h->info.shape.empty()) {
    rows = h->info.shape[0];
    elements = h->info.num_elements();
  }
  if (elements <= options.full_max_elements) {
    for (uint64_t i = 0; i < rows; ++i) p.vocab_ids.push_back(uint32_t(i));
  } else {
    p.vocab_ids = common_token_rows(m, options.max_tokens);
  }
  const auto& vocab = m.vocabulary();
  for (uint32_t id : p.vocab_ids) p.vocab_bytes.push_back(id < vocab.size() ? vocab[id] : std::string());
  if (vocab.empty()) p.vocab_bytes.clear();  // no tokenizer: rows are matched by id
  return p;
}

TensorPrint fingerprint_tensor(const ModelView& m, size_t tensor_index, const std::vector<uint32_t>& token_rows,
                               const FingerprintOptions& options) {
  const Checkpoint& ck = m.checkpoint();
  if (tensor_index >= ck.tensors.size())
    throw UsageError(str("fingerprint: tensor index ", tensor_index, " is outside the checkpoint's ", ck.tensors.size(), " tensors"));
  const CheckpointTensor& t = ck.tensors[tensor_index];
  const TensorInfo& info = t.info;
  TensorPrint p;
  p.index = tensor_index;
  p.name = info.name;
  p.dtype = info.dtype;
  p.shape = info.shape;
  for (const auto& [key, idx] : m.roles())
    if (idx == tensor_index) p.role = key;

  const uint64_t rows = info.num_rows();
  const uint64_t bytes = info.byte_size();
  const uint64_t row_bytes = rows ? bytes / rows : 0;
  const bool decodable = !dtype_is_subbyte(info.dtype) && info.dtype != DType::C64;
  const uint64_t elements = info.num_elements();
  const uint64_t cols = rows ? elements / rows : 0;

  // What is kept of the values.
  const bool is_vector = info.shape.size() <= 1;
  HiddenAxis axis = p.role.kind == RoleKind::other ? HiddenAxis::none : hidden_axis(p.role.kind);
  if (!decodable) p.kept = KeptForm::none;
  else if (is_vector || always_full(p.role.kind) || elements <= options.full_max_elements) p.kept = KeptForm::full;
  else if (embedding_like(p.role.kind) && !p.role.mtp) p.kept = KeptForm::token_rows;
  else p.kept = KeptForm::sketch;
  const bool sketch_rows_axis = axis == HiddenAxis::rows;  // W (hidden x n) -> W S^T; otherwise S W
  Matrix S;
  if (p.kept == KeptForm::sketch) {
    S = sketch_matrix(options.seed, options.sketch_dim, size_t(sketch_rows_axis ? cols : rows));
    p.values.rows = sketch_rows_axis ? size_t(rows) : options.sketch_dim;
    p.values.cols = sketch_rows_axis ? options.sketch_dim : size_t(cols);
  } else if (p.kept == KeptForm::full) {
    p.values.rows = is_vector ? 1 : size_t(rows);
    p.values.cols = is_vector ? size_t(elements) : size_t(cols);
  } else if (p.kept == KeptForm::token_rows) {
    for (uint32_t id : token_rows)
      if (id < rows) p.token_ids.push_back(id);
    p.values.rows = p.token_ids.size();
    p.values.cols = size_t(cols);
  }
  std::vector<double> acc;  // sketch accumulator (double, fixed order)
  std::vector<double> St;   // S transposed, for W S^T
  if (p.kept == KeptForm::sketch) acc.assign(p.values.rows * p.values.cols, 0.0);
  else p.values.v.resize(p.values.rows * p.values.cols);

  StatsOptions sopt;
  sopt.row_col_norms = false;
  sopt.histogram = false;
  TensorDigester digester(info, true);
  bool have_stats = false;
  // One read of the tensor, in steps of whole rows: digests, statistics and values from the same bytes.
  uint64_t step_rows = row_bytes ? std::max<uint64_t>(1, kStepBytes / row_bytes) : rows;
  if (rows == 0 || row_bytes == 0) step_rows = std::max<uint64_t>(rows, 1);
  std::vector<uint8_t> buf;
  std::vector<float> dec;
  size_t next_token = 0;
  for (uint64_t r0 = 0; r0 < std::max<uint64_t>(rows, 1) && bytes > 0; r0 += step_rows) {
    uint64_t r1 = std::min(rows, r0 + step_rows);
    uint64_t b0 = r0 * row_bytes, nb = (r1 - r0) * row_bytes;
    if (rows <= 1 || row_bytes == 0) {
      b0 = 0;
      nb = bytes;
      r1 = rows;
    }
    buf.resize(size_t(nb));
    read_tensor_bytes(ck, t, b0, size_t(nb), buf.data());
    digester.update(buf.data(), size_t(nb));
    if (decodable) {
      std::vector<uint64_t> piece_shape = info.shape;
      if (!piece_shape.empty()) piece_shape[0] = r1 - r0;
      TensorStats piece = compute_stats_from_bytes(info.name, info.dtype, piece_shape, buf.data(), sopt, 1);
      piece.shape = info.shape;  // a piece of this tensor: merged below as part of it
      piece.rows = rows;
      piece.cols = cols;
      if (!have_stats) {
        p.stats = std::move(piece);
        have_stats = true;
      } else {
        p.stats.merge(piece);
      }
      const size_t n_el = size_t(nb / std::max<uint64_t>(1, dtype_bits(info.dtype) / 8));
      dec.resize(n_el);
      decode_to_float(info.dtype, buf.data(), n_el, dec.data());
      for (float& x : dec)
        if (!std::isfinite(x)) {
          x = 0.0f;
          ++p.nonfinite;
        }
      if (p.kept == KeptForm::full) {
        std::copy(dec.begin(), dec.end(), p.values.v.begin() + std::ptrdiff_t(b0 / std::max<uint64_t>(1, dtype_bits(info.dtype) / 8)));
      } else if (p.kept == KeptForm::token_rows) {
        while (next_token < p.token_ids.size() && p.token_ids[next_token] < r1) {
          uint64_t r = p.token_ids[next_token];
          std::copy(dec.begin() + std::ptrdiff_t((r - r0) * cols), dec.begin() + std::ptrdiff_t((r - r0 + 1) * cols),
                    p.values.v.begin() + std::ptrdiff_t(next_token * cols));
          ++next_token;
        }
      } else if (p.kept == KeptForm::sketch) {
        const size_t k = options.sketch_dim;
        if (!sketch_rows_axis) {
          // acc (k x cols) += S[:, r0:r1] * W[r0:r1, :]; each output element sums its terms in row order.
          sketch_rows_accumulate(S.v.data(), k, size_t(rows), size_t(r0), dec.data(), size_t(r1 - r0), size_t(cols),
                                 acc.data());
        } else {
          // acc (rows x k): row r = W[r, :] S^T, each entry summed in column order.
          if (St.empty()) St = sketch_transposed(S.v.data(), k, size_t(cols));
          sketch_cols_project(St.data(), k, dec.data(), size_t(r1 - r0), size_t(cols), acc.data() + size_t(r0) * k);
        }
      }
    }
    if (rows <= 1 || row_bytes == 0) break;
  }
  if (bytes == 0 && decodable) {
    p.stats = compute_stats_from_bytes(info.name, info.dtype, info.shape, nullptr, sopt, 1);
    have_stats = true;
  }
  TensorDigest d = digester.finish();
  p.sha256 = d.sha256;
  p.row_multiset = d.row_multiset;
  p.row_digests = std::move(d.row_digests);
  if (!have_stats) {  // sub-byte dtypes: shape only
    p.stats.name = info.name;
    p.stats.dtype = info.dtype;
    p.stats.shape = info.shape;
  }
  p.stats.histogram.clear();
  p.stats.histogram_kind = HistogramKind::none;
  p.stats.row_sumsq.clear();
  p.stats.col_sumsq.clear();
  if (p.kept == KeptForm::sketch) {
    p.values.v.resize(acc.size());
    for (size_t i = 0; i < acc.size(); ++i) p.values.v[i] = float(acc[i]);
  }
  return p;
}

ModelPrint fingerprint_model(const ModelView& m, const std::string& name, const FingerprintOptions& options,
                             unsigned threads) {
  ModelPrint p = fingerprint_header(m, name, options);
  const size_t n = m.checkpoint().tensors.size();
  p.tensors.resize(n);
  // Largest tensors first so one big tensor does not finish last on its own; results land by index.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return m.checkpoint().tensors[a].info.byte_size() > m.checkpoint().tensors[b].info.byte_size();
  });
  parallel_for(n, std::max(1u, threads),
               [&](size_t i, unsigned) { p.tensors[order[i]] = fingerprint_tensor(m, order[i], p.vocab_ids, options); });
  return p;
}

}  // namespace fromscratch::weights
