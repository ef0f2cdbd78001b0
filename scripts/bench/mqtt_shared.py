#!/usr/bin/env python3
"""`rtx bench mqtt` with one shared subscription ($share/g/...) against the `rtx serve`
broker and mosquitto, A B A B: each message must be delivered once (not once per
subscriber); prints per run the messages published and delivered, lost, duplicates, the
delivery rate and p50/p99 latency, then the medians per broker. Both brokers are started
here on free ports.

usage: scripts/bench/mqtt_shared.py [--build DIR] [--conns N] [--messages N] [--qos Q]
                                    [--rounds N]
       defaults: build, 8, 20000, 1, 2
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from mqtt_throughput import start_mosquitto, start_rtx  # noqa: E402


def run(build, url, args):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.json")
        result = subprocess.run([f"{build}/cmd/rtx", "bench", "mqtt", url, "-c", str(args.conns),
                                 "--publishers", "2", "--topic", "$share/g/jobs", "--qos",
                                 str(args.qos), "-n", str(args.messages), "--json", path],
                                capture_output=True, timeout=300)
        if result.returncode != 0:
            sys.exit(f"rtx bench failed: {result.stderr.decode()}")
        with open(path) as f:
            return json.load(f)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--conns", type=int, default=8)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--qos", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rates = {"rtx": [], "mosquitto": []}
    for _ in range(args.rounds):
        for name, start in (("rtx", lambda: start_rtx(args.build)), ("mosquitto", start_mosquitto)):
            proc, port, conf = start()
            try:
                r = run(args.build, f"mqtt://127.0.0.1:{port}", args)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
                if conf:
                    os.unlink(conf)
            rates[name].append(r["received_per_second"])
            print(f"{name:9} sent {r['messages_sent']} delivered {r['messages_received']} "
                  f"lost {r['lost']} dup {r['duplicates']} "
                  f"{r['received_per_second']:.0f} msg/s "
                  f"p50 {r['latency_us']['percentiles']['50']} us "
                  f"p99 {r['latency_us']['percentiles']['99']} us", flush=True)
    for name, values in rates.items():
        print(f"median {name}: {statistics.median(values):.0f} msg/s")


if __name__ == "__main__":
    main()
