#!/usr/bin/env python3
"""Many connections held at a low rate: `rtx bench PROTOCOL` with CONNECTIONS connections
(echo) or subscribers (fan-out) against `rtx serve` as a separate process, each sending or
receiving one message per second for SECONDS. Connections ramp at CONNECT_RATE/s and come from
four loopback source addresses (--source-ip). Prints the bench summary, then the CPU time
and peak RSS of both processes; exits 1 unless there were zero errors and nothing was lost.

usage: scripts/bench/bench_hold.py [BUILD_DIR] [PROTOCOL] [CONNECTIONS] [SECONDS] [CONNECT_RATE]
       defaults: build tcp 10000 60 2000
"""
import json
import os
import signal
import subprocess
import sys
import tempfile

build = sys.argv[1] if len(sys.argv) > 1 else "build"
protocol = sys.argv[2] if len(sys.argv) > 2 else "tcp"
connections = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 60
connect_rate = sys.argv[5] if len(sys.argv) > 5 else "2000"
rtx = f"{build}/cmd/rtx"

serve = subprocess.Popen([rtx, "serve", "--tcp-port", "0", "--http-port", "0",
                          "--mqtt-port", "0", "--ws-max-conns", str(connections + 100),
                          "--max-subscribers", str(2 * connections + 100)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
# serve prints one "name url" line per listener: tcp-echo, http, ws, ws-echo, mqtt.
endpoints = dict(serve.stdout.readline().decode().split() for _ in range(5))
echo = protocol in ("tcp", "ws")
target = {"tcp": endpoints["tcp-echo"], "ws": endpoints["ws-echo"],
          "mqtt": endpoints["mqtt"]}.get(protocol, endpoints["http"])
load = ["--rate-per-conn", "1"] if echo else ["--rate", "1"]


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


with tempfile.TemporaryDirectory() as tmp:
    report_path = os.path.join(tmp, "report.json")
    command = [rtx, "bench", protocol, "-c", str(connections), "--connect-rate", connect_rate,
               *load, "-d", f"{seconds}s", "--drain", "5s", "--connect-timeout", "30s",
               "--source-ip", "127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5",
               "--json", report_path, target]
    print("$", " ".join(command), flush=True)
    bench = subprocess.Popen(command)
    # Sample the peak RSS just before the end, while every connection is still open.
    _, status, bench_usage = os.wait4(bench.pid, 0)
    serve_peak = peak_rss_kib(serve.pid)
    serve.send_signal(signal.SIGTERM)
    _, _, serve_usage = os.wait4(serve.pid, 0)
    with open(report_path) as f:
        report = json.load(f)

errors = sum(report["errors"].values()) + report["connections_failed"]
print(f"bench exit {os.waitstatus_to_exitcode(status)}: {report['connections']} connections, "
      f"{report['messages_sent']} sent, {report['messages_received']} received, "
      f"lost {report['lost']}, errors {errors}")
for who, usage, peak in (("rtx bench", bench_usage, bench_usage.ru_maxrss),
                         ("rtx serve", serve_usage, serve_peak)):
    cpu = usage.ru_utime + usage.ru_stime
    print(f"{who:10} cpu {cpu:.2f} s  peak RSS {peak / 1024:.1f} MiB "
          f"({peak * 1024 / connections:.0f} B per connection)")
sys.exit(0 if errors == 0 and report["lost"] == 0 else 1)
