// Commands run their rank-local steps through run_collectively() (dist/collective.hpp explains the rule).
#pragma once

#include "command.hpp"
#include "fromscratch/dist/collective.hpp"

namespace fromscratch::cli {

using dist::SilentFailure;

// Collective over the world communicator.
template <class Fn>
void run_collectively(Context& ctx, Fn&& fn) {
  dist::run_on_all_ranks(ctx.comm(), std::forward<Fn>(fn));
}

}  // namespace fromscratch::cli
