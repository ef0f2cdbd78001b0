#!/usr/bin/env python3
"""How fast one `rtx sse` client takes events from `rtx serve`: N events are published into a
topic's history first, then `rtx sse --last-event-id 0` reads them all as the server replays
them as fast as it can. Prints events/s and the client's CPU time (os.wait4 rusage).

usage: scripts/bench/sse_throughput.py [BUILD_DIR] [EVENTS] [PAYLOAD_BYTES]
       defaults: build 100000 64
"""
import http.client
import os
import signal
import subprocess
import sys
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
events = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
size = int(sys.argv[3]) if len(sys.argv) > 3 else 64
rtx = f"{build}/cmd/rtx"
if events * size > 4 * 1024 * 1024:
    # The hub keeps at most 4 MiB of payload per topic; the replay would come up short.
    sys.exit("sse_throughput.py: EVENTS x PAYLOAD_BYTES must fit in the hub's 4 MiB per topic")

serve = subprocess.Popen([rtx, "serve", "--no-tcp", "--http-port", "0", "--history",
                          str(events), "--max-body", "1MiB"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
name, url = serve.stdout.readline().decode().split()
host, port = url.split("//")[1].split(":")
try:
    connection = http.client.HTTPConnection(host, int(port))
    payload = b"x" * size
    started = time.monotonic()
    for _ in range(events):
        connection.request("POST", "/publish/bench", body=payload)
        connection.getresponse().read()
    print(f"published {events} events of {size} bytes in {time.monotonic() - started:.1f} s")

    started = time.monotonic()
    client = subprocess.Popen([rtx, "sse", "--last-event-id", "0", "--count", str(events),
                               f"{url}/sse/bench"], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(client.pid, 0)
    wall = time.monotonic() - started
    cpu = usage.ru_utime + usage.ru_stime
    print(f"rtx sse received {events} events in {wall:.3f} s: {events / wall:,.0f} events/s, "
          f"client CPU {cpu:.3f} s ({cpu / events * 1e6:.2f} us/event), "
          f"exit {os.waitstatus_to_exitcode(status)}")
finally:
    serve.send_signal(signal.SIGTERM)
    serve.wait()
