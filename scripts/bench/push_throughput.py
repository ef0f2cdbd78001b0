#!/usr/bin/env python3
"""Web Push sender throughput: `rtx push send` with COUNT stdin lines (one push each, one after
another on one keep-alive HTTP/1.1 connection) against `rtx serve`'s mock push service, side by
side with npm web-push sending the same number of messages from one node process
(scripts/bench/web_push_sender.js, the same one-at-a-time keep-alive pattern). The service
decrypts and checks VAPID for every push in both runs. The two senders take turns, A B A B
(ROUNDS rounds, each on a fresh subscription), and the medians are printed with each run:
pushes/s and each sender's own CPU per push (user + system, os.wait4).

usage: scripts/bench/push_throughput.py [BUILD_DIR] [COUNT] [ROUNDS]   defaults: build 5000 2
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
             "mailto:bench@example.org", "--ttl", "60", "--http1.1"], input=lines,
            stdout=subprocess.DEVNULL),
        "npm web-push": lambda: timed(
            ["node", os.path.join(root, "scripts", "bench", "web_push_sender.js"), subscribe(),
             keys["publicKey"], keys["privateKey"], str(count)], env=env),
    }
    results = {name: [] for name in senders}
    for round_number in range(1, rounds + 1):
        for name, run in senders.items():
            wall, cpu, code = run()
            results[name].append((count / wall, cpu / count * 1e6))
            print(f"round {round_number} {name:13}: {count} pushes in {wall:.2f} s: "
                  f"{count / wall:,.0f} pushes/s, sender CPU {cpu:.2f} s "
                  f"({cpu / count * 1e6:.0f} us/push), exit {code}", flush=True)
            if code != 0:
                sys.exit(f"{name} failed with exit status {code}")
    medians = {name: (statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs))
               for name, runs in results.items()}
    for name, (rate, cpu) in medians.items():
        print(f"median {name:13}: {rate:,.0f} pushes/s, {cpu:.0f} us CPU/push")
    (rtx_rate, rtx_cpu), (node_rate, node_cpu) = medians.values()
    print(f"rtx/web-push: {rtx_rate / node_rate:.1f}x pushes/s, {node_cpu / rtx_cpu:.1f}x less CPU "
          f"per push")
finally:
    serve.send_signal(signal.SIGTERM)
    serve.wait()
