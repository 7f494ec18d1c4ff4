# Sourced by tests/cli/behave*.sh and bench/behave/*.sh: starts the OpenAI-compatible test server with the
# committed tiny models on 127.0.0.1 (a free port) and stops it. Needs FROMSCRATCH_SOURCE_DIR.
behave_need_torch() {
  if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 has no torch (apt-get install python3-torch)"
    exit 77
  fi
}

# behave_start_server WORKDIR [server options...]: sets BEHAVE_SERVER_PID, PORT and URL (the /v1 base).
behave_start_server() {
  local work=$1
  shift
  behave_need_torch
  rm -f "$work/port"
  /usr/bin/python3 "$FROMSCRATCH_SOURCE_DIR/tests/support/behave/server.py" \
    --models "$FROMSCRATCH_SOURCE_DIR/tests/data/behave/models" --port-file "$work/port" "$@" > "$work/server.log" 2>&1 &
  BEHAVE_SERVER_PID=$!
  local i
  for i in $(seq 1200); do  # waits for the models to load (up to two minutes on a loaded machine)
    [ -s "$work/port" ] && break
    if ! kill -0 "$BEHAVE_SERVER_PID" 2>/dev/null; then
      echo "the test server did not start:"; cat "$work/server.log"; exit 1
    fi
    sleep 0.1
  done
  [ -s "$work/port" ] || { echo "the test server wrote no port"; cat "$work/server.log"; exit 1; }
  PORT=$(cat "$work/port")
  URL="http://127.0.0.1:$PORT/v1"
}

behave_stop_server() {
  if [ -n "${BEHAVE_SERVER_PID:-}" ]; then
    kill "$BEHAVE_SERVER_PID" 2>/dev/null || true
    wait "$BEHAVE_SERVER_PID" 2>/dev/null || true
    BEHAVE_SERVER_PID=
  fi
}

# Requests the server has generated so far.
behave_requests() {
  /usr/bin/python3 -c "import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))['requests'])" \
    "http://127.0.0.1:$PORT/stats"
}
