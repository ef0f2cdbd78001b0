#!/usr/bin/env python3
"""Can Paho hold MQTT clients at bench scale? Starts `rtx serve` (broker only) and runs
tests/e2e/paho_scale_probe: SUBSCRIBERS Paho async clients in one process on one topic, then
one Paho publisher at RATE messages/s for SECONDS; every subscriber should get every message.
Prints the probe's figures (connect time, Paho's thread count, deliveries, latency, CPU,
peak RSS) and serve's CPU. This is the measurement behind `rtx bench mqtt` not using Paho.

usage: scripts/bench/paho_scale.py [BUILD_DIR] [SUBSCRIBERS] [SECONDS] [RATE]
       defaults: build 1000 10 1
"""
import os
import signal
import subprocess
import sys
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
subscribers = sys.argv[2] if len(sys.argv) > 2 else "1000"
seconds = sys.argv[3] if len(sys.argv) > 3 else "10"
rate = sys.argv[4] if len(sys.argv) > 4 else "1"

serve = subprocess.Popen([f"{build}/cmd/rtx", "serve", "--no-tcp", "--no-http", "--mqtt-port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
name, url = serve.stdout.readline().decode().split()
assert name == "mqtt", name
started = time.monotonic()
probe = subprocess.run([f"{build}/tests/e2e/paho_scale_probe", url, subscribers, seconds, rate],
                       stdout=subprocess.PIPE)
wall = time.monotonic() - started
serve.send_signal(signal.SIGTERM)
_, _, serve_usage = os.wait4(serve.pid, 0)
print(probe.stdout.decode().strip())
print(f"wall {wall:.1f} s; serve CPU {serve_usage.ru_utime + serve_usage.ru_stime:.2f} s; "
      f"load average {os.getloadavg()[0]:.1f}")
sys.exit(probe.returncode)
