// The little a checkpoint's config.json must tell the role mapping: model_type (naming family) and
// num_hidden_layers (to tell a multi-token-prediction layer from a decoder layer). The full architecture is
// the arch channel's business (include/fromscratch/arch); this reader only needs to be safe and small.
#pragma once

#include <string>
#include <vector>

#include "fromscratch/core/tensor_roles.hpp"

namespace fromscratch {

struct ConfigHint {
  std::string path;        // config.json used, empty when none was found
  std::string model_type;  // "" when absent
  ModelFamily family = ModelFamily::unknown;
  int num_hidden_layers = -1;
  std::vector<std::string> warnings;  // a config that could not be read is a warning here, never fatal
};

// Looks for config.json in `folder` (capped at 4 MiB; text_config is consulted for multimodal wrappers).
ConfigHint read_config_hint(const std::string& folder);
// The same from config.json text already in memory (a fingerprint stores it); `label` names it in warnings.
ConfigHint config_hint_from_text(const std::string& text, const std::string& label);

}  // namespace fromscratch
