// Fingerprint files: one HDF5 file per swept model (weights/fingerprint.hpp says what a fingerprint holds).
//
// Layout (results/SCHEMA.md, section "fingerprint"): root attributes name the format, version and model;
// /options and /config_json, /vocab (ids, byte offsets, bytes); /tensors holds one table per field, indexed by
// the tensor's position in the checkpoint (row i of every table = tensor i), with the variable-length parts
// (row digests, kept values, token ids) concatenated in tensor order and located by *_offset tables of N + 1
// entries; /pca holds the sketch Gram sums per component. The attribute `complete` = 1 is written last, and
// the writer writes to PATH.tmp and renames it to PATH only after closing, so a file at PATH is always whole.
//
// Parallel writes (MPI-IO, collective): every rank passes the same model header and its own tensor prints;
// the small per-tensor tables travel to rank 0, which writes them; each rank writes its own rows of the large
// tables (row digests, values, token ids) in one collective write per table. Datasets are chunked and
// compressed (shuffle + deflate) for any rank count: HDF5 >= 1.10.2 compresses in parallel when writes are
// collective, which they all are here. The stored values are identical for any rank and thread count.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fromscratch/weights/fingerprint.hpp"

namespace fromscratch::dist {
class Comm;
}

namespace fromscratch::io {

// Sums of sketch (or full) rows over the tensors of one component, in the hidden basis: for every kept row
// v (length dim, along the hidden axis), rows += 1, sum += v, gram += v v^T. Reduced over ranks with
// dist::ExactSum, so the stored numbers do not depend on the rank count. gram is dim x dim, row-major.
struct SketchGram {
  std::string component;  // "attention", "experts", ... (weights::component_of)
  size_t dim = 0;
  uint64_t rows = 0;
  uint64_t tensors = 0;
  std::vector<double> sum;
  std::vector<double> gram;
};

struct FingerprintFile {
  weights::ModelPrint print;
  std::vector<SketchGram> grams;
  nlohmann::json provenance;  // /provenance attributes (tool, version, git sha, command line, ranks, ...)
};

struct FingerprintWriteOptions {
  bool force = false;                 // replace an existing PATH
  std::vector<std::string> argv;      // recorded in /provenance
  int compression_level = 4;          // deflate level 0..9 (0: chunked, no compression)
  nlohmann::json extra_provenance;    // more /provenance attributes (hosts, seconds, input bytes)
};

// Writes `header` (model fields; its `tensors` are ignored) and the tensors of `local` to `path`.
// Collective over comm when MPI is active: `local` holds this rank's prints, and all ranks' prints together
// must cover tensors 0..tensor_count-1 exactly once (checked; a gap or duplicate throws on every rank).
// Without MPI `local` must hold every tensor. Throws UsageError when path exists and !force, IoError /
// Error when HDF5 fails (disk full: the partial PATH.tmp is removed and PATH is left as it was).
void write_fingerprint(const std::string& path, const weights::ModelPrint& header,
                       const std::vector<weights::TensorPrint>& local, size_t tensor_count,
                       const std::vector<SketchGram>& grams, const dist::Comm& comm,
                       const FingerprintWriteOptions& options);

// Reads and validates a fingerprint. A file that is not a fingerprint, is unfinished, truncated or internally
// inconsistent throws FormatError naming the file, the object (dataset or tensor), the field and the value.
FingerprintFile read_fingerprint_file(const std::string& path);
weights::ModelPrint read_fingerprint(const std::string& path);

// True when `path` is an HDF5 file whose root says it is a fingerprint (cheap; for callers that accept a
// model folder or a fingerprint). Never throws.
bool looks_like_fingerprint(const std::string& path);

}  // namespace fromscratch::io
