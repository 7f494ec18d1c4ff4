// --matched-draws-max, read the same way by every command that runs the weight comparison (weights compare,
// compare, verify): its help text and the rules that turn it into CompareOptions.
#pragma once

#include <boost/program_options.hpp>
#include <string>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/weights/compare.hpp"

namespace fromscratch::cli {

inline constexpr const char* kMatchedDrawsMaxHelp =
    "second stage, up to this many draws, of a matched test whose first draws all fall below a promising "
    "observation (z >= 3, where 39 draws cannot show more than p = 1/40); 1999 resolves p to 5e-4; 0 = off. "
    "Only where it can change the verdict, and only while draws x elements of both models stay within "
    "--matched-budget";
inline constexpr const char* kMatchedBudgetHelp =
    "draws x stored elements of both models that the matched tests' second stage may spend (deterministic, "
    "unlike a time limit); 0 = no cap";

// Call after --matched-draws is in o.matched_null_draws. By default the second stage is on (off when the first
// stage is already larger), within --matched-budget.
inline void apply_matched_draws_max(const boost::program_options::variables_map& vm, const std::string& command,
                                    weights::CompareOptions& o) {
  o.matched_second_stage_budget = vm["matched-budget"].as<double>();
  if (!(o.matched_second_stage_budget >= 0 && o.matched_second_stage_budget <= 1e18))
    throw UsageError(command + ": --matched-budget " + std::to_string(o.matched_second_stage_budget) +
                     " is outside [0, 1e18] (0: no cap)");
  o.matched_null_draws_max = vm["matched-draws-max"].as<uint64_t>();
  if (vm["matched-draws-max"].defaulted()) {
    if (o.matched_null_draws_max < o.matched_null_draws) o.matched_null_draws_max = 0;
    return;
  }
  if (o.matched_null_draws_max != 0 && (o.matched_null_draws_max < o.matched_null_draws || o.matched_null_draws_max > 100000))
    throw UsageError(command + ": --matched-draws-max " + std::to_string(o.matched_null_draws_max) +
                     " is outside [--matched-draws " + std::to_string(o.matched_null_draws) + ", 100000] (or 0: off)");
}

}  // namespace fromscratch::cli
