#include "fromscratch/remote/byte_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/file_io.hpp"
#include "fromscratch/core/strings.hpp"

namespace fs = std::filesystem;

namespace fromscratch::remote {

void write_file_atomic(const std::string& path, std::string_view bytes) {
  static std::atomic<uint64_t> counter{0};
  fs::path p(path);
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  if (ec) throw IoError(p.parent_path().string(), str("cannot create folder: ", ec.message()));
  std::string tmp = str(path, ".tmp.", ::getpid(), ".", counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(tmp, "open", errno);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw IoError(tmp, "write", e);
    }
    done += size_t(w);
  }
  // No fsync: rename() makes the entry appear whole or not at all to every process, which is what a crashed
  // or killed run needs; after a power loss a chunk of the wrong length is ignored and a complete file is
  // re-checked against its LFS sha256 (an fsync per 256 KiB chunk cut the fetch rate 20-fold).
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw IoError(tmp, "close", e);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw IoError(path, "rename", e);
  }
}

std::string ByteCache::default_root() {
  if (const char* v = std::getenv("FROMSCRATCH_CACHE"); v && *v) return v;
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v && *v) return (fs::path(v) / "fromscratch").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : ".") / ".cache" / "fromscratch").string();
}

ByteCache::ByteCache(std::string root, const std::string& repo, const std::string& commit)
    : dir_(str(root, "/hub/", repo, "/", commit)), name_(repo.substr(repo.find('/') + 1)) {}

std::optional<std::string> ByteCache::read_file(const std::string& file, uint64_t max_bytes) const {
  std::error_code ec;
  std::string p = file_path(file);
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  File f = File::open_read(p);
  if (f.size() > max_bytes) return std::nullopt;
  std::string s(f.size(), '\0');
  f.read_exact(s.data(), s.size(), 0);
  return s;
}

void ByteCache::write_file(const std::string& file, std::string_view bytes) const { write_file_atomic(file_path(file), bytes); }

std::string ByteCache::chunk_path(const std::string& file, uint64_t index) const {
  return str(dir_, "/chunks/", file, "/", index);
}

bool ByteCache::has_chunk(const std::string& file, uint64_t index, uint64_t length) const {
  struct stat st {};
  return ::stat(chunk_path(file, index).c_str(), &st) == 0 && S_ISREG(st.st_mode) && uint64_t(st.st_size) == length;
}

bool ByteCache::read_chunk(const std::string& file, uint64_t index, uint64_t length, uint8_t* out) const {
  try {
    File f = File::open_read(chunk_path(file, index));
    if (f.size() != length) return false;
    f.read_exact(out, size_t(length), 0);
    return true;
  } catch (const IoError&) {
    return false;
  }
}

bool ByteCache::read_chunk_part(const std::string& file, uint64_t index, uint64_t length, uint64_t from, uint64_t n,
                                uint8_t* out) const {
  if (from > length || n > length - from) return false;
  try {
    File f = File::open_read(chunk_path(file, index));
    if (f.size() != length) return false;
    f.read_exact(out, size_t(n), from);
    return true;
  } catch (const IoError&) {
    return false;
  }
}

void ByteCache::write_chunk(const std::string& file, uint64_t index, const uint8_t* data, uint64_t length) const {
  write_file_atomic(chunk_path(file, index), std::string_view(reinterpret_cast<const char*>(data), size_t(length)));
}

void ByteCache::drop_chunks(const std::string& file) const {
  std::error_code ec;
  fs::remove_all(str(dir_, "/chunks/", file), ec);
}

bool ByteCache::is_verified(const std::string& file) const {
  std::error_code ec;
  return fs::is_regular_file(str(dir_, "/verified/", file), ec);
}

void ByteCache::mark_verified(const std::string& file, const std::string& sha256) const {
  write_file_atomic(str(dir_, "/verified/", file), sha256 + "\n");
}

}  // namespace fromscratch::remote
