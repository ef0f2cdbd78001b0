#!/usr/bin/env python3
"""Echo throughput and cost per message: `rtx bench PROTOCOL` (tcp or ws) with CONNECTIONS connections,
64-byte messages, closed model, for SECONDS against `rtx serve` in another process. Prints
the bench summary and the CPU time per message of both processes (os.wait4 rusage).

Then the instructions per message of the bench's hot path, from callgrind: two short runs
of one worker thread (N and 2N messages) under `valgrind --tool=callgrind`; the difference
of their instruction counts divided by N leaves out start-up and shut-down. The same
difference for malloc's own instructions shows whether the hot path allocates.

Allocations per message: the calls to malloc, calloc, realloc and operator new counted
in the same two runs (callgrind's call graph), difference / N: 0 when the hot path does not
allocate.

usage: scripts/bench/echo_throughput.py [BUILD_DIR] [CONNECTIONS] [SECONDS] [N] [PROTOCOL]
       defaults: build 50 10 20000 tcp
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

ALLOCATORS = re.compile(r"^(malloc|calloc|realloc|operator new(\[\])?\(unsigned long.*\))('\d+)?$")


def allocation_calls(callgrind_out):
    """Calls to the allocation functions recorded in a callgrind output file."""
    names = {}  # compressed "(id)" -> function name
    current_callee = None
    calls = 0
    with open(callgrind_out) as f:
        for line in f:
            if line.startswith(("fn=", "cfn=", "cfi=", "cob=", "ob=", "fl=", "fi=", "fe=")):
                key, _, value = line.rstrip("\n").partition("=")
                match = re.match(r"\((\d+)\)(?: (.*))?", value)
                name = value
                if match:
                    name = match.group(2) if match.group(2) is not None else names.get(
                        (key.lstrip("c"), match.group(1)), "")
                    names[(key.lstrip("c"), match.group(1))] = name
                if key == "cfn":
                    current_callee = name
            elif line.startswith("calls="):
                if current_callee is not None and ALLOCATORS.match(current_callee):
                    calls += int(line[6:].split()[0])
                current_callee = None
    return calls


build = sys.argv[1] if len(sys.argv) > 1 else "build"
connections = sys.argv[2] if len(sys.argv) > 2 else "50"
seconds = sys.argv[3] if len(sys.argv) > 3 else "10"
n = int(sys.argv[4]) if len(sys.argv) > 4 else 20000
protocol = sys.argv[5] if len(sys.argv) > 5 else "tcp"
rtx = f"{build}/cmd/rtx"

if protocol == "ws":
    serve = subprocess.Popen([rtx, "serve", "--no-tcp", "--no-mqtt", "--http-port", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    # http, ws and ws-echo, one "name url" line each
    url = dict(serve.stdout.readline().decode().split() for _ in range(3))["ws-echo"]
else:
    serve = subprocess.Popen([rtx, "serve", "--tcp-port", "0", "--no-http", "--no-mqtt"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    _, url = serve.stdout.readline().decode().split()
tmp = tempfile.mkdtemp()
try:
    report_path = os.path.join(tmp, "report.json")
    command = [rtx, "bench", protocol, "-c", connections, "-s", "64", "-d", f"{seconds}s",
               "--json", report_path, url]
    print("$", " ".join(command), flush=True)
    serve_before = os.times()  # children's times are only known after wait; read /proc
    with open(f"/proc/{serve.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
        serve_ticks_before = int(fields[11]) + int(fields[12])
    bench = subprocess.Popen(command)
    _, status, usage = os.wait4(bench.pid, 0)
    with open(f"/proc/{serve.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
        serve_ticks = int(fields[11]) + int(fields[12]) - serve_ticks_before
    with open(report_path) as f:
        report = json.load(f)
    messages = report["messages_received"]
    bench_cpu = usage.ru_utime + usage.ru_stime
    serve_cpu = serve_ticks / os.sysconf("SC_CLK_TCK")
    print(f"{messages} round trips in {report['duration_seconds']:.2f} s: "
          f"{messages / report['duration_seconds']:.0f} msg/s")
    print(f"rtx bench CPU {bench_cpu:.2f} s = {bench_cpu / messages * 1e6:.2f} us per message "
          f"(user {usage.ru_utime:.2f} s, system {usage.ru_stime:.2f} s)")
    print(f"rtx serve CPU {serve_cpu:.2f} s = {serve_cpu / messages * 1e6:.2f} us per message")

    if shutil.which("valgrind") is None:
        sys.exit("valgrind not installed: no instruction counts")
    totals = {}
    for count in (n, 2 * n):
        out = os.path.join(tmp, f"callgrind.{count}")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", rtx,
                        "bench", protocol, "-c", connections, "-t", "1", "-s", "64", "-n",
                        str(count), "--drain", "30s", url],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        annotated = subprocess.run(["callgrind_annotate", "--threshold=100", out],
                                   capture_output=True, check=True).stdout.decode()
        total = int(re.search(r"^([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", annotated,
                              re.M).group(1).replace(",", ""))
        totals[count] = (total, allocation_calls(out))
    per_message = (totals[2 * n][0] - totals[n][0]) / n
    malloc_per_message = (totals[2 * n][1] - totals[n][1]) / n
    print(f"callgrind: {per_message:.0f} instructions per message in rtx bench "
          f"({totals[n][0]:,} for {n}, {totals[2 * n][0]:,} for {2 * n}); "
          f"allocations (malloc, calloc, realloc, new): {malloc_per_message:.3f} per message "
          f"({totals[n][1]:,} for {n}, {totals[2 * n][1]:,} for {2 * n})")
finally:
    serve.send_signal(signal.SIGTERM)
    serve.wait()
    shutil.rmtree(tmp)
sys.exit(os.waitstatus_to_exitcode(status))
