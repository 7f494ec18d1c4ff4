#include "fromscratch/core/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <new>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch {

namespace {
testing_seam::PreadFn g_pread = nullptr;
ssize_t do_pread(int fd, void* buf, size_t n, off_t off) { return g_pread ? g_pread(fd, buf, n, off) : ::pread(fd, buf, n, off); }
}  // namespace

void testing_seam::set_pread(PreadFn fn) { g_pread = fn; }

File File::open_read(const std::string& path) {
  // O_NONBLOCK so that opening a FIFO cannot block; it is rejected right after by the S_ISREG check.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw IoError(path, "open", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw IoError(path, "fstat", e);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IoError(path, "is not a regular file (directories, FIFOs, devices and sockets are refused)");
  }
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return File(fd, static_cast<uint64_t>(st.st_size), path);
}

File::File(File&& o) noexcept : fd_(o.fd_), size_(o.size_), path_(std::move(o.path_)) { o.fd_ = -1; }
File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    size_ = o.size_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}
File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

void File::read_exact(void* buf, size_t n, uint64_t offset) const {
  auto* p = static_cast<uint8_t*>(buf);
  size_t done = 0;
  int eintr_left = 1000;  // a signal storm must not turn into an endless loop
  while (done < n) {
    ssize_t r = do_pread(fd_, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR && --eintr_left > 0) continue;
      throw IoError(path_, str("read of ", n, " bytes at offset ", offset), errno);
    }
    if (r == 0)
      throw IoError(path_, str("unexpected end of file: read of ", n, " bytes at offset ", offset, " got ", done,
                               " (file size now ", size_, ", did it shrink?)"));
    done += static_cast<size_t>(r);
  }
}

void File::advise_sequential(uint64_t offset, uint64_t len) const {
  ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(len), POSIX_FADV_SEQUENTIAL);
}
void File::advise_willneed(uint64_t offset, uint64_t len) const {
  ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(len), POSIX_FADV_WILLNEED);
}
void File::advise_dontneed(uint64_t offset, uint64_t len) const {
  ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(len), POSIX_FADV_DONTNEED);
}

AlignedBuffer::AlignedBuffer(size_t size, size_t alignment) : size_(size) {
  void* p = nullptr;
  if (::posix_memalign(&p, alignment, size ? size : alignment) != 0) throw std::bad_alloc();
  data_.reset(static_cast<uint8_t*>(p));
}
void AlignedBuffer::Free::operator()(uint8_t* p) const { std::free(p); }

}  // namespace fromscratch
