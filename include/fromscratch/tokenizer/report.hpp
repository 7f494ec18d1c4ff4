// Renderings of tokenizer results: JSON (the machine-readable form, also written to HDF5 by the CLI), plain
// text and Markdown tables.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "fromscratch/tokenizer/genealogy.hpp"
#include "fromscratch/tokenizer/metrics.hpp"
#include "fromscratch/tokenizer/tokenizer.hpp"

namespace fromscratch::tokenizer {

// What a tokenizer file holds: format, model, spelling, vocabulary and merge counts with the SHA-256 of the
// merge list, added tokens with their flags, pipeline configuration.
nlohmann::json tokenizer_summary_json(const Tokenizer& tok);
std::string tokenizer_summary_text(const nlohmann::json& summary);

// One pair (tokenizer compare): every metric of PairMetrics, the class and the original project's reading.
nlohmann::json pair_json(const PairMetrics& m, const Classification& c);
std::string pair_text(const nlohmann::json& pair);
std::string pair_markdown(const nlohmann::json& pair);

// The genealogy matrix: tokenizers, skipped inputs, all pairs with class and calibration, clusters, the
// independent-pair distribution, square matrices (names x names) for a heatmap, thresholds and caveats.
nlohmann::json matrix_json(const Matrix& mx);
std::string matrix_text(const nlohmann::json& matrix);
std::string matrix_markdown(const nlohmann::json& matrix);

}  // namespace fromscratch::tokenizer
