#include "fromscratch/core/config_hint.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "fromscratch/core/file_io.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch {

ConfigHint read_config_hint(const std::string& folder) {
  auto path = std::filesystem::path(folder) / "config.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return ConfigHint{};
  try {
    File f = File::open_read(path.string());
    if (f.size() > (4u << 20)) {
      ConfigHint hint;
      hint.path = path.string();
      hint.warnings.push_back(str(hint.path, ": ", f.size(), " bytes is over the 4 MiB limit for config.json; ignored"));
      return hint;
    }
    std::string text(f.size(), '\0');
    f.read_exact(text.data(), text.size(), 0);
    return config_hint_from_text(text, path.string());
  } catch (const std::exception& e) {
    ConfigHint hint;
    hint.path = path.string();
    hint.warnings.push_back(str(hint.path, ": could not be read (", quote_untrusted(e.what(), 200), "); roles are inferred from names alone"));
    return hint;
  }
}

ConfigHint config_hint_from_text(const std::string& text, const std::string& label) {
  ConfigHint hint;
  hint.path = label;
  if (text.size() > (4u << 20)) {
    hint.warnings.push_back(str(label, ": ", text.size(), " bytes is over the 4 MiB limit for config.json; ignored"));
    return hint;
  }
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_object()) throw std::runtime_error("not a JSON object");
    auto take = [&](const nlohmann::json& obj) {
      if (hint.model_type.empty() && obj.contains("model_type") && obj["model_type"].is_string())
        hint.model_type = obj["model_type"].get<std::string>();
      if (hint.num_hidden_layers < 0 && obj.contains("num_hidden_layers") && obj["num_hidden_layers"].is_number_integer()) {
        auto n = obj["num_hidden_layers"].get<int64_t>();
        if (n >= 0 && n <= kMaxLayerOrExpertIndex) hint.num_hidden_layers = static_cast<int>(n);
      }
    };
    take(j);
    if (j.contains("text_config") && j["text_config"].is_object()) take(j["text_config"]);
    hint.family = family_from_model_type(hint.model_type);
    if (!hint.model_type.empty() && hint.family == ModelFamily::unknown)
      hint.warnings.push_back(str(label, ": model_type '", quote_untrusted(hint.model_type, 60),
                                  "' is not a known naming family; roles are inferred from names alone"));
  } catch (const std::exception& e) {
    hint.warnings.push_back(str(label, ": could not be read (", quote_untrusted(e.what(), 200), "); roles are inferred from names alone"));
  }
  return hint;
}

}  // namespace fromscratch
