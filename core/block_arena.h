// A bump allocator for objects of one type: the AST's and the Python parser's node arenas.
#ifndef ASTCD_CORE_BLOCK_ARENA_H_
#define ASTCD_CORE_BLOCK_ARENA_H_

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace astcd {

// Objects live in raw blocks of kBlock and are built only when handed out, so a small tree does
// not pay for initializing a whole block (that memset, or std::deque's block of two 200-byte
// nodes, was each a twentieth of Tokenize's instructions). All are freed with the arena; their
// destructors run only when T has one that does something.
template <typename T, size_t kBlock>
class BlockArena {
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);

 public:
  BlockArena() = default;
  BlockArena(const BlockArena&) = delete;
  BlockArena& operator=(const BlockArena&) = delete;
  ~BlockArena() {
    if constexpr (!std::is_trivially_destructible_v<T>) {
      for (size_t b = 0; b < blocks_.size(); ++b) {
        const size_t built = b + 1 == blocks_.size() ? used_in_block_ : kBlock;
        for (size_t i = 0; i < built; ++i) std::launder(Slot(b, i))->~T();
      }
    }
  }

  // A new T{args...}, valid until the arena is destroyed.
  template <typename... Args>
  T* New(Args&&... args) {
    if (used_in_block_ == kBlock) {
      blocks_.push_back(std::make_unique_for_overwrite<std::byte[]>(kBlock * sizeof(T)));
      used_in_block_ = 0;
    }
    T* slot = Slot(blocks_.size() - 1, used_in_block_++);
    ++size_;
    return new (slot) T{std::forward<Args>(args)...};
  }

  size_t size() const { return size_; }

 private:
  T* Slot(size_t block, size_t i) const {
    return reinterpret_cast<T*>(blocks_[block].get() + i * sizeof(T));
  }

  std::vector<std::unique_ptr<std::byte[]>> blocks_;
  size_t used_in_block_ = kBlock;
  size_t size_ = 0;
};

}  // namespace astcd

#endif  // ASTCD_CORE_BLOCK_ARENA_H_
