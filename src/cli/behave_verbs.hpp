// The behaviour channel's compare pipeline for other commands (verify --serve): A and B served over the
// OpenAI-compatible API, tested against >= 2 unrelated references (docs/behaviour.md). Defaults as
// `behave compare` (seeded prompt draw, greedy continuations, top-5 logprobs, response cache, OPENAI_API_KEY).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command.hpp"

namespace fromscratch::cli {

nlohmann::json behave_compare_served(Context& ctx, const std::string& a, const std::string& b,
                                     const std::vector<std::string>& refs, unsigned prompts, int tokens, uint64_t seed);

}  // namespace fromscratch::cli
