#!/usr/bin/env python3
"""rtx bench over several processes (docs/benchmarks.md, "Shards"). Two parts:

idle: N idle WebSocket echo connections held SECONDS by `rtx bench ws --procs P` against S
  separate `rtx serve` processes (their URLs round robin), from sixteen loopback
  source addresses; every connection must open, none may fail. Memory per connection on both sides:
  the sum over the bench shard processes (and over the servers) of the RSS held during the
  idle hold, divided by N. Idle is the open model at 1e-9 messages/s per connection (no
  send falls within the run), as in scripts/bench/ws_idle.py.

compare: the same total load as 1 process and as 4 local shards (--procs 4), A B A B, against
  one `rtx serve`: tcp echo in the open model, and sse fan-out; medians of received/s,
  p50, p99 and lost.

usage: scripts/bench/shards.py idle [BUILD_DIR] [N] [P] [S] [SECONDS] [CONNECT_RATE]
         defaults: build 100000 6 6 60 1000
       scripts/bench/shards.py compare [BUILD_DIR] [RUNS]
         defaults: build 2 (A B A B)
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

mode = sys.argv[1] if len(sys.argv) > 1 else "idle"
build = sys.argv[2] if len(sys.argv) > 2 else "build"
rtx = f"{build}/cmd/rtx"


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return None


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


# Sixteen source addresses, not four: lws binds a WebSocket client's socket to its source
# address with port 0 before connecting (it has no hook for IP_BIND_ADDRESS_NO_PORT), so each
# address holds at most the 28,232 ephemeral ports, and the kernel's search for a free one
# grows as they fill (25,000 a address with four: 60 % of a shard's CPU in inet_csk_get_port,
# and the ramp fell far behind --connect-rate). 6,250 a address leaves the search short.
SOURCE_IPS = ",".join(f"127.0.0.{i}" for i in range(2, 18))


def start_serve(max_conns):
    serve = subprocess.Popen([rtx, "serve", "--no-tcp", "--no-mqtt", "--http-port", "0",
                              "--ws-max-conns", str(max_conns)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    endpoints = dict(serve.stdout.readline().decode().split() for _ in range(3))
    return serve, endpoints


def idle():
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
    procs = int(sys.argv[4]) if len(sys.argv) > 4 else 6
    servers = int(sys.argv[5]) if len(sys.argv) > 5 else 6
    seconds = int(sys.argv[6]) if len(sys.argv) > 6 else 60
    # 1,000/s for all shards together: at 2,500/s the two cores fell behind (handshakes
    # queued past their 30 s timeout and were retried, docs/benchmarks.md); at 1,000/s every
    # connection opened at its first attempt.
    connect_rate = sys.argv[7] if len(sys.argv) > 7 else "1000"
    serves = [start_serve(n // servers + 100) for _ in range(servers)]
    serve_before = sum(status_kib(s.pid, "VmRSS") for s, _ in serves)
    with tempfile.TemporaryDirectory() as tmp:
        report_path = os.path.join(tmp, "report.json")
        command = [rtx, "bench", "ws", "-c", str(n), "--procs", str(procs),
                   "--connect-rate", connect_rate, "--rate-per-conn", "1e-9",
                   "-d", f"{seconds}s", "--drain", "0s", "--connect-timeout", "30s",
                   "--source-ip", SOURCE_IPS,
                   "--json", report_path, *[e["ws-echo"] for _, e in serves]]
        print("$", " ".join(command), flush=True)
        bench = subprocess.Popen(command, stdout=subprocess.PIPE)
        started = time.monotonic()
        # RSS of both sides every 0.5 s; which samples count as "held" is decided after the
        # run from the ramp time bench reports (a loaded machine ramps slower than paced).
        samples = []  # (seconds since start, bench shards + parent, servers), in KiB
        shard_peak = {}
        while bench.poll() is None:
            shards = children(bench.pid)
            for pid in shards:
                shard_peak[pid] = max(shard_peak.get(pid, 0), status_kib(pid, "VmHWM") or 0)
            samples.append((time.monotonic() - started,
                            sum(status_kib(p, "VmRSS") or 0 for p in shards)
                            + (status_kib(bench.pid, "VmRSS") or 0),
                            sum(status_kib(s.pid, "VmRSS") or 0 for s, _ in serves)))
            time.sleep(0.5)
        ended = time.monotonic() - started
        summary = bench.stdout.read().decode()
        serve_peak = sum(status_kib(s.pid, "VmHWM") for s, _ in serves)
        for serve, _ in serves:
            serve.send_signal(signal.SIGTERM)
            serve.wait()
        with open(report_path) as f:
            report = json.load(f)
    print(summary, flush=True)
    # Held: after the slowest shard's ramp (+ the shards' start lead and 1 s to settle) and
    # before the last second, when the shards begin to close.
    hold_from = 1.5 + report["ramp_seconds"] + 1
    held = [(b, sv) for t, b, sv in samples if hold_from <= t <= ended - 1]
    if not held:
        sys.exit(f"shards: no RSS sample in the hold ({hold_from:.1f} s to {ended - 1:.1f} s): "
                 "give it more SECONDS")
    bench_held = max(b for b, _ in held)
    serve_held = max(sv for _, sv in held)
    opened = report["connections"] - report["connections_failed"]
    errors = sum(report["errors"].values())
    # Connections up through the hold: the merged timeline's seconds after the ramp, but not
    # its last two. The timeline is joined on wall-clock seconds and the shards stop a moment
    # apart, so its last second may hold only the shard that sampled once more, the others
    # having closed (16,666 of 100,000 in one run whose summary said 100,000 up).
    timeline = report["timeline"]
    last_t = timeline[-1]["t_seconds"] if timeline else 0
    hold_points = [p["connections_up"] for p in timeline
                   if report["ramp_seconds"] + 2 <= p["t_seconds"] <= last_t - 2]
    held_up = min(hold_points) if hold_points else 0
    print(f"  {opened} of {n} connections opened, at least {held_up} up through the hold, "
          f"{errors} errors, ramp {report['ramp_seconds']:.1f} s, "
          f"{report['messages_sent']} messages sent")
    bench_peak = sum(shard_peak.values())
    print(f"  rtx bench ({procs} shard processes + the parent): held {bench_held / 1024:.1f} MiB"
          f" = {bench_held * 1024 / n:.0f} B/conn; shards' peaks summed "
          f"{bench_peak / 1024:.1f} MiB = {bench_peak * 1024 / n:.0f} B/conn")
    print(f"  rtx serve ({servers} processes): held {serve_held / 1024:.1f} MiB = "
          f"{serve_held * 1024 / n:.0f} B/conn (before the run {serve_before / 1024:.1f} MiB); "
          f"peaks summed {serve_peak / 1024:.1f} MiB")
    if bench.returncode != 0 or opened != n or errors != 0 or held_up != n:
        sys.exit(f"shards: the run did not open and hold all {n} (exit {bench.returncode})")


def run(args):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.json")
        result = subprocess.run([rtx, "bench", *args, "--json", path], capture_output=True,
                                timeout=300)
        if result.returncode != 0:
            sys.exit(f"shards: rtx bench {' '.join(args)}: exit {result.returncode}: "
                     f"{result.stderr.decode()}")
        with open(path) as f:
            return json.load(f)


def compare():
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    serve = subprocess.Popen([rtx, "serve", "--tcp-port", "0", "--http-port", "0", "--no-mqtt"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    endpoints = dict(serve.stdout.readline().decode().split() for _ in range(4))
    tests = {
        "tcp echo, open model": ["tcp", "-c", "200", "--rate", "20000", "-d", "10s",
                                 endpoints["tcp-echo"].split("://")[1]],
        # 40 messages/s to 1,000 subscribers: 40,000 deliveries/s, within what one rtx serve
        # and the bench take on two cores (at 200/s the single process ran 2 s behind).
        "sse fan-out": ["sse", "-c", "1000", "--publishers", "4", "--rate", "40", "-d", "10s",
                        endpoints["http"]],
    }
    try:
        for name, args in tests.items():
            figures = {"1 process": [], "4 shards (--procs 4)": []}
            for _ in range(runs):  # A B A B
                for label, extra in (("1 process", ["-t", "2"]),
                                     ("4 shards (--procs 4)", ["--procs", "4", "-t", "1"])):
                    print("$ rtx bench", " ".join(args + extra), flush=True)
                    figures[label].append(run(args + extra))
            print(f"\n{name}: medians of {runs}")
            print("| | received/s | p50 | p99 | p99.9 | lost | errors |")
            print("|---|---|---|---|---|---|---|")
            for label, reports in figures.items():
                med = lambda f: statistics.median(f(r) for r in reports)
                print(f"| {label} | {med(lambda r: r['received_per_second']):.0f} "
                      f"| {med(lambda r: r['latency_us']['percentiles']['50']):.0f} us "
                      f"| {med(lambda r: r['latency_us']['percentiles']['99']):.0f} us "
                      f"| {med(lambda r: r['latency_us']['percentiles']['99.9']):.0f} us "
                      f"| {med(lambda r: r['lost']):.0f} "
                      f"| {med(lambda r: sum(r['errors'].values())):.0f} |", flush=True)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait()


if mode == "idle":
    idle()
elif mode == "compare":
    compare()
else:
    sys.exit(__doc__)
