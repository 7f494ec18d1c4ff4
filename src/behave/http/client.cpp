// The OpenAI-compatible HTTP client (see include/fromscratch/behave/client.hpp). libcurl easy handles, one per
// worker thread; the workers pull requests from a shared index.
#include "fromscratch/behave/client.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::behave {

namespace fs = std::filesystem;
using nlohmann::json;

ModelRef ModelRef::parse(const std::string& spec) {
  const size_t hash = spec.rfind('#');
  if (hash == std::string::npos || hash == 0 || hash + 1 == spec.size())
    throw UsageError(str("model '", quote_untrusted(spec), "' is not URL#MODEL (e.g. http://127.0.0.1:8000/v1#my-model)"));
  ModelRef m;
  m.base_url = spec.substr(0, hash);
  m.model = spec.substr(hash + 1);
  while (!m.base_url.empty() && m.base_url.back() == '/') m.base_url.pop_back();
  if (m.base_url.rfind("http://", 0) != 0 && m.base_url.rfind("https://", 0) != 0)
    throw UsageError(str("model '", quote_untrusted(spec), "': the URL must start with http:// or https://"));
  return m;
}

json Exchange::to_json() const {
  json j = {{"model", model.spec()}, {"endpoint", endpoint}, {"request", request}, {"ok", ok},
            {"http_status", http_status}, {"attempts", attempts}, {"cached", cached},
            {"seconds", std::round(seconds * 1000) / 1000}};
  if (!error.empty()) j["error"] = error;
  j["response"] = response;
  return j;
}

Exchange completion_request(const ModelRef& m, const std::string& prompt, int max_tokens, int logprobs,
                            uint64_t seed) {
  Exchange e;
  e.model = m;
  e.endpoint = "completions";
  e.request = {{"model", m.model}, {"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0},
               {"seed", seed}};
  if (logprobs > 0) e.request["logprobs"] = logprobs;
  return e;
}

Exchange chat_request(const ModelRef& m, const std::string& user_message, int max_tokens, uint64_t seed) {
  Exchange e;
  e.model = m;
  e.endpoint = "chat/completions";
  e.request = {{"model", m.model},
               {"messages", json::array({{{"role", "user"}, {"content", user_message}}})},
               {"max_tokens", max_tokens},
               {"temperature", 0},
               {"seed", seed}};
  return e;
}

namespace {

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

struct Body {
  std::string data;
  size_t limit;
  bool overflow = false;
  double retry_after = -1;
};

size_t on_write(char* ptr, size_t size, size_t nmemb, void* user) {
  Body* b = static_cast<Body*>(user);
  const size_t n = size * nmemb;
  if (b->data.size() + n > b->limit) {
    b->overflow = true;
    return 0;
  }
  b->data.append(ptr, n);
  return n;
}

size_t on_header(char* ptr, size_t size, size_t nmemb, void* user) {
  Body* b = static_cast<Body*>(user);
  const size_t n = size * nmemb;
  std::string h(ptr, n);
  for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (h.rfind("retry-after:", 0) == 0) {
    char* end = nullptr;
    const double v = std::strtod(h.c_str() + 12, &end);
    if (end != h.c_str() + 12 && v >= 0) b->retry_after = v;
  }
  return n;
}

// Pulls text, finish reason and token count out of a parsed answer; false (with the reason) when the answer
// is not a completion of the requested model.
bool read_answer(Exchange& e, const json& body, std::string& why) {
  if (!body.is_object()) {
    why = "the answer is not a JSON object";
    return false;
  }
  const auto model = body.find("model");
  if (model != body.end() && model->is_string() && model->get<std::string>() != e.model.model) {
    why = str("the server answered with model '", quote_untrusted(model->get<std::string>()), "', not '",
              quote_untrusted(e.model.model), "'");
    return false;
  }
  const auto choices = body.find("choices");
  if (choices == body.end() || !choices->is_array() || choices->empty() || !(*choices)[0].is_object()) {
    why = "the answer has no choices[0]";
    return false;
  }
  const json& c = (*choices)[0];
  const json* text = nullptr;
  if (e.endpoint == "completions") {
    if (c.contains("text")) text = &c["text"];
  } else if (c.contains("message") && c["message"].is_object() && c["message"].contains("content")) {
    text = &c["message"]["content"];
  }
  if (!text || !(text->is_string() || text->is_null())) {
    why = e.endpoint == "completions" ? "choices[0].text is missing or not a string"
                                      : "choices[0].message.content is missing or not a string";
    return false;
  }
  e.text = text->is_string() ? text->get<std::string>() : "";
  if (c.contains("finish_reason") && c["finish_reason"].is_string()) e.finish_reason = c["finish_reason"];
  if (body.contains("usage") && body["usage"].is_object() && body["usage"].contains("completion_tokens") &&
      body["usage"]["completion_tokens"].is_number_integer())
    e.completion_tokens = body["usage"]["completion_tokens"].get<long>();
  else if (c.contains("logprobs") && c["logprobs"].is_object() && c["logprobs"].contains("tokens") &&
           c["logprobs"]["tokens"].is_array())
    e.completion_tokens = static_cast<long>(c["logprobs"]["tokens"].size());
  return true;
}

std::string cache_path(const std::string& dir, const std::string& key) {
  return (fs::path(dir) / key.substr(0, 2) / (key + ".json")).string();
}

bool load_cached(Exchange& e, const ClientOptions& o, const std::string& key) {
  if (o.cache_dir.empty() || !o.read_cache) return false;
  std::ifstream in(cache_path(o.cache_dir, key), std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("response") || j.value("key", "") != key) return false;
  std::string why;
  Exchange tmp = e;
  if (!read_answer(tmp, j["response"], why)) return false;
  e = std::move(tmp);
  e.response = j["response"];
  e.ok = true;
  e.cached = true;
  e.http_status = 200;
  return true;
}

void store_cached(const Exchange& e, const ClientOptions& o, const std::string& key) {
  if (o.cache_dir.empty()) return;
  std::error_code ec;
  const fs::path p = cache_path(o.cache_dir, key);
  fs::create_directories(p.parent_path(), ec);
  const json j = {{"key", key}, {"model", e.model.spec()}, {"endpoint", e.endpoint}, {"request", e.request},
                  {"response", e.response}};
  const std::string tmp = p.string() + ".tmp" + std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) return;  // a cache that cannot be written only costs a rerun
    out << j.dump();
  }
  fs::rename(tmp, p, ec);
}

struct Shared {
  std::mutex mu;
  std::map<std::string, std::string> broken;  // URL or URL#MODEL -> the failure that broke it
  ClientStats stats;
};

void perform(CURL* curl, Exchange& e, const ClientOptions& o, Shared& shared) {
  const std::string url = e.model.base_url + "/" + e.endpoint;
  const std::string where = str(url, " (model '", quote_untrusted(e.model.model), "')");
  {
    std::lock_guard<std::mutex> lock(shared.mu);
    for (const std::string& k : {e.model.base_url, e.model.spec()}) {
      auto it = shared.broken.find(k);
      if (it != shared.broken.end()) {
        e.error = it->second;
        return;
      }
    }
  }
  const std::string payload = e.request.dump();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  std::string auth;
  if (!o.api_key.empty()) {
    auth = "Authorization: Bearer " + o.api_key;
    headers = curl_slist_append(headers, auth.c_str());
  }
  for (unsigned attempt = 0; attempt <= o.retries; ++attempt) {
    Body body{{}, o.max_response_bytes};
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout_s * 1000));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout_s * 1000));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    e.attempts = attempt + 1;
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    e.http_status = status;
    bool retry = false, break_url = false, break_model = false;
    if (rc != CURLE_OK) {
      e.error = body.overflow ? str(where, ": answer larger than ", o.max_response_bytes, " bytes")
                              : str(where, ": ", curl_easy_strerror(rc));
      retry = !body.overflow;
      break_url = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_UNSUPPORTED_PROTOCOL;
    } else if (status != 200) {
      std::string msg;
      json j = json::parse(body.data, nullptr, false);
      if (!j.is_discarded() && j.is_object() && j.contains("error")) {
        const json& err = j["error"];
        msg = err.is_object() && err.contains("message") && err["message"].is_string() ? err["message"].get<std::string>()
                                                                                         : err.dump();
      } else {
        msg = body.data.substr(0, 200);
      }
      e.error = str(where, ": HTTP ", status, ": ", quote_untrusted(msg));
      retry = status == 429 || status >= 500;
      break_model = status == 401 || status == 403 || status == 404;
    } else {
      json j = json::parse(body.data, nullptr, false);
      std::string why;
      if (j.is_discarded()) {
        e.error = str(where, ": malformed JSON in the answer (", body.data.size(), " bytes, not valid JSON or not UTF-8)");
        retry = true;
      } else if (!read_answer(e, j, why)) {
        e.response = j;
        e.error = str(where, ": ", why);
      } else {
        e.response = std::move(j);
        e.ok = true;
        e.error.clear();
      }
    }
    if (e.ok || !retry || attempt == o.retries) {
      std::lock_guard<std::mutex> lock(shared.mu);
      if (break_url) shared.broken.emplace(e.model.base_url, e.error);
      if (break_model) shared.broken.emplace(e.model.spec(), e.error);
      break;
    }
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      ++shared.stats.retried;
    }
    double wait = std::min(o.max_backoff_s, o.backoff_s * static_cast<double>(1u << std::min(attempt, 20u)));
    if (body.retry_after >= 0) wait = std::min(o.max_backoff_s, std::max(body.retry_after, 0.05));
    std::this_thread::sleep_for(std::chrono::duration<double>(wait));
  }
  curl_slist_free_all(headers);
}

}  // namespace

std::string cache_key(const Exchange& e) {
  return sha256_hex(e.model.base_url + "\n" + e.model.model + "\n" + e.endpoint + "\n" + e.request.dump());
}

std::string default_cache_dir() {
  if (const char* c = std::getenv("FROMSCRATCH_CACHE"); c && *c) return (fs::path(c) / "behave").string();
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return (fs::path(x) / "fromscratch" / "behave").string();
  if (const char* h = std::getenv("HOME"); h && *h) return (fs::path(h) / ".cache" / "fromscratch" / "behave").string();
  return "";
}

ClientStats run_requests(std::vector<Exchange>& jobs, const ClientOptions& o) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  const auto t0 = std::chrono::steady_clock::now();
  Shared shared;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    CURL* curl = curl_easy_init();
    for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
      Exchange& e = jobs[i];
      const std::string key = cache_key(e);
      const auto s0 = std::chrono::steady_clock::now();
      if (load_cached(e, o, key)) {
        std::lock_guard<std::mutex> lock(shared.mu);
        ++shared.stats.cached;
        continue;
      }
      if (!curl) {
        e.error = "libcurl could not start a handle";
      } else {
        perform(curl, e, o, shared);
      }
      e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
      if (e.ok) store_cached(e, o, key);
      std::lock_guard<std::mutex> lock(shared.mu);
      if (e.attempts > 0) ++shared.stats.sent;
      if (!e.ok) ++shared.stats.failed;
    }
    if (curl) curl_easy_cleanup(curl);
  };
  const unsigned n = std::max(1u, std::min<unsigned>(o.concurrency, static_cast<unsigned>(std::max<size_t>(1, jobs.size()))));
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < n; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  shared.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return shared.stats;
}

}  // namespace fromscratch::behave
