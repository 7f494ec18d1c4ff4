#include "fromscratch/io/fingerprint_journal.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::io {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace fromscratch::weights;

namespace {

constexpr char kMagic[4] = {'F', 'P', 'J', 'R'};
constexpr uint64_t kMaxRecord = uint64_t(1) << 34;  // 16 GiB: larger than any print of a real tensor

template <class T>
json::binary_t to_binary(const std::vector<T>& v) {
  std::vector<uint8_t> bytes(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  return json::binary_t(std::move(bytes));
}

template <class T>
std::vector<T> from_binary(const json& j, const std::string& where, const char* field) {
  if (!j.is_binary())
    throw FormatError(Problem{where, "", field, j.type_name(), "", "expected a binary array"}, "record");
  const auto& b = j.get_binary();
  if (b.size() % sizeof(T) != 0)
    throw FormatError(Problem{where, "", field, str(b.size(), " bytes"), str("a multiple of ", sizeof(T)),
                              "array length is not a whole number of elements"},
                      "record");
  std::vector<T> v(b.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), b.data(), b.size());
  return v;
}

[[noreturn]] void bad(const std::string& where, const std::string& field, const std::string& value,
                      const std::string& message) {
  throw FormatError(Problem{where, "", field, value, "", message}, "record");
}

const json& need(const json& j, const char* field, const std::string& where) {
  if (!j.is_object() || !j.contains(field)) bad(where, field, "(missing)", "field missing");
  return j.at(field);
}
uint64_t need_u64(const json& j, const char* field, const std::string& where) {
  const json& v = need(j, field, where);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    bad(where, field, v.dump(), "expected a non-negative integer");
  return v.get<uint64_t>();
}
int64_t need_i64(const json& j, const char* field, const std::string& where) {
  const json& v = need(j, field, where);
  if (!v.is_number_integer()) bad(where, field, v.dump(), "expected an integer");
  return v.get<int64_t>();
}
double need_f64(const json& j, const char* field, const std::string& where) {
  const json& v = need(j, field, where);
  if (!v.is_number()) bad(where, field, v.dump(), "expected a number");
  return v.get<double>();
}
std::string need_str(const json& j, const char* field, const std::string& where) {
  const json& v = need(j, field, where);
  if (!v.is_string()) bad(where, field, v.dump(), "expected a string");
  return v.get<std::string>();
}

struct RecordRef {
  size_t index = 0;
  std::string file;
  uint64_t offset = 0;  // of the payload
  uint64_t length = 0;
};

// Valid records of one file, in file order; `end` = the byte after the last valid record.
std::vector<RecordRef> scan_file(const std::string& path, uint64_t* end) {
  std::vector<RecordRef> out;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path, "open", errno);
  uint64_t pos = 0;
  std::string payload;
  for (;;) {
    char head[4 + 8 + 8];
    if (!in.read(head, sizeof head)) break;
    if (std::memcmp(head, kMagic, 4) != 0) break;
    uint64_t index = 0, len = 0;
    std::memcpy(&index, head + 4, 8);
    std::memcpy(&len, head + 12, 8);
    if (len > kMaxRecord) break;
    payload.resize(len);
    uint64_t digest = 0;
    if (!in.read(payload.data(), static_cast<std::streamsize>(len))) break;
    if (!in.read(reinterpret_cast<char*>(&digest), 8)) break;
    XXH3_state_t* st = XXH3_createState();
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, &index, 8);
    XXH3_64bits_update(st, payload.data(), payload.size());
    uint64_t want = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    if (want != digest) break;
    out.push_back({static_cast<size_t>(index), path, pos + sizeof head, len});
    pos += sizeof head + len + 8;
  }
  if (end) *end = pos;
  return out;
}

std::vector<std::string> rank_files(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (starts_with(n, "rank-") && ends_with(n, ".bin") && e.is_regular_file()) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

json tensor_print_to_json(const TensorPrint& p, bool with_arrays) {
  const TensorStats& s = p.stats;
  json j = {{"index", p.index},
            {"name", p.name},
            {"role", {{"kind", std::string(role_kind_name(p.role.kind))},
                      {"layer", p.role.layer},
                      {"expert", p.role.expert},
                      {"mtp", p.role.mtp}}},
            {"dtype", std::string(dtype_name(p.dtype))},
            {"shape", p.shape},
            {"sha256", p.sha256},
            {"row_multiset", p.row_multiset},
            {"stats", {{"rows", s.rows}, {"cols", s.cols}, {"count", s.count}, {"nan", s.nan}, {"pos_inf", s.pos_inf},
                       {"neg_inf", s.neg_inf}, {"zeros", s.zeros}, {"n", s.moments.n}, {"mean", s.moments.mean},
                       {"m2", s.moments.m2}, {"m3", s.moments.m3}, {"m4", s.moments.m4}, {"min", s.min},
                       {"max", s.max}}},
            {"kept", kept_form_name(p.kept)},
            {"value_rows", p.values.rows},
            {"value_cols", p.values.cols},
            {"nonfinite", p.nonfinite},
            {"row_digest_count", p.row_digests.size()},
            {"value_count", p.values.v.size()},
            {"token_count", p.token_ids.size()}};
  if (with_arrays) {
    j["row_digests"] = to_binary(p.row_digests);
    j["values"] = to_binary(p.values.v);
    j["token_ids"] = to_binary(p.token_ids);
  }
  return j;
}

TensorPrint tensor_print_from_json(const json& j, const std::string& where) {
  TensorPrint p;
  p.index = need_u64(j, "index", where);
  p.name = need_str(j, "name", where);
  const json& role = need(j, "role", where);
  std::string kind = need_str(role, "kind", where);
  auto k = parse_role_kind(kind);
  if (!k) bad(where, "role.kind", kind, "unknown role kind");
  p.role.kind = *k;
  p.role.layer = static_cast<int>(need_i64(role, "layer", where));
  p.role.expert = static_cast<int>(need_i64(role, "expert", where));
  const json& mtp = need(role, "mtp", where);
  if (!mtp.is_boolean()) bad(where, "role.mtp", mtp.dump(), "expected a boolean");
  p.role.mtp = mtp.get<bool>();
  std::string dt = need_str(j, "dtype", where);
  auto d = parse_dtype(dt);
  if (!d) bad(where, "dtype", dt, "unknown dtype");
  p.dtype = *d;
  const json& shape = need(j, "shape", where);
  if (!shape.is_array() || shape.size() > 16) bad(where, "shape", shape.dump(), "expected an array of at most 16 sizes");
  for (const auto& x : shape) {
    if (!x.is_number_unsigned()) bad(where, "shape", shape.dump(), "expected non-negative integers");
    p.shape.push_back(x.get<uint64_t>());
  }
  p.sha256 = need_str(j, "sha256", where);
  p.row_multiset = need_str(j, "row_multiset", where);
  const json& s = need(j, "stats", where);
  p.stats.name = p.name;
  p.stats.dtype = p.dtype;
  p.stats.shape = p.shape;
  p.stats.rows = need_u64(s, "rows", where);
  p.stats.cols = need_u64(s, "cols", where);
  p.stats.count = need_u64(s, "count", where);
  p.stats.nan = need_u64(s, "nan", where);
  p.stats.pos_inf = need_u64(s, "pos_inf", where);
  p.stats.neg_inf = need_u64(s, "neg_inf", where);
  p.stats.zeros = need_u64(s, "zeros", where);
  p.stats.moments.n = need_u64(s, "n", where);
  p.stats.moments.mean = need_f64(s, "mean", where);
  p.stats.moments.m2 = need_f64(s, "m2", where);
  p.stats.moments.m3 = need_f64(s, "m3", where);
  p.stats.moments.m4 = need_f64(s, "m4", where);
  p.stats.min = need_f64(s, "min", where);
  p.stats.max = need_f64(s, "max", where);
  p.kept = kept_form_from_name(need_str(j, "kept", where));
  p.values.rows = need_u64(j, "value_rows", where);
  p.values.cols = need_u64(j, "value_cols", where);
  p.nonfinite = need_u64(j, "nonfinite", where);
  if (j.contains("row_digests")) {
    p.row_digests = from_binary<uint64_t>(j.at("row_digests"), where, "row_digests");
    p.values.v = from_binary<float>(need(j, "values", where), where, "values");
    p.token_ids = from_binary<uint32_t>(need(j, "token_ids", where), where, "token_ids");
    if (p.values.v.size() != p.values.rows * p.values.cols)
      bad(where, "values", str(p.values.v.size(), " values"), str("value_rows x value_cols = ", p.values.rows, " x ", p.values.cols));
  }
  return p;
}

FingerprintJournal::FingerprintJournal(std::string dir, json key) : dir_(std::move(dir)), key_(std::move(key)) {}
FingerprintJournal::~FingerprintJournal() { close(); }

bool FingerprintJournal::exists() const { return fs::exists(fs::path(dir_) / "journal.json"); }

void FingerprintJournal::create() const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw IoError(dir_, "mkdir", ec.value());
  std::string tmp = (fs::path(dir_) / "journal.json.tmp").string();
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << key_.dump(2) << "\n";
    out.flush();
    if (!out) throw IoError(tmp, "write", errno);
  }
  fs::rename(tmp, fs::path(dir_) / "journal.json", ec);
  if (ec) throw IoError(tmp, "rename", ec.value());
}

void FingerprintJournal::check_key() const {
  std::string path = (fs::path(dir_) / "journal.json").string();
  std::ifstream in(path);
  if (!in) throw UsageError(str(path, ": no journal to resume (run without --resume)"));
  json stored = json::parse(in, nullptr, false);
  if (stored.is_discarded() || !stored.is_object())
    throw FormatError(Problem{path, "", "", "", "", "not a JSON object: remove the journal folder or pass --force"}, "entry");
  for (const auto& [k, v] : key_.items())
    if (!stored.contains(k) || stored[k] != v)
      throw UsageError(str(path, ": the journal is of another sweep: ", k, " = ",
                           stored.contains(k) ? stored[k].dump() : std::string("(missing)"), " there, ", v.dump(),
                           " now (pass --force to start over)"));
}

std::set<size_t> FingerprintJournal::finished() const {
  std::set<size_t> done;
  for (const auto& f : rank_files(dir_))
    for (const auto& r : scan_file(f, nullptr)) done.insert(r.index);
  return done;
}

std::string FingerprintJournal::scan() const {
  json out = json::array();
  for (const auto& f : rank_files(dir_))
    for (const auto& r : scan_file(f, nullptr)) out.push_back({r.index, r.file, r.offset, r.length});
  return out.dump();
}

std::vector<TensorPrint> FingerprintJournal::load(const std::vector<size_t>& which, const std::string& scanned) const {
  std::map<size_t, RecordRef> refs;
  json entries = json::parse(scanned.empty() ? scan() : scanned, nullptr, false);
  if (!entries.is_array()) throw Error(str(dir_, ": journal scan is not a list"));
  for (const auto& e : entries)
    refs.emplace(e[0].get<size_t>(), RecordRef{e[0].get<size_t>(), e[1].get<std::string>(), e[2].get<uint64_t>(),
                                               e[3].get<uint64_t>()});  // first valid copy wins
  std::vector<TensorPrint> out;
  out.reserve(which.size());
  for (size_t i : which) {
    auto it = refs.find(i);
    if (it == refs.end())
      throw FormatError(Problem{dir_, str("tensor #", i), "record", "(missing)", "", "no journal record for this tensor"}, "entry");
    const RecordRef& r = it->second;
    std::ifstream in(r.file, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(r.offset));
    std::string payload(r.length, '\0');
    if (!in.read(payload.data(), static_cast<std::streamsize>(r.length))) throw IoError(r.file, "read", errno);
    std::string where = str(r.file, " @", r.offset);
    json j = json::from_cbor(payload, true, false);
    if (j.is_discarded()) bad(where, "payload", "(not CBOR)", "record does not decode");
    TensorPrint p = tensor_print_from_json(j, where);
    if (p.index != i) bad(where, "index", std::to_string(p.index), str("record header says ", i));
    out.push_back(std::move(p));
  }
  return out;
}

void FingerprintJournal::open_for_append(int rank) {
  close();
  append_path_ = (fs::path(dir_) / str("rank-", rank, ".bin")).string();
  if (fs::exists(append_path_)) {
    uint64_t end = 0;
    scan_file(append_path_, &end);
    if (end != fs::file_size(append_path_)) {
      std::error_code ec;
      fs::resize_file(append_path_, end, ec);  // drop a torn tail so new records are reachable
      if (ec) throw IoError(append_path_, "truncate", ec.value());
    }
  }
  fd_ = ::open(append_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError(append_path_, "open", errno);
}

void FingerprintJournal::append(const TensorPrint& p) {
  if (fd_ < 0) throw UsageError("FingerprintJournal::append before open_for_append");
  std::vector<uint8_t> payload = json::to_cbor(tensor_print_to_json(p));
  uint64_t index = p.index, len = payload.size();
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, &index, 8);
  XXH3_64bits_update(st, payload.data(), payload.size());
  uint64_t digest = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  std::string rec(kMagic, 4);
  rec.append(reinterpret_cast<const char*>(&index), 8);
  rec.append(reinterpret_cast<const char*>(&len), 8);
  rec.append(reinterpret_cast<const char*>(payload.data()), payload.size());
  rec.append(reinterpret_cast<const char*>(&digest), 8);
  const char* data = rec.data();
  size_t left = rec.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(append_path_, "write", errno);
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0) throw IoError(append_path_, "fdatasync", errno);
}

void FingerprintJournal::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void FingerprintJournal::remove() const {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace fromscratch::io
