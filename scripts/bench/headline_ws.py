#!/usr/bin/env python3
"""The headline command, `rtx bench ws --conns N` with no URL (the embedded server, the
default ramp, the closed model), RUNS times for each N; per run and as medians: the ramp
(time and rate), connect time p50/p99, echo latency p50/p99, messages per second, and the
failures. It fails unless every run opened every connection and counted no error.

usage: scripts/bench/headline_ws.py [BUILD_DIR] [N[,N...]] [SECONDS] [RUNS]
       defaults: build 10000,19000 5 3
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
counts = [int(n) for n in (sys.argv[2] if len(sys.argv) > 2 else "10000,19000").split(",")]
seconds = sys.argv[3] if len(sys.argv) > 3 else "5"
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
rtx = f"{build}/cmd/rtx"


def percentile(report, key, p):
    return report[key]["percentiles"][p] / 1000.0  # ms


def one_run(n):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.json")
        command = [rtx, "bench", "ws", "--conns", str(n), "-d", f"{seconds}s", "--json", path]
        started = time.monotonic()
        result = subprocess.run(command, capture_output=True, timeout=600)
        wall = time.monotonic() - started
        with open(path) as f:
            report = json.load(f)
    errors = sum(report["errors"].values())
    row = {
        "ramp s": report["ramp_seconds"],
        "ramp /s": n / report["ramp_seconds"],
        "connect p50 ms": percentile(report, "connect_time_us", "50"),
        "connect p99 ms": percentile(report, "connect_time_us", "99"),
        "latency p50 ms": percentile(report, "latency_us", "50"),
        "latency p99 ms": percentile(report, "latency_us", "99"),
        "msg/s": report["received_per_second"],
        "failed": report["connections_failed"],
        "errors": errors,
        "wall s": wall,
    }
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"  {' '.join(command[:-2])}: " +
          ", ".join(f"{k} {v:.3g}" for k, v in row.items()) + f" (load {load})", flush=True)
    if result.returncode != 0 or errors or report["connections_failed"]:
        sys.exit(f"headline_ws: the run with {n} connections was not clean "
                 f"(exit {result.returncode}): {result.stderr.decode()[-500:]}")
    return row


for n in counts:
    rows = [one_run(n) for _ in range(runs)]
    medians = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"{n} connections, median of {runs}: " +
          ", ".join(f"{k} {v:.3g}" for k, v in medians.items()), flush=True)
