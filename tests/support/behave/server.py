#!/usr/bin/python3
"""A small OpenAI-compatible server for the behaviour channel tests: real tiny models, real greedy decoding.

    /usr/bin/python3 tests/support/behave/server.py --models tests/data/behave/models --port-file PORT [--latency S] [--parallel N]

Listens on 127.0.0.1 only, on a free port (written to --port-file once it accepts connections). Endpoints:

  GET  /v1/models                       the loaded models
  POST /v1/completions                  prompt, max_tokens, temperature (0 = greedy), logprobs (top-k), seed
  POST /v1/chat/completions             messages, rendered as "User: ...\\nAssistant:"; stops at a newline
  GET  /stats                           {"requests": N, "generated_tokens": T, "busy_seconds": S}

Faults are chosen by a path prefix, so a client sees them as another base URL: /f/<fault>[,<fault>...]/v1/...

  slow         sleep 1.5 s before answering          429, 503      the first 2 tries of each request fail
  429always    every try answers 429                  malformed     the body is cut in the middle of the JSON
  ignoreseed   samples at random (nondeterministic)   short         half the tokens asked for
  othermodel   answers with "model": "gpt-4o"         badutf8       raw 0xff 0xfe bytes inside the text
  empty        an empty completion
"""
import argparse
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tinylm  # noqa: E402

LOCK = threading.Lock()      # guards STATS and TRIES
GEN = threading.Semaphore(1)  # generations at once (--parallel)
STATS = {"requests": 0, "generated_tokens": 0, "busy_seconds": 0.0}
TRIES = {}
MODELS = {}
DELAY = 0.0


def token_text(b):
    return chr(b) if b < 128 else "\\x%02x" % b


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body, ctype="application/json", headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, code, msg, typ="invalid_request_error", headers=None):
        self.send(code, {"error": {"message": msg, "type": typ, "code": code}}, headers=headers)

    def route(self):
        path = self.path.split("?")[0]
        faults = set()
        if path.startswith("/f/"):
            rest = path[3:]
            names, _, path = rest.partition("/")
            path = "/" + path
            faults = set(names.split(","))
        return path, faults

    def do_GET(self):
        path, _ = self.route()
        if path == "/v1/models":
            self.send(200, {"object": "list", "data": [{"id": n, "object": "model"} for n in MODELS]})
        elif path == "/stats":
            with LOCK:
                self.send(200, dict(STATS))
        else:
            self.error(404, f"no route {path}")

    def do_POST(self):
        path, faults = self.route()
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        key = hashlib.sha256(self.path.encode() + raw).hexdigest()
        with LOCK:
            TRIES[key] = TRIES.get(key, 0) + 1
            tries = TRIES[key]
        if "slow" in faults:
            time.sleep(1.5)
        if "429always" in faults or ("429" in faults and tries <= 2):
            return self.error(429, "rate limited", "rate_limit_error", {"Retry-After": "0"})
        if "503" in faults and tries <= 2:
            return self.error(503, "overloaded", "server_error")
        try:
            req = json.loads(raw)
        except ValueError:
            return self.error(400, "body is not JSON")
        if path not in ("/v1/completions", "/v1/chat/completions"):
            return self.error(404, f"no route {path}")
        name = req.get("model")
        if name not in MODELS:
            return self.error(404, f"The model `{name}` does not exist.", "NotFoundError")
        model = MODELS[name]
        chat = path.endswith("chat/completions")
        if chat:
            msgs = req.get("messages")
            if not isinstance(msgs, list) or not msgs:
                return self.error(400, "messages must be a non-empty list")
            prompt = "".join(f"User: {m.get('content', '')}\nAssistant:" for m in msgs if isinstance(m, dict))
        else:
            prompt = req.get("prompt")
            if not isinstance(prompt, str):
                return self.error(400, "prompt must be a string")
        max_tokens = req.get("max_tokens", 16)
        if not isinstance(max_tokens, int) or not 1 <= max_tokens <= 512:
            return self.error(400, "max_tokens must be an integer in 1..512")
        top = req.get("logprobs") or 0
        if chat:
            top = 0
        if not isinstance(top, int) or not 0 <= top <= 20:
            return self.error(400, "logprobs must be an integer in 0..20")
        temperature = req.get("temperature", 1.0)
        seed = req.get("seed")
        rng = None
        if "ignoreseed" in faults:
            rng = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))
        elif temperature and temperature > 0:
            rng = torch.Generator().manual_seed(seed if isinstance(seed, int) else 0)
        if "short" in faults:
            max_tokens = max(1, max_tokens // 2)
        if DELAY:
            time.sleep(DELAY)   # network/queue latency, outside the generation lock
        with GEN:
            t0 = time.time()
            out, lps, tops = tinylm.generate(model, prompt.encode("utf-8"), max_tokens, top, rng,
                                             stop=10 if chat else None)
        with LOCK:
            STATS["requests"] += 1
            STATS["generated_tokens"] += len(out)
            STATS["busy_seconds"] += time.time() - t0
        if chat and out and out[-1] == 10:
            out = out[:-1]
            finish = "stop"
        else:
            finish = "length"
        text = bytes(out).decode("utf-8", errors="replace")
        if "empty" in faults:
            text, out, lps, tops = "", [], [], []
        answered = "gpt-4o" if "othermodel" in faults else name
        usage = {"prompt_tokens": len(prompt.encode()), "completion_tokens": len(out),
                 "total_tokens": len(prompt.encode()) + len(out)}
        if chat:
            body = {"id": "chatcmpl-" + key[:12], "object": "chat.completion", "created": int(t0), "model": answered,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": finish}], "usage": usage}
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
            if top:
                offs, o = [], len(prompt)
                for b in out:
                    offs.append(o)
                    o += 1
                choice["logprobs"] = {"tokens": [token_text(b) for b in out], "token_logprobs": lps,
                                      "top_logprobs": [{token_text(i): v for i, v in t} for t in tops],
                                      "text_offset": offs}
            body = {"id": "cmpl-" + key[:12], "object": "text_completion", "created": int(t0), "model": answered,
                    "choices": [choice], "usage": usage}
        data = json.dumps(body, ensure_ascii=False).encode()
        if "badutf8" in faults:
            data = data.replace(b'"text": "', b'"text": "\xff\xfe', 1).replace(b'"content": "', b'"content": "\xff\xfe', 1)
        if "malformed" in faults:
            data = data[: len(data) // 2]
        self.send(200, data)


def main():
    global DELAY, GEN
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds each answer waits before generating")
    ap.add_argument("--parallel", type=int, default=2, help="generations at once (one torch thread each)")
    a = ap.parse_args()
    DELAY = a.latency
    GEN = threading.Semaphore(max(1, a.parallel))
    torch.set_num_threads(1)
    MODELS.update(tinylm.load_dir(a.models))
    if not MODELS:
        sys.exit(f"no *.pt models in {a.models}")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(tmp, a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
