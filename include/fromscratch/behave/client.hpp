// A small client for the OpenAI-compatible HTTP API (vLLM, SGLang, TGI, llama.cpp's server, OpenAI itself):
// POST {base}/completions and {base}/chat/completions with a concurrency limit, retries with exponential
// backoff on 429/5xx/transport errors (Retry-After honoured), timeouts, and a response cache keyed by (URL,
// model, endpoint, request body) so a rerun sends nothing. Implemented with libcurl in src/behave/http/ (an
// impure library); this header includes no curl. To merge into src/net/ once that client has a POST (docs/behaviour.md).
//
// The API key (Authorization: Bearer) is only ever put in the request header: it is not logged, not written
// to the cache and not part of any Exchange.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fromscratch::behave {

// "URL#MODEL", e.g. "http://127.0.0.1:8000/v1#solar-open-100b". The URL is the API base (ending in /v1 for
// most servers); trailing slashes are dropped. Throws UsageError naming the spec when it is malformed.
struct ModelRef {
  std::string base_url;
  std::string model;
  static ModelRef parse(const std::string& spec);
  std::string spec() const { return base_url + "#" + model; }
};

struct ClientOptions {
  unsigned concurrency = 4;
  unsigned retries = 4;          // further tries after the first, on 429, 5xx, malformed bodies, transport errors
  double timeout_s = 120;        // whole request
  double connect_timeout_s = 10;
  double backoff_s = 0.5;        // first wait; doubles each retry, capped at max_backoff_s
  double max_backoff_s = 30;
  std::string api_key;           // never logged or stored
  std::string cache_dir;         // empty: no cache
  bool read_cache = true;
  size_t max_response_bytes = 16u << 20;
};

// One request and its answer, as kept in the evidence of a result.
struct Exchange {
  ModelRef model;
  std::string endpoint;          // "completions" or "chat/completions"
  nlohmann::json request;        // the body sent (the model name included; no key)
  bool ok = false;
  long http_status = 0;
  std::string error;             // why it failed, naming the URL and model
  nlohmann::json response;       // the parsed body (null when it did not parse)
  unsigned attempts = 0;
  bool cached = false;
  double seconds = 0;
  std::string text;              // choices[0].text or choices[0].message.content
  std::string finish_reason;
  long completion_tokens = -1;   // usage.completion_tokens, else the length of logprobs.tokens, else -1
  nlohmann::json to_json() const;
};

Exchange completion_request(const ModelRef& m, const std::string& prompt, int max_tokens, int logprobs,
                            uint64_t seed);
Exchange chat_request(const ModelRef& m, const std::string& user_message, int max_tokens, uint64_t seed);

struct ClientStats {
  size_t sent = 0, cached = 0, failed = 0, retried = 0;
  double seconds = 0;
};

// Fills every Exchange (in place, order kept). Failures are recorded in the Exchange, never thrown: results
// that came back are kept. After a connection failure or a 401/403/404 for one URL/model the remaining
// requests to it fail at once with the same message instead of each waiting out its retries.
ClientStats run_requests(std::vector<Exchange>& jobs, const ClientOptions& options);

// The cache key: SHA-256 of URL, model, endpoint and the canonical request body.
std::string cache_key(const Exchange& e);
// Default cache folder: $FROMSCRATCH_CACHE/behave, else $XDG_CACHE_HOME/fromscratch/behave, else
// ~/.cache/fromscratch/behave.
std::string default_cache_dir();

}  // namespace fromscratch::behave
