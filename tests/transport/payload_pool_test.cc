// PayloadPool: buffers come back with their capacity, and the pool keeps
// no more than its callers took and its caps allow.
#include "runtime/transport/payload_pool.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace parley::transport {
namespace {

std::vector<std::string> Buffers(size_t n, size_t capacity) {
  std::vector<std::string> buffers(n);
  for (std::string& b : buffers) b.reserve(capacity);
  return buffers;
}

TEST(PayloadPoolTest, AnEmptyPoolHandsOutANewString) {
  PayloadPool pool;
  EXPECT_TRUE(pool.Take().empty());
  EXPECT_EQ(pool.kept(), 0u);
}

TEST(PayloadPoolTest, AGivenBufferComesBackEmptyWithItsCapacity) {
  PayloadPool pool;
  std::string payload = pool.Take();
  payload.assign(100, 'x');
  std::vector<std::string> released;
  released.push_back(std::move(payload));
  pool.Give(&released);
  EXPECT_TRUE(released.empty());
  ASSERT_EQ(pool.kept(), 1u);
  std::string again = pool.Take();
  EXPECT_TRUE(again.empty());
  EXPECT_GE(again.capacity(), 100u);
  EXPECT_EQ(pool.kept(), 0u);
}

TEST(PayloadPoolTest, KeepsNoMoreThanWasTakenAndNotGivenBack) {
  PayloadPool pool;
  std::vector<std::string> replies = Buffers(5, 64);
  pool.Give(&replies);  // nothing was taken: a server's replies, say
  EXPECT_EQ(pool.kept(), 0u);
  for (int i = 0; i < 2; ++i) pool.Take();
  std::vector<std::string> released = Buffers(5, 64);
  pool.Give(&released);
  EXPECT_EQ(pool.kept(), 2u);
  EXPECT_TRUE(released.empty());  // the other three are freed
}

TEST(PayloadPoolTest, KeepsAtMostItsCountAndBytes) {
  PayloadPool pool;
  for (size_t i = 0; i < 2 * PayloadPool::kMaxBuffers; ++i) pool.Take();
  std::vector<std::string> small = Buffers(2 * PayloadPool::kMaxBuffers, 64);
  pool.Give(&small);
  EXPECT_EQ(pool.kept(), PayloadPool::kMaxBuffers);

  PayloadPool big_pool;
  const size_t n = 2 * PayloadPool::kMaxBytes / 1024;
  for (size_t i = 0; i < n; ++i) big_pool.Take();
  std::vector<std::string> big = Buffers(n, 1024);
  big_pool.Give(&big);
  EXPECT_GT(big_pool.kept(), 0u);
  EXPECT_LE(big_pool.kept() * 1024, PayloadPool::kMaxBytes);
}

}  // namespace
}  // namespace parley::transport
