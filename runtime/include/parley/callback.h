// parley/callback.h — the type of every completion callback a call takes.
//
//   parley::Callback<void(absl::Status)> done = [this, id](absl::Status s) {
//     ...
//   };
//   if (done) done(absl::OkStatus());
//
// Like std::function, but move-only (a callable capturing a unique_ptr is
// fine) and with room for kInlineBytes (32) of captures in place: a lambda
// capturing up to four pointers or references, or a shared_ptr and two
// more, costs no heap allocation. std::function keeps only 16 bytes in
// place, and a call's callback is created once per call. A larger
// callable, one aligned beyond a pointer, or one whose move may throw, is
// kept on the heap. Every pending call holds one, so the room is a
// trade: 48 bytes measured no faster, and made every call's state larger.
//
// Empty when default-constructed, or made from nullptr, a null function
// pointer or an empty std::function; calling an empty Callback is
// undefined (test it with operator bool first).
//
// Thread safety: as a plain object; a Callback runs wherever its owner
// calls it (for calls: on the I/O thread, once).
#ifndef PARLEY_CALLBACK_H_
#define PARLEY_CALLBACK_H_

#include <cstddef>
#include <cstring>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

namespace parley {

template <typename Signature>
class Callback;

template <typename R, typename... Args>
class Callback<R(Args...)> {
 public:
  static constexpr size_t kInlineBytes = 32;

  Callback() noexcept = default;
  Callback(std::nullptr_t) noexcept {}  // NOLINT: as std::function's

  template <typename F, typename D = std::decay_t<F>,
            typename = std::enable_if_t<!std::is_same_v<D, Callback> &&
                                        std::is_invocable_r_v<R, D&, Args...>>>
  Callback(F&& f) {  // NOLINT: implicit, as std::function's
    if constexpr (kNullable<D>) {
      if (f == nullptr) return;
    }
    if constexpr (kFitsInline<D>) {
      ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
    } else {
      ::new (static_cast<void*>(storage_)) D*(new D(std::forward<F>(f)));
    }
    ops_ = &kOps<D>;
  }

  Callback(Callback&& other) noexcept { Take(other); }
  Callback& operator=(Callback&& other) noexcept {
    if (this != &other) {
      Reset();
      Take(other);
    }
    return *this;
  }
  Callback& operator=(std::nullptr_t) noexcept {
    Reset();
    return *this;
  }
  Callback(const Callback&) = delete;
  Callback& operator=(const Callback&) = delete;
  ~Callback() { Reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  friend bool operator==(const Callback& f, std::nullptr_t) { return !f; }
  friend bool operator!=(const Callback& f, std::nullptr_t) {
    return static_cast<bool>(f);
  }

  // Runs the callable; the Callback must not be empty. Const as
  // std::function's is: a const Callback may run a callable that changes.
  R operator()(Args... args) const {
    return ops_->invoke(storage_, std::forward<Args>(args)...);
  }

 private:
  enum class Op { kMove, kDestroy };

  template <typename D>
  static constexpr bool kFitsInline =
      sizeof(D) <= kInlineBytes &&
      alignof(D) <= alignof(void*) && std::is_nothrow_move_constructible_v<D>;
  template <typename D>
  struct IsStdFunction : std::false_type {};
  template <typename Sig>
  struct IsStdFunction<std::function<Sig>> : std::true_type {};
  template <typename D>
  static constexpr bool kNullable =
      std::is_pointer_v<D> || std::is_member_pointer_v<D> ||
      IsStdFunction<D>::value;

  // The callable kept in `storage`: in place, or behind a pointer there.
  template <typename D>
  static D& Get(void* storage) {
    if constexpr (kFitsInline<D>) {
      return *std::launder(static_cast<D*>(storage));
    } else {
      return **std::launder(static_cast<D**>(storage));
    }
  }
  template <typename D>
  static R Invoke(void* storage, Args&&... args) {
    return std::invoke(Get<D>(storage), std::forward<Args>(args)...);
  }
  // kMove: moves the callable from `from` into `to` (raw storage) and ends
  // it in `from`. kDestroy: ends it in `from`.
  template <typename D>
  static void Manage(Op op, void* from, void* to) noexcept {
    if constexpr (kFitsInline<D>) {
      D& callable = Get<D>(from);
      if (op == Op::kMove) ::new (to) D(std::move(callable));
      callable.~D();
    } else if (op == Op::kMove) {
      ::new (to) D*(&Get<D>(from));
    } else {
      delete &Get<D>(from);
    }
  }

  // What a Callback does with the callable it keeps: one table per type,
  // so that a Callback holds a single pointer beside its storage.
  struct Ops {
    R (*invoke)(void*, Args&&...);
    // Null for a trivially copyable callable in place (a lambda capturing
    // pointers and references): it moves as bytes and needs no ending.
    void (*manage)(Op, void*, void*) noexcept;
  };
  template <typename D>
  static constexpr bool kMovesAsBytes = std::is_trivially_copyable_v<D> &&
                                        (kFitsInline<D>);
  template <typename D>
  static constexpr Ops kOps = {&Invoke<D>,
                               kMovesAsBytes<D> ? nullptr : &Manage<D>};

  void Take(Callback& other) noexcept {
    if (other.ops_ == nullptr) return;
    if (other.ops_->manage != nullptr) {
      other.ops_->manage(Op::kMove, other.storage_, storage_);
    } else {
      std::memcpy(storage_, other.storage_, kInlineBytes);
    }
    ops_ = std::exchange(other.ops_, nullptr);
  }
  void Reset() noexcept {
    if (ops_ != nullptr && ops_->manage != nullptr) {
      ops_->manage(Op::kDestroy, storage_, nullptr);
    }
    ops_ = nullptr;
  }

  alignas(void*) mutable unsigned char storage_[kInlineBytes];
  const Ops* ops_ = nullptr;  // null: empty
};

}  // namespace parley

#endif  // PARLEY_CALLBACK_H_
