#!/usr/bin/env python3
"""Open-model accuracy: `rtx bench tcp --rate R` against `rtx serve` in another process for
several rates below saturation; prints the achieved send rate (messages sent / measured
duration) and its deviation from R. Exits 1 if any deviates by more than 1 %.

usage: scripts/bench/open_rate.py [BUILD_DIR] [SECONDS] [RATE...]
       defaults: build 10 1000 10000 30000 (uniform), then the same rates with Poisson
"""
import json
import os
import signal
import subprocess
import sys
import tempfile

build = sys.argv[1] if len(sys.argv) > 1 else "build"
seconds = sys.argv[2] if len(sys.argv) > 2 else "10"
rates = [float(r) for r in sys.argv[3:]] or [1000, 10000, 30000]
rtx = f"{build}/cmd/rtx"

serve = subprocess.Popen([rtx, "serve", "--tcp-port", "0", "--no-http"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
_, url = serve.stdout.readline().decode().split()
worst = 0.0
try:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.json")
        for arrival in ("uniform", "poisson"):
            for rate in rates:
                command = [rtx, "bench", "tcp", "-c", "50", "--rate", f"{rate:g}", "--arrival",
                           arrival, "-d", f"{seconds}s", "--json", path, url]
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                with open(path) as f:
                    report = json.load(f)
                achieved = report["messages_sent"] / report["duration_seconds"]
                deviation = (achieved - rate) / rate * 100
                worst = max(worst, abs(deviation))
                p99 = report["latency_us"]["percentiles"]["99"]
                print(f"{arrival:8} rate {rate:8g}/s  achieved {achieved:10.1f}/s  "
                      f"({deviation:+.2f} %)  p99 {p99} us", flush=True)
finally:
    serve.send_signal(signal.SIGTERM)
    serve.wait()
print(f"worst deviation {worst:.2f} %")
sys.exit(0 if worst <= 1.0 else 1)
