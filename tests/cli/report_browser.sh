#!/usr/bin/env bash
# labels: cli browser
# The demo's report.html seen in a real browser (Debian's headless Chromium):
#   * every figure rendered: the DOM after loading holds one <svg> per figure, each with drawn content
#     (paths, rectangles), and no "figure not drawn" note;
#   * no request leaves the file: Chromium's own network log (--log-net-log) of a copy of the report WITHOUT
#     its Content-Security-Policy (so an external reference would really be requested, not silently blocked)
#     lists, among the requests made for the page (network isolation key file://; the browser's own
#     background requests, e.g. its component updater, say initiator "not an origin" and are not the
#     page's), no URL other than file: and data: URLs. A control page with one external image must show
#     exactly that request, so the check cannot pass by not seeing anything. DNS is pointed nowhere
#     (--host-resolver-rules), so even a failing run sends nothing off the machine;
#   * a screenshot is kept in the build folder (report_browser.png, report_browser_top.png) for a person to
#     look at.
set -euo pipefail
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "chromium not installed: skipped"; exit 77; }
command -v gnuplot > /dev/null || { echo "gnuplot not installed: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3
shots=${BUILD_DIR:-$work}
"$FROMSCRATCH" demo --out "$work/demo" > /dev/null 2>&1
report="$work/demo/verify-candidate-1/report.html"
test -s "$report"
flags=(--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking --disable-component-update
       --disable-sync --disable-default-apps --disable-extensions --hide-scrollbars --user-data-dir="$work/profile"
       "--host-resolver-rules=MAP * ~NOTFOUND")
run() { timeout 180 "$CHROMIUM" "${flags[@]}" "$@" 2> "$work/chromium.err"; }
# 1. The DOM after loading.
run --dump-dom "file://$report" > "$work/dom.html"
# 2. Network log of the report without its CSP.
sed 's#<meta http-equiv="Content-Security-Policy"[^>]*>##' "$report" > "$work/nocsp.html"
run --log-net-log="$work/net.json" --net-log-capture-mode=Everything --dump-dom "file://$work/nocsp.html" > /dev/null
echo '<html><body><img src="http://probe.invalid/leak.png">control</body></html>' > "$work/control.html"
run --log-net-log="$work/control.json" --net-log-capture-mode=Everything --dump-dom "file://$work/control.html" > /dev/null
# 3. Screenshots: the top of the report and the whole report.
run --window-size=1280,2200 --screenshot="$shots/report_browser_top.png" "file://$report" > /dev/null
run --window-size=1280,16000 --screenshot="$shots/report_browser.png" "file://$report" > /dev/null
$PY - "$report" "$work/dom.html" "$work/net.json" "$shots/report_browser.png" "$shots/report_browser_top.png" "$work/control.json" <<'PYEOF'
import json, re, sys, struct
src, dom, net, png, top, control = sys.argv[1:7]
html = open(src).read()
d = open(dom).read()
figures = len(re.findall(r'<figure\b', html))
assert figures >= 5, f"only {figures} figures in the report"
svgs = re.findall(r'<svg\b.*?</svg>', d, flags=re.S)
assert len(svgs) == figures, (len(svgs), figures)
for i, s in enumerate(svgs):
    drawn = len(re.findall(r'<(path|rect|polygon|polyline|circle|text)\b', s))
    assert drawn >= 10, f"svg {i} has only {drawn} drawn elements"
assert "figure not drawn" not in d
# Network log: every URL requested for the page.
def page_urls(path):
    text = open(path).read()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:
        log = json.loads(text.rstrip().rstrip(",") + "]}")  # a log cut at exit lacks its closing brackets
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for e in log.get("events", []):
        p = e.get("params", {})
        if e.get("type") == start and "url" in p and p.get("initiator") != "not an origin":
            urls.append(p["url"])
    return urls
ctl = page_urls(control)
assert ctl == ["http://probe.invalid/leak.png"] or "http://probe.invalid/leak.png" in ctl, f"control not seen: {ctl}"
urls = page_urls(net)
outside = sorted(u for u in urls if not (u.startswith("file://") or u.startswith("data:")))
assert not outside, f"requests left the file: {outside}"
for p in (png, top):
    head = open(p, "rb").read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", p
    w, h = struct.unpack(">II", head[16:24])
    assert w >= 1000 and h >= 1000, (p, w, h)
print(f"report in a browser: {figures} figures, {len(svgs)} SVGs with content, {len(urls)} page requests, none outside the file (control request seen); "
      f"screenshots {png}, {top}")
PYEOF
