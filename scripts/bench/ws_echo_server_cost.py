#!/usr/bin/env python3
"""What a WebSocket echo costs the server: `rtx serve`'s /echo beside node's `ws` server
(tests/e2e/ws_peer.js, Debian node-ws) in the same run, A B A B. The load is the same
`rtx bench ws` closed-model run against each (CONNECTIONS connections, 64-byte messages,
SECONDS, no compression); the figures are the bench's messages per second and the server
process's CPU time (user + system, from /proc/PID/stat) per echoed message.

usage: scripts/bench/ws_echo_server_cost.py [BUILD_DIR] [CONNECTIONS] [SECONDS] [ROUNDS]
       defaults: build 50 5 2
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

build = sys.argv[1] if len(sys.argv) > 1 else "build"
connections = sys.argv[2] if len(sys.argv) > 2 else "50"
seconds = sys.argv[3] if len(sys.argv) > 3 else "5"
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 2
rtx = os.path.join(build, "cmd", "rtx")
source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
ticks = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def start_rtx_serve():
    proc = subprocess.Popen([rtx, "serve", "--no-tcp", "--no-mqtt", "--http-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("ws-echo "):
            return proc, line.split()[1]
    raise SystemExit("rtx serve printed no ws-echo line")


def start_node_ws():
    proc = subprocess.Popen(["node", os.path.join(source, "tests", "e2e", "ws_peer.js"),
                             "--no-compress"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = proc.stdout.readline().strip()
    return proc, f"ws://127.0.0.1:{port}/echo"


def one_run(name, start):
    server, url = start()
    try:
        with tempfile.NamedTemporaryFile(suffix=".json") as report_file:
            before = cpu_seconds(server.pid)
            subprocess.run([rtx, "bench", "ws", "-c", connections, "-s", "64", "-d", f"{seconds}s",
                            "--json", report_file.name, url],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            spent = cpu_seconds(server.pid) - before
            report = json.load(open(report_file.name))
    finally:
        server.terminate()
        server.wait()
    received = report["messages_received"]
    result = {"server": name, "msgs_per_s": received / float(seconds),
              "server_cpu_us_per_msg": spent * 1e6 / max(received, 1)}
    print(json.dumps(result), flush=True)
    return result


results = {"rtx serve": [], "node ws": []}
for _ in range(rounds):
    results["rtx serve"].append(one_run("rtx serve", start_rtx_serve))
    results["node ws"].append(one_run("node ws", start_node_ws))
for name, runs in results.items():
    rate = statistics.median(r["msgs_per_s"] for r in runs)
    cpu = statistics.median(r["server_cpu_us_per_msg"] for r in runs)
    print(f"{name}: median {rate / 1000:.1f} k msg/s, {cpu:.2f} us of server CPU per message")
