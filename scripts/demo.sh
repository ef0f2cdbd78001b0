#!/usr/bin/env bash
# Quick start: installs what is missing, builds rtx, starts the embedded server
# `rtx serve --tick` on free ports and talks to it with the clients: `rtx sse` reads the
# counter, `rtx tcp` uses the echo. Stops the server, then runs a short `rtx bench` against
# an embedded server (no URL: bench starts its own).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target rtx
rtx=build/cmd/rtx

endpoints=$(mktemp)
"$rtx" serve --tcp-port 0 --http-port 0 --tick 200ms >"$endpoints" &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true; rm -f "$endpoints"' EXIT
for _ in $(seq 50); do
  grep -q '^http ' "$endpoints" && break
  sleep 0.1
done
url=$(awk '/^tcp-echo /{print $2}' "$endpoints")
http=$(awk '/^http /{print $2}' "$endpoints")
echo "== rtx serve --tick 200ms is up: tcp-echo at $url, http at $http"

echo "== five events of the counter:  rtx sse --count 5 $http/sse/tick"
"$rtx" sse --count 5 "$http/sse/tick"

echo "== the same as NDJSON records, with the SSE ids:  rtx sse --json --count 2 ..."
"$rtx" sse --json --count 2 "$http/sse/tick"

echo "== long-polling the same topic:  rtx poll --cursor /cursor --items /messages --count 3"
"$rtx" poll --cursor /cursor --items /messages --count 3 "$http/poll/tick"

echo "== echo two lines:  printf 'hello from rtx\\nsecond line\\n' | rtx tcp $url"
printf 'hello from rtx\nsecond line\n' | "$rtx" tcp "$url"

echo "== the same as NDJSON records:  rtx tcp --json $url"
printf 'hello from rtx\n' | "$rtx" tcp --json "$url"

echo "== a 1 MiB binary round trip:  rtx tcp --raw $url < random.bin | sha256sum"
sample=$(mktemp)
head -c 1048576 /dev/urandom >"$sample"
sent=$(sha256sum <"$sample" | cut -d' ' -f1)
received=$("$rtx" tcp --raw "$url" <"$sample" | sha256sum | cut -d' ' -f1)
rm -f "$sample"
echo "sent $sent"
echo "got  $received"
[[ "$sent" == "$received" ]]

kill -INT "$serve_pid"
wait "$serve_pid"
echo "== rtx serve shut down cleanly"

echo "== load: rtx bench tcp --conns 100 --duration 3s  (100 echo connections, embedded server)"
"$rtx" bench tcp --conns 100 --duration 3s

echo "== fan-out: rtx bench sse --conns 200 --rate 200 --duration 2s  (1 publisher, 200 subscribers)"
"$rtx" bench sse --conns 200 --rate 200 --duration 2s --max-error-rate 0%
echo "== done"
