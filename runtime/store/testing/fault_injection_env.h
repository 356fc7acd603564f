// FaultInjectionEnv: an Env for tests that remembers, per file, how much was
// synced, and can then play a machine crash (every byte not covered by a
// Sync is lost) or make writes and syncs fail (a full disk, an I/O error).
// LevelDB's db/fault_injection_test.cc is the model.
//
//   store::testing::FaultInjectionEnv env;   // over Env::Default()
//   auto s = store::DurableStore::Open(&env, dir, options);
//   ... appends ...
//   env.SetFilesystemActive(false);  // the "power cut": writes go nowhere
//   s->reset();                      // the process dies
//   ASSERT_OK(env.DropUnsyncedData());  // what the disk really kept
//   env.SetFilesystemActive(true);
//   ... reopen and check what survived ...
//
//   env.SetWriteError(absl::ResourceExhaustedError("ENOSPC"));
//
// A crash zero-fills unsynced bytes inside preallocated space and cuts
// them off beyond it, and deletes files created since the last SyncDir of
// their directory. The target Env must be a real (POSIX) file system.
//
// Thread safety: thread-safe.
#ifndef PARLEY_RUNTIME_STORE_TESTING_FAULT_INJECTION_ENV_H_
#define PARLEY_RUNTIME_STORE_TESTING_FAULT_INJECTION_ENV_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "runtime/store/env.h"
#include "runtime/util/mutex.h"

namespace parley::store::testing {

class FaultInjectionEnv : public EnvWrapper {
 public:
  // `target` must outlive this Env.
  explicit FaultInjectionEnv(Env* target = Env::Default());

  // Subsequent Append/Flush/Preallocate (resp. Sync) calls fail with
  // `status` and write nothing; OkStatus() clears the fault.
  void SetWriteError(absl::Status status);
  void SetSyncError(absl::Status status);
  // While inactive, writes and syncs report success but reach nothing.
  void SetFilesystemActive(bool active);
  // The crash: drops every unsynced byte of every file written through
  // this Env, and files whose creation was not made durable by SyncDir.
  absl::Status DropUnsyncedData();

  // Successful WritableFile::Sync calls so far.
  int64_t sync_count() const;
  // Waits (bounded) until sync_count() >= n; false on timeout.
  bool WaitForSyncCount(int64_t n, absl::Duration timeout);

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override;
  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) override;
  absl::Status RemoveFile(const std::string& path) override;
  // The file keeps what it had synced; like a created one, it exists under
  // `to` after a crash only once SyncDir made the rename durable (else
  // under neither name).
  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override;
  absl::Status TruncateFile(const std::string& path, uint64_t size) override;
  absl::Status SyncDir(const std::string& dir) override;

 private:
  class File;
  struct FileState {
    uint64_t pos = 0;               // Bytes appended.
    uint64_t synced = 0;            // Bytes covered by a Sync.
    uint64_t preallocated = 0;      // Zero-filled or fallocated, synced.
    bool created_unsynced = false;  // Creation not yet made durable.
  };

  // util::Mutex, not absl's: ThreadSanitizer sees it (Debian's abseil is
  // not instrumented), so the store's tests run clean under TSan.
  mutable util::Mutex mu_;
  util::CondVar synced_;  // sync_count_ grew
  // By path; an open File holds its own state, which a rename moves.
  std::map<std::string, std::shared_ptr<FileState>> files_ ABSL_GUARDED_BY(mu_);
  absl::Status write_error_ ABSL_GUARDED_BY(mu_);
  absl::Status sync_error_ ABSL_GUARDED_BY(mu_);
  bool active_ ABSL_GUARDED_BY(mu_) = true;
  int64_t sync_count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace parley::store::testing

#endif  // PARLEY_RUNTIME_STORE_TESTING_FAULT_INJECTION_ENV_H_
