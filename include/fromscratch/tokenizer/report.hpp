// Renderings of tokenizer results: JSON (the machine-readable form, also written to HDF5 by the CLI), plain
// text and Markdown tables.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "fromscratch/tokenizer/tokenizer.hpp"

namespace fromscratch::tokenizer {

// What a tokenizer file holds: format, model, spelling, vocabulary and merge counts with the SHA-256 of the
// merge list, added tokens with their flags, pipeline configuration.
nlohmann::json tokenizer_summary_json(const Tokenizer& tok);
std::string tokenizer_summary_text(const nlohmann::json& summary);

}  // namespace fromscratch::tokenizer
