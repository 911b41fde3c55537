#include "server/memory.h"

#include <malloc.h>

#include <atomic>

namespace astcd::server {
namespace {
std::atomic<int64_t> freed_since_trim{0};
}  // namespace

void NoteFreed(int64_t bytes) {
  if (bytes > 0) freed_since_trim.fetch_add(bytes, std::memory_order_relaxed);
}

bool TrimIfFreed(int64_t threshold) {
  const int64_t freed = freed_since_trim.load(std::memory_order_relaxed);
  if (freed < threshold) return false;
  // Subtracts what it saw, not a store of 0: a NoteFreed from another thread in between counts.
  freed_since_trim.fetch_sub(freed, std::memory_order_relaxed);
  malloc_trim(0);
  return true;
}

}  // namespace astcd::server
