// Fingerprints: what one sweep of a model keeps so that later comparisons need not read it again.
//
// Per tensor: its digests (SHA-256, row digests, row multiset: exact reuse, permuted rows), its streaming
// statistics (moments, extremes, zeros, NaN/Inf; no histogram: 512 KB per tensor is too much for 18k tensors),
// and its values in a reduced form:
//   full        tensors of at most FingerprintOptions::full_max_elements elements (norm gains, biases, routers
//               of small models, everything of a tiny model);
//   token_rows  embedding / lm_head rows of a fixed set of common tokens, chosen by their decoded bytes (not
//               by id) so that two tokenizers pick the same strings: bottom-k of a hash of the bytes;
//   sketch      other matrices: S * W when the hidden (residual) axis is the columns (q/k/v, gate, up, router)
//               or W * S^T when it is the rows (o, down), S a k x n Gaussian matrix drawn from (seed, n) with
//               a counter-based generator, so every rank, model and run draws the same S for the same n. The
//               hidden axis is kept intact, so tests with a joint permutation (or alignment) of the hidden
//               basis still apply; the other axis is compressed, so tests that match neurons need raw tensors.
//
// Computing a TensorPrint is pure and depends only on the tensor's bytes and the options: ranks compute their
// share in any order, and the result is the same for any rank and thread count. docs/fingerprints.md says
// which weight tests run on fingerprints and what sketching costs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fromscratch/weights/model_view.hpp"
#include "fromscratch/weights/tensor_stats.hpp"

namespace fromscratch::weights {

inline constexpr const char* kFingerprintFormat = "fromscratch-fingerprint";
inline constexpr int kFingerprintVersion = 1;

struct FingerprintOptions {
  uint64_t seed = 20260101;                 // sketch matrices derive from (seed, non-hidden length)
  uint64_t full_max_elements = 1u << 16;    // tensors at most this large are kept in full
  size_t sketch_dim = 16;                   // k: rows (columns) of a sketch (chosen by data: docs/fingerprints.md)
  size_t max_tokens = 4096;                 // embedding rows kept (common tokens, by decoded bytes)
};

// Two fingerprints' reduced values are comparable only when they were made with the same options (the same
// sketch matrices S, the same kept forms and token rows).
inline bool same_sketch_options(const FingerprintOptions& a, const FingerprintOptions& b) {
  return a.seed == b.seed && a.sketch_dim == b.sketch_dim && a.full_max_elements == b.full_max_elements &&
         a.max_tokens == b.max_tokens;
}

enum class KeptForm : uint8_t { none, full, token_rows, sketch };
const char* kept_form_name(KeptForm f);
KeptForm kept_form_from_name(const std::string& s);  // throws FormatError naming the value

struct TensorPrint {
  size_t index = 0;                 // position in the checkpoint's tensor list (sorted by name)
  std::string name;
  RoleKey role;                     // kind other / layer -1 when the tensor has no role
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  std::string sha256;               // 64 hex digits of the stored bytes
  std::string row_multiset;         // 32 hex digits (see tensor_hash.hpp)
  std::vector<uint64_t> row_digests;  // xxh3-64 per row along dim 0
  TensorStats stats;                // without histogram and row/column norms
  KeptForm kept = KeptForm::none;
  Matrix values;                    // full: rows x cols; token_rows: tokens x cols; sketch: k x hidden or hidden x k
  std::vector<uint32_t> token_ids;  // token_rows: the kept row ids
  uint64_t nonfinite = 0;           // NaN/Inf values (zeroed in `values`)
};

struct ModelPrint {
  std::string name;                 // as given by --name, else the folder name
  std::string source;               // path or hub reference it was swept from
  std::string config_json;          // config.json text ("" when none)
  FingerprintOptions options;
  // Decoded bytes of every kept token id (parallel arrays), for shared-token alignment between tokenizers.
  std::vector<uint32_t> vocab_ids;
  std::vector<std::string> vocab_bytes;
  std::vector<TensorPrint> tensors;  // in checkpoint order
};

// The embedding rows every rank keeps: up to max_tokens ids whose decoded bytes have the smallest hash
// (empty when the model has no tokenizer: then ids 0..max_tokens-1, which matches models sharing a vocabulary).
std::vector<uint32_t> common_token_rows(const ModelView& m, size_t max_tokens);

// Model-level fields (everything except `tensors`).
ModelPrint fingerprint_header(const ModelView& m, const std::string& name, const FingerprintOptions& options);

// One tensor (index into m.checkpoint().tensors): reads it once, returns its print. Thread-safe for distinct
// tensors. Throws IoError / UsageError naming the tensor.
TensorPrint fingerprint_tensor(const ModelView& m, size_t tensor_index, const std::vector<uint32_t>& token_rows,
                               const FingerprintOptions& options);

// Every tensor on `threads` threads (the one-process sweep; the distributed sweep calls fingerprint_tensor on
// each rank's share).
ModelPrint fingerprint_model(const ModelView& m, const std::string& name, const FingerprintOptions& options,
                             unsigned threads);

// The k x n sketch matrix for a non-hidden length n (entries N(0, 1/k), deterministic in (seed, n)).
Matrix sketch_matrix(uint64_t seed, size_t k, size_t n);

}  // namespace fromscratch::weights
