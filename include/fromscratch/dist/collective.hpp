// Running a step on every rank so that a failure anywhere ends the step everywhere, without a hang.
//
// Each rank runs fn and catches its own exception; all ranks then agree (one MPI_Allreduce) on whether any
// failed. If so, failed ranks' messages are gathered to rank 0, rank 0 throws an error carrying them (its own
// exception unchanged when it failed itself, so its type and exit code are kept), and the other ranks throw
// SilentFailure, which the command-line layer turns into exit code 1 without printing (only rank 0 prints).
#pragma once

#include <exception>
#include <string>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/dist/comm.hpp"

namespace fromscratch::dist {

struct SilentFailure : Error {
  SilentFailure() : Error("failed on another rank") {}
};

// Collective over comm.
template <class Fn>
void run_on_all_ranks(const Comm& comm, Fn&& fn) {
  std::exception_ptr mine;
  std::string message;
  try {
    fn();
  } catch (const std::exception& e) {
    mine = std::current_exception();
    message = e.what();
  }
  if (!comm.any(mine != nullptr)) return;
  auto messages = comm.gather_to_root(mine ? message : std::string());
  if (!comm.is_root()) throw SilentFailure();
  if (mine) std::rethrow_exception(mine);
  std::string all;
  for (size_t r = 0; r < messages.size(); ++r)
    if (!messages[r].empty()) all += str(all.empty() ? "" : "\n", "rank ", r, ": ", messages[r]);
  throw Error(all);
}

}  // namespace fromscratch::dist
