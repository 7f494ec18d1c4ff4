// Writing a verify run's folder (report.html, report.md, summary.json, results.h5), shared by `verify` and
// `demo`. Implemented in cmd_verify.cpp.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fromscratch::cli {

// Refuses (UsageError, exit 2) an output folder that exists and is not empty, unless force.
void check_verify_out_dir(const std::string& dir, bool force);

// Renders figures and documents from the results and writes them into a temporary folder next to `dir`,
// then renames it to `dir` (an existing `dir` is replaced only with force): a reader never finds a
// half-written report at `dir`. Returns summary.json's content. Rank 0 only.
nlohmann::json write_verify_outputs(const std::string& dir, const nlohmann::json& results, bool force,
                                    const std::vector<std::string>& argv, int ranks, std::vector<std::string>* notes);

}  // namespace fromscratch::cli
