// The verbs of `fromscratch weights`, one file each (cmd_weights_<verb>.cpp), dispatched by cmd_weights.cpp.
#pragma once

#include "command.hpp"

namespace fromscratch::cli {

int run_weights_stats(Context& ctx, const Args& args);      // cmd_weights_stats.cpp
int run_weights_compare(Context& ctx, const Args& args);    // cmd_weights_compare.cpp
int run_weights_upcycling(Context& ctx, const Args& args);  // cmd_weights_compare.cpp
int run_weights_pca(Context& ctx, const Args& args);        // cmd_weights_pca.cpp

}  // namespace fromscratch::cli
