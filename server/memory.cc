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
  if (freed_since_trim.load(std::memory_order_relaxed) < threshold) return false;
  freed_since_trim.store(0, std::memory_order_relaxed);
  malloc_trim(0);
  return true;
}

}  // namespace astcd::server
