#!/usr/bin/env python3
"""Scale figure for the TCP transport: CONNECTIONS concurrent connections on one loop
(tests/e2e/tcp_scale_probe) against one `rtx serve`, MESSAGES echoes each. Prints wall time,
CPU time and peak RSS of both processes (os.wait4 gives each child's own rusage).

usage: scripts/bench/tcp_scale.py [BUILD_DIR] [CONNECTIONS] [MESSAGES]
       defaults: build 1000 20
"""
import os
import signal
import subprocess
import sys
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
connections = sys.argv[2] if len(sys.argv) > 2 else "1000"
messages = sys.argv[3] if len(sys.argv) > 3 else "20"

serve = subprocess.Popen([f"{build}/cmd/rtx", "serve", "--tcp-port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
name, url = serve.stdout.readline().decode().split()
started = time.monotonic()
probe = subprocess.Popen([f"{build}/tests/e2e/tcp_scale_probe", url, connections, messages],
                         stdout=subprocess.PIPE)
summary = probe.stdout.read().decode().strip()
_, probe_status, probe_usage = os.wait4(probe.pid, 0)
wall = time.monotonic() - started
def peak_rss_kib(pid):
    # VmHWM, not ru_maxrss: the latter survives exec and reports the parent's peak.
    with open(f"/proc/{pid}/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))


serve_peak = peak_rss_kib(serve.pid)
serve.send_signal(signal.SIGTERM)
_, serve_status, serve_usage = os.wait4(serve.pid, 0)

print(summary)
print(f"wall {wall:.3f} s for {connections} connections x {messages} echoes")
probe_peak = int(dict(f.split("=") for f in summary.split())["peak_rss_kib"])
for who, usage, peak in (("probe (client)", probe_usage, probe_peak),
                         ("rtx serve", serve_usage, serve_peak)):
    cpu = usage.ru_utime + usage.ru_stime
    print(f"{who:15} cpu {cpu:.3f} s  peak RSS {peak / 1024:.1f} MiB")
sys.exit(0 if os.waitstatus_to_exitcode(probe_status) == 0 else 1)
