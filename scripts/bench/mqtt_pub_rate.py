#!/usr/bin/env python3
"""How fast `rtx mqtt pub -l` publishes N lines to a mosquitto broker (started here on a
free port) until it exits, that is until the last message is acknowledged (QoS 1/2) or
written (QoS 0). Each case runs R times; the medians of the rate and of the client's CPU
time (user + system) per message are printed. `mosquitto_pub -l` runs the
same cases as the reference. This measures the client (Paho plus rtx), not the broker: see
mqtt_throughput.py for brokers.

usage: scripts/bench/mqtt_pub_rate.py [--rtx BINARY ...] [--messages N] [--runs R]
       defaults: build/cmd/rtx, 50000, 5
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from mqtt_throughput import start_mosquitto  # the same broker setup as the broker benchmark

CASES = [  # (label, rtx arguments, mosquitto_pub arguments)
    ("QoS 1, clean session", ["-q", "1"], ["-q", "1"]),
    ("QoS 1, persistent session", ["-q", "1", "-c", "-i", "rate-1"],
     ["-q", "1", "-c", "-i", "rate-1"]),
    ("QoS 2, persistent session", ["-q", "2", "-c", "-i", "rate-2"],
     ["-q", "2", "-c", "-i", "rate-2"]),
]


def cpu_of_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv, feed):
    """(wall seconds, CPU seconds) of one run."""
    with tempfile.TemporaryFile() as stdin:
        stdin.write(feed)
        stdin.seek(0)
        cpu_before = cpu_of_children()
        started = time.monotonic()
        done = subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        elapsed = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"mqtt_pub_rate.py: {' '.join(argv)} exited {done.returncode}: "
                 f"{done.stderr.decode()[-500:]}")
    return elapsed, cpu_of_children() - cpu_before


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rtx", nargs="+", default=["build/cmd/rtx"])
    parser.add_argument("--messages", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    broker, port, conf = start_mosquitto()
    try:
        feed = (b"x" * 64 + b"\n") * args.messages
        url = f"mqtt://127.0.0.1:{port}"
        clients = [(rtx, [rtx, "mqtt", "pub", url, "-t", "rate", "-l"], 1) for rtx in args.rtx]
        clients.append(("mosquitto_pub", ["mosquitto_pub", "-p", str(port), "-t", "rate", "-l"],
                        2))
        for label, rtx_args, mosquitto_args in CASES:
            for name, argv, which in clients:
                extra = rtx_args if which == 1 else mosquitto_args
                runs = [timed(argv + extra, feed) for _ in range(args.runs)]
                wall = statistics.median(w for w, _ in runs)
                cpu = statistics.median(c for _, c in runs)
                print(f"{label:27} {name:28} {args.messages / wall:10,.0f} msg/s, "
                      f"{cpu / args.messages * 1e6:4.0f} us CPU/msg (medians of {args.runs})")
    finally:
        broker.terminate()
        broker.wait()
        os.unlink(conf)


if __name__ == "__main__":
    main()
