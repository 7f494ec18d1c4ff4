// The verify report: figures (gnuplot, SVG), report.md, report.html (one self-contained file) and
// summary.json, all rendered from the results document of run_verify (verify.hpp).
//
// Every number shown names where results.h5 holds it. results.h5 is the results document written by
// io::H5File::write_json, whose mapping is fixed (h5_file.hpp): an object is a group, a scalar member an
// attribute of that group, an array of numbers a dataset, an array of objects a group of subgroups
// 000000, 000001, ...; '/' and '%' in keys become %2F and %25. h5_locator() applies the same mapping to a
// JSON path, so "/pairs/000000/channels/weights/result/records/000012@log10_p" reads as: group
// /pairs/000000/channels/weights/result/records/000012, attribute log10_p.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

namespace fromscratch::report {

// One step of a JSON path: an object key or an array index.
using PathStep = std::variant<std::string, size_t>;
using JsonPath = std::vector<PathStep>;
// "group/path@attribute" for a scalar, "dataset/path[i]" for an element of a number array.
std::string h5_locator(const JsonPath& path);

struct Figure {
  std::string id;       // "fig3" (unique in the report)
  std::string title;
  std::string caption;  // what is drawn, from which null, where the numbers are in results.h5
  std::string svg;      // inline SVG; empty when not drawn
  std::string note;     // why not drawn (gnuplot missing or failed)
};

// Drives gnuplot as a separate process. Why gnuplot: it is maintained (5.4, in Debian as gnuplot-nox), needs
// no network and no browser at render time, and its SVG terminal writes the same bytes for the same data
// (no timestamps), so reports are reproducible; a hand-rolled plotter would be one more thing to test.
class Gnuplot {
 public:
  // `program`: the executable (default "gnuplot", looked up on PATH; $FROMSCRATCH_GNUPLOT overrides).
  explicit Gnuplot(std::string program = "");
  bool available() const { return available_; }
  const std::string& program() const { return program_; }
  // Runs `script` (which must not set the terminal or output) with the named data files written next to it
  // ({file name, content}); returns the SVG or empty with `error` set. Killed after `timeout_s`.
  std::string render(const std::string& script, const std::vector<std::pair<std::string, std::string>>& data,
                     int width, int height, std::string& error, int timeout_s = 60) const;

 private:
  std::string program_;
  bool available_ = false;
};

// Every figure the results allow (per pair with weights: per-layer similarity with null band, layer x layer
// maps, z histogram against the null, expert matching; the tokenizer overlap matrix). When gnuplot is missing
// each figure carries a note instead of an SVG, and the report still renders.
std::vector<Figure> make_figures(const nlohmann::json& results, const Gnuplot& gnuplot);

// report.md and report.html (self-contained: inline SVG and CSS, no script, no external reference).
std::string render_markdown(const nlohmann::json& results, const std::vector<Figure>& figures);
std::string render_html(const nlohmann::json& results, const std::vector<Figure>& figures);
// summary.json: format, candidate, references, "verdict" {overall, by_reference, reason}, per pair the channel
// verdicts and the strongest weight evidence, channels not run with the reason, findings.
nlohmann::json summary_json(const nlohmann::json& results);
// Plain-text verdict lines for the terminal.
std::string verdict_text(const nlohmann::json& results);

}  // namespace fromscratch::report
