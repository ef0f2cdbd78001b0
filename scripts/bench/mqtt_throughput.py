#!/usr/bin/env python3
"""MQTT messages/s from one publisher to one subscriber through a broker, at QoS 0 and QoS 1:
`mosquitto_pub -l` publishes N lines, `mosquitto_sub` prints them, and the clock runs from
the first publish to the last message received. The same clients drive either the `rtx
serve` broker or mosquitto (started here on a free port), so the figures compare brokers.

usage: scripts/bench/mqtt_throughput.py [--broker rtx|mosquitto|both] [--build DIR]
                                        [--messages N] [--payload BYTES] [--qos 0,1]
       defaults: both, build, 50000, 64, 0,1

QoS 1 runs are limited to 60000 messages: `mosquitto_pub -l` queues every line at once and
its packet ids wrap at 65535, after which it loses messages with any broker.
"""
import argparse
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_rtx(build):
    proc = subprocess.Popen([f"{build}/cmd/rtx", "serve", "--no-tcp", "--no-http",
                             "--mqtt-port", "0", "--mqtt-max-queued", "1000000"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    name, url = proc.stdout.readline().decode().split()
    return proc, int(url.rsplit(":", 1)[1]), None


def start_mosquitto():
    port = free_port()
    conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    # Neither broker may drop QoS 1 messages for a subscriber that falls behind: mosquitto
    # queues without a bound here, rtx up to --mqtt-max-queued 1000000.
    conf.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
    conf.close()
    proc = subprocess.Popen(["mosquitto", "-c", conf.name], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                sys.exit("mqtt_throughput.py: mosquitto did not start")
            time.sleep(0.05)
    return proc, port, conf.name


def cpu_seconds(pid):
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_lines(proc, want, timeout):
    """Reads the subscriber's output until `want` newlines came or `timeout` passed."""
    seen = 0
    deadline = time.monotonic() + timeout
    while seen < want:
        ready, _, _ = select.select([proc.stdout], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            break
        chunk = os.read(proc.stdout.fileno(), 1 << 20)
        if not chunk:
            break
        seen += chunk.count(b"\n")
    return seen


def run(port, qos, messages, payload):
    topic = f"bench/{qos}"
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-t", topic, "-q", str(qos),
                            "-F", "%p"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        # Warm up: publish until the subscriber is known to be subscribed, then drain.
        deadline = time.monotonic() + 10
        while count_lines(sub, 1, 0.2) == 0:
            subprocess.run(["mosquitto_pub", "-p", str(port), "-t", topic, "-m", "w"],
                           check=True)
            if time.monotonic() > deadline:
                sys.exit("mqtt_throughput.py: the subscriber never subscribed")
        count_lines(sub, 1 << 30, 0.3)
        feed = (b"x" * payload + b"\n") * messages
        started = time.monotonic()
        pub = subprocess.Popen(["mosquitto_pub", "-p", str(port), "-t", topic, "-q", str(qos),
                                "-l"], stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
        pub.stdin.write(feed)
        pub.stdin.close()
        received = count_lines(sub, messages, 120)
        elapsed = time.monotonic() - started
        pub.wait(timeout=60)
        return received, elapsed
    finally:
        sub.send_signal(signal.SIGTERM)
        sub.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", default="both", choices=["rtx", "mosquitto", "both"])
    parser.add_argument("--build", default="build")
    parser.add_argument("--messages", type=int, default=50000)
    parser.add_argument("--payload", type=int, default=64)
    parser.add_argument("--qos", default="0,1")
    args = parser.parse_args()
    qos_levels = [int(q) for q in args.qos.split(",")]
    if args.messages > 60000 and any(q > 0 for q in qos_levels):
        sys.exit("mqtt_throughput.py: at most 60000 messages at QoS 1 (mosquitto_pub -l "
                 "reuses packet ids past 65535)")
    brokers = ["rtx", "mosquitto"] if args.broker == "both" else [args.broker]
    for broker in brokers:
        proc, port, conf = start_rtx(args.build) if broker == "rtx" else start_mosquitto()
        try:
            for qos in qos_levels:
                cpu_before = cpu_seconds(proc.pid)
                received, elapsed = run(port, qos, args.messages, args.payload)
                cpu = cpu_seconds(proc.pid) - cpu_before
                # The broker's CPU per message tells brokers apart even when the clients
                # are the bottleneck.
                print(f"{broker:9} QoS {qos}: {received}/{args.messages} messages of "
                      f"{args.payload} B in {elapsed:.2f} s: {received / elapsed:,.0f} msg/s, "
                      f"broker CPU {cpu:.2f} s ({cpu / max(received, 1) * 1e6:.1f} us/msg)")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            if conf:
                os.unlink(conf)


if __name__ == "__main__":
    main()
