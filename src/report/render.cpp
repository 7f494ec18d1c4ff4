// Figures (gnuplot SVG), report.md, report.html and summary.json from the verify results document.
#include "fromscratch/report/render.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <thread>

#include "fromscratch/core/strings.hpp"
#include "fromscratch/report/verify.hpp"

namespace fromscratch::report {

using json = nlohmann::json;
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------------------
// HDF5 locators (the mapping of io::H5File::write_json).

std::string h5_locator(const JsonPath& path) {
  // Walk: keys are groups until the last step; an index after an object list is a 6-digit subgroup; an
  // index into a numeric array (the last step or the one before a second index) is an element.
  std::string group;
  std::string tail;
  for (size_t i = 0; i < path.size(); ++i) {
    const bool last = i + 1 == path.size();
    if (const auto* k = std::get_if<std::string>(&path[i])) {
      if (last) tail = "@" + *k;
      else group += "/" + escape_h5_link_name(*k);
    } else {
      size_t idx = std::get<size_t>(path[i]);
      // An index followed only by indices addresses a numeric dataset element.
      bool numeric = true;
      for (size_t j = i; j < path.size(); ++j) numeric &= std::holds_alternative<size_t>(path[j]);
      if (numeric) {
        tail = "[";
        for (size_t j = i; j < path.size(); ++j) tail += (j > i ? "," : "") + std::to_string(std::get<size_t>(path[j]));
        tail += "]";
        break;
      }
      char buf[16];
      std::snprintf(buf, sizeof buf, "%06zu", idx);
      group += "/" + std::string(buf);
    }
  }
  if (group.empty()) group = "/";
  return group + tail;
}

// ---------------------------------------------------------------------------------------------------------
// gnuplot

namespace {

bool executable_on_path(const std::string& prog, std::string& found) {
  if (prog.find('/') != std::string::npos) {
    if (access(prog.c_str(), X_OK) == 0) {
      found = prog;
      return true;
    }
    return false;
  }
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string cand = dir + "/" + prog;
    if (access(cand.c_str(), X_OK) == 0) {
      found = cand;
      return true;
    }
  }
  return false;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Inline SVG: drop the XML prolog and make every id unique to the figure (several gnuplot SVGs in one
// document otherwise share ids such as gpPt0).
std::string inline_svg(const std::string& svg, const std::string& prefix) {
  size_t start = svg.find("<svg");
  if (start == std::string::npos) return "";
  std::string s = svg.substr(start);
  auto replace_all = [&](const std::string& from, const std::string& to) {
    size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
      s.replace(pos, from.size(), to);
      pos += to.size();
    }
  };
  replace_all("id='", "id='" + prefix);
  replace_all("id=\"", "id=\"" + prefix);
  replace_all("href='#", "href='#" + prefix);
  replace_all("href=\"#", "href=\"#" + prefix);
  replace_all("url(#", "url(#" + prefix);
  return s;
}

}  // namespace

Gnuplot::Gnuplot(std::string program) {
  if (program.empty()) {
    const char* env = std::getenv("FROMSCRATCH_GNUPLOT");
    program = env && *env ? env : "gnuplot";
  }
  available_ = executable_on_path(program, program_);
  if (!available_) program_ = program;
}

std::string Gnuplot::render(const std::string& script, const std::vector<std::pair<std::string, std::string>>& data,
                            int width, int height, std::string& error, int timeout_s) const {
  error.clear();
  if (!available_) {
    error = "gnuplot not found (" + program_ + "); install gnuplot-nox to draw figures";
    return "";
  }
  char tmpl[] = "/tmp/fromscratch-plot-XXXXXX";
  if (!mkdtemp(tmpl)) {
    error = std::string("mkdtemp: ") + std::strerror(errno);
    return "";
  }
  fs::path dir(tmpl);
  std::string svg;
  try {
    for (const auto& [name, content] : data) std::ofstream(dir / name, std::ios::binary) << content;
    std::ofstream(dir / "plot.gp") << "set terminal svg size " << width << "," << height
                                   << " dynamic font 'sans,11' background rgb 'white'\n"
                                   << "set output 'figure.svg'\n"
                                   << script << "\nunset output\n";
    pid_t pid = fork();
    if (pid < 0) {
      error = std::string("fork: ") + std::strerror(errno);
    } else if (pid == 0) {
      if (chdir(tmpl) != 0) _exit(126);
      int devnull = open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
      }
      int errfd = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (errfd >= 0) dup2(errfd, 2);
      execl(program_.c_str(), program_.c_str(), "plot.gp", static_cast<char*>(nullptr));
      _exit(127);
    } else {
      int status = 0;
      auto t0 = std::chrono::steady_clock::now();
      bool done = false;
      while (!done) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
          done = true;
          break;
        }
        if (r < 0 && errno != EINTR) break;
        if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(timeout_s)) {
          kill(pid, SIGKILL);
          waitpid(pid, &status, 0);
          error = str("gnuplot did not finish within ", timeout_s, " s");
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (done) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
          svg = read_file(dir / "figure.svg");
          if (svg.find("</svg>") == std::string::npos) {
            error = "gnuplot wrote no complete SVG";
            svg.clear();
          }
        } else {
          std::string msg = read_file(dir / "stderr.txt");
          if (msg.size() > 600) msg = msg.substr(0, 600) + "...";
          error = str("gnuplot failed (exit ", WIFEXITED(status) ? WEXITSTATUS(status) : -1, "): ", msg);
        }
      }
    }
  } catch (const std::exception& e) {
    error = e.what();
    svg.clear();
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return svg;
}

// ---------------------------------------------------------------------------------------------------------
// Numbers

namespace {

std::string num(double v, int prec = 3) {
  if (!std::isfinite(v)) return v > 0 ? "inf" : (v < 0 ? "-inf" : "nan");
  std::ostringstream os;
  double a = std::fabs(v);
  if (a != 0 && (a >= 1e6 || a < 1e-3)) os << std::setprecision(prec) << std::scientific << v;
  else os << std::setprecision(prec + (a >= 1 ? int(std::log10(a)) + 1 : 0)) << std::defaultfloat << v;
  return os.str();
}

double dbl(const json& j, const char* key, double fallback = 0) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

std::string gp_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "''";
    else if (c == '\n' || c == '\r') out += ' ';
    else if (c == '_') out += "\\_";  // gnuplot's enhanced text would read _ as a subscript
    else out += c;
  }
  return out + "'";
}

// Which alignment a weights result used for its strongest matched test ("" when none ran).
std::string best_alignment(const json& w) {
  std::string kind;
  double best = 1;
  if (!w.contains("records")) return kind;
  for (const auto& r : w["records"]) {
    if (!r.value("family", false) || r.value("test", "") != "matched_correlation") continue;
    std::string scope = r.value("scope", "");
    if (scope.rfind("alignment=", 0) != 0) continue;
    double p = r.value("log10_p_adjusted", 0.0);
    if (kind.empty() || p < best) {
      best = p;
      kind = scope.substr(10);
      if (auto sp = kind.find(' '); sp != std::string::npos) kind = kind.substr(0, sp);
    }
  }
  return kind;
}

const json* alignment_candidate(const json& w, const std::string& kind) {
  if (kind.empty() || !w.contains("alignment") || !w["alignment"].contains("candidates")) return nullptr;
  for (const auto& c : w["alignment"]["candidates"])
    if (c.value("kind", "") == kind) return &c;
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Figures

std::vector<Figure> make_figures(const json& results, const Gnuplot& gp) {
  std::vector<Figure> figs;
  auto add = [&](Figure f, const std::string& script, const std::vector<std::pair<std::string, std::string>>& data,
                 int w, int h) {
    f.id = "fig" + std::to_string(figs.size() + 1);
    std::string err;
    std::string svg = gp.render(script, data, w, h, err);
    if (svg.empty()) f.note = "figure not drawn: " + err;
    else f.svg = inline_svg(svg, f.id + "-");
    figs.push_back(std::move(f));
  };
  const std::string cand = results["candidate"].value("label", "candidate");
  const auto& pairs = results["pairs"];
  for (size_t pi = 0; pi < pairs.size(); ++pi) {
    const auto& pair = pairs[pi];
    const std::string ref = pair.value("reference", "");
    const auto& wch = pair["channels"]["weights"];
    if (wch.value("status", "") != "run") continue;
    const json& w = wch["result"];
    const std::string base = h5_locator({"pairs", pi, "channels", "weights", "result", "x"});
    const std::string wgroup = base.substr(0, base.size() - 2);
    // 1. per-layer centred similarity with null bands
    {
      std::map<int, std::pair<double, double>> sb;  // layer -> (sum r, sum sigma^2)
      std::map<int, int> sbn;
      for (const auto& r : w["records"]) {
        if (r.value("test", "") != "same_basis_correlation" || r.value("layer", -1) < 0) continue;
        int l = r.value("layer", -1);
        double e = dbl(r, "effect"), z = dbl(r, "z");
        sb[l].first += e;
        if (std::fabs(z) > 1e-9) sb[l].second += (e / z) * (e / z);
        sbn[l]++;
      }
      std::string kind = best_alignment(w);
      std::map<int, std::pair<double, double>> mt;
      std::map<int, int> mtn;
      if (const json* c = alignment_candidate(w, kind)) {
        for (const auto& b : (*c)["blocks"]) {
          int l = b.value("layer", -1);
          if (l < 0) continue;
          double e = dbl(b, "mean_r"), z = dbl(b, "z");
          mt[l].first += e;
          if (std::fabs(z) > 1e-9) mt[l].second += (e / z) * (e / z);
          mtn[l]++;
        }
      }
      if (!sb.empty()) {
        std::ostringstream d;
        int maxl = 0;
        for (const auto& [l, v] : sb) {
          int k = sbn[l];
          double band = 1.96 * std::sqrt(v.second) / k;
          d << l << " " << v.first / k << " " << band;
          if (mt.count(l)) {
            int km = mtn[l];
            d << " " << mt[l].first / km << " " << 1.96 * std::sqrt(mt[l].second) / km;
          } else {
            d << " NaN NaN";
          }
          d << "\n";
          maxl = std::max(maxl, l);
        }
        std::string script = "set xlabel 'layer'\nset ylabel 'centred correlation r'\nset key outside bottom center horizontal\n"
                             "set grid ytics lc rgb '#dddddd'\nset xtics 1\nset xrange [-0.3:" + std::to_string(maxl) + ".3]\n"
                             "set style fill transparent solid 0.35 noborder\n"
                             "plot 'd.dat' using 1:(-$3):3 with filledcurves lc rgb '#9ecae1' title 'same-basis null (95%)', "
                             "'' using 1:2 with linespoints pt 7 ps 0.8 lw 2 lc rgb '#08519c' title 'same-basis r'";
        if (!mt.empty())
          script += ", '' using 1:(-$5):5 with filledcurves lc rgb '#fdae6b' title 'matched null (95%)', "
                    "'' using 1:4 with linespoints pt 5 ps 0.8 lw 2 lc rgb '#a63603' title " +
                    gp_quote("matched r (" + kind + ")");
        Figure f;
        f.title = "Per-layer centred similarity: " + cand + " vs " + ref;
        f.caption = "Blue: mean centred correlation r of the same-basis tensor pairs of each layer (records "
                    "test=same_basis_correlation with a layer, " + wgroup + "/records/*@effect), with the 95% band "
                    "of its null (one permutation of the hidden dimension applied to every tensor: sigma = r / z "
                    "per record, combined over the layer's records)." +
                    std::string(mt.empty() ? "" : " Orange: mean matched r per layer under the alignment '" + kind +
                                                      "' (" + wgroup + "/alignment/candidates/*/blocks), band from "
                                                      "each block's z (the decoupled null of the matched test).") +
                    " Points outside their band are layers the test sees; a disguised copy shows r near 0 in the "
                    "same basis and near 1 once aligned.";
        add(f, script, {{"d.dat", d.str()}}, 720, 380);
      }
    }
    // 2. layer x layer maps
    if (w.contains("layer_maps")) {
      for (const auto& [role, lm] : w["layer_maps"].items()) {
        if (!lm.contains("centred_r") || !lm["centred_r"].is_array() || lm["centred_r"].empty()) continue;
        std::ostringstream d;
        size_t rows = lm["centred_r"].size(), cols = 0;
        for (const auto& row : lm["centred_r"]) {
          cols = row.size();
          for (size_t j = 0; j < row.size(); ++j) d << (j ? " " : "") << (row[j].is_number() ? row[j].get<double>() : 0.0);
          d << "\n";
        }
        std::ostringstream s;
        s << "set xlabel " << gp_quote("layer of " + ref) << "\nset ylabel " << gp_quote("layer of " + cand)
          << "\nset cbrange [-1:1]\nset cblabel 'centred r'\n"
             "set palette defined (-1 '#2166ac', 0 '#f7f7f7', 1 '#b2182b')\n"
             "set xrange [-0.5:" << cols - 0.5 << "]\nset yrange [" << rows - 0.5 << ":-0.5]\nset xtics 1\nset ytics 1\n"
             "set size ratio -1\n";
        if (rows * cols <= 256)
          s << "plot 'm.dat' matrix with image pixels notitle, '' matrix using 1:2:(sprintf('%.2f',$3)) with labels "
               "font ',8' notitle\n";
        else
          s << "plot 'm.dat' matrix with image pixels notitle\n";
        Figure f;
        f.title = "Layer correspondence (" + role + "): " + cand + " vs " + ref;
        f.caption = "Centred correlation of every layer pair's " + role + " vectors (" + wgroup + "/layer_maps/" + role +
                    "/centred_r). A model derived in the same basis shows a bright diagonal (a shifted one after pruning; "
                    "a disguised copy's norm vectors are permuted with its basis, so its diagonal fades); the test "
                    "of the best assignment has log10 p = " + num(dbl(lm, "log10_p")) + " (" + wgroup + "/layer_maps/" +
                    role + "@log10_p; null: the same assignment after one permutation of the hidden dimension).";
        add(f, s.str(), {{"m.dat", d.str()}}, 520, 440);
      }
    }
    // 3. z of every localisation record against the null, family tests marked
    {
      std::vector<double> zs;
      std::vector<std::pair<std::string, double>> fam;
      for (const auto& r : w["records"]) {
        double z = dbl(r, "z");
        if (r.value("family", false)) {
          if (std::fabs(z) > 0) fam.push_back({r.value("test", "") + " " + r.value("scope", ""), z});
        } else if (std::fabs(z) > 0) {
          zs.push_back(z);
        }
      }
      if (!zs.empty()) {
        const double lim = 8, bw = 0.5;
        std::map<int, int> bins;
        for (double z : zs) {
          double c = std::clamp(z, -lim + bw / 2, lim - bw / 2);
          bins[int(std::floor(c / bw))]++;
        }
        std::ostringstream d;
        for (const auto& [b, n] : bins) d << (b + 0.5) * bw << " " << n << "\n";
        std::ostringstream s;
        s << "set xlabel 'z (standardised by each record''s null)'\nset ylabel 'records'\nset xrange [" << -lim << ":" << lim
          << "]\nset style fill solid 0.6 border lc rgb '#555555'\nset boxwidth " << bw
          << "\nset key outside bottom center horizontal\nset grid ytics lc rgb '#dddddd'\n";
        int k = 0;
        std::sort(fam.begin(), fam.end(), [](auto& a, auto& b) { return std::fabs(a.second) > std::fabs(b.second); });
        for (const auto& [name, z] : fam) {
          if (k >= 6) break;
          double zc = std::clamp(z, -lim + 0.05, lim - 0.05);
          s << "set arrow from " << zc << ", graph 0 to " << zc << ", graph 1 nohead lw 2 lc rgb '#d62728'\n";
          if (k < 3)
            s << "set label " << (k + 1) << " " << gp_quote(name.substr(0, 40) + " (z " + num(z, 3) + ")") << " at "
              << zc << ", graph " << (0.95 - 0.07 * k) << (zc > 0 ? " right offset -0.5,0" : " left offset 0.5,0")
              << " font ',8' tc rgb '#d62728'\n";
          ++k;
        }
        s << "plot 'h.dat' using 1:2 with boxes lc rgb '#9ecae1' title 'localisation records (per tensor, layer, "
             "block)', "
          << zs.size() * bw << "*exp(-x*x/2)/sqrt(2*pi) lw 2 lc rgb '#08519c' title 'null N(0,1)'\n";
        Figure f;
        f.title = "Null and observed: " + cand + " vs " + ref;
        f.caption = str("Histogram of the z of ", zs.size(), " localisation records (", wgroup,
                        "/records/*@z, family=0) against the standard normal their nulls reduce to after "
                        "standardisation (the Monte Carlo nulls' tails are Student-t, slightly wider). Red lines: "
                        "the family tests' observed z (", wgroup,
                        "/records/*@z, family=1); values beyond +-8 are drawn at the edge. Independent models "
                        "stay inside the curve; derived ones sit far outside it.");
        add(f, s.str(), {{"h.dat", d.str()}}, 720, 360);
      }
    }
    // 4. expert matching matrices (the alignment used by the strongest matched test)
    {
      std::string kind = best_alignment(w);
      const json* c = alignment_candidate(w, kind);
      std::map<int, std::map<std::pair<int, int>, std::pair<double, int>>> per_layer;
      int ne = 0;
      if (c)
        for (const auto& b : (*c)["blocks"]) {
          if (b.value("block", "") != "expert") continue;
          int l = b.value("layer", -1), ea = b.value("expert_a", -1), eb = b.value("expert_b", -1);
          if (l < 0 || ea < 0 || eb < 0) continue;
          auto& cell = per_layer[l][{ea, eb}];
          cell.first += dbl(b, "mean_r");
          cell.second++;
          ne = std::max(ne, std::max(ea, eb) + 1);
        }
      if (!per_layer.empty() && ne > 0 && ne <= 256) {
        std::vector<std::pair<std::string, std::string>> data;
        std::ostringstream s;
        size_t nl = std::min<size_t>(per_layer.size(), 4);
        s << "set multiplot layout 1," << nl << "\nset cbrange [-1:1]\nset palette defined (-1 '#2166ac', 0 '#f7f7f7', 1 '#b2182b')\n"
          << "set xrange [-0.5:" << ne - 0.5 << "]\nset yrange [" << ne - 0.5 << ":-0.5]\nset size ratio -1\n"
          << "set xlabel " << gp_quote("expert of " + ref) << " font ',9'\nset ylabel " << gp_quote("expert of " + cand)
          << " font ',9'\nset tics font ',8'\nunset colorbox\n";
        size_t k = 0;
        for (const auto& [l, cells] : per_layer) {
          if (k >= nl) break;
          std::ostringstream d;
          for (int a = 0; a < ne; ++a) {
            for (int b = 0; b < ne; ++b) {
              auto it = cells.find({a, b});
              d << (b ? " " : "") << (it == cells.end() ? std::string("NaN") : num(it->second.first / it->second.second, 4));
            }
            d << "\n";
          }
          std::string name = "e" + std::to_string(l) + ".dat";
          data.push_back({name, d.str()});
          if (k + 1 == nl) s << "set colorbox\n";
          s << "set title " << gp_quote("layer " + std::to_string(l)) << "\nplot '" << name
            << "' matrix with image pixels notitle\n";
          ++k;
        }
        s << "unset multiplot\n";
        Figure f;
        f.title = "Expert matching (" + kind + "): " + cand + " vs " + ref;
        f.caption = "For each MoE layer, which expert of " + cand + " was matched to which expert of " + ref +
                    " (coloured cells; colour = mean matched centred r of the pair's blocks, " + wgroup +
                    "/alignment/candidates/*/blocks, kind " + kind +
                    "). A copy with permuted experts shows one strongly red cell per row off the diagonal; "
                    "unrelated models give pale cells (the matching always pairs every expert).";
        add(f, s.str(), data, std::max<int>(360, int(300 * nl)), 340);
      }
    }
  }
  // 5. tokenizer overlap matrix
  const auto& ov = results["tokenizer_overlap"];
  if (ov.is_object() && ov.contains("names") && ov["names"].size() >= 2) {
    size_t n = ov["names"].size();
    std::ostringstream d, s;
    for (const auto& row : ov["matrix"]) {
      for (size_t j = 0; j < row.size(); ++j) d << (j ? " " : "") << row[j].get<double>();
      d << "\n";
    }
    s << "set cbrange [0:1]\nset palette defined (0 '#ffffff', 1 '#08306b')\nset cblabel 'vocabulary overlap (share of smaller)'\n"
      << "set xrange [-0.5:" << n - 0.5 << "]\nset yrange [" << n - 0.5 << ":-0.5]\nset size ratio -1\nset xtics rotate by 30 right (";
    for (size_t i = 0; i < n; ++i) s << (i ? ", " : "") << gp_quote(ov["names"][i].get<std::string>()) << " " << i;
    s << ")\nset ytics (";
    for (size_t i = 0; i < n; ++i) s << (i ? ", " : "") << gp_quote(ov["names"][i].get<std::string>()) << " " << i;
    s << ")\nplot 'o.dat' matrix with image pixels notitle, '' matrix using 1:2:(sprintf('%.2f',$3)):($3 > 0.6 ? 0xffffff : 0x000000) "
         "with labels tc rgb variable font ',9' notitle\n";
    std::string script = s.str();
    Figure f;
    f.title = "Tokenizer overlap";
    f.caption = "Share of the smaller raw vocabulary found in the other, every pair of models with a tokenizer "
                "(/tokenizer_overlap/matrix). Overlap is read against independent tokenizers, never against a fixed "
                "threshold, and a shared tokenizer shows tokenizer reuse, not weight reuse.";
    add(f, script, {{"o.dat", d.str()}}, 460, 420);
  }
  return figs;
}

// ---------------------------------------------------------------------------------------------------------
// Text

namespace {

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}
std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

// A small document model rendered twice (Markdown and HTML), so both say the same thing.
struct Cell {
  std::string text;
  std::string h5;  // locator, when the cell is a number from results.h5
};
struct Block {
  enum Kind { kHeading, kPara, kTable, kFigure, kList, kVerdict } kind = kPara;
  int level = 2;
  std::string text;
  std::vector<std::string> header;
  std::vector<std::vector<Cell>> rows;
  std::vector<std::string> items;
  const Figure* figure = nullptr;
  std::string verdict;
};

struct Doc {
  std::vector<Block> blocks;
  void h(int level, const std::string& t) {
    Block b;
    b.kind = Block::kHeading;
    b.level = level;
    b.text = t;
    blocks.push_back(b);
  }
  void p(const std::string& t) {
    Block b;
    b.kind = Block::kPara;
    b.text = t;
    blocks.push_back(b);
  }
  void list(std::vector<std::string> items) {
    if (items.empty()) return;
    Block b;
    b.kind = Block::kList;
    b.items = std::move(items);
    blocks.push_back(b);
  }
  void table(std::vector<std::string> header, std::vector<std::vector<Cell>> rows) {
    Block b;
    b.kind = Block::kTable;
    b.header = std::move(header);
    b.rows = std::move(rows);
    blocks.push_back(b);
  }
  void figure(const Figure* f) {
    Block b;
    b.kind = Block::kFigure;
    b.figure = f;
    blocks.push_back(b);
  }
  void verdict(const std::string& v, const std::string& t) {
    Block b;
    b.kind = Block::kVerdict;
    b.verdict = v;
    b.text = t;
    blocks.push_back(b);
  }
};

Cell numcell(const json& parent, const char* key, const JsonPath& path, int prec = 3) {
  if (!parent.contains(key) || !parent[key].is_number()) return {"-", ""};
  return {num(parent[key].get<double>(), prec), h5_locator(path)};
}

JsonPath extend(JsonPath p, std::initializer_list<PathStep> more) {
  for (const auto& s : more) p.push_back(s);
  return p;
}

const char* const kCanCannot[][3] = {
    {"tokenizer", "which tokenizers share a vocabulary, ids or merge list (lineage)",
     "weight reuse: a shared tokenizer is tokenizer reuse (Llama-1 and Llama-2 share one; Llama-3 reuses GPT-4's "
     "tokens), and a derived model can change its tokenizer"},
    {"architecture", "whether two configs describe the same design, and which tensors the weight tests can compare",
     "derivation: an architecture is copied from a config file in a minute"},
    {"compute", "whether the claimed token budget is physically plausible for the hardware named",
     "from-scratch training: a plausible budget is consistent with it but a derived model's authors could claim the "
     "same"},
    {"behaviour", "whether two served models answer a fixed prompt set alike beyond what unrelated models share "
                  "(calibrated against >= 2 unrelated references)",
     "weight reuse: a model distilled from another's outputs agrees with it, and a heavily fine-tuned copy may not; "
     "shared refusal wording is shared alignment data"},
    {"weights", "derivation, with calibrated p-values (Holm over the family tests, alpha as recorded), through "
                "permutations, rotations and re-tokenization of the hidden basis",
     "independence from models not compared; raw cosine of norm vectors is not evidence (it is ~1 for unrelated "
     "models, reproduced in results.h5 under raw_cosine_not_evidence, labelled as such)"},
};

Doc build_doc(const json& R, const std::vector<Figure>& figs) {
  Doc d;
  const auto& cand = R["candidate"];
  const std::string cl = cand.value("label", "candidate");
  std::vector<std::string> refnames;
  for (const auto& r : R["references"]) refnames.push_back(r.value("label", ""));
  std::string against;
  for (size_t i = 0; i < refnames.size(); ++i) against += (i ? ", " : "") + refnames[i];
  d.h(1, "Was " + cl + " trained from scratch? Verified against " + against);
  const auto& V = R["verdict"];
  d.verdict(V.value("overall", "inconclusive"), V.value("reason", ""));
  // verdict table
  {
    std::vector<std::vector<Cell>> rows;
    for (size_t i = 0; i < R["pairs"].size(); ++i) {
      const auto& p = R["pairs"][i];
      const auto& w = p["channels"]["weights"];
      std::vector<Cell> row{{p.value("reference", ""), ""}, {p.value("verdict", ""), h5_locator({"pairs", i, "verdict"})}};
      if (w.value("status", "") == "run") {
        auto s = strongest_family_record(w["result"]);
        if (s.index >= 0) {
          JsonPath rp{"pairs", i, "channels", "weights", "result", "records", size_t(s.index)};
          const auto& rec = w["result"]["records"][size_t(s.index)];
          row.push_back({s.test + " (" + s.scope + ")", ""});
          row.push_back({s.effect_name + " = " + num(s.effect, 4), h5_locator(extend(rp, {"effect"}))});
          row.push_back(numcell(rec, "z", extend(rp, {"z"}), 4));
          row.push_back(numcell(rec, "log10_p_adjusted", extend(rp, {"log10_p_adjusted"}), 4));
          row.push_back({rec.value("null", ""), ""});
        }
      } else {
        row.push_back({"weights not compared: " + w.value("reason", ""), ""});
        for (int k = 0; k < 4; ++k) row.push_back({"-", ""});
      }
      rows.push_back(row);
    }
    d.table({"reference", "verdict", "strongest family test", "effect size", "z", "log10 p (Holm)", "null"}, rows);
  }
  d.p("The verdict of each reference is the weight channel's (calibrated tests, Holm-corrected at alpha = " +
      num(dbl(R, "alpha", 0.01)) + "); tokenizer, architecture and compute are context. log10 p = -80 means p = 1e-80. " +
      "Each number names where results.h5 holds it (group@attribute or dataset[index]).");

  // inputs
  d.h(2, "Inputs");
  {
    std::vector<std::vector<Cell>> rows;
    auto add_model = [&](const json& m, const std::string& role) {
      auto has = [&](const char* k) {
        bool yes = m["has"].value(k, false);
        std::string why = m["missing"].value(k, "");
        return Cell{yes ? "yes" : "no: " + why, ""};
      };
      rows.push_back({{m.value("label", ""), ""}, {role, ""}, {m.value("path", ""), ""}, has("config"), has("tokenizer"),
                      has("weights")});
    };
    add_model(cand, "candidate");
    for (const auto& r : R["references"]) add_model(r, "reference");
    d.table({"model", "role", "path", "config.json", "tokenizer", "weights"}, rows);
  }
  std::vector<std::string> findings;
  for (const auto& f : R["findings"]) findings.push_back(f.get<std::string>());
  if (!findings.empty()) {
    d.h(2, "Findings about the inputs");
    d.list(findings);
  }
  // channels not run
  {
    std::vector<std::string> nr;
    for (const auto& p : R["pairs"])
      for (const auto& [ch, c] : p["channels"].items())
        if (c.value("status", "") != "run")
          nr.push_back(ch + " (" + cl + " vs " + p.value("reference", "") + "): " + c.value("status", "") + ", " +
                       c.value("reason", ""));
    if (R["compute"].value("status", "") != "run")
      nr.push_back("compute (" + cl + "): " + R["compute"].value("status", "") + ", " + R["compute"].value("reason", ""));
    if (!nr.empty()) {
      d.h(2, "Channels not run");
      d.list(nr);
    }
  }

  auto figs_for = [&](const std::string& needle) {
    std::vector<const Figure*> out;
    for (const auto& f : figs)
      if (f.title.size() >= needle.size() && f.title.compare(f.title.size() - needle.size(), needle.size(), needle) == 0)
        out.push_back(&f);
    return out;
  };

  for (size_t i = 0; i < R["pairs"].size(); ++i) {
    const auto& p = R["pairs"][i];
    const std::string rl = p.value("reference", "");
    d.h(2, cl + " vs " + rl + ": " + p.value("verdict", ""));
    d.p(p.value("reason", ""));
    const auto& ch = p["channels"];
    // weights
    d.h(3, "Weights");
    const auto& w = ch["weights"];
    if (w.value("status", "") != "run") {
      d.p("Not run: " + w.value("reason", ""));
    } else {
      const auto& res = w["result"];
      d.p("Verdict: **" + w.value("verdict", "") + "**. " + w.value("reason", ""));
      std::vector<std::vector<Cell>> rows;
      for (size_t k = 0; k < res["records"].size(); ++k) {
        const auto& r = res["records"][k];
        if (!r.value("family", false)) continue;
        JsonPath rp{"pairs", i, "channels", "weights", "result", "records", k};
        rows.push_back({{r.value("test", ""), ""},
                        {r.value("scope", ""), ""},
                        {r.value("effect_name", ""), ""},
                        numcell(r, "effect", extend(rp, {"effect"}), 4),
                        numcell(r, "z", extend(rp, {"z"})),
                        numcell(r, "log10_p", extend(rp, {"log10_p"}), 4),
                        numcell(r, "log10_p_adjusted", extend(rp, {"log10_p_adjusted"}), 4),
                        {r.value("null", ""), ""}});
      }
      d.p("The family tests (each decides at Holm-adjusted alpha; the null is the distribution the statistic would have "
          "if the models were unrelated):");
      d.table({"test", "scope", "effect", "value", "z", "log10 p", "log10 p (Holm)", "null"}, rows);
      if (res.contains("power") && res["power"].contains("same_basis_min_detectable_r"))
        d.p("Power: the same-basis test would detect a mean centred r of " +
            num(dbl(res["power"], "same_basis_min_detectable_r")) + " [" +
            h5_locator({"pairs", i, "channels", "weights", "result", "power", "same_basis_min_detectable_r"}) +
            "] at this alpha.");
      d.p("Raw cosine of norm vectors is reproduced in results.h5 (" +
          h5_locator({"pairs", i, "channels", "weights", "result", "raw_cosine_not_evidence"}).substr(0, std::string::npos) +
          ") for comparison with published claims only: it is not evidence.");
      for (const auto* f : figs_for(cl + " vs " + rl)) d.figure(f);
    }
    // tokenizer
    d.h(3, "Tokenizer");
    const auto& t = ch["tokenizer"];
    if (t.value("status", "") != "run") {
      d.p("Not run: " + t.value("reason", ""));
    } else {
      const auto& tr = t["result"];
      JsonPath tp{"pairs", i, "channels", "tokenizer", "result"};
      d.p("Class: **" + t.value("verdict", "") + "** (" + t.value("reason", "") + "). " + t.value("reading", "") + ".");
      std::vector<std::vector<Cell>> rows;
      auto metric = [&](const std::string& name, const char* group, const char* key) {
        if (!tr.contains(group) || !tr[group].contains(key)) return;
        rows.push_back({{name, ""}, numcell(tr[group], key, extend(tp, {std::string(group), std::string(key)}), 4)});
      };
      metric("vocabulary overlap (share of the smaller)", "vocabulary", "overlap_of_smaller");
      metric("Jaccard", "vocabulary", "jaccard");
      metric("same-id rate", "same_id", "rate");
      metric("merges in common", "merges", "common");
      metric("common merge prefix", "merges", "common_prefix");
      if (tr.contains("merges") && tr["merges"].contains("rank_correlation"))
        if (tr["merges"]["rank_correlation"].contains("kendall") && tr["merges"]["rank_correlation"]["kendall"].is_number())
          rows.push_back({{"Kendall tau of shared merge ranks", ""},
                          numcell(tr["merges"]["rank_correlation"], "kendall",
                                  extend(tp, {std::string("merges"), std::string("rank_correlation"), std::string("kendall")}), 4)});
      d.table({"metric", "value"}, rows);
    }
    // architecture
    d.h(3, "Architecture");
    const auto& a = ch["architecture"];
    if (a.value("status", "") != "run") {
      d.p("Not run: " + a.value("reason", ""));
    } else {
      const auto& ar = a["result"];
      d.p("Verdict: **" + a.value("verdict", "") + "** (" + a.value("reason", "") + "). " + a.value("reading", "") + ".");
      std::vector<std::vector<Cell>> rows;
      // Key fields side by side, then every canonical difference.
      const json& cf = cand.contains("config_fields") ? cand["config_fields"] : json::object();
      const json* rf = nullptr;
      for (const auto& r : R["references"])
        if (r.value("label", "") == rl && r.contains("config_fields")) rf = &r["config_fields"];
      if (rf)
        for (const auto& [k, v] : cf.items()) {
          std::string b = rf->contains(k) ? (*rf)[k].dump() : "(absent)";
          rows.push_back({{k, ""}, {v.dump(), ""}, {b, ""}, {v.dump() == b ? "" : "differs", ""}});
        }
      if (ar.contains("canonical_diffs"))
        for (const auto& df : ar["canonical_diffs"])
          rows.push_back({{df.value("field", ""), ""}, {df.contains("a") ? df["a"].dump() : "", ""},
                          {df.contains("b") ? df["b"].dump() : "", ""}, {"differs (" + df.value("category", "") + ")", ""}});
      if (!rows.empty()) d.table({"field", cl, rl, ""}, rows);
      if (ar.contains("distance") && ar["distance"].is_number())
        d.p("Architecture distance " + num(dbl(ar, "distance")) + " [" +
            h5_locator({"pairs", i, "channels", "architecture", "result", "distance"}) +
            "] (0 = identical; sum of |log2| size ratios plus 1 per differing choice).");
    }
    // behaviour
    if (ch.contains("behaviour")) {
      d.h(3, "Behaviour");
      const auto& b = ch["behaviour"];
      if (b.value("status", "") != "run") {
        d.p("Not run: " + b.value("reason", ""));
      } else {
        const auto& br = b["result"];
        d.p("Verdict: **" + b.value("verdict", "") + "** (" + b.value("reason", "") + "). " + b.value("reading", "") +
            ". It does not decide the pair's verdict.");
        std::vector<std::vector<Cell>> rows;
        JsonPath bp{"pairs", i, "channels", "behaviour", "result"};
        rows.push_back({{"agreement A~B", ""}, numcell(br, "agreement_a_b", extend(bp, {std::string("agreement_a_b")}), 4)});
        rows.push_back({{"usable prompts", ""}, numcell(br, "usable_prompts", extend(bp, {std::string("usable_prompts")}), 0)});
        d.table({"quantity", "value"}, rows);
      }
    }
  }
  // compute
  d.h(2, "Compute");
  const auto& c = R["compute"];
  if (c.value("status", "") != "run") {
    d.p("Not run: " + c.value("reason", ""));
  } else {
    const auto& cr = c["result"];
    std::vector<std::vector<Cell>> rows;
    for (const char* k : {"n_params", "tokens", "flops_total", "gpu_hours", "days"})
      if (cr.contains(k) && cr[k].is_number()) rows.push_back({{k, ""}, numcell(cr, k, {"compute", "result", std::string(k)}, 4)});
    d.table({"quantity", "value"}, rows);
    d.p(c.value("reading", "") + ".");
  }
  for (const auto& f : figs)
    if (f.title == "Tokenizer overlap") {
      d.h(2, "Tokenizer overlap");
      d.figure(&f);
    }
  d.h(2, "What each channel can and cannot show");
  {
    std::vector<std::vector<Cell>> rows;
    for (const auto& r : kCanCannot) rows.push_back({{r[0], ""}, {r[1], ""}, {r[2], ""}});
    d.table({"channel", "can show", "cannot show"}, rows);
  }
  d.h(2, "Reproduce");
  std::string cmd;
  for (const auto& a : R["command"]) cmd += (cmd.empty() ? "" : " ") + a.get<std::string>();
  d.p("`" + cmd + "` (seed " + std::to_string(R.value("seed", uint64_t(0))) +
      "; the same inputs and seed give the same numbers). Every number above is in results.h5; summary.json holds "
      "the verdicts.");
  return d;
}

}  // namespace

std::string render_markdown(const json& results, const std::vector<Figure>& figures) {
  Doc d = build_doc(results, figures);
  std::ostringstream os;
  for (const auto& b : d.blocks) {
    switch (b.kind) {
      case Block::kHeading: os << std::string(size_t(b.level), '#') << " " << b.text << "\n\n"; break;
      case Block::kPara: os << b.text << "\n\n"; break;
      case Block::kVerdict: os << "**Verdict: " << b.verdict << ".** " << b.text << "\n\n"; break;
      case Block::kList:
        for (const auto& it : b.items) os << "- " << md_escape(it) << "\n";
        os << "\n";
        break;
      case Block::kTable: {
        os << "|";
        for (const auto& h : b.header) os << " " << md_escape(h) << " |";
        os << "\n|";
        for (size_t i = 0; i < b.header.size(); ++i) os << "---|";
        os << "\n";
        for (const auto& r : b.rows) {
          os << "|";
          for (const auto& c : r) os << " " << md_escape(c.text) << (c.h5.empty() ? "" : " `" + c.h5 + "`") << " |";
          os << "\n";
        }
        os << "\n";
        break;
      }
      case Block::kFigure:
        os << "**" << b.figure->title << "** (" << b.figure->id << " in report.html"
           << (b.figure->svg.empty() ? "; " + b.figure->note : "") << "). " << b.figure->caption << "\n\n";
        break;
    }
  }
  return os.str();
}

std::string render_html(const json& results, const std::vector<Figure>& figures) {
  Doc d = build_doc(results, figures);
  std::ostringstream os;
  // Self-contained: inline CSS and SVG; the CSP forbids every fetch, so a figure that referenced anything
  // outside the file would show as broken rather than leak a request.
  os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>"
     << html_escape(d.blocks.empty() ? std::string("fromscratch verify") : d.blocks[0].text)
     << "</title>\n<style>\n"
        "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\n"
        "table{border-collapse:collapse;margin:0.6em 0 1.2em;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 7px;vertical-align:top;text-align:left}\n"
        "th{background:#f2f2f2}td{max-width:24em;overflow-wrap:anywhere}code,.h5{font-family:ui-monospace,monospace;font-size:0.78em;color:#666}\n"
        ".h5{display:block}.verdict{font-size:1.25em;padding:0.6em 1em;border-radius:6px;margin:1em 0}\n"
        ".derived{background:#fde0dd;border:2px solid #c51b8a}.independent{background:#e5f5e0;border:2px solid #31a354}\n"
        ".inconclusive{background:#f0f0f0;border:2px solid #888}figure{margin:1em 0 2em}figcaption{font-size:0.88em;color:#444;max-width:900px}\n"
        "figure svg{max-width:100%;height:auto;border:1px solid #eee}.note{color:#a00}\n"
        "</style>\n</head>\n<body>\n";
  auto inline_md = [](const std::string& s) {
    // **bold** and `code` only.
    std::string e = html_escape(s), out;
    bool bold = false, code = false;
    for (size_t i = 0; i < e.size(); ++i) {
      if (e.compare(i, 2, "**") == 0) {
        out += bold ? "</strong>" : "<strong>";
        bold = !bold;
        ++i;
      } else if (e[i] == '`') {
        out += code ? "</code>" : "<code>";
        code = !code;
      } else {
        out += e[i];
      }
    }
    if (bold) out += "</strong>";
    if (code) out += "</code>";
    return out;
  };
  for (const auto& b : d.blocks) {
    switch (b.kind) {
      case Block::kHeading: os << "<h" << b.level << ">" << html_escape(b.text) << "</h" << b.level << ">\n"; break;
      case Block::kPara: os << "<p>" << inline_md(b.text) << "</p>\n"; break;
      case Block::kVerdict:
        os << "<div class=\"verdict " << html_escape(b.verdict) << "\" id=\"verdict\"><strong>Verdict: "
           << html_escape(b.verdict) << ".</strong> " << html_escape(b.text) << "</div>\n";
        break;
      case Block::kList:
        os << "<ul>\n";
        for (const auto& it : b.items) os << "<li>" << html_escape(it) << "</li>\n";
        os << "</ul>\n";
        break;
      case Block::kTable:
        os << "<table>\n<tr>";
        for (const auto& h : b.header) os << "<th>" << html_escape(h) << "</th>";
        os << "</tr>\n";
        for (const auto& r : b.rows) {
          os << "<tr>";
          for (const auto& c : r) {
            os << "<td";
            if (!c.h5.empty()) os << " title=\"results.h5: " << html_escape(c.h5) << "\"";
            os << ">" << html_escape(c.text);
            if (!c.h5.empty()) os << "<span class=\"h5\">" << html_escape(c.h5) << "</span>";
            os << "</td>";
          }
          os << "</tr>\n";
        }
        os << "</table>\n";
        break;
      case Block::kFigure:
        os << "<figure id=\"" << b.figure->id << "\" class=\"figure\">\n";
        if (!b.figure->svg.empty()) os << b.figure->svg << "\n";
        else os << "<p class=\"note\">" << html_escape(b.figure->note) << "</p>\n";
        os << "<figcaption><strong>" << html_escape(b.figure->title) << ".</strong> " << html_escape(b.figure->caption)
           << "</figcaption>\n</figure>\n";
        break;
    }
  }
  os << "</body>\n</html>\n";
  return os.str();
}

json summary_json(const json& R) {
  json s = {{"format", "fromscratch-verify-summary"},
            {"version", 1},
            {"candidate", R["candidate"].value("label", "")},
            {"references", json::array()},
            {"verdict", R["verdict"]},
            {"alpha", R.value("alpha", 0.01)},
            {"seed", R.value("seed", uint64_t(0))},
            {"pairs", json::array()},
            {"not_run", json::array()},
            {"findings", R["findings"]},
            {"command", R["command"]}};
  for (const auto& r : R["references"]) s["references"].push_back(r.value("label", ""));
  for (size_t i = 0; i < R["pairs"].size(); ++i) {
    const auto& p = R["pairs"][i];
    json ps = {{"reference", p.value("reference", "")}, {"verdict", p.value("verdict", "")}, {"reason", p.value("reason", "")},
               {"channels", json::object()}};
    for (const auto& [ch, c] : p["channels"].items()) {
      ps["channels"][ch] = {{"status", c.value("status", "")}, {"verdict", c.value("verdict", "")},
                            {"decides_verdict", c.value("decides_verdict", false)}};
      if (c.value("status", "") != "run") {
        ps["channels"][ch]["reason"] = c.value("reason", "");
        s["not_run"].push_back({{"channel", ch}, {"reference", p.value("reference", "")}, {"status", c.value("status", "")},
                                {"reason", c.value("reason", "")}});
      }
    }
    const auto& w = p["channels"]["weights"];
    if (w.value("status", "") == "run") {
      auto st = strongest_family_record(w["result"]);
      if (st.index >= 0) {
        JsonPath rp{"pairs", i, "channels", "weights", "result", "records", size_t(st.index)};
        ps["strongest_evidence"] = {{"test", st.test}, {"scope", st.scope}, {"effect_name", st.effect_name},
                                    {"effect", st.effect}, {"z", st.z}, {"log10_p", st.log10_p},
                                    {"log10_p_adjusted", st.log10_p_adjusted},
                                    {"results_h5", h5_locator(extend(rp, {"log10_p_adjusted"}))}};
      }
    }
    s["pairs"].push_back(ps);
  }
  const auto& c = R["compute"];
  s["compute"] = {{"status", c.value("status", "")}, {"verdict", c.value("verdict", "")}};
  if (c.value("status", "") != "run") {
    s["compute"]["reason"] = c.value("reason", "");
    s["not_run"].push_back({{"channel", "compute"}, {"status", c.value("status", "")}, {"reason", c.value("reason", "")}});
  }
  return s;
}

std::string verdict_text(const json& R) {
  std::ostringstream os;
  os << R["candidate"].value("label", "") << ": " << R["verdict"].value("overall", "") << " ("
     << R["verdict"].value("reason", "") << ")\n";
  for (size_t i = 0; i < R["pairs"].size(); ++i) {
    const auto& p = R["pairs"][i];
    os << "  vs " << p.value("reference", "") << ": " << p.value("verdict", "");
    const auto& w = p["channels"]["weights"];
    if (w.value("status", "") == "run") {
      auto s = strongest_family_record(w["result"]);
      if (s.index >= 0)
        os << "  [" << s.test << " " << s.scope << ": " << s.effect_name << " " << num(s.effect) << ", log10 p (Holm) "
           << num(s.log10_p_adjusted, 4) << "]";
    } else {
      os << "  [weights not compared: " << w.value("reason", "") << "]";
    }
    const auto& t = p["channels"]["tokenizer"];
    if (t.value("status", "") == "run") os << "  tokenizer: " << t.value("verdict", "");
    os << "\n";
  }
  return os.str();
}

}  // namespace fromscratch::report
