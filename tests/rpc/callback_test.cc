#include "parley/callback.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace parley {
namespace {

// Counts how often it is moved; a callable capturing it is kept in place
// when small (moving the Callback moves it) and behind a pointer when not
// (moving the Callback moves only the pointer).
struct MoveCounter {
  explicit MoveCounter(int* moves) : moves(moves) {}
  MoveCounter(MoveCounter&& other) noexcept : moves(other.moves) { ++*moves; }
  MoveCounter(const MoveCounter&) = delete;
  int* moves;
};

TEST(CallbackTest, EmptyFromNothingNullptrAndEmptyCallables) {
  EXPECT_FALSE(Callback<void()>());
  EXPECT_FALSE(Callback<void()>(nullptr));
  void (*no_function)() = nullptr;
  EXPECT_FALSE(Callback<void()>(no_function));
  EXPECT_FALSE(Callback<void()>(std::function<void()>()));
  Callback<void()> set = [] {};
  EXPECT_TRUE(set);
  EXPECT_TRUE(set != nullptr);
  set = nullptr;
  EXPECT_TRUE(set == nullptr);
}

TEST(CallbackTest, PassesArgumentsAndReturnsResults) {
  Callback<int(int, const std::string&)> add = [](int a, const std::string& b) {
    return a + static_cast<int>(b.size());
  };
  EXPECT_EQ(add(2, "abc"), 5);
  int (*twice)(int) = [](int a) { return 2 * a; };
  Callback<int(int)> from_pointer = twice;
  EXPECT_EQ(from_pointer(21), 42);
  Callback<int(int)> from_function = std::function<int(int)>(twice);
  EXPECT_EQ(from_function(4), 8);
}

TEST(CallbackTest, TakesMoveOnlyCallablesAndRunsThemConst) {
  auto owned = std::make_unique<int>(7);
  const Callback<int()> count = [owned = std::move(owned)]() mutable {
    return ++*owned;
  };
  EXPECT_EQ(count(), 8);
  EXPECT_EQ(count(), 9);
}

TEST(CallbackTest, KeepsSmallCallablesInPlaceAndLargeOnesOnTheHeap) {
  int small_moves = 0;
  Callback<void()> small = [counter = MoveCounter(&small_moves)] {};
  const int small_after_construction = small_moves;
  Callback<void()> small_moved = std::move(small);
  EXPECT_EQ(small_moves, small_after_construction + 1);
  EXPECT_FALSE(small);
  EXPECT_TRUE(small_moved);

  int large_moves = 0;
  char padding[Callback<void()>::kInlineBytes] = {};
  Callback<void()> large = [counter = MoveCounter(&large_moves), padding] {
    (void)padding;
  };
  const int large_after_construction = large_moves;
  Callback<void()> large_moved = std::move(large);
  EXPECT_EQ(large_moves, large_after_construction);
  EXPECT_FALSE(large);
  EXPECT_TRUE(large_moved);
}

TEST(CallbackTest, MovesTriviallyCopyableCallablesAsBytes) {
  int64_t a = 40;
  int64_t* target = &a;
  Callback<int64_t(int64_t)> add = [target, b = int64_t{2}](int64_t c) {
    return *target + b + c;
  };
  Callback<int64_t(int64_t)> moved = std::move(add);
  Callback<int64_t(int64_t)> again;
  again = std::move(moved);
  EXPECT_FALSE(add);
  EXPECT_FALSE(moved);
  EXPECT_EQ(again(0), 42);
  a = 0;
  EXPECT_EQ(again(1), 3);
}

TEST(CallbackTest, AlignsOverAlignedCallables) {
  struct alignas(64) Wide {
    uintptr_t operator()() const { return reinterpret_cast<uintptr_t>(this); }
  };
  Callback<uintptr_t()> wide = Wide();
  EXPECT_EQ(wide() % 64, 0u);
}

TEST(CallbackTest, DestroysTheCallableOnceWhereverItIs) {
  auto token = std::make_shared<int>(0);
  char padding[Callback<void()>::kInlineBytes] = {};
  {
    Callback<void()> small = [token] {};
    Callback<void()> large = [token, padding] { (void)padding; };
    EXPECT_EQ(token.use_count(), 3);
    Callback<void()> small_moved = std::move(small);
    Callback<void()> large_moved = std::move(large);
    EXPECT_EQ(token.use_count(), 3);
    small_moved = std::move(large_moved);  // ends the small one
    EXPECT_EQ(token.use_count(), 2);
    Callback<void()> other = [token] {};
    other = nullptr;
    EXPECT_EQ(token.use_count(), 2);
  }
  EXPECT_EQ(token.use_count(), 1);
}

}  // namespace
}  // namespace parley
