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

class StringDest : public WritableFile {
 public:
  absl::Status Append(absl::string_view d) override {
    contents.append(d.data(), d.size());
    return absl::OkStatus();
  }
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::Status Sync() override { return absl::OkStatus(); }
  absl::Status Preallocate(uint64_t, bool) override { return absl::OkStatus(); }
  absl::Status Close() override { return absl::OkStatus(); }
  std::string contents;
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
