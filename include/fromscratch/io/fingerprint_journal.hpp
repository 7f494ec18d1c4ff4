// The resume journal of a fingerprint sweep: what survives a kill -9.
//
// While a sweep runs, each rank appends every finished tensor print to its own file
// FP.h5.journal/rank-R.bin (R = its rank in that run) and fdatasyncs it. A record is
//   "FPJR" | u64 payload length | payload (CBOR of the print) | u64 XXH3-64 of the payload
// so a record cut short by a kill, or garbled, is recognised and ignored (with everything after it in that
// file). The journal's key (journal.json: model source, tensor count, header digest, options) must match the
// resumed run, so a journal of another model or other options is refused. The final HDF5 file is written only
// after every tensor is in some journal; then the journal is removed.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fromscratch/weights/fingerprint.hpp"

namespace fromscratch::io {

// A print as JSON with CBOR-binary arrays (row digests, values, token ids); the inverse validates every field
// and throws FormatError naming `where` (file and record) and the field.
nlohmann::json tensor_print_to_json(const weights::TensorPrint& p, bool with_arrays = true);
weights::TensorPrint tensor_print_from_json(const nlohmann::json& j, const std::string& where);

class FingerprintJournal {
 public:
  // dir = FP.h5.journal. `key` identifies the sweep (compared with the stored one by open_existing).
  FingerprintJournal(std::string dir, nlohmann::json key);

  const std::string& dir() const { return dir_; }
  bool exists() const;
  // Creates the folder and journal.json (rank 0 only). Throws IoError.
  void create() const;
  // Throws UsageError when journal.json is missing or its key differs (names the first differing field).
  void check_key() const;
  // Every valid record of every rank file: the indices finished so far (any rank count wrote them).
  std::set<size_t> finished() const;
  // Where every valid record lies (tensor index, file, offset, length), as a compact string: one rank scans
  // the journal (reading it whole to check every record) and sends this to the others, so each rank then
  // reads only its own records.
  std::string scan() const;
  // The prints of `which` (indices), read from whichever rank file holds them (located by `scan`, or by a
  // fresh scan when empty). Throws FormatError if one is missing or unreadable.
  std::vector<weights::TensorPrint> load(const std::vector<size_t>& which, const std::string& scanned = "") const;
  // Opens rank-R.bin for appending, first cutting a torn tail (the bytes after the last valid record).
  void open_for_append(int rank);
  // Appends one record and fdatasyncs it. Throws IoError (disk full, ...).
  void append(const weights::TensorPrint& p);
  void close();
  // Removes the folder (rank 0, after the final file is in place).
  void remove() const;

  ~FingerprintJournal();
  FingerprintJournal(const FingerprintJournal&) = delete;
  FingerprintJournal& operator=(const FingerprintJournal&) = delete;

 private:
  std::string dir_;
  nlohmann::json key_;
  int fd_ = -1;
  std::string append_path_;
};

}  // namespace fromscratch::io
