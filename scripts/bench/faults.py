#!/usr/bin/env python3
"""What each `rtx serve --fault` does to `rtx bench`'s numbers (docs/faults.md): for each row,
a fresh `rtx serve --fault SPEC --fault-seed 1` on free ports, one `rtx bench` run of SECONDS
against it (--json), then GET /stats. Prints a Markdown table: the fault, bench's received
messages/s, p50 and p99 latency, lost messages, errors and reconnects, and what /stats says
was injected. A row without a fault is the baseline of its protocol.

usage: scripts/bench/faults.py [BUILD_DIR] [SECONDS]     defaults: build 3
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

build = sys.argv[1] if len(sys.argv) > 1 else "build"
seconds = sys.argv[2] if len(sys.argv) > 2 else "3"
rtx = f"{build}/cmd/rtx"

# (protocol, fault or None, extra bench args)
ROWS = [
    ("tcp", None, ["-c", "4"]),
    ("tcp", "tcp:drop-after=1000", ["-c", "4"]),
    ("tcp", "tcp:drop-p=0.001", ["-c", "4"]),
    ("tcp", "tcp:delay=20ms", ["-c", "4"]),
    ("tcp", "tcp:delay=10ms..30ms", ["-c", "4"]),
    ("tcp", "tcp:delay=normal:20ms,5ms", ["-c", "4"]),
    ("tcp", None, ["-c", "1", "--size", "16384"]),
    ("tcp", "tcp:throttle=64KiB/s", ["-c", "1", "--size", "16384"]),
    ("tcp", "tcp:refuse=0.2", ["-c", "40"]),
    ("ws", None, ["-c", "4"]),
    ("ws", "ws:delay=20ms", ["-c", "4"]),
    ("ws", "ws:drop-after=1000", ["-c", "4"]),
    ("ws", "ws:refuse=0.2", ["-c", "40"]),
    ("sse", None, ["-c", "4", "--rate", "200"]),
    ("sse", "sse:delay=20ms", ["-c", "4", "--rate", "200"]),
    ("sse", "sse:drop-after=100", ["-c", "4", "--rate", "200"]),
    ("mqtt", None, ["-c", "4"]),
    ("mqtt", "mqtt:delay=20ms", ["-c", "4"]),
    ("mqtt", "mqtt:refuse=0.2", ["-c", "40"]),
]


def start_serve(fault):
    args = [rtx, "serve", "--tcp-port", "0", "--http-port", "0", "--mqtt-port", "0"]
    if fault:
        args += ["--fault", fault, "--fault-seed", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    endpoints = {}
    while "mqtt" not in endpoints:
        name, url = proc.stdout.readline().decode().split()
        endpoints[name] = url
    return proc, endpoints


def target(protocol, endpoints):
    if protocol == "tcp":
        return endpoints["tcp-echo"].split("://", 1)[1]
    if protocol == "ws":
        return endpoints["ws-echo"]
    if protocol == "mqtt":
        return endpoints["mqtt"]
    return endpoints["http"]


def run(protocol, fault, extra):
    proc, endpoints = start_serve(fault)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "report.json")
            command = ["rtx", "bench", protocol, *extra, "-d", f"{seconds}s",
                       target(protocol, endpoints), "--json", path]
            subprocess.run([rtx, *command[1:]], check=True, capture_output=True, timeout=120)
            with open(path) as f:
                report = json.load(f)
        with urllib.request.urlopen(endpoints["http"] + "/stats") as response:
            counted = json.load(response)["protocols"][protocol]
    finally:
        proc.terminate()
        proc.wait()
    return report, counted


def injected(counted):
    parts = [f"{key} {counted[key]}" for key in
             ("refused", "dropped", "delayed", "throttled") if counted[key]]
    return ", ".join(parts) or "-"


print("| bench | --fault | received msg/s | received B/s | p50 | p99 | lost | errors | "
      "reconnects | /stats: injected |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
for protocol, fault, extra in ROWS:
    report, counted = run(protocol, fault, extra)
    percentiles = report["latency_us"]["percentiles"]
    errors = sum(report["errors"].values()) + report["connections_failed"]
    print(f"| {protocol} {' '.join(extra)} | {fault or '(none)'} | "
          f"{report['received_per_second']:.0f} | "
          f"{report['bytes_received'] / report['duration_seconds'] / 1024:.1f} KiB/s | "
          f"{percentiles['50'] / 1000:.2f} ms | "
          f"{percentiles['99'] / 1000:.2f} ms | {report['lost']} | {errors} | "
          f"{report['reconnects']} | {injected(counted)} |", flush=True)
