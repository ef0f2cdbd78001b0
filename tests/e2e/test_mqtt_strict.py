"""rtx mqtt refuses what mosquitto_pub/_sub refuse, before connecting, with one line and a
documented exit code: publish topics with wildcards, invalid filters, -f of a directory or of
more than an MQTT packet holds, messages over the broker's Maximum Packet Size; and -f -,
--connect-timeout.

Most cases point rtx at a port where nothing listens: a check made before connecting
exits with its own code, not 3 (connect failed).
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from rtxtest import EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE, free_port, popen_rtx, rtx
from test_mqtt import HAVE_MOSQUITTO, Mosquitto, messages, wait_ready

EXIT_FAILURE = 1
EXIT_PROTOCOL = 6
MQTT_MAX_REMAINING = 268_435_455


def dead_url():
    return f"mqtt://127.0.0.1:{free_port()}"


class LocalChecksTest(unittest.TestCase):
    """No broker: each bad input is refused before rtx connects anywhere."""

    def refused(self, *args, code=EXIT_USAGE, input=None):
        result = rtx("mqtt", *args, input=input)
        self.assertEqual(result.returncode, code, result.stderr)
        [line] = result.stderr.decode().splitlines()
        self.assertNotIn("connect", line)
        return line

    def test_publish_topic_with_wildcards_or_empty(self):
        for topic in ("a/+", "#", "a/#", "+", ""):
            with self.subTest(topic=topic):
                line = self.refused("pub", dead_url(), "-t", topic, "-m", "x")
                self.assertIn("-t:", line)

    def test_will_topic_and_publish_to_are_topic_names(self):
        line = self.refused("pub", dead_url(), "-t", "ok", "-m", "x", "--will-topic", "w/#")
        self.assertIn("--will-topic", line)
        line = self.refused("sub", dead_url(), "-t", "ok", "--publish-to", "p/+")
        self.assertIn("--publish-to", line)

    def test_invalid_filters(self):
        for topic in ("a/#/b", "a+/b", "a/b#", "#/", "", "x/#/y:1"):
            with self.subTest(filter=topic):
                line = self.refused("sub", dead_url(), "-t", topic)
                self.assertIn("-t:", line)
        # Valid ones still get as far as connecting.
        result = rtx("mqtt", "sub", dead_url(), "-t", "a/+/b", "-t", "#", "-t", "x/#:1")
        self.assertEqual(result.returncode, 3, result.stderr)

    def test_file_that_is_a_directory(self):
        with tempfile.TemporaryDirectory() as d:
            line = self.refused("pub", dead_url(), "-t", "t", "-f", d, "-r")
        self.assertIn("is a directory", line)

    def test_file_without_end_is_refused_at_the_limit(self):
        line = self.refused("pub", dead_url(), "-t", "t", "-f", "/dev/zero", "-q", "0",
                            code=EXIT_PROTOCOL)
        self.assertIn(f"{MQTT_MAX_REMAINING}", line)

    def test_file_over_the_protocol_limit_is_not_read(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "big")
            with open(path, "wb") as f:
                f.truncate(300_000_000)  # sparse: no disk space, no read
            line = self.refused("pub", dead_url(), "-t", "t", "-f", path, code=EXIT_PROTOCOL)
        self.assertIn("300000000", line)
        self.assertIn(f"{MQTT_MAX_REMAINING}", line)
        # The payload limit names the room this topic leaves: 2 + len("t") bytes less.
        self.assertIn(f"{MQTT_MAX_REMAINING - 3}", line)

    def test_missing_file(self):
        line = self.refused("pub", dead_url(), "-t", "t", "-f", "/nonexistent/file")
        self.assertIn("/nonexistent/file", line)

    def test_connect_timeout_is_kept(self):
        # A listener that accepts (the kernel does) and never answers CONNECT.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(4)
            url = f"mqtt://127.0.0.1:{silent.getsockname()[1]}"
            started = time.monotonic()
            result = rtx("mqtt", "pub", url, "-t", "t", "-m", "x", "--connect-timeout", "1500ms")
            elapsed = time.monotonic() - started
        self.assertEqual(result.returncode, EXIT_TIMEOUT, result.stderr)
        [line] = result.stderr.decode().splitlines()
        self.assertIn("timed out", line)
        self.assertGreaterEqual(elapsed, 1.5)


@unittest.skipUnless(HAVE_MOSQUITTO, "mosquitto not installed (scripts/install-deps.sh)")
class BrokerLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        # mosquitto announces max_packet_size in its v5 CONNACK (Maximum Packet Size).
        cls.broker = Mosquitto(cls.tmp.name, ["allow_anonymous true",
                                              "max_packet_size 1024"]).start()
        cls.url = cls.broker.url()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()
        cls.tmp.cleanup()

    def test_message_over_the_brokers_maximum_packet_size(self):
        for qos in ("0", "1"):
            with self.subTest(qos=qos):
                result = rtx("mqtt", "pub", self.url, "-V", "5", "-t", "big", "-q", qos,
                             "-m", "x" * 2000)
                self.assertEqual(result.returncode, EXIT_PROTOCOL, result.stderr)
                [line] = result.stderr.decode().splitlines()
                self.assertIn("2000-byte message", line)
                self.assertIn("1024", line)
        # Within the limit it goes.
        result = rtx("mqtt", "pub", self.url, "-V", "5", "-t", "big", "-m", "x" * 1000)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)

    def test_stdin_line_over_the_limit(self):
        # -l holds at most 64 MiB of an unfinished line: a longer one ends the run with exit 1
        # and one line, after the lines before it were published. (The bound is on what is
        # held: the read that brings the newline may carry a line a little past it.)
        line = b"x" * (65 * 1024 * 1024) + b"\n"
        with popen_rtx("-v", "mqtt", "sub", self.url, "-t", "stdin/long", "--count", "1",
                       stdin=subprocess.DEVNULL) as sub:
            wait_ready(sub)
            result = rtx("mqtt", "pub", self.url, "-t", "stdin/long", "-l", "-q", "1",
                         input=b"first\n" + line)
            out, err = sub.communicate(timeout=10)
        self.assertEqual(result.returncode, EXIT_FAILURE, result.stderr)
        [message] = result.stderr.decode().splitlines()
        self.assertIn("64 MiB", message)
        self.assertEqual(sub.returncode, EXIT_OK, err)
        self.assertEqual(out.decode().splitlines(), ["first"])

    def test_file_from_stdin(self):
        payload = "line one\nline two\n\u00e9\n"
        with popen_rtx("-v", "mqtt", "sub", self.url, "-t", "stdin/file", "--json",
                       "--count", "1", stdin=subprocess.DEVNULL) as sub:
            wait_ready(sub)
            result = rtx("mqtt", "pub", self.url, "-t", "stdin/file", "-f", "-", "-q", "1",
                         input=payload)
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            out, err = sub.communicate(timeout=10)
        self.assertEqual(sub.returncode, EXIT_OK, err)
        [m] = messages(out)
        self.assertEqual(m["payload"], payload)


if __name__ == "__main__":
    unittest.main()
