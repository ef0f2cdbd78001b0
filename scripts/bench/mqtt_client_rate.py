#!/usr/bin/env python3
"""`rtx mqtt pub` and `rtx mqtt sub` against mosquitto_pub and mosquitto_sub on one mosquitto
broker (started here on a free port): the table of issue 19. For every case the clients run
in turn, A B A B ..., R times each; the medians of the rate (messages/s, wall time of the
client from its start to its exit) and of its CPU time (user + system, from wait4) are
printed, with the ratios.

Cases (N messages of 64 bytes):
  pub -l QoS 0/1/2        the publisher's whole run: start, N lines from a file, exit.
  sub live QoS 0/2        a subscriber (--count N / -C N) while mosquitto_pub -l publishes:
                          from the publisher's start to the subscriber's exit.
  sub queued QoS 0/1      a persistent session (-c -i ID) that N messages were queued for
                          while it was away: from its start to its exit (--count N / -C N).
  pub -m x -q 1           one message, --runs x 4 times (wall only: milliseconds).

usage: scripts/bench/mqtt_client_rate.py [--rtx BINARY ...] [--messages N] [--runs R]
                                         [--cases pub,sub,queued,one]
       defaults: build/cmd/rtx, 50000, 3, all
"""
import argparse
import os
import statistics
import subprocess
import sys
import socket
import tempfile
import time

from mqtt_throughput import free_port


def start_broker():
    """mosquitto with unbounded queues, QoS 0 queued for persistent sessions too."""
    port = free_port()
    conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    conf.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
               "queue_qos0_messages true\n")
    conf.close()
    proc = subprocess.Popen(["mosquitto", "-c", conf.name], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_listening(port)
    return proc, port, conf.name


def wait_listening(port):
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit("mqtt_client_rate.py: mosquitto did not start")
            time.sleep(0.05)


def reap(proc, label):
    """(CPU seconds) of a finished child, via wait4."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode()[-400:] if proc.stderr else ""
        sys.exit(f"mqtt_client_rate.py: {label} exited {proc.returncode}: {err}")
    return usage.ru_utime + usage.ru_stime


def run_pub(argv, feed):
    with tempfile.TemporaryFile() as stdin:
        stdin.write(feed)
        stdin.seek(0)
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        cpu = reap(proc, " ".join(argv))
        return time.monotonic() - started, cpu


def wait_first_line(proc):
    line = proc.stdout.readline()
    if not line:
        sys.exit(f"mqtt_client_rate.py: subscriber ended early: {proc.stderr.read()[-400:]}")


def run_sub_live(sub_argv, port, topic, qos, feed):
    """The subscriber hears a retained 'ready' first (so it is subscribed), then N lines."""
    proc = subprocess.Popen(sub_argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    wait_first_line(proc)
    with tempfile.TemporaryFile() as stdin:
        stdin.write(feed)
        stdin.seek(0)
        started = time.monotonic()
        pub = subprocess.run(["mosquitto_pub", "-p", str(port), "-t", topic, "-q", str(qos),
                              "-l"], stdin=stdin)
        if pub.returncode != 0:
            sys.exit("mqtt_client_rate.py: mosquitto_pub failed")
        # Drain the rest without keeping it.
        while proc.stdout.read(1 << 16):
            pass
        cpu = reap(proc, " ".join(sub_argv))
        return time.monotonic() - started, cpu


def run_sub_queued(sub_argv, prepare_argv, port, topic, qos, feed):
    # Subscribes the persistent session and leaves (rtx: exit 5 at --timeout).
    subprocess.run(prepare_argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    with tempfile.TemporaryFile() as stdin:
        stdin.write(feed)
        stdin.seek(0)
        subprocess.run(["mosquitto_pub", "-p", str(port), "-t", topic, "-q", str(qos), "-l"],
                       stdin=stdin, check=True)
    started = time.monotonic()
    proc = subprocess.Popen(sub_argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    cpu = reap(proc, " ".join(sub_argv))
    return time.monotonic() - started, cpu


def report(label, results, n):
    base = results[-1]
    for name, runs in results:
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        base_wall = statistics.median(w for w, _ in base[1])
        base_cpu = statistics.median(c for _, c in base[1])
        print(f"{label:22} {name:26} {n / wall:10,.0f} msg/s {cpu / n * 1e6:6.1f} us CPU/msg"
              f"  (rate x{base_wall / wall:.2f}, CPU x{cpu / base_cpu:.2f} of "
              f"{base[0]})", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rtx", nargs="+", default=["build/cmd/rtx"])
    parser.add_argument("--messages", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", default="pub,sub,queued,one")
    args = parser.parse_args()
    cases = args.cases.split(",")
    n = args.messages
    feed = (b"x" * 64 + b"\n") * n
    broker, port, conf = start_broker()
    url = f"mqtt://127.0.0.1:{port}"
    print("load average at start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), flush=True)
    mp = ["-p", str(port)]
    try:
        if "pub" in cases:
            for qos in (0, 1, 2):
                clients = [(r, [r, "mqtt", "pub", url, "-t", "rate", "-l", "-q", str(qos)])
                           for r in args.rtx]
                clients.append(("mosquitto_pub",
                                ["mosquitto_pub", *mp, "-t", "rate", "-l", "-q", str(qos)]))
                results = [(name, []) for name, _ in clients]
                for _ in range(args.runs):
                    for (name, argv), (_, runs) in zip(clients, results):
                        runs.append(run_pub(argv, feed))
                report(f"pub -l QoS {qos}", results, n)
        if "sub" in cases:
            for qos in (0, 2):
                topic = f"live/{qos}"
                subprocess.run(["mosquitto_pub", *mp, "-t", "ready", "-r", "-m", "ready"],
                               check=True)
                clients = [(r, [r, "mqtt", "sub", url, "-t", "ready", "-t", topic, "-q",
                                str(qos), "--count", str(n + 1)]) for r in args.rtx]
                clients.append(("mosquitto_sub", ["mosquitto_sub", *mp, "-t", "ready", "-t",
                                                  topic, "-q", str(qos), "-C", str(n + 1)]))
                results = [(name, []) for name, _ in clients]
                for _ in range(args.runs):
                    for (name, argv), (_, runs) in zip(clients, results):
                        runs.append(run_sub_live(argv, port, topic, qos, feed))
                report(f"sub live QoS {qos}", results, n)
        if "queued" in cases:
            for qos in (0, 1):
                topic = f"queued/{qos}"
                clients = []
                for i, r in enumerate(args.rtx):
                    ident = f"bench-q{qos}-{i}"
                    base = [r, "mqtt", "sub", url, "-t", topic, "-q", str(qos), "-c", "-i",
                            ident]
                    clients.append((r, base + ["--count", str(n)],
                                    base + ["--timeout", "200ms"]))
                ident = f"bench-q{qos}-m"
                base = ["mosquitto_sub", *mp, "-t", topic, "-q", str(qos), "-c", "-i", ident]
                clients.append(("mosquitto_sub", base + ["-C", str(n)], base + ["-E"]))
                results = [(name, []) for name, _, _ in clients]
                for _ in range(args.runs):
                    for (name, argv, prepare), (_, runs) in zip(clients, results):
                        runs.append(run_sub_queued(argv, prepare, port, topic, qos, feed))
                report(f"sub queued QoS {qos}", results, n)
        if "one" in cases:
            clients = [(r, [r, "mqtt", "pub", url, "-t", "one", "-m", "x", "-q", "1"])
                       for r in args.rtx]
            clients.append(("mosquitto_pub",
                            ["mosquitto_pub", *mp, "-t", "one", "-m", "x", "-q", "1"]))
            walls = {name: [] for name, _ in clients}
            for _ in range(args.runs * 4):
                for name, argv in clients:
                    started = time.monotonic()
                    subprocess.run(argv, check=True)
                    walls[name].append(time.monotonic() - started)
            for name, w in walls.items():
                print(f"{'pub -m x -q 1':22} {name:26} {statistics.median(w) * 1000:8.1f} ms "
                      f"(median of {len(w)}, max {max(w) * 1000:.1f} ms)", flush=True)
        print("load average at end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), flush=True)
    finally:
        broker.terminate()
        broker.wait()
        os.unlink(conf)


if __name__ == "__main__":
    main()
