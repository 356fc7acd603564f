// The POSIX Env: pwrite/pread on file descriptors, fdatasync, flock, and
// appends into zero-filled preallocated space through a shared map.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "runtime/store/env.h"

namespace parley::store {
namespace {

absl::Status PosixError(absl::string_view context, int err) {
  std::string message = absl::StrCat(context, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status WriteAll(int fd, const char* data, size_t n, uint64_t offset,
                      const std::string& path) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return PosixError(absl::StrCat("write ", path), errno);
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return absl::OkStatus();
}

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t offset)
      : path_(std::move(path)), fd_(fd), offset_(offset) {}
  ~PosixWritableFile() override { (void)Close(); }

  absl::Status Append(absl::string_view data) override {
    // Inside the mapped space the bytes go straight into the page cache:
    // they survive this process as a write(2) would, without its system
    // call (about a microsecond a record).
    if (char* to = MappedTail(data.size()); to != nullptr) {
      std::memcpy(to, data.data(), data.size());
      offset_ += data.size();
      return absl::OkStatus();
    }
    if (buffer_.size() + data.size() <= kBufferSize) {
      buffer_.append(data.data(), data.size());
      return absl::OkStatus();
    }
    if (absl::Status s = Flush(); !s.ok()) return s;
    if (data.size() <= kBufferSize) {
      buffer_.append(data.data(), data.size());
      return absl::OkStatus();
    }
    absl::Status s = WriteAll(fd_, data.data(), data.size(), offset_, path_);
    if (s.ok()) offset_ += data.size();
    return s;
  }

  uint64_t MappedRoom() const override {
    return map_ != nullptr && buffer_.empty() && offset_ < map_size_
               ? map_size_ - offset_
               : 0;
  }

  char* MappedTail(size_t n) override {
    return n > 0 && MappedRoom() >= n ? map_ + offset_ : nullptr;
  }

  absl::Status AppendInPlace(size_t n) override {
    assert(n > 0 && MappedRoom() >= n);
    offset_ += n;
    return absl::OkStatus();
  }

  absl::Status Flush() override {
    if (buffer_.empty()) return absl::OkStatus();
    absl::Status s =
        WriteAll(fd_, buffer_.data(), buffer_.size(), offset_, path_);
    if (s.ok()) offset_ += buffer_.size();
    buffer_.clear();
    return s;
  }

  absl::Status Sync() override {
    if (absl::Status s = Flush(); !s.ok()) return s;
    // On Linux this writes back the mapped pages too (they are the file's
    // page cache).
    if (::fdatasync(fd_) != 0) {
      return PosixError(absl::StrCat("fdatasync ", path_), errno);
    }
    return absl::OkStatus();
  }

  absl::Status Preallocate(uint64_t size, bool zero_fill) override {
    if (zero_fill) {
      std::string zeros(1 << 16, '\0');
      for (uint64_t at = offset_ + buffer_.size(); at < size;) {
        size_t n =
            static_cast<size_t>(std::min<uint64_t>(zeros.size(), size - at));
        if (absl::Status s = WriteAll(fd_, zeros.data(), n, at, path_);
            !s.ok()) {
          return s;
        }
        at += n;
      }
    } else if (int err = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
               err != 0) {
      return PosixError(absl::StrCat("fallocate ", path_), err);
    }
    if (absl::Status s = Sync(); !s.ok()) return s;
    // Zero-filled space has its blocks written and in the page cache, so a
    // store through the map needs no allocation and no read, and cannot
    // fault (SIGBUS) for a full disk. Without a map, appends use pwrite.
    if (zero_fill && map_ == nullptr && size > offset_) {
      void* map = ::mmap(nullptr, static_cast<size_t>(size),
                         PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
      if (map != MAP_FAILED) {
        map_ = static_cast<char*>(map);
        map_size_ = size;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Unmap() override {
    if (map_ == nullptr) return absl::OkStatus();
    const int failed = ::munmap(map_, static_cast<size_t>(map_size_));
    map_ = nullptr;
    map_size_ = 0;
    return failed != 0 ? PosixError(absl::StrCat("munmap ", path_), errno)
                       : absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    absl::Status s = Flush();
    s.Update(Unmap());
    if (::close(fd_) != 0 && s.ok()) {
      s = PosixError(absl::StrCat("close ", path_), errno);
    }
    fd_ = -1;
    return s;
  }

 private:
  static constexpr size_t kBufferSize = 64 << 10;
  const std::string path_;
  int fd_;
  uint64_t offset_;  // Where the buffer's first byte goes.
  std::string buffer_;
  // [0, map_size_) of the file, shared, once zero-filled by Preallocate.
  char* map_ = nullptr;
  uint64_t map_size_ = 0;
};

// Reads up to `n` bytes into `scratch` with `read_some(buf, len, got)`
// (a read(2)-like call), retrying on EINTR and short reads; stops at EOF.
template <typename ReadSome>
absl::Status ReadUntilDone(const std::string& path, size_t n, char* scratch,
                           absl::string_view* result, ReadSome read_some) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read_some(scratch + got, n - got, got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return PosixError(absl::StrCat("read ", path), errno);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  *result = absl::string_view(scratch, got);
  return absl::OkStatus();
}

class PosixSequentialFile : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd)
      : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { ::close(fd_); }

  absl::Status Read(size_t n, absl::string_view* result,
                    char* scratch) override {
    return ReadUntilDone(path_, n, scratch, result,
                         [this](char* buf, size_t len, size_t) {
                           return ::read(fd_, buf, len);
                         });
  }

 private:
  const std::string path_;
  const int fd_;
};

class PosixRandomAccessFile : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd)
      : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  absl::Status Read(uint64_t offset, size_t n, absl::string_view* result,
                    char* scratch) const override {
    return ReadUntilDone(path_, n, scratch, result,
                         [this, offset](char* buf, size_t len, size_t got) {
                           return ::pread(fd_, buf, len,
                                          static_cast<off_t>(offset + got));
                         });
  }

 private:
  const std::string path_;
  const int fd_;
};

class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }  // Closing releases flock.

 private:
  const int fd_;
};

absl::StatusOr<int> OpenFd(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
  if (fd < 0) return PosixError(absl::StrCat("open ", path), errno);
  return fd;
}

class PosixEnv : public Env {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override {
    // Read too: a shared writable map needs it (Preallocate).
    absl::StatusOr<int> fd = OpenFd(path, O_RDWR | O_CREAT | O_TRUNC);
    if (!fd.ok()) return fd.status();
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, *fd, 0));
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) override {
    absl::StatusOr<int> fd = OpenFd(path, O_WRONLY);
    if (!fd.ok()) return fd.status();
    struct stat st;
    if (::fstat(*fd, &st) != 0) {
      int err = errno;
      ::close(*fd);
      return PosixError(absl::StrCat("stat ", path), err);
    }
    return std::unique_ptr<WritableFile>(
        new PosixWritableFile(path, *fd, static_cast<uint64_t>(st.st_size)));
  }

  absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& path) override {
    absl::StatusOr<int> fd = OpenFd(path, O_RDONLY);
    if (!fd.ok()) return fd.status();
    return std::unique_ptr<SequentialFile>(new PosixSequentialFile(path, *fd));
  }

  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    absl::StatusOr<int> fd = OpenFd(path, O_RDONLY);
    if (!fd.ok()) return fd.status();
    return std::unique_ptr<RandomAccessFile>(
        new PosixRandomAccessFile(path, *fd));
  }

  absl::StatusOr<std::vector<std::string>> GetChildren(
      const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return PosixError(absl::StrCat("opendir ", dir), errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    return names;
  }

  absl::StatusOr<uint64_t> GetFileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return PosixError(absl::StrCat("stat ", path), errno);
    }
    return static_cast<uint64_t>(st.st_size);
  }

  absl::Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) {
      return PosixError(absl::StrCat("unlink ", path), errno);
    }
    return absl::OkStatus();
  }

  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return PosixError(absl::StrCat("rename ", from, " to ", to), errno);
    }
    return absl::OkStatus();
  }

  absl::Status TruncateFile(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return PosixError(absl::StrCat("truncate ", path), errno);
    }
    return absl::OkStatus();
  }

  absl::Status CreateDir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return PosixError(absl::StrCat("mkdir ", dir), errno);
    }
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& dir) override {
    absl::StatusOr<int> fd = OpenFd(dir, O_RDONLY | O_DIRECTORY);
    if (!fd.ok()) return fd.status();
    int rc = ::fsync(*fd);
    int err = errno;
    ::close(*fd);
    if (rc != 0) return PosixError(absl::StrCat("fsync ", dir), err);
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(
      const std::string& path) override {
    absl::StatusOr<int> fd = OpenFd(path, O_RDWR | O_CREAT);
    if (!fd.ok()) return fd.status();
    if (::flock(*fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      char buf[32] = {};
      ssize_t n = ::pread(*fd, buf, sizeof(buf) - 1, 0);
      ::close(*fd);
      if (err != EWOULDBLOCK)
        return PosixError(absl::StrCat("flock ", path), err);
      std::string holder(buf, n > 0 ? static_cast<size_t>(n) : 0);
      holder = std::string(absl::StripAsciiWhitespace(holder));
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is locked by another open store (pid ",
                       holder.empty() ? "unknown" : holder, ")"));
    }
    std::string pid = absl::StrCat(::getpid(), "\n");
    if (::ftruncate(*fd, 0) != 0 || ::pwrite(*fd, pid.data(), pid.size(), 0) !=
                                        static_cast<ssize_t>(pid.size())) {
      int err = errno;
      ::close(*fd);
      return PosixError(absl::StrCat("write ", path), err);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(*fd));
  }
};

}  // namespace

Env* Env::Default() {
  static Env* const env = new PosixEnv;
  return env;
}

}  // namespace parley::store
