"""rtx bench against servers that are not rtx serve: subscribe-only fan-out to a Python
http.server SSE/stream/poll server (tests/e2e/foreign_sse.py), latency from a time field in
the messages (--stamp-pointer), publishing through --publish-url, auth headers, ws
subscribers on any URL, and mosquitto topics."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from rtxtest import EXIT_CONNECT, EXIT_OK, EXIT_USAGE, Serve, free_port, rtx
from test_bench import EXIT_THRESHOLD, MOSQUITTO, bench_json, histogram_total

HERE = os.path.dirname(os.path.abspath(__file__))
MOSQUITTO_PUB = shutil.which("mosquitto_pub")


class ForeignServer:
    """tests/e2e/foreign_sse.py on a free port, stopped on exit."""

    def __init__(self, *args):
        self.args = args

    def __enter__(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "foreign_sse.py"), "--port", "0", *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "port":
            self.proc.kill()
            raise RuntimeError("foreign_sse.py did not start")
        self.base = f"http://127.0.0.1:{line[1]}"
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def wait_listening(port, proc):
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.05)


class SubscribeOnlyTest(unittest.TestCase):
    def check_fanout(self, report, subscribers):
        self.assertEqual(report["pattern"], "fanout")
        self.assertEqual(report["subscribers"], subscribers)
        self.assertEqual(report["publishers"], 0)
        self.assertEqual(report["connections_failed"], 0)
        self.assertEqual(report["errors"], {k: 0 for k in report["errors"]})
        self.assertGreater(report["messages_received"], 0)
        # One sample per subscriber, and every subscriber got messages.
        self.assertEqual(histogram_total(report["per_subscriber"]), subscribers)
        self.assertGreater(report["per_subscriber"]["min"], 0)
        # Every message but each subscriber's first one has a gap before it.
        self.assertEqual(histogram_total(report["gap_us"]),
                         report["messages_received"] - subscribers)

    def test_sse_latency_from_a_json_time_field(self):
        for unit in ("ms", "us", "rfc3339"):
            with self.subTest(unit=unit), ForeignServer("--tick", "20", "--ts-unit", unit) as s:
                report, summary = bench_json(self, "sse", "-c", "4", "-d", "1s",
                                             "--stamp-pointer", "/ts", f"{s.base}/events")
                self.check_fanout(report, 4)
                self.assertIn(f"{s.base}/events", summary)
                self.assertIn("per sub", summary)
                # Every message carried its time: every one has a latency.
                self.assertEqual(report["untimed"], 0)
                self.assertEqual(histogram_total(report["latency_us"]),
                                 report["messages_received"])
                # Measured on loopback: well under a second (not a speed assertion: a
                # wrong unit would be off by a factor of 1000).
                self.assertLess(report["latency_us"]["percentiles"]["50"], 1_000_000)

    def test_stream_and_poll_without_times_count_messages_only(self):
        for protocol, path in (("stream", "/lines"), ("poll", "/poll")):
            with self.subTest(protocol=protocol), ForeignServer("--tick", "20") as s:
                report, summary = bench_json(self, protocol, "-c", "3", "-d", "1s",
                                             f"{s.base}{path}")
                self.check_fanout(report, 3)
                self.assertEqual(report["untimed"], report["messages_received"])
                self.assertEqual(histogram_total(report["latency_us"]), 0)
                self.assertIn("without a time", summary)

    def test_publish_url_gives_exact_loss_and_latency(self):
        with ForeignServer() as s:
            report, _ = bench_json(self, "sse", "-c", "3", "-n", "150", "--publish-url",
                                   f"{s.base}/publish", f"{s.base}/events")
        self.assertEqual(report["publishers"], 1)
        self.assertEqual(report["messages_sent"], 150)
        self.assertEqual(report["messages_received"], 450)
        self.assertEqual(report["lost"], 0)
        self.assertEqual(report["untimed"], 0)
        self.assertEqual(histogram_total(report["latency_us"]), 450)

    def test_auth_headers_reach_the_server(self):
        with ForeignServer("--tick", "20", "--token", "s3cret") as s:
            url = f"{s.base}/events"
            denied, _ = bench_json(self, "sse", "-c", "2", "-d", "1s", url,
                                   expect=EXIT_CONNECT)
            self.assertEqual(denied["connections_failed"], 2)
            self.assertGreater(denied["errors"]["protocol"], 0)
            for flags in (("--bearer", "s3cret"), ("-H", "Authorization: Bearer s3cret")):
                with self.subTest(flags=flags):
                    report, _ = bench_json(self, "sse", "-c", "2", "-d", "1s", *flags, url)
                    self.check_fanout(report, 2)

    def test_ws_subscribers_on_any_url(self):
        # rtx serve's /ws/{topic} as "any" WebSocket server, fed through --publish-url.
        with Serve("--no-tcp", "--http-port", "0", expect=3) as serve:
            base = serve.url("http")
            ws = base.replace("http://", "ws://") + "/ws/foreign"
            report, summary = bench_json(self, "ws", "-c", "3", "-n", "100", "--publish-url",
                                         f"{base}/publish/foreign", ws)
        self.assertIn("/ws/foreign", summary)
        self.assertEqual(report["messages_received"], 300)
        self.assertEqual(report["lost"], 0)
        self.assertEqual(histogram_total(report["per_subscriber"]), 3)

    @unittest.skipUnless(MOSQUITTO and MOSQUITTO_PUB, "needs Debian's mosquitto and its clients")
    def test_mosquitto_topic_filter_with_times(self):
        port = free_port()
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "mosquitto.conf")
            with open(conf, "w") as f:
                f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
            broker = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            publisher = None
            stop = threading.Event()
            try:
                wait_listening(port, broker)
                publisher = subprocess.Popen(
                    [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(port), "-t", "sensors/a", "-l"],
                    stdin=subprocess.PIPE)

                def feed():
                    while not stop.is_set():
                        line = '{"ts": %d}\n' % int(time.time() * 1000)
                        try:
                            publisher.stdin.write(line.encode())
                            publisher.stdin.flush()
                        except (BrokenPipeError, ValueError):
                            return
                        time.sleep(0.02)

                threading.Thread(target=feed, daemon=True).start()
                report, _ = bench_json(self, "mqtt", "--subscribe-only", "--topic", "sensors/#",
                                       "-c", "3", "-d", "1s", "--stamp-pointer", "/ts",
                                       f"mqtt://127.0.0.1:{port}")
                self.check_fanout(report, 3)
                self.assertEqual(histogram_total(report["latency_us"]),
                                 report["messages_received"])
            finally:
                stop.set()
                if publisher:
                    publisher.stdin.close()
                    publisher.terminate()
                    publisher.wait(timeout=10)
                broker.terminate()
                broker.wait(timeout=10)


class NodeWsServer:
    """tests/e2e/ws_foreign_server.js on a free port, stopped on exit."""

    def __enter__(self):
        self.proc = subprocess.Popen(["node", os.path.join(HERE, "ws_foreign_server.js")],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "port":
            self.proc.kill()
            raise RuntimeError("ws_foreign_server.js did not start")
        self.base = f"ws://127.0.0.1:{line[1]}"
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


NODE_WS = shutil.which("node") and os.path.isdir("/usr/share/nodejs/ws")


class PublishCommandTest(unittest.TestCase):
    def test_command_lines_are_published_stamped_and_end_the_run(self):
        with ForeignServer() as s:
            report, _ = bench_json(self, "sse", "-c", "2", "--publish-url",
                                   f"{s.base}/publish", "--publish-cmd",
                                   "seq 1 40 | sed 's/.*/{\"v\": &, \"id\": \"{stamp}\"}/'",
                                   "--check", 'payload~^\\{"v": \\d+, "id": "~',
                                   f"{s.base}/events")
        self.assertEqual(report["messages_sent"], 40)
        self.assertEqual(report["messages_received"], 80)
        self.assertEqual(report["lost"], 0)
        self.assertEqual(histogram_total(report["latency_us"]), 80)
        # The stamp took the place of {stamp}: every message is still the command's JSON.
        self.assertEqual(report["checks"], {"passed": 80, "failed": 0})

    @unittest.skipUnless(MOSQUITTO, "needs Debian's mosquitto")
    def test_mqtt_publishes_command_lines_to_the_broker(self):
        port = free_port()
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "mosquitto.conf")
            with open(conf, "w") as f:
                f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
            broker = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            try:
                wait_listening(port, broker)
                report, _ = bench_json(self, "mqtt", "-c", "3", "--qos", "1", "--topic",
                                       "sensors/a", "--publish-cmd", "seq 1 30",
                                       f"mqtt://127.0.0.1:{port}")
            finally:
                broker.terminate()
                broker.wait(timeout=10)
        self.assertEqual(report["messages_sent"], 30)
        self.assertEqual(report["messages_received"], 90)
        self.assertEqual(report["lost"], 0)


class ChecksTest(unittest.TestCase):
    def test_failed_checks_are_counted_and_breach_the_threshold(self):
        # The server's messages are {"n": N, "ts": T}: every one has "n", none has "x".
        with ForeignServer("--tick", "20") as s:
            url = f"{s.base}/events"
            report, summary = bench_json(self, "sse", "-c", "2", "-d", "1s", "--check",
                                         'payload~"n": \\d+', "--max-check-fail-rate", "0%",
                                         url)
            self.assertGreater(report["checks"]["passed"], 0)
            self.assertEqual(report["checks"]["failed"], 0)
            self.assertEqual(report["checks"]["passed"], report["messages_received"])
            self.assertIn("checks", summary)
            result = rtx("bench", "sse", "-c", "2", "-d", "1s", "--check", "payload~\"x\"",
                         "--max-check-fail-rate", "10%", url, timeout=60)
            self.assertEqual(result.returncode, EXIT_THRESHOLD, result.stderr.decode())
            self.assertIn("threshold: checks failed 100", result.stderr.decode())

    def test_echo_replies_are_checked(self):
        report, _ = bench_json(self, "tcp", "-c", "2", "-n", "50", "--check", "payload!~^~",
                               expect=EXIT_OK)
        self.assertEqual(report["checks"], {"passed": 0, "failed": 50})


@unittest.skipUnless(NODE_WS, "needs node and Debian's node-ws")
class OwnMessagesTest(unittest.TestCase):
    def test_request_response_server_that_does_not_echo(self):
        with NodeWsServer() as s:
            report, _ = bench_json(self, "ws", "-c", "3", "-n", "150", "--message",
                                   '{"id":{seq},"conn":{conn},"t":{time},"op":"ping"}',
                                   "--expect", '"op":"pong"', "--check", 'payload~"id":\\d+',
                                   f"{s.base}/rpc")
        self.assertEqual(report["messages_sent"], 150)
        # One round trip per request: the notices in between did not end one.
        self.assertEqual(report["messages_received"], 150)
        self.assertEqual(histogram_total(report["latency_us"]), 150)
        self.assertEqual(report["checks"], {"passed": 150, "failed": 0})

    def test_without_expect_the_first_reply_ends_the_round_trip(self):
        with NodeWsServer() as s, tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "messages.txt")
            with open(path, "w") as f:
                f.write('hello {seq}\n\nbye {conn}\n')
            report, _ = bench_json(self, "ws", "-c", "2", "-n", "20", "--message", "@" + path,
                                   "--check", "payload~bad request", f"{s.base}/rpc")
        # The lines in turn (the empty one skipped), each answered by one error message.
        self.assertEqual(report["messages_sent"], 20)
        self.assertEqual(report["messages_received"], 20)
        self.assertEqual(report["checks"], {"passed": 20, "failed": 0})

    def test_ws_subscribers_on_a_node_server(self):
        with NodeWsServer() as s:
            report, _ = bench_json(self, "ws", "--subscribe-only", "-c", "3", "-d", "1s",
                                   "--stamp-pointer", "/ts", f"{s.base}/ticks")
        self.assertEqual(report["subscribers"], 3)
        self.assertGreater(report["messages_received"], 0)
        self.assertEqual(histogram_total(report["latency_us"]), report["messages_received"])


class StagesTest(unittest.TestCase):
    def test_connection_stages_go_up_and_down(self):
        with tempfile.TemporaryDirectory() as tmp:
            html = os.path.join(tmp, "run.html")
            report, summary = bench_json(self, "tcp", "-t", "2", "--stages", "2s:4,2s:4,2s:0",
                                         "--html", html)
            with open(html) as f:
                page = f.read()
        self.assertEqual(report["connections"], 4)
        self.assertEqual(report["connections_failed"], 0)
        self.assertAlmostEqual(report["duration_seconds"], 6, delta=1)
        timeline = report["timeline"]
        stages = [row["stage"] for row in timeline]
        self.assertEqual(stages, sorted(stages))  # in order
        self.assertLessEqual({2, 3}, set(stages))
        held = [row for row in timeline if row["stage"] == 2]
        self.assertTrue(all(row["target_connections"] == 4 for row in held), held)
        self.assertIn(4, [row["connections_up"] for row in held])
        # The last stage takes them down: the run ends with none up.
        self.assertEqual(timeline[-1]["connections_up"], 0)
        self.assertIn('id="stages"', page)
        self.assertGreater(report["messages_received"], 0)

    def test_rate_stages_thin_the_open_model(self):
        report, _ = bench_json(self, "tcp", "-c", "2", "--rate-stages", "2s:200,2s:200")
        self.assertEqual(report["load_model"], "open")
        # 200/s ramped up over 2 s then held 2 s: about 600 messages, not the 800 of the
        # peak rate throughout.
        self.assertGreater(report["messages_sent"], 300)
        self.assertLess(report["messages_sent"], 700)
        rates = [row["target_rate"] for row in report["timeline"] if row["stage"] > 0]
        self.assertLess(rates[0], 200)
        self.assertEqual(rates[-1], 200)


class BadInputTest(unittest.TestCase):
    def test_one_line_usage_errors(self):
        cases = [
            ("sse", "--subscribe-only"),  # no URL
            ("sse", "--stamp-unit", "minutes", "http://127.0.0.1:1/events"),
            ("sse", "--stamp-pointer", "ts", "http://127.0.0.1:1/events"),
            ("sse", "-n", "10", "http://127.0.0.1:1/events"),  # nothing publishes
            ("sse", "--publish-url", "ftp://x/y", "http://127.0.0.1:1/events"),
            ("sse", "-H", "no colon", "http://127.0.0.1:1/events"),
            ("tcp", "--subscribe-only", "127.0.0.1:1"),
            ("sse", "--publish-cmd", "seq 3", "http://127.0.0.1:1/events"),  # no URL to POST
            ("mqtt", "--publish-url", "http://127.0.0.1:1/p", "mqtt://127.0.0.1:1"),
            ("sse", "--check", "body~x", "http://127.0.0.1:1/events"),
            ("sse", "--check", "payload~(", "http://127.0.0.1:1/events"),
            ("sse", "--max-check-fail-rate", "1%", "http://127.0.0.1:1/events"),
            ("tcp", "--message", "@/nonexistent/file", "127.0.0.1:1"),
            ("tcp", "--expect", "pong", "127.0.0.1:1"),
            ("sse", "--message", "hi", "http://127.0.0.1:1/events"),
            ("tcp", "--stages", "30s:1000,2m", "127.0.0.1:1"),
            ("tcp", "--stages", "30s:10", "-d", "5s", "127.0.0.1:1"),
            ("tcp", "--rate-stages", "10s:0", "127.0.0.1:1"),
            ("tcp", "--rate-stages", "10s:5", "--rate", "5", "127.0.0.1:1"),
        ]
        for args in cases:
            with self.subTest(args=args):
                result = rtx("bench", *args)
                self.assertEqual(result.returncode, EXIT_USAGE, result.stderr.decode())
                lines = result.stderr.decode().strip().splitlines()
                self.assertEqual(len(lines), 1, lines)
                self.assertTrue(lines[0].startswith("rtx: error:"), lines)


if __name__ == "__main__":
    unittest.main()
