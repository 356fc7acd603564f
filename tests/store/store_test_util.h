// Helpers shared by the store tests: a per-test directory, message
// builders, and raw file surgery for the damage tests.
//
// Thread safety: test-only helpers, not thread-safe.
#ifndef PARLEY_TESTS_STORE_STORE_TEST_UTIL_H_
#define PARLEY_TESTS_STORE_STORE_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/store/message_store.h"

namespace parley::store::testing {

// A fresh directory under ::testing::TempDir() named for the running test;
// removed (with its files) on destruction.
class TestDir {
 public:
  TestDir();
  ~TestDir();
  const std::string& path() const { return path_; }
  // Full paths of the segment files, oldest first.
  std::vector<std::string> Segments() const;

 private:
  std::string path_;
};

// A message with a binary payload (NULs included) derived from seq.
StoredMessage Msg(uint64_t seq, size_t payload_bytes = 40);

// Every pending message, in the order ForEachPending yields them.
std::vector<StoredMessage> Pending(MessageStore& store, uint64_t from = 1);
std::vector<uint64_t> Seqs(const std::vector<StoredMessage>& messages);

std::string ReadFileOrDie(const std::string& path);
void WriteFileOrDie(const std::string& path, const std::string& contents);
// The file mode bits (e.g. 0600).
int FileMode(const std::string& path);

}  // namespace parley::store::testing

#endif  // PARLEY_TESTS_STORE_STORE_TEST_UTIL_H_
