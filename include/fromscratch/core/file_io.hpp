// Positional reads of regular files, with the checks hostile paths need.
//
// open_read() refuses anything but a regular file (a FIFO or device named in an index would otherwise block
// or never end). read_exact() loops over short reads and EINTR and names path, offset and length on failure.
// The pread seam lets tests inject short reads, EINTR and EIO without a special file system.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace fromscratch {

class File {
 public:
  static File open_read(const std::string& path);
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  int fd() const { return fd_; }

  // Reads exactly n bytes at offset; throws IoError when the file is shorter or the read fails.
  void read_exact(void* buf, size_t n, uint64_t offset) const;
  // Page-cache hints (posix_fadvise); failures are ignored, they are only hints.
  void advise_sequential(uint64_t offset, uint64_t len) const;
  void advise_willneed(uint64_t offset, uint64_t len) const;
  void advise_dontneed(uint64_t offset, uint64_t len) const;

 private:
  File(int fd, uint64_t size, std::string path) : fd_(fd), size_(size), path_(std::move(path)) {}
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_;
};

// Page-aligned heap buffer for large streaming reads.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t size, size_t alignment = 4096);
  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_;
};

namespace testing_seam {
using PreadFn = ssize_t (*)(int fd, void* buf, size_t count, off_t offset);
// Replaces ::pread for File::read_exact (nullptr restores it). For tests only; not thread-safe to switch.
void set_pread(PreadFn fn);
}  // namespace testing_seam

}  // namespace fromscratch
