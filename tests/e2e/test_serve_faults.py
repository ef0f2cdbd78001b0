"""rtx serve --fault end to end: bad specs are usage errors; curl sees the HTTP refusal (503
with Retry-After); mosquitto_sub the MQTT CONNACK refusal; rtx ws the WebSocket 1013; rtx sse
the gap and the duplicate of a reconnect; rtx bench measures what each fault injected (loss
after a drop, the added latency of a delay, the throughput of a throttle, the refused share);
and the same --fault-seed gives the same faults. GET /stats counts them all."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.request

from rtxtest import EXIT_OK, EXIT_USAGE, Serve, rtx

CURL = shutil.which("curl")
MOSQUITTO_SUB = shutil.which("mosquitto_sub")


def stats(serve):
    with urllib.request.urlopen(serve.url("http") + "/stats", timeout=10) as response:
        return json.load(response)


def bench_report(test, *args):
    """rtx bench with --json: (report, summary)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.json")
        result = rtx("bench", *args, "--json", path, timeout=90)
        test.assertEqual(result.returncode, EXIT_OK, result.stderr.decode())
        with open(path) as f:
            return json.load(f), result.stdout.decode()


def serve_args(*faults, seed="1"):
    args = ["--tcp-port", "0", "--http-port", "0", "--mqtt-port", "0", "--fault-seed", seed]
    for fault in faults:
        args += ["--fault", fault]
    return args


class FaultUsageTest(unittest.TestCase):
    def check_usage(self, args, message):
        result = rtx("serve", "--tcp-port", "0", "--no-http", "--no-mqtt", *args)
        self.assertEqual(result.returncode, EXIT_USAGE)
        self.assertEqual(result.stderr.decode(),
                         f"rtx: error: {message}; see 'rtx serve --help'\n")
        self.assertEqual(result.stdout, b"")

    def test_bad_specs_are_one_line_usage_errors(self):
        self.check_usage(["--fault", "lag=1s"],
                         "--fault 'lag=1s': unknown fault 'lag' (drop-after, drop-p, delay, "
                         "throttle, refuse, reconnect)")
        self.check_usage(["--fault", "http:refuse=0.5"],
                         "--fault 'http:refuse=0.5': unknown protocol 'http' (tcp, ws, sse, "
                         "stream, poll, mqtt)")
        self.check_usage(["--fault", "refuse=2"],
                         "--fault 'refuse=2': refuse takes a probability from 0 to 1 (0.01)")
        self.check_usage(["--fault", "delay=10"],
                         "--fault 'delay=10': delay takes a duration with its unit (10ms), "
                         "MIN..MAX (10ms..40ms) or normal:MEAN,SD (normal:20ms,5ms)")
        self.check_usage(["--fault", "delay=1s", "--fault", "delay=2s"],
                         "--fault 'delay=2s': delay is given twice for every protocol "
                         "(also 'delay=1s')")
        self.check_usage(["--fault-seed", "3"], "--fault-seed needs --fault")


@unittest.skipUnless(CURL, "needs curl")
class HttpRefusalTest(unittest.TestCase):
    def test_curl_gets_503_with_retry_after_and_stats_count_it(self):
        with Serve(*serve_args("sse:refuse=1", "poll:refuse=1"), expect=5) as serve:
            base = serve.url("http")
            for path in ("/sse/news", "/poll/news?timeout=0"):
                result = subprocess.run([CURL, "-sS", "-i", "--max-time", "10", base + path],
                                        capture_output=True, timeout=20)
                head = result.stdout.decode(errors="replace")
                self.assertTrue(head.startswith("HTTP/1.1 503"), head)
                self.assertRegex(head.lower(), r"\r\nretry-after: 1\r\n")
                self.assertIn("--fault refuse", head)
            # Not refused: stream (no rule) and publishing.
            result = subprocess.run([CURL, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                     "-d", "x", base + "/publish/news"],
                                    capture_output=True, timeout=20)
            self.assertEqual(result.stdout, b"200")
            counted = stats(serve)
        self.assertEqual(counted["seed"], 1)
        self.assertEqual(counted["faults"], ["sse:refuse=1", "poll:refuse=1"])
        self.assertEqual(counted["protocols"]["sse"]["refused"], 1)
        self.assertEqual(counted["protocols"]["poll"]["refused"], 1)
        self.assertEqual(counted["protocols"]["sse"]["connections"], 1)
        self.assertEqual(counted["protocols"]["stream"]["refused"], 0)

    def statuses(self, seed, count=40):
        with Serve(*serve_args("poll:refuse=0.5", seed=seed), expect=5) as serve:
            base = serve.url("http")
            codes = []
            for _ in range(count):
                result = subprocess.run(
                    [CURL, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                     base + "/poll/x?timeout=0"], capture_output=True, timeout=20)
                codes.append(result.stdout.decode())
            counted = stats(serve)["protocols"]["poll"]
        self.assertEqual(counted["refused"], codes.count("503"))
        return codes

    def test_same_seed_same_refusals(self):
        first = self.statuses("42")
        self.assertEqual(set(first), {"204", "503"})
        # Seeded per connection: the same seed refuses the same requests, another seed others.
        self.assertEqual(self.statuses("42"), first)
        self.assertNotEqual(self.statuses("43"), first)
        share = first.count("503") / len(first)
        self.assertGreater(share, 0.2)
        self.assertLess(share, 0.8)


@unittest.skipUnless(MOSQUITTO_SUB, "needs mosquitto_sub")
class MqttRefusalTest(unittest.TestCase):
    def test_mosquitto_sub_gets_connack_server_unavailable(self):
        with Serve(*serve_args("mqtt:refuse=1"), expect=5) as serve:
            port = serve.address("mqtt").rsplit(":", 1)[1]
            result = subprocess.run([MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", port, "-t", "x",
                                     "-C", "1", "-W", "5"], capture_output=True, timeout=20)
            counted = stats(serve)["protocols"]["mqtt"]
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("unavailable", result.stderr.decode().lower())
        self.assertEqual(counted["refused"], 1)


NODE_WS = "/usr/share/nodejs/ws"
# Debian's node-ws: the close code and reason it received, as JSON.
NODE_CLOSE = """
const WebSocket = require(process.argv[1]);
const ws = new WebSocket(process.argv[2]);
ws.on('close', (code, reason) => {
  console.log(JSON.stringify({code, reason: reason.toString()}));
});
ws.on('error', (error) => { console.error(String(error)); process.exit(1); });
setTimeout(() => { console.error('timed out'); process.exit(1); }, 10000).unref();
"""


@unittest.skipUnless(shutil.which("node") and os.path.isdir(NODE_WS),
                     "needs node and Debian's node-ws")
class WebSocketRefusalTest(unittest.TestCase):
    def test_node_ws_gets_close_1013(self):
        with Serve(*serve_args("ws:refuse=1"), expect=5) as serve:
            url = serve.url("http").replace("http://", "ws://") + "/echo"
            result = subprocess.run(["node", "-e", NODE_CLOSE, NODE_WS, url],
                                    capture_output=True, timeout=30)
            counted = stats(serve)["protocols"]["ws"]
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        self.assertEqual(json.loads(result.stdout),
                         {"code": 1013, "reason": "try again later (--fault refuse)"})
        self.assertEqual(counted["refused"], 1)
        self.assertEqual(counted["connections"], 1)


class SseReconnectTest(unittest.TestCase):
    def ticks_around_reconnect(self, mode):
        """Six tick values from rtx sse: three from the first connection (dropped after them),
        three from the reconnect with Last-Event-ID."""
        args = serve_args("sse:drop-after=3", f"sse:reconnect={mode}")
        with Serve(*args, "--tick", "50ms", expect=5) as serve:
            result = rtx("sse", "--count", "6", "--timeout", "20s",
                         serve.url("http") + "/sse/tick", timeout=30)
            counted = stats(serve)["protocols"]["sse"]
        self.assertEqual(result.returncode, EXIT_OK, result.stderr.decode())
        values = [int(line) for line in result.stdout.decode().split()]
        self.assertEqual(len(values), 6)
        return values, counted

    def test_gap_skips_the_first_missed_event(self):
        values, counted = self.ticks_around_reconnect("gap")
        self.assertEqual(values[1] - values[0], 1)
        self.assertEqual(values[2] - values[1], 1)
        self.assertEqual(values[3], values[2] + 2)  # values[2] + 1 was left out
        self.assertEqual(counted["reconnect_gap"], 1)
        self.assertGreaterEqual(counted["dropped"], 1)

    def test_dup_repeats_the_last_event(self):
        values, counted = self.ticks_around_reconnect("dup")
        self.assertEqual(values[3], values[2])  # sent again
        self.assertEqual(values[4], values[2] + 1)
        self.assertEqual(counted["reconnect_dup"], 1)


class BenchTest(unittest.TestCase):
    """rtx bench's report against each fault: what it shows matches what was injected."""

    def test_drop_after_shows_as_loss_and_resets(self):
        with Serve(*serve_args("tcp:drop-after=200"), expect=5) as serve:
            report, _ = bench_report(self, "tcp", "-c", "2", "-d", "2s", serve.address())
            counted = stats(serve)["protocols"]["tcp"]
        self.assertGreaterEqual(counted["dropped"], 2)
        # Each drop swallows the message in flight: the closed model loses one per drop.
        self.assertGreaterEqual(report["lost"], 1)
        self.assertLessEqual(report["lost"], counted["dropped"])
        self.assertGreaterEqual(report["errors"]["reset"] + report["errors"]["closed_by_peer"], 1)

    def test_drop_p_is_reproducible_from_the_seed(self):
        drops = []
        for _ in range(2):
            with Serve(*serve_args("tcp:drop-p=0.01", seed="5"), expect=5) as serve:
                report, _ = bench_report(self, "tcp", "-c", "1", "-n", "300", serve.address())
                counted = stats(serve)["protocols"]["tcp"]
            self.assertGreaterEqual(counted["dropped"], 1)
            drops.append(counted["dropped"])
        self.assertEqual(drops[0], drops[1])

    def test_delay_adds_latency(self):
        with Serve(*serve_args("tcp:delay=20ms"), expect=5) as serve:
            report, summary = bench_report(self, "tcp", "-c", "2", "-d", "1s", serve.address())
            counted = stats(serve)["protocols"]["tcp"]
        p50_ms = report["latency_us"]["percentiles"]["50"] / 1000
        self.assertGreaterEqual(p50_ms, 20, summary)
        self.assertLess(p50_ms, 20 + 200, summary)  # a loose bound: the machine may be busy
        self.assertEqual(counted["delayed"], counted["messages"])

    def test_uniform_and_normal_delays(self):
        with Serve(*serve_args("ws:delay=10ms..30ms", "mqtt:delay=normal:20ms,5ms"),
                   expect=5) as serve:
            ws_url = serve.url("http").replace("http://", "ws://")
            ws, _ = bench_report(self, "ws", "-c", "2", "-d", "1s", ws_url + "/echo")
            mqtt, _ = bench_report(self, "mqtt", "-c", "2", "-d", "1s", serve.url("mqtt"))
        ws_p = ws["latency_us"]["percentiles"]
        self.assertGreaterEqual(ws["latency_us"]["min"] / 1000, 10)
        self.assertGreaterEqual(ws_p["50"] / 1000, 15)
        mqtt_p = mqtt["latency_us"]["percentiles"]
        self.assertGreaterEqual(mqtt_p["50"] / 1000, 15)
        self.assertGreater(mqtt["messages_received"], 0)

    def test_throttle_caps_throughput(self):
        # Closed model, one connection, 8 KiB messages: each echo takes 250 ms at 32 KiB/s,
        # so what comes back is the throttle's rate, less the (small) round trip.
        rate = 32 * 1024
        with Serve(*serve_args("tcp:throttle=32KiB/s"), expect=5) as serve:
            report, summary = bench_report(self, "tcp", "-c", "1", "-d", "2s", "--size", "8192",
                                           serve.address())
            counted = stats(serve)["protocols"]["tcp"]
        # The cap: no echo came back faster than 8 KiB at the rate (250 ms). Not bytes over
        # duration_seconds: the last reply may land in the drain after it (9 x 8 KiB over
        # "2.01 s" was seen, each echo taking 252 ms).
        self.assertGreaterEqual(report["latency_us"]["min"], 0.95 * 8192 / rate * 1e6, summary)
        achieved = report["bytes_received"] / report["duration_seconds"]
        self.assertGreaterEqual(achieved, rate * 0.6, summary)
        self.assertGreater(counted["throttled"], 0)

    def test_refused_share_matches_the_seed(self):
        with Serve(*serve_args("tcp:refuse=0.3", seed="9"), expect=5) as serve:
            report, summary = bench_report(self, "tcp", "-c", "40", "-d", "1s", serve.address())
            counted = stats(serve)["protocols"]["tcp"]
        self.assertGreater(counted["refused"], 0)
        share = counted["refused"] / counted["connections"]
        self.assertAlmostEqual(share, 0.3, delta=0.2)
        # Each refusal is a reset bench saw (it reconnects after a second and tries again).
        failures = sum(report["errors"].values()) + report["connections_failed"]
        self.assertGreaterEqual(failures, 1, summary)

    def test_sse_delay_adds_delivery_latency(self):
        with Serve(*serve_args("sse:delay=30ms"), expect=5) as serve:
            report, summary = bench_report(self, "sse", "-c", "2", "-d", "1s",
                                           serve.url("http"))
        self.assertGreaterEqual(report["latency_us"]["percentiles"]["50"] / 1000, 30, summary)
        self.assertEqual(report["lost"], 0)


if __name__ == "__main__":
    unittest.main()
