#!/usr/bin/env python3
"""`rtx bench sse` against a foreign server beside the same run against `rtx serve`:
tests/e2e/foreign_sse.py (Python's http.server, one thread per connection) and `rtx serve`,
each with SUBSCRIBERS SSE subscribers and one publisher at RATE messages/s for SECONDS, the
messages POSTed by bench itself (--publish-url against the foreign server, /publish/{topic}
against rtx serve) so that loss and delivery latency are exact on both. Runs A B A B (ROUNDS
pairs) and prints each run and the medians of delivered messages/s, p50, p99 and loss.

usage: scripts/bench/bench_foreign_sse.py [BUILD_DIR] [SUBSCRIBERS] [RATE] [SECONDS] [ROUNDS]
       defaults: build 50 200 5 2
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

build = sys.argv[1] if len(sys.argv) > 1 else "build"
subscribers = sys.argv[2] if len(sys.argv) > 2 else "50"
rate = sys.argv[3] if len(sys.argv) > 3 else "200"
seconds = sys.argv[4] if len(sys.argv) > 4 else "5"
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 2
rtx = f"{build}/cmd/rtx"
here = os.path.dirname(os.path.abspath(__file__))
foreign_script = os.path.join(here, "..", "..", "tests", "e2e", "foreign_sse.py")


def start_foreign():
    proc = subprocess.Popen([sys.executable, foreign_script, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    port = proc.stdout.readline().decode().split()[1]
    base = f"http://127.0.0.1:{port}"
    return proc, [f"{base}/events", "--publish-url", f"{base}/publish"]


def start_serve():
    proc = subprocess.Popen([rtx, "serve", "--no-tcp", "--no-mqtt", "--http-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    endpoints = dict(proc.stdout.readline().decode().split() for _ in range(3))
    return proc, [endpoints["http"]]


def run(name, start):
    proc, target = start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "report.json")
            command = [rtx, "bench", "sse", "-c", subscribers, "--rate", rate, "-d",
                       f"{seconds}s", "--json", path, *target]
            print("$", " ".join(command), flush=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            with open(path) as f:
                report = json.load(f)
    finally:
        proc.terminate()
        proc.wait()
        proc.stdout.close()
    figures = {
        "delivered/s": report["received_per_second"],
        "p50_ms": report["latency_us"]["percentiles"]["50"] / 1000,
        "p99_ms": report["latency_us"]["percentiles"]["99"] / 1000,
        "lost": report["lost"],
        "errors": sum(report["errors"].values()),
    }
    print(f"  {name:12} " + "  ".join(f"{k} {v:.6g}" for k, v in figures.items()), flush=True)
    return figures


results = {"foreign": [], "rtx serve": []}
for _ in range(rounds):
    results["foreign"].append(run("foreign", start_foreign))
    results["rtx serve"].append(run("rtx serve", start_serve))
print("medians:")
for name, runs in results.items():
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"  {name:12} " + "  ".join(f"{k} {v:.6g}" for k, v in medians.items()))
