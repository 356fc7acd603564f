// Env: the store's window onto the file system, small enough that tests can
// put a fault-injecting layer in between
// (runtime/store/testing/fault_injection_env.h).
//
//   store::Env* env = store::Env::Default();
//   PARLEY_ASSIGN_OR_RETURN(std::unique_ptr<store::WritableFile> f,
//                           env->NewWritableFile(dir + "/000001.log"));
//   PARLEY_RETURN_IF_ERROR(f->Append("bytes"));
//   PARLEY_RETURN_IF_ERROR(f->Sync());  // fdatasync
//
// Files are created with mode 0600 and directories with 0700: a store holds
// users' messages. Errors carry the path and errno text.
//
// Thread safety: Env is thread-safe. A WritableFile or SequentialFile is
// used by one thread at a time; a RandomAccessFile is thread-safe.
#ifndef PARLEY_RUNTIME_STORE_ENV_H_
#define PARLEY_RUNTIME_STORE_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace parley::store {

// An append-only file. Append may buffer; Flush hands the buffer to the
// OS; Sync flushes and makes the data durable (fdatasync).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual absl::Status Append(absl::string_view data) = 0;
  virtual absl::Status Flush() = 0;
  virtual absl::Status Sync() = 0;
  // Reserves [0, size) on disk ahead of the appends (which keep writing
  // from the current end) and syncs, so that later fdatasync calls have no
  // size or extent change to journal. zero_fill writes real zeros, which on
  // ext4 syncs about twice as fast afterwards as fallocate's unwritten
  // extents (measured: docs/LOG_FORMAT.md). After a zero fill the POSIX
  // file appends inside [0, size) through a shared memory map of it:
  // written to the OS like a write(2), without a system call each.
  virtual absl::Status Preallocate(uint64_t size, bool zero_fill) = 0;
  virtual absl::Status Close() = 0;
  // How many more bytes Append copies into the file's own memory (the
  // map above), with no system call then or in Flush; 0 without a map.
  virtual uint64_t MappedRoom() const { return 0; }
  // Where the next appended byte goes in the map, if MappedRoom() >= n > 0;
  // else null. A caller may build the next n bytes there and append them
  // with AppendInPlace(n), saving Append's copy.
  virtual char* MappedTail(size_t n) {
    (void)n;
    return nullptr;
  }
  virtual absl::Status AppendInPlace(size_t n) {
    (void)n;
    return absl::FailedPreconditionError("AppendInPlace on a file not mapped");
  }
  // Drops the map (later appends use write(2)); a no-op without one. Before
  // a file's last Sync: write-back of a mapped page first write-protects it
  // in every map, a TLB shootdown per page (an interrupt to the other CPUs,
  // each a VM exit on a guest), where munmap flushes once.
  virtual absl::Status Unmap() { return absl::OkStatus(); }
};

// A file read front to back by one thread.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to n bytes into *result (which may point into scratch, of at
  // least n bytes). A short or empty result means end of file.
  virtual absl::Status Read(size_t n, absl::string_view* result,
                            char* scratch) = 0;
};

// A file read at offsets, from any thread.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at offset; short at end of file.
  virtual absl::Status Read(uint64_t offset, size_t n,
                            absl::string_view* result, char* scratch) const = 0;
};

// Held while a directory is in use; releasing it (destruction) unlocks.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  // The POSIX implementation; never deleted.
  static Env* Default();

  // Creates or truncates `path` for writing from offset 0.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;
  // Opens an existing file for appending at its current end.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) = 0;
  virtual absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& path) = 0;
  virtual absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;

  // Names (not paths) of the entries of `dir`, without "." and "..".
  virtual absl::StatusOr<std::vector<std::string>> GetChildren(
      const std::string& dir) = 0;
  virtual absl::StatusOr<uint64_t> GetFileSize(const std::string& path) = 0;
  virtual absl::Status RemoveFile(const std::string& path) = 0;
  virtual absl::Status RenameFile(const std::string& from,
                                  const std::string& to) = 0;
  virtual absl::Status TruncateFile(const std::string& path, uint64_t size) = 0;
  // Creates `dir` (mode 0700) if it does not exist.
  virtual absl::Status CreateDir(const std::string& dir) = 0;
  // Makes the directory's entries (created, removed files) durable.
  virtual absl::Status SyncDir(const std::string& dir) = 0;

  // Takes an exclusive lock on `path` (created 0600 if missing) and writes
  // this process's pid into it. If another open file holds the lock, fails
  // with FailedPrecondition naming the holder's pid.
  virtual absl::StatusOr<std::unique_ptr<FileLock>> LockFile(
      const std::string& path) = 0;
};

// An Env that forwards every call to `target` (which must outlive it); a
// base for test Envs that override a few calls.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override {
    return target_->NewWritableFile(path);
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) override {
    return target_->NewAppendableFile(path);
  }
  absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& path) override {
    return target_->NewSequentialFile(path);
  }
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    return target_->NewRandomAccessFile(path);
  }
  absl::StatusOr<std::vector<std::string>> GetChildren(
      const std::string& dir) override {
    return target_->GetChildren(dir);
  }
  absl::StatusOr<uint64_t> GetFileSize(const std::string& path) override {
    return target_->GetFileSize(path);
  }
  absl::Status RemoveFile(const std::string& path) override {
    return target_->RemoveFile(path);
  }
  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override {
    return target_->RenameFile(from, to);
  }
  absl::Status TruncateFile(const std::string& path, uint64_t size) override {
    return target_->TruncateFile(path, size);
  }
  absl::Status CreateDir(const std::string& dir) override {
    return target_->CreateDir(dir);
  }
  absl::Status SyncDir(const std::string& dir) override {
    return target_->SyncDir(dir);
  }
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(
      const std::string& path) override {
    return target_->LockFile(path);
  }

 private:
  Env* const target_;
};

}  // namespace parley::store

#endif  // PARLEY_RUNTIME_STORE_ENV_H_
