#!/usr/bin/env python3
"""Web Push sender throughput: `rtx push send` with COUNT stdin lines (one push each) against
`rtx serve`'s mock push service, side by side with npm web-push sending the same number of
messages from one node process (scripts/bench/web_push_sender.js). Both keep WINDOW pushes in
flight on the same kind of connection: WINDOW keep-alive HTTP/1.1 connections, one push at a
time on each (one connection at the default WINDOW 1): `rtx push send --parallel WINDOW`, and
WINDOW workers over a keep-alive agent of WINDOW sockets in node. (HTTP/2 is not offered:
rtx serve's push service reads the RFC 8030 headers only over HTTP/1.1 so far, see
docs/benchmarks.md.) The service decrypts and checks VAPID for
every push in both runs. The two senders take turns, A B A B (ROUNDS rounds, each on a fresh
subscription), and the medians are printed with each run: pushes/s, each sender's own CPU
per push (user + system, os.wait4), the service's CPU per push (/proc), and the load
average before and after.

usage: scripts/bench/push_throughput.py [BUILD_DIR] [COUNT] [ROUNDS] [WINDOW] [PROTOCOL]
defaults: build 5000 2 1 http1.1 (the only PROTOCOL so far)
Needs tests/push/node_modules (cd tests/push && npm ci) for the web-push row.
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

build = sys.argv[1] if len(sys.argv) > 1 else "build"
count = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
window = int(sys.argv[4]) if len(sys.argv) > 4 else 1
protocol = sys.argv[5] if len(sys.argv) > 5 else "http1.1"
if protocol != "http1.1":
    sys.exit("PROTOCOL: http1.1 (HTTP/2 to rtx serve's push service is not supported yet)")
rtx = f"{build}/cmd/rtx"
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def timed(args, input=None, **kwargs):
    """Runs args to the end: (wall seconds, its CPU seconds, exit code)."""
    started = time.monotonic()
    proc = subprocess.Popen(args, stdin=subprocess.PIPE if input else None, **kwargs)
    if input:
        proc.stdin.write(input)
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime, \
        os.waitstatus_to_exitcode(status)


def cpu_seconds(pid):
    """user + system CPU seconds of a running process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load():
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


keys = json.loads(subprocess.run([rtx, "push", "keys", "--json"], check=True,
                                 capture_output=True).stdout)
serve = subprocess.Popen([rtx, "serve", "--no-tcp", "--no-mqtt", "--http-port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
name, url = serve.stdout.readline().decode().split()
try:
    def subscribe():
        body = json.dumps({"applicationServerKey": keys["publicKey"]}).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{url}/push/subscribe", data=body),
                                    timeout=10) as response:
            return response.read().decode()

    lines = "".join(f"message {i} {'x' * 48}\n" for i in range(count)).encode()
    env = dict(os.environ, NODE_PATH=os.path.join(root, "tests", "push", "node_modules"))
    senders = {
        "rtx push send": lambda: timed(
            [rtx, "push", "send", subscribe(), "--vapid-key", keys["privateKey"], "--subject",
             "mailto:bench@example.org", "--ttl", "60", "--parallel", str(window),
             "--http1.1"], input=lines,
            stdout=subprocess.DEVNULL),
        "npm web-push": lambda: timed(
            ["node", os.path.join(root, "scripts", "bench", "web_push_sender.js"), subscribe(),
             keys["publicKey"], keys["privateKey"], str(count), str(window)], env=env),
    }
    results = {name: [] for name in senders}
    print(f"{count} pushes per run, {window} in flight, {protocol}; load average {load()}",
          flush=True)
    for round_number in range(1, rounds + 1):
        for name, run in senders.items():
            serve_before = cpu_seconds(serve.pid)
            wall, cpu, code = run()
            serve_cpu = cpu_seconds(serve.pid) - serve_before
            results[name].append((count / wall, cpu / count * 1e6))
            print(f"round {round_number} {name:13}: {count} pushes in {wall:.2f} s: "
                  f"{count / wall:,.0f} pushes/s, sender CPU {cpu:.2f} s "
                  f"({cpu / count * 1e6:.0f} us/push), service CPU "
                  f"{serve_cpu / count * 1e6:.0f} us/push, exit {code}, load {load()}",
                  flush=True)
            if code != 0:
                sys.exit(f"{name} failed with exit status {code}")
    medians = {name: (statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs))
               for name, runs in results.items()}
    for name, (rate, cpu) in medians.items():
        print(f"median {name:13}: {rate:,.0f} pushes/s, {cpu:.0f} us CPU/push")
    (rtx_rate, rtx_cpu), (node_rate, node_cpu) = medians.values()
    rtx_runs, node_runs = results.values()
    print("pair by pair: " + ", ".join(f"{a[0] / b[0]:.1f}x" for a, b in zip(rtx_runs, node_runs)))
    print(f"rtx/web-push: {rtx_rate / node_rate:.1f}x pushes/s, {node_cpu / rtx_cpu:.1f}x less CPU "
          f"per push; load average {load()}")
finally:
    serve.send_signal(signal.SIGTERM)
    serve.wait()
