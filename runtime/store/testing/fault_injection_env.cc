#include "runtime/store/testing/fault_injection_env.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace parley::store::testing {
namespace {

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Overwrites [from, to) of `path` with zeros, then cuts it to `size` if
// it is longer.
absl::Status ZeroAndCut(const std::string& path, uint64_t from, uint64_t to,
                        uint64_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Errno(absl::StrCat("open ", path));
  std::string zeros(4096, '\0');
  absl::Status s;
  for (uint64_t at = from; at < to && s.ok();) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), to - at));
    ssize_t w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(at));
    if (w <= 0) s = Errno(absl::StrCat("pwrite ", path));
    at += static_cast<uint64_t>(w > 0 ? w : 0);
  }
  off_t end = ::lseek(fd, 0, SEEK_END);
  if (s.ok() && end > static_cast<off_t>(size) &&
      ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    s = Errno(absl::StrCat("ftruncate ", path));
  }
  ::close(fd);
  return s;
}

}  // namespace

class FaultInjectionEnv::File : public WritableFile {
 public:
  File(FaultInjectionEnv* env, std::shared_ptr<FileState> state,
       std::unique_ptr<WritableFile> target)
      : env_(env), state_(std::move(state)), target_(std::move(target)) {}

  absl::Status Append(absl::string_view data) override {
    return Appended(data.size(), [&] { return target_->Append(data); });
  }

  absl::Status Flush() override {
    util::MutexLock lock(&env_->mu_);
    if (!env_->write_error_.ok()) return env_->write_error_;
    if (!env_->active_) return absl::OkStatus();
    return target_->Flush();
  }

  absl::Status Sync() override {
    util::MutexLock lock(&env_->mu_);
    if (!env_->sync_error_.ok()) return env_->sync_error_;
    if (!env_->active_) return absl::OkStatus();
    absl::Status s = target_->Sync();
    if (s.ok()) {
      state_->synced = state_->pos;
      ++env_->sync_count_;
      env_->synced_.SignalAll();
    }
    return s;
  }

  absl::Status Preallocate(uint64_t size, bool zero_fill) override {
    util::MutexLock lock(&env_->mu_);
    if (!env_->write_error_.ok()) return env_->write_error_;
    if (!env_->active_) return absl::OkStatus();
    absl::Status s = target_->Preallocate(size, zero_fill);
    if (s.ok()) {
      state_->preallocated = std::max(state_->preallocated, size);
      state_->synced = state_->pos;  // Preallocate syncs.
    }
    return s;
  }

  uint64_t MappedRoom() const override { return target_->MappedRoom(); }

  char* MappedTail(size_t n) override {
    util::MutexLock lock(&env_->mu_);
    // Nothing is built in place that Append would refuse or drop.
    if (!env_->write_error_.ok() || !env_->active_) return nullptr;
    return target_->MappedTail(n);
  }

  absl::Status AppendInPlace(size_t n) override {
    return Appended(n, [&] { return target_->AppendInPlace(n); });
  }

  absl::Status Unmap() override { return target_->Unmap(); }

  absl::Status Close() override {
    // Closing flushes the target's buffer: bytes already counted in pos.
    return target_->Close();
  }

 private:
  // n bytes appended by `append`, unless writes fail or the env has
  // crashed (which drops them, as the crash would).
  template <typename AppendFn>
  absl::Status Appended(size_t n, AppendFn append) {
    util::MutexLock lock(&env_->mu_);
    if (!env_->write_error_.ok()) return env_->write_error_;
    if (!env_->active_) return absl::OkStatus();
    absl::Status s = append();
    if (s.ok()) state_->pos += n;
    return s;
  }

  FaultInjectionEnv* const env_;
  const std::shared_ptr<FileState> state_;  // guarded by env_->mu_
  const std::unique_ptr<WritableFile> target_;
};

FaultInjectionEnv::FaultInjectionEnv(Env* target) : EnvWrapper(target) {}

void FaultInjectionEnv::SetWriteError(absl::Status status) {
  util::MutexLock lock(&mu_);
  write_error_ = std::move(status);
}

void FaultInjectionEnv::SetSyncError(absl::Status status) {
  util::MutexLock lock(&mu_);
  sync_error_ = std::move(status);
}

void FaultInjectionEnv::SetFilesystemActive(bool active) {
  util::MutexLock lock(&mu_);
  active_ = active;
}

int64_t FaultInjectionEnv::sync_count() const {
  util::MutexLock lock(&mu_);
  return sync_count_;
}

bool FaultInjectionEnv::WaitForSyncCount(int64_t n, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  util::MutexLock lock(&mu_);
  while (sync_count_ < n) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    synced_.WaitFor(&mu_, left);
  }
  return true;
}

absl::Status FaultInjectionEnv::DropUnsyncedData() {
  util::MutexLock lock(&mu_);
  for (auto it = files_.begin(); it != files_.end();) {
    const std::string& path = it->first;
    const FileState& f = *it->second;
    if (f.created_unsynced) {
      (void)target()->RemoveFile(path);
      it = files_.erase(it);
      continue;
    }
    if (f.pos > f.synced) {
      absl::Status s =
          ZeroAndCut(path, f.synced, std::min(f.pos, f.preallocated),
                     std::max(f.synced, f.preallocated));
      if (!s.ok()) return s;
    }
    it->second->pos = it->second->synced;
    ++it;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WritableFile>>
FaultInjectionEnv::NewWritableFile(const std::string& path) {
  bool existed = target()->GetFileSize(path).ok();
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      target()->NewWritableFile(path);
  if (!file.ok()) return file.status();
  util::MutexLock lock(&mu_);
  auto state = std::make_shared<FileState>();
  state->created_unsynced = !existed;
  files_[path] = state;
  return std::unique_ptr<WritableFile>(
      new File(this, std::move(state), std::move(*file)));
}

absl::StatusOr<std::unique_ptr<WritableFile>>
FaultInjectionEnv::NewAppendableFile(const std::string& path) {
  absl::StatusOr<uint64_t> size = target()->GetFileSize(path);
  if (!size.ok()) return size.status();
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      target()->NewAppendableFile(path);
  if (!file.ok()) return file.status();
  util::MutexLock lock(&mu_);
  std::shared_ptr<FileState>& state = files_[path];
  if (state == nullptr) state = std::make_shared<FileState>();
  state->pos = state->synced = *size;  // What is there counts as durable.
  state->preallocated = 0;
  return std::unique_ptr<WritableFile>(new File(this, state, std::move(*file)));
}

absl::Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  absl::Status s = target()->RemoveFile(path);
  util::MutexLock lock(&mu_);
  files_.erase(path);
  return s;
}

absl::Status FaultInjectionEnv::RenameFile(const std::string& from,
                                           const std::string& to) {
  absl::Status s = target()->RenameFile(from, to);
  if (!s.ok()) return s;
  util::MutexLock lock(&mu_);
  std::shared_ptr<FileState> state;
  if (auto it = files_.find(from); it != files_.end()) {
    state = std::move(it->second);
    files_.erase(it);
  } else {  // Not written through this Env: what it holds is durable.
    state = std::make_shared<FileState>();
  }
  state->created_unsynced = true;
  files_[to] = std::move(state);
  return s;
}

absl::Status FaultInjectionEnv::TruncateFile(const std::string& path,
                                             uint64_t size) {
  absl::Status s = target()->TruncateFile(path, size);
  util::MutexLock lock(&mu_);
  auto it = files_.find(path);
  if (s.ok() && it != files_.end()) {
    // Treated as durable (recovery syncs the file right after).
    it->second->pos = it->second->synced = size;
    it->second->preallocated = std::min(it->second->preallocated, size);
  }
  return s;
}

absl::Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  {
    util::MutexLock lock(&mu_);
    if (!sync_error_.ok()) return sync_error_;
    if (!active_) return absl::OkStatus();
    for (auto& [path, f] : files_) {
      if (DirOf(path) == dir) f->created_unsynced = false;
    }
  }
  return target()->SyncDir(dir);
}

}  // namespace parley::store::testing
