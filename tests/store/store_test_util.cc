#include "tests/store/store_test_util.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace parley::store::testing {

TestDir::TestDir() {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  std::replace(name.begin(), name.end(), '/', '_');
  path_ = ::testing::TempDir() + "parley_store_" + name;
  std::filesystem::remove_all(path_);
}

TestDir::~TestDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<std::string> TestDir::Segments() const {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(path_)) {
    if (e.path().extension() == ".log") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

StoredMessage Msg(uint64_t seq, size_t payload_bytes) {
  StoredMessage m;
  m.seq = seq;
  m.method = "test.Svc/Method" + std::to_string(seq % 3);
  m.payload.resize(payload_bytes);
  for (size_t i = 0; i < payload_bytes; ++i) {
    m.payload[i] = i % 5 == 0 ? '\0' : static_cast<char>(seq * 31 + i);
  }
  m.ack_within_ms = static_cast<uint32_t>(seq * 10);
  m.reply_wanted = seq % 2 == 0;
  return m;
}

std::vector<StoredMessage> Pending(MessageStore& store, uint64_t from) {
  std::vector<StoredMessage> out;
  absl::Status s = store.ForEachPending(from, [&](const StoredMessage& m) {
    out.push_back(m);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

std::vector<uint64_t> Seqs(const std::vector<StoredMessage>& messages) {
  std::vector<uint64_t> out;
  for (const StoredMessage& m : messages) out.push_back(m.seq);
  return out;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFileOrDie(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  EXPECT_TRUE(out.good()) << path;
}

int FileMode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<int>(st.st_mode & 0777);
}

}  // namespace parley::store::testing
