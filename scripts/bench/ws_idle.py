#!/usr/bin/env python3
"""Memory per idle WebSocket connection: `rtx bench ws` holds N echo connections to
`rtx serve`'s /echo (a separate process) for SECONDS and sends nothing on them, then the
peak RSS (VmHWM) of both processes is divided by N.

"Idle" is the open model at 1e-9 messages/s per connection: each connection's first send
falls at a random time within ~30 years, so none is sent during the run; the bench runner,
its histograms and every connection are exactly those of a loaded run. Connections ramp at
CONNECT_RATE/s from four loopback source addresses (--source-ip); the run fails unless
every one of them opened and none failed.

Per process: the peak RSS (VmHWM, which includes the connect ramp, when handshakes are in
flight) and the held RSS (VmRSS sampled during the idle hold, every connection open), each
also divided by N (everything, the fixed part included: binary, lws contexts, histograms,
the worker loops' buffers); and, for every N after the first, the marginal cost of one more
held connection, (held(N) - held(previous N)) / (N - previous N), without the fixed part.

usage: scripts/bench/ws_idle.py [BUILD_DIR] [N[,N...]] [SECONDS] [CONNECT_RATE]
       defaults: build 1000,2000 10 2000
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
counts = [int(n) for n in (sys.argv[2] if len(sys.argv) > 2 else "1000,2000").split(",")]
seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 10
connect_rate = sys.argv[4] if len(sys.argv) > 4 else "2000"
rtx = f"{build}/cmd/rtx"


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return None


def hold(n):
    """One run with n idle connections: (bench peak KiB, serve peak KiB, serve KiB before)."""
    serve = subprocess.Popen([rtx, "serve", "--no-tcp", "--no-mqtt", "--http-port", "0",
                              "--ws-max-conns", str(n + 100)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    endpoints = dict(serve.stdout.readline().decode().split() for _ in range(3))
    serve_before = status_kib(serve.pid, "VmRSS")
    with tempfile.TemporaryDirectory() as tmp:
        report_path = os.path.join(tmp, "report.json")
        command = [rtx, "bench", "ws", "-c", str(n), "--connect-rate", connect_rate,
                   "--rate-per-conn", "1e-9", "-d", f"{seconds}s", "--drain", "0s",
                   "--connect-timeout", "30s",
                   "--source-ip", "127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5",
                   "--json", report_path, endpoints["ws-echo"]]
        print("$", " ".join(command), flush=True)
        bench = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        started = time.monotonic()
        # The hold: from 2 s after the ramp should have ended to 1 s before the run ends.
        ramp = n / float(connect_rate) if float(connect_rate) > 0 else 0
        hold_from, hold_to = started + ramp + 2, started + ramp + seconds - 1
        # VmHWM only grows: the last reading before bench exits is its peak (ru_maxrss would
        # include the peak of this Python process, which forked it).
        bench_peak = bench_held = serve_held = 0
        while bench.poll() is None:
            bench_peak = max(bench_peak, status_kib(bench.pid, "VmHWM") or 0)
            if hold_from <= time.monotonic() <= hold_to:
                bench_held = max(bench_held, status_kib(bench.pid, "VmRSS") or 0)
                serve_held = max(serve_held, status_kib(serve.pid, "VmRSS") or 0)
            time.sleep(0.2)
        serve_peak = status_kib(serve.pid, "VmHWM")
        serve.send_signal(signal.SIGTERM)
        serve.wait()
        with open(report_path) as f:
            report = json.load(f)
    opened = report["connections"] - report["connections_failed"]
    errors = sum(report["errors"].values())
    up_at_end = report["timeline"][-1]["connections_up"] if report["timeline"] else 0
    print(f"  {opened} of {n} connections opened, {up_at_end} up at the end, {errors} errors "
          f"(a connection that fails during the ramp, e.g. HTTP 408 from a busy server, "
          f"reconnects), {report['messages_sent']} messages sent", flush=True)
    if bench.returncode != 0 or opened != n or up_at_end != n:
        sys.exit(f"ws_idle: the run with {n} connections did not hold them all "
                 f"(bench exit {bench.returncode})")
    if not bench_held or not serve_held:
        sys.exit("ws_idle: the hold was too short to sample (more SECONDS)")
    return {"rtx bench": (bench_peak, bench_held), "rtx serve": (serve_peak, serve_held),
            "serve before": serve_before}


previous = None
for n in counts:
    figures = hold(n)
    for who in ("rtx bench", "rtx serve"):
        peak, held = figures[who]
        line = (f"  {who}: peak RSS {peak / 1024:.1f} MiB = {peak * 1024 / n:.0f} B/conn, "
                f"held {held / 1024:.1f} MiB = {held * 1024 / n:.0f} B/conn")
        if who == "rtx serve":
            line += f" (before the run {figures['serve before'] / 1024:.1f} MiB)"
        if previous is not None:
            previous_n, previous_held = previous[0], previous[1][who][1]
            line += (f"; marginal {(held - previous_held) * 1024 / (n - previous_n):.0f} B/conn "
                     f"from {previous_n}")
        print(line, flush=True)
    previous = (n, figures)
