"""rtx bench over several processes: --procs P (local child shards, merged), --shard I/N
with --start-at by hand and `rtx bench merge`, a killed shard reported as such, mismatched
reports refused, several targets round robin. Short runs with small, exact loads."""
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from rtxtest import EXIT_OK, EXIT_USAGE, RTX, Serve, free_port, rtx

EXIT_FAILURE = 1
EXIT_THRESHOLD = 10


def histogram_total(histogram):
    return sum(count for _, count in histogram["buckets"])


def load(path):
    with open(path) as f:
        return json.load(f)


class ProcsTest(unittest.TestCase):
    def test_three_local_shards_run_the_whole_load(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "all.json")
            result = rtx("bench", "tcp", "-c", "7", "-n", "700", "--procs", "3", "--json", path,
                         timeout=90)
            self.assertEqual(result.returncode, EXIT_OK, result.stderr.decode())
            report = load(path)
        summary = result.stdout.decode()
        self.assertIn("3 merged, all ok", summary)
        self.assertEqual(report["connections"], 7)
        self.assertEqual(report["connections_failed"], 0)
        self.assertEqual(report["messages_sent"], 700)
        self.assertEqual(report["messages_received"], 700)
        self.assertEqual(report["lost"], 0)
        self.assertEqual(histogram_total(report["latency_us"]), 700)
        self.assertEqual(histogram_total(report["connect_time_us"]), 7)
        self.assertEqual([s["shard"] for s in report["shards"]], ["0/3", "1/3", "2/3"])
        self.assertEqual({s["status"] for s in report["shards"]}, {"ok"})

    def test_more_shards_than_connections(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "all.json")
            result = rtx("bench", "ws", "-c", "2", "-n", "40", "--procs", "4", "--json", path,
                         timeout=90)
            self.assertEqual(result.returncode, EXIT_OK, result.stderr.decode())
            report = load(path)
        self.assertEqual(report["connections"], 2)
        self.assertEqual(report["messages_received"], 40)
        self.assertEqual(len(report["shards"]), 4)

    def test_a_killed_shard_is_reported_and_its_partial_report_kept(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "all.json")
            proc = subprocess.Popen([RTX, "bench", "tcp", "-c", "3", "--rate", "300", "-d", "3s",
                                     "--procs", "3", "--json", path],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                children = self.wait_for_children(proc.pid, 3)
                # While the shards run, SIGKILL one (no report) and SIGTERM another (it
                # stops and writes what it measured).
                os.kill(children[1], signal.SIGKILL)
                os.kill(children[2], signal.SIGTERM)
                out, err = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            self.assertEqual(proc.returncode, EXIT_FAILURE, err.decode())
            report = load(path)
        summary = out.decode()
        self.assertIn("shard 1/3: killed by SIGKILL, no report", summary)
        self.assertRegex(summary, r"shard 2/3: interrupted \(exit 143\), partial report kept")
        statuses = {s["shard"]: s["status"] for s in report["shards"]}
        self.assertEqual(statuses["0/3"], "ok")
        self.assertIn("SIGKILL", statuses["1/3"])
        # Shards 0 and 2 are in the merged report, shard 1 (its one connection) is not.
        self.assertEqual(report["connections"], 2)

    def wait_for_children(self, pid, count, timeout=30):
        """The pids of `pid`'s shard processes, ordered by shard, once each has a socket
        open (it is running its test, past --start-at)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shards = {}
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    children = [int(c) for c in f.read().split()]
                for child in children:
                    with open(f"/proc/{child}/cmdline", "rb") as f:
                        args = f.read().split(b"\0")
                    if b"--shard" in args:
                        shard = args[args.index(b"--shard") + 1].decode()
                        fds = os.listdir(f"/proc/{child}/fd")
                        if any(os.readlink(f"/proc/{child}/fd/{fd}").startswith("socket:")
                               for fd in fds):
                            shards[shard] = child
            except (FileNotFoundError, ProcessLookupError):
                pass
            if len(shards) == count:
                return [shards[f"{i}/{count}"] for i in range(count)]
            time.sleep(0.05)
        self.fail(f"rtx bench --procs did not run {count} shards")


class ShardByHandTest(unittest.TestCase):
    def run_shards(self, count, args, tmp):
        """Starts `count` shards at once (same --start-at) and waits for them all."""
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
        paths = [os.path.join(tmp, f"s{i}.json") for i in range(count)]
        procs = [subprocess.Popen([RTX, "bench", *args, "--shard", f"{i}/{count}",
                                   "--start-at", start, "--json", paths[i]],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for i in range(count)]
        for proc in procs:
            out, err = proc.communicate(timeout=90)
            self.assertEqual(proc.returncode, EXIT_OK, err.decode())
        return paths

    def test_shards_and_merge_against_one_server(self):
        with Serve("--tcp-port", "0") as serve, tempfile.TemporaryDirectory() as tmp:
            paths = self.run_shards(3, ["tcp", "-c", "5", "-n", "500", serve.address()], tmp)
            shards = [load(p) for p in paths]
            self.assertEqual([s["shard"] for s in shards], ["0/3", "1/3", "2/3"])
            self.assertEqual(sum(s["connections"] for s in shards), 5)
            merged = os.path.join(tmp, "merged.json")
            result = rtx("bench", "merge", *paths, "--json", merged)
            self.assertEqual(result.returncode, EXIT_OK, result.stderr.decode())
            report = load(merged)
            self.assertEqual(report["connections"], 5)
            self.assertEqual(report["messages_sent"], 500)
            self.assertEqual(report["messages_received"], 500)
            self.assertEqual(histogram_total(report["latency_us"]), 500)
            # Merged histogram = the shards' buckets added.
            counts = {}
            for shard in shards:
                for index, count in shard["latency_us"]["buckets"]:
                    counts[index] = counts.get(index, 0) + count
            self.assertEqual({i: c for i, c in report["latency_us"]["buckets"]}, counts)
            self.assertIn("3 merged, all ok", result.stdout.decode())
            # The thresholds are checked on the merged result.
            result = rtx("bench", "merge", *paths, "--max-p99", "1us")
            self.assertEqual(result.returncode, EXIT_THRESHOLD, result.stderr.decode())
            self.assertIn("p99", result.stderr.decode())
            # The same shard twice is refused.
            result = rtx("bench", "merge", paths[0], paths[0])
            self.assertEqual(result.returncode, EXIT_USAGE)
            self.assertIn("shard 0/3 appears twice", result.stderr.decode())

    def test_fanout_shards_count_every_delivery(self):
        # Subscribers of every shard receive the publishes of every shard: after the merge,
        # each of the 6 subscribers is expected to have all 3 publishers' 90 messages.
        with Serve("--no-tcp", "--http-port", "0", expect=3) as serve, \
                tempfile.TemporaryDirectory() as tmp:
            base = serve.url("http").replace("http://", "ws://")
            paths = self.run_shards(3, ["ws", "--pattern", "fanout", "-c", "6", "--publishers",
                                        "3", "--rate", "60", "-n", "90", "--drain", "2s", base],
                                    tmp)
            merged = os.path.join(tmp, "merged.json")
            result = rtx("bench", "merge", *paths, "--json", merged)
            self.assertEqual(result.returncode, EXIT_OK, result.stderr.decode())
            report = load(merged)
        self.assertEqual(report["subscribers"], 6)
        self.assertEqual(report["publishers"], 3)
        self.assertEqual(report["messages_sent"], 90)
        self.assertEqual(report["messages_received"] + report["lost"], 90 * 6)
        # Each shard counts the other shards' publishers too (one run id for all shards):
        # when it did not, 2/3 of the deliveries (360) showed as lost. The shards have no
        # barrier between one's subscribers and another's first publish, so a subscriber
        # still connecting on a loaded machine may miss a first message or two.
        self.assertLess(report["lost"], 30, report)
        self.assertEqual(report["duplicates"], 0)

    def test_reports_of_different_tests_are_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            tcp = os.path.join(tmp, "tcp.json")
            ws = os.path.join(tmp, "ws.json")
            for protocol, path in (("tcp", tcp), ("ws", ws)):
                result = rtx("bench", protocol, "-c", "1", "-n", "5", "--json", path)
                self.assertEqual(result.returncode, EXIT_OK, result.stderr.decode())
            result = rtx("bench", "merge", tcp, ws)
            self.assertEqual(result.returncode, EXIT_USAGE)
            self.assertIn("protocol differs", result.stderr.decode())
            result = rtx("bench", "merge", tcp, os.path.join(tmp, "missing.json"))
            self.assertEqual(result.returncode, EXIT_USAGE)
            self.assertIn("cannot read", result.stderr.decode())

    def test_bad_shard_flags(self):
        for args, message in ((["--shard", "3/3"], "--shard '3/3'"),
                              (["--shard", "0/2", "--procs", "2"], "--procs"),
                              (["--start-at", "soon"], "--start-at 'soon'"),
                              (["--procs", "0"], "--procs 0")):
            result = rtx("bench", "tcp", "-c", "1", "-n", "1", *args)
            self.assertEqual(result.returncode, EXIT_USAGE, args)
            self.assertIn(message, result.stderr.decode())


class TargetsTest(unittest.TestCase):
    def test_connections_go_round_robin_over_the_targets(self):
        # Two servers, one of them a closed port: every second connection is refused.
        closed = f"127.0.0.1:{free_port()}"
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "r.json")
            with Serve("--tcp-port", "0") as serve:
                result = rtx("bench", "tcp", "-c", "4", "-d", "1s", serve.address(),
                             "--target", closed, "--json", path)
            self.assertEqual(result.returncode, EXIT_OK, result.stderr.decode())
            self.assertIn(closed, result.stdout.decode())
            report = load(path)
            self.assertEqual(report["connections"], 4)
            self.assertEqual(report["connections_failed"], 2)
            self.assertGreater(report["messages_received"], 0)
            with Serve("--tcp-port", "0") as a, Serve("--tcp-port", "0") as b:
                result = rtx("bench", "tcp", "-c", "4", "-n", "40", a.address(), b.address(),
                             "--json", path)
                self.assertEqual(result.returncode, EXIT_OK, result.stderr.decode())
            report = load(path)
        self.assertEqual(report["connections_failed"], 0)
        self.assertEqual(report["messages_received"], 40)
        self.assertEqual(report["target"], f"tcp://{a.address()} tcp://{b.address()}")


if __name__ == "__main__":
    unittest.main()
