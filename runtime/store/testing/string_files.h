// In-memory files for tests and fuzzers of the log format: StringDest
// collects what a log::Writer appends, StringSource serves a string to a
// log::Reader (sequentially) or to ValidRecordAfter (at offsets).
//
//   testing::StringDest dest;
//   log::Writer writer(&dest, 0);
//   writer.AddRecord("x");
//   testing::StringSource source(dest.contents);
//   log::Reader reader(&source);
//
// Thread safety: thread-compatible.
#ifndef PARLEY_RUNTIME_STORE_TESTING_STRING_FILES_H_
#define PARLEY_RUNTIME_STORE_TESTING_STRING_FILES_H_

#include <algorithm>
#include <cstdint>
#include <string>

#include "runtime/store/env.h"

namespace parley::store::testing {

// A zero-filling Preallocate makes it act as the POSIX file does after
// one: [0, size) counts as mapped (MappedRoom, MappedTail), and bytes built
// at MappedTail join `contents` with AppendInPlace.
class StringDest : public WritableFile {
 public:
  absl::Status Append(absl::string_view d) override {
    contents.append(d.data(), d.size());
    return absl::OkStatus();
  }
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::Status Sync() override { return absl::OkStatus(); }
  absl::Status Preallocate(uint64_t size, bool zero_fill) override {
    if (zero_fill) mapped_ = std::max(mapped_, size);
    return absl::OkStatus();
  }
  absl::Status Close() override { return absl::OkStatus(); }
  uint64_t MappedRoom() const override {
    return mapped_ > contents.size() ? mapped_ - contents.size() : 0;
  }
  char* MappedTail(size_t n) override {
    if (n == 0 || MappedRoom() < n) return nullptr;
    tail_.assign(n, '\0');
    return tail_.data();
  }
  absl::Status AppendInPlace(size_t n) override {
    contents.append(tail_.data(), n);
    return absl::OkStatus();
  }
  std::string contents;

 private:
  uint64_t mapped_ = 0;
  std::string tail_;  // where MappedTail's bytes are built
};

class StringSource : public SequentialFile, public RandomAccessFile {
 public:
  // `s` must outlive the source.
  explicit StringSource(const std::string& s) : contents_(s) {}
  absl::Status Read(size_t n, absl::string_view* result, char*) override {
    n = std::min(n, contents_.size() - pos_);
    *result = absl::string_view(contents_).substr(pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }
  absl::Status Read(uint64_t offset, size_t n, absl::string_view* result,
                    char*) const override {
    if (offset > contents_.size()) offset = contents_.size();
    *result = absl::string_view(contents_).substr(offset, n);
    return absl::OkStatus();
  }

 private:
  const std::string& contents_;
  size_t pos_ = 0;
};

}  // namespace parley::store::testing

#endif  // PARLEY_RUNTIME_STORE_TESTING_STRING_FILES_H_
