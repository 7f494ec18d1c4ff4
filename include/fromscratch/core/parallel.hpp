// Thread-level parallelism for the pure libraries: a dynamic parallel-for over independent work items.
//
// Items are claimed from an atomic counter, so a slow item (one huge tensor) does not hold back the others.
// Results must be written to per-item slots by the caller, which keeps output independent of scheduling.
// The first exception thrown by any item is rethrown on the calling thread after all workers stop.
#pragma once

#include <cstddef>
#include <functional>

namespace fromscratch {

// Runs fn(item, worker) for item in [0, n) on `threads` threads (the caller's thread is one of them).
void parallel_for(size_t n, unsigned threads, const std::function<void(size_t item, unsigned worker)>& fn);

}  // namespace fromscratch
