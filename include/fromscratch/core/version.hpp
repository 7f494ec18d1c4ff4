// Tool version and the git revision it was built from (for --version and provenance records).
#pragma once

namespace fromscratch {
const char* tool_version();
const char* tool_git_sha();
}  // namespace fromscratch
