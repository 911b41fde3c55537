// Returning freed heap to the OS. glibc keeps freed memory in its arenas, so after a burst
// (a large Decode, many released sessions) RSS stays high though nothing is live. Work that
// frees much reports it here, and the session store's sweeper trims the heap when enough has
// been freed since the last trim.
#ifndef ASTCD_SERVER_MEMORY_H_
#define ASTCD_SERVER_MEMORY_H_

#include <cstdint>

namespace astcd::server {

// Records that about `bytes` were freed (cheap: one atomic add).
void NoteFreed(int64_t bytes);

// malloc_trim(0) when at least `threshold` bytes were noted since the last trim; returns
// whether it trimmed.
bool TrimIfFreed(int64_t threshold = int64_t{8} << 20);

}  // namespace astcd::server

#endif  // ASTCD_SERVER_MEMORY_H_
