"""rtx mqtt sub/pub against Debian's real mosquitto broker (and mosquitto_pub/_sub as peers).

Every test starts its own mosquitto on a free loopback port with a config it writes, and
stops it.
"""
import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from rtxtest import (EXIT_CONNECT, EXIT_OK, EXIT_TIMEOUT, EXIT_TLS, EXIT_USAGE, RTX,
                     free_port, popen_rtx, read_line, rtx)
import mqttraw
from tcpproxy import Proxy
from test_tcp_tls import make_pki

EXIT_REFUSED = 13

HAVE_MOSQUITTO = shutil.which("mosquitto") is not None


class Mosquitto:
    """mosquitto -c CONF on a free port; `extra` lines are appended to the listener's."""

    def __init__(self, directory, extra=(), listeners=None, name="m"):
        self.directory = directory
        self.port = free_port()
        self.conf = os.path.join(directory, f"{name}.conf")
        self.log = os.path.join(directory, f"{name}.log")
        # As root, mosquitto drops to the "mosquitto" user, which cannot read the test's
        # private temp dir: stay as whoever runs the test.
        lines = [f"user {getpass.getuser()}", "per_listener_settings false",
                 f"listener {self.port} 127.0.0.1", *extra]
        for listener in listeners or []:
            lines += listener
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def url(self, scheme="mqtt", port=None):
        return f"{scheme}://127.0.0.1:{port or self.port}"

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(["mosquitto", "-c", self.conf, "-v"], stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(open(self.log).read())
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not listen in 10 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def wait_ready(proc, timeout=10):
    """Reads rtx's stderr (-v) until it says it is connected (and subscribed)."""
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        line = read_line(proc.stderr, timeout=max(deadline - time.monotonic(), 0.01))
        if not line:
            break
        seen += line
        if b"mqtt: connected" in line:
            return
    raise AssertionError(f"rtx did not connect: {seen!r}")


def records(stdout):
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


def messages(stdout):
    return [r for r in records(stdout) if r["event"] == "message"]


def no_loss_across_cuts(test, broker_port, version, qos, tag, n=200, cuts=(40, 110),
                        broker_log=None):
    """rtx pub streams n lines at `qos` to rtx sub, both with persistent sessions and both
    through a proxy that resets every connection twice in the middle of the stream, with
    messages in flight both ways (PUBLISH, PUBREC, PUBREL unanswered): every message
    arrives, QoS 2 exactly once, and pub exits 0 only then."""
    proxy = Proxy(broker_port)
    test.addCleanup(proxy.close)
    url = f"mqtt://127.0.0.1:{proxy.port}"
    topic = f"cut/{tag}/{version}/{qos}"
    session = ["-V", version, "-q", str(qos), "-c", "--reconnect", "--backoff-initial", "20ms",
               "--backoff-max", "200ms"]
    with popen_rtx("-v", "mqtt", "sub", url, "-t", topic, *session, "-i",
                   f"rtx-cut-sub-{tag}-{version}-{qos}", "--timeout", "60s",
                   stdin=subprocess.DEVNULL) as sub:
        wait_ready(sub)
        with popen_rtx("-v", "mqtt", "pub", url, "-t", topic, *session, "-i",
                       f"rtx-cut-pub-{tag}-{version}-{qos}", "-l") as pub:
            wait_ready(pub)
            for i in range(n):
                pub.stdin.write(f"{i}\n".encode())
                pub.stdin.flush()
                if i in cuts:
                    proxy.cut()  # no waiting for acknowledgements: mid-stream
                time.sleep(0.002)
            pub.stdin.close()
            try:
                code = pub.wait(60)
            except subprocess.TimeoutExpired:
                pub.kill()
                pub.wait()
                code = None
            if code != EXIT_OK:
                log = ""
                if broker_log:
                    with open(broker_log, errors="replace") as f:
                        log = "".join(f.readlines()[-60:])
                test.fail(f"pub exited {code}: {pub.stderr.read().decode()[-3000:]}\n"
                          f"broker log:\n{log}")
        got = []
        deadline = time.monotonic() + 30
        with contextlib.suppress(TimeoutError):
            while len(set(got)) < n and time.monotonic() < deadline:
                line = read_line(sub.stdout, timeout=max(deadline - time.monotonic(), 0.01))
                if not line:
                    break
                got.append(line.decode().strip())
            if qos == 2:  # a duplicate would come right after: give it the chance
                line = read_line(sub.stdout, timeout=0.5)
                if line:
                    got.append(line.decode().strip())
    missing = sorted(set(range(n)) - {int(x) for x in got})
    test.assertEqual(missing, [], f"lost across the cuts ({len(got)} received)")
    if qos == 2:
        test.assertEqual(len(got), n, "QoS 2 delivered a duplicate")
    test.assertGreaterEqual(proxy.accepted, 4)  # both clients came back at least once


def no_local_round_trip(test, url, no_local):
    """One rtx mqtt sub that also publishes its stdin lines (--publish-to) to the topic it
    subscribes to: with --no-local it hears only another client's message, without it
    its own comes back first."""
    topic = f"nl/{int(no_local)}"
    flags = ["--no-local"] if no_local else []
    with popen_rtx("-vv", "mqtt", "sub", url, "-V", "5", "-t", topic, "-q", "1", "--publish-to",
                   topic, *flags, "--count", "1", "--timeout", "10s") as me:
        wait_ready(me)
        me.stdin.write(b"mine\n")
        me.stdin.flush()
        # Once the broker acknowledged "mine" it has routed it: had it come back to us, it
        # would have been before the PUBACK, on the same connection.
        deadline = time.monotonic() + 10
        with contextlib.suppress(TimeoutError):
            while time.monotonic() < deadline:
                line = read_line(me.stderr, timeout=max(deadline - time.monotonic(), 0.01))
                if not line or b"mqtt: publish done" in line:
                    break
        if me.poll() is None:
            result = rtx("mqtt", "pub", url, "-V", "5", "-t", topic, "-q", "1", "-m", "theirs")
            test.assertEqual(result.returncode, EXIT_OK, result.stderr)
        out, _ = me.communicate(timeout=10)
    test.assertEqual((me.returncode, out), (EXIT_OK, b"theirs\n" if no_local else b"mine\n"))


@unittest.skipUnless(HAVE_MOSQUITTO, "mosquitto not installed (scripts/install-deps.sh)")
class MqttTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        cls.broker = Mosquitto(cls.dir, ["allow_anonymous true"]).start()
        cls.url = cls.broker.url()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()
        cls.tmp.cleanup()

    def sub(self, *args, json_output=True):
        """A running `rtx -v mqtt sub`, returned once it has subscribed."""
        extra = ["--json"] if json_output else []
        cm = popen_rtx("-v", "mqtt", "sub", self.url, *extra, *args, stdin=subprocess.DEVNULL)
        proc = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)
        wait_ready(proc)
        return proc

    def pub(self, *args, url=None, **kwargs):
        result = rtx("mqtt", "pub", url or self.url, *args, **kwargs)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        return result

    def finish(self, proc, timeout=10):
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err

    def test_qos_0_1_2_both_versions(self):
        for version in ("3.1.1", "5"):
            for qos in (0, 1, 2):
                with self.subTest(version=version, qos=qos):
                    topic = f"q/{version}/{qos}"
                    sub = self.sub("-V", version, "-t", topic, "-q", str(qos), "--count", "1")
                    self.pub("-V", version, "-t", topic, "-q", str(qos), "-m", f"m{qos}")
                    code, out, err = self.finish(sub)
                    self.assertEqual(code, EXIT_OK, err)
                    [m] = messages(out)
                    self.assertEqual((m["topic"], m["payload"], m["qos"], m["retain"]),
                                     (topic, f"m{qos}", qos, False))
                    self.assertEqual(m["protocol"], "mqtt")

    def test_count_stops_and_timeout_exits_5(self):
        sub = self.sub("-t", "count", "--count", "2", json_output=False)
        for i in range(3):
            self.pub("-t", "count", "-m", f"n{i}", "-q", "1")
        code, out, _ = self.finish(sub)
        self.assertEqual((code, out), (EXIT_OK, b"n0\nn1\n"))
        result = rtx("mqtt", "sub", self.url, "-t", "silence", "--timeout", "300ms")
        self.assertEqual(result.returncode, EXIT_TIMEOUT, result.stderr)

    def test_wildcards_and_per_filter_qos(self):
        sub = self.sub("-t", "w/+/c:1", "-t", "x/#", "--count", "2")
        for topic in ("w/b/d", "w/b/c", "y/z", "x/y/z"):
            self.pub("-t", topic, "-m", topic, "-q", "1")
        code, out, _ = self.finish(sub)
        self.assertEqual(code, EXIT_OK)
        self.assertEqual([(m["topic"], m["qos"]) for m in messages(out)],
                         [("w/b/c", 1), ("x/y/z", 0)])

    def test_retained_only(self):
        self.pub("-t", "ret/a", "-m", "A", "-r", "-q", "1")
        self.pub("-t", "ret/b", "-m", "B", "-r", "-q", "1")
        sub = self.sub("-t", "ret/#", "--retained-only")
        self.pub("-t", "ret/c", "-m", "live")
        code, out, err = self.finish(sub)
        self.assertEqual(code, EXIT_OK, err)
        got = messages(out)
        self.assertEqual(sorted(m["payload"] for m in got), ["A", "B"])
        self.assertTrue(all(m["retain"] for m in got))
        for topic in ("ret/a", "ret/b"):  # clear them
            self.pub("-t", topic, "-f", "/dev/null", "-r")

    def test_will_is_published_when_the_client_is_killed(self):
        for version in ("3.1.1", "5"):
            with self.subTest(version=version):
                sub = self.sub("-t", f"will/{version}", "--count", "1")
                with popen_rtx("-v", "mqtt", "pub", self.url, "-V", version, "-t", "x", "-l",
                               "--will-topic", f"will/{version}", "--will-payload", "gone",
                               "--will-qos", "1") as victim:
                    wait_ready(victim)
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                code, out, _ = self.finish(sub)
                self.assertEqual(code, EXIT_OK)
                self.assertEqual([m["payload"] for m in messages(out)], ["gone"])

    def test_no_will_after_a_clean_exit(self):
        sub = self.sub("-t", "will/clean", "--timeout", "1s")
        self.pub("-t", "x", "-m", "bye", "--will-topic", "will/clean", "--will-payload", "gone")
        code, out, _ = self.finish(sub)
        self.assertEqual((code, messages(out)), (EXIT_TIMEOUT, []))

    def test_v5_properties_round_trip_in_json(self):
        sub = self.sub("-V", "5", "-t", "props", "--count", "1", "-q", "1")
        self.pub("-V", "5", "-t", "props", "-q", "1", "-m", "{}", "--content-type",
                 "application/json", "--response-topic", "props/reply", "--correlation-data",
                 "c-42", "--message-expiry", "1m", "--user-property", "trace=abc",
                 "--user-property", "k=v=w")
        code, out, _ = self.finish(sub)
        self.assertEqual(code, EXIT_OK)
        [m] = messages(out)
        p = m["properties"]
        self.assertEqual(p["content_type"], "application/json")
        self.assertEqual(p["response_topic"], "props/reply")
        self.assertEqual(p["correlation_data"], "c-42")
        self.assertTrue(55 <= p["message_expiry_interval"] <= 60)
        self.assertEqual(p["user_properties"], [["trace", "abc"], ["k", "v=w"]])

    def test_v5_no_local(self):
        for no_local in (True, False):
            with self.subTest(no_local=no_local):
                no_local_round_trip(self, self.url, no_local)

    def test_format_template(self):
        sub = self.sub("-t", "fmt/#", "-q", "1", "--count", "1", "-F", r"%t|%p|%q|%r|%l|%x|%%\t.",
                       json_output=False)
        self.pub("-t", "fmt/a", "-m", "hi", "-q", "1", "-r")
        code, out, _ = self.finish(sub)
        self.assertEqual((code, out), (EXIT_OK, b"fmt/a|hi|1|0|2|6869|%\t.\n"))
        self.pub("-t", "fmt/a", "-f", "/dev/null", "-r")
        bad = rtx("mqtt", "sub", self.url, "-t", "x", "-F", "%z")
        self.assertEqual(bad.returncode, EXIT_USAGE)
        self.assertIn(b"%z", bad.stderr)

    def test_stdin_lines_file_and_repeat(self):
        sub = self.sub("-t", "in", "--count", "6", "-q", "2", json_output=False)
        self.pub("-t", "in", "-l", "-q", "2", input="one\ntwo\nthree\n")
        path = os.path.join(self.dir, "payload.bin")
        with open(path, "wb") as f:
            f.write(b"whole\nfile")
        self.pub("-t", "in", "-f", path, "-q", "1")
        self.pub("-t", "in", "-m", "again", "--repeat", "2")
        code, out, _ = self.finish(sub)
        self.assertEqual((code, out), (EXIT_OK, b"one\ntwo\nthree\nwhole\nfile\nagain\nagain\n"))

    def test_many_stdin_lines_at_qos_1_and_2(self):
        # More than Paho's 100-message command queue at once: rtx holds the rest.
        n = 1000
        for qos in (1, 2):
            with self.subTest(qos=qos):
                sub = self.sub("-t", f"bulk/{qos}", "-q", str(qos), "--count", str(n),
                               json_output=False)
                lines = "".join(f"{i}\n" for i in range(n))
                self.pub("-t", f"bulk/{qos}", "-q", str(qos), "-l", input=lines, timeout=60)
                code, out, _ = self.finish(sub, timeout=60)
                self.assertEqual((code, out.decode()), (EXIT_OK, lines))

    def test_interop_with_mosquitto_clients(self):
        with subprocess.Popen(["mosquitto_sub", "-p", str(self.broker.port), "-t", "interop",
                               "-C", "2", "-q", "2", "-v"], stdout=subprocess.PIPE) as peer:
            time.sleep(0.3)  # mosquitto_sub has no readiness signal; the retry below covers it
            deadline = time.monotonic() + 10
            while peer.poll() is None and time.monotonic() < deadline:
                self.pub("-t", "interop", "-m", "from rtx", "-q", "2")
                time.sleep(0.2)
            out, _ = peer.communicate(timeout=10)
        self.assertEqual(out.splitlines()[0], b"interop from rtx")
        sub = self.sub("-V", "5", "-t", "interop2", "--count", "1")
        subprocess.run(["mosquitto_pub", "-p", str(self.broker.port), "-V", "5", "-t",
                        "interop2", "-m", "from mosquitto", "-q", "1", "-D", "publish",
                        "user-property", "a", "b"], check=True)
        code, out, _ = self.finish(sub)
        [m] = messages(out)
        self.assertEqual((m["payload"], m["properties"]["user_properties"]),
                         ("from mosquitto", [["a", "b"]]))

    def test_persistent_session_gets_messages_published_while_offline(self):
        for version in ("3.1.1", "5"):
            with self.subTest(version=version):
                client = f"rtx-offline-{version}"
                first = rtx("mqtt", "sub", self.url, "-V", version, "-c", "-i", client, "-q",
                            "1", "-t", f"off/{version}", "--timeout", "300ms")
                self.assertEqual(first.returncode, EXIT_TIMEOUT, first.stderr)
                for i in range(3):
                    self.pub("-t", f"off/{version}", "-m", f"o{i}", "-q", "1")
                back = rtx("mqtt", "sub", self.url, "-V", version, "-c", "-i", client, "-q",
                           "1", "-t", f"off/{version}", "--count", "3", "--timeout", "10s")
                self.assertEqual((back.returncode, back.stdout), (EXIT_OK, b"o0\no1\no2\n"),
                                 back.stderr)

    # Before rtx started a fresh Paho client per connection (SessionStore), Paho C 1.3.12
    # sometimes resent a freed publication here after the cut, and mosquitto dropped the
    # client as malformed after every CONNACK: SessionHandOverTest reproduces that path.
    def test_no_loss_across_a_cut_connection(self):
        for version, qos in (("3.1.1", 1), ("3.1.1", 2), ("5", 2)):
            with self.subTest(version=version, qos=qos):
                no_loss_across_cuts(self, self.broker.port, version, qos, "mosquitto",
                                    broker_log=self.broker.log)

    def test_subscriber_survives_a_broker_restart(self):
        with tempfile.TemporaryDirectory() as d:
            broker = Mosquitto(d, ["allow_anonymous true", "persistence true",
                                   f"persistence_location {d}/"], name="p")
            with broker:
                url = broker.url()
                cm = popen_rtx("-v", "mqtt", "sub", url, "-t", "restart", "-q", "1", "-c", "-i",
                               "rtx-restart", "--reconnect", "--backoff-initial", "50ms",
                               "--count", "2", "--timeout", "20s", stdin=subprocess.DEVNULL)
                sub = cm.__enter__()
                self.addCleanup(cm.__exit__, None, None, None)
                wait_ready(sub)
                self.pub("-t", "restart", "-m", "before", "-q", "1", url=url)
                broker.stop()
                broker.start()
                self.pub("-t", "restart", "-m", "after", "-q", "1", url=url)
                code, out, err = self.finish(sub, timeout=20)
            self.assertEqual((code, out), (EXIT_OK, b"before\nafter\n"), err)

    def test_usage_errors(self):
        for args in (["sub", self.url, "-t", "x", "-V", "4.0"],
                     ["sub", self.url],
                     ["sub", self.url, "-t", "x", "--no-local"],
                     ["sub", "http://127.0.0.1:1", "-t", "x"],
                     ["sub", self.url, "-t", "x", "--cacert", "ca.pem"],
                     ["pub", self.url, "-t", "x"],
                     ["pub", self.url, "-t", "x", "-m", "a", "-l"],
                     ["pub", self.url, "-t", "x", "-m", "a", "--content-type", "t"],
                     ["pub", self.url, "-t", "x", "-m", "a", "--user-property", "novalue"],
                     ["pub", self.url, "-t", "x", "-f", "/nonexistent/file"],
                     ["pub", self.url, "-t", "x", "-m", "a", "-q", "3"]):
            with self.subTest(args=args):
                result = rtx("mqtt", *args)
                self.assertEqual(result.returncode, EXIT_USAGE, result.stderr)
                self.assertEqual(len(result.stderr.decode().strip().splitlines()), 1,
                                 result.stderr)

    def test_missing_or_unknown_subcommand_names_sub_and_pub(self):
        for args in ([], ["foo"], ["foo", "bar"]):
            with self.subTest(args=args):
                result = rtx("mqtt", *args)
                self.assertEqual(result.returncode, EXIT_USAGE, result.stderr)
                [line] = result.stderr.decode().strip().splitlines()
                self.assertIn("sub or pub", line)
                if args:
                    self.assertIn("'foo'", line)
        stray = rtx("mqtt", "pub", self.url, "-t", "x", "-m", "a", "-r", "bogus")
        self.assertEqual(stray.returncode, EXIT_USAGE, stray.stderr)
        self.assertIn(b"bogus", stray.stderr)

    def test_unreachable_broker_exits_3(self):
        result = rtx("mqtt", "pub", f"mqtt://127.0.0.1:{free_port()}", "-t", "x", "-m", "a")
        self.assertEqual(result.returncode, EXIT_CONNECT, result.stderr)


@unittest.skipUnless(HAVE_MOSQUITTO, "mosquitto not installed")
class MqttAuthTlsWebSocketTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.dir = cls.tmp.name
        make_pki(d)
        passwords = os.path.join(d, "passwords")
        subprocess.run(["mosquitto_passwd", "-c", "-b", passwords, "alice", "s3cret"], check=True)
        cls.tls_port = free_port()
        cls.ws_port = free_port()
        cls.broker = Mosquitto(d, ["allow_anonymous false", f"password_file {passwords}"],
                               listeners=[[f"listener {cls.tls_port} 127.0.0.1",
                                           f"certfile {d}/server.pem", f"keyfile {d}/server.key"],
                                          [f"listener {cls.ws_port} 127.0.0.1",
                                           "protocol websockets"]]).start()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()
        cls.tmp.cleanup()

    def test_bad_credentials_exit_13(self):
        for version in ("3.1.1", "5"):
            for auth in ("", "alice:wrong@"):
                with self.subTest(version=version, auth=auth):
                    url = f"mqtt://{auth}127.0.0.1:{self.broker.port}"
                    result = rtx("mqtt", "pub", url, "-V", version, "-t", "x", "-m", "a",
                                 "--reconnect")
                    self.assertEqual(result.returncode, EXIT_REFUSED, result.stderr)
                    self.assertIn(b"refused", result.stderr)

    def test_good_credentials_pub_sub(self):
        url = f"mqtt://alice:s3cret@127.0.0.1:{self.broker.port}"
        with popen_rtx("-v", "mqtt", "sub", url, "-t", "auth", "--count", "1",
                       stdin=subprocess.DEVNULL) as sub:
            wait_ready(sub)
            result = rtx("mqtt", "pub", f"mqtt://127.0.0.1:{self.broker.port}", "-u", "alice",
                         "-P", "s3cret", "-t", "auth", "-m", "in")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            out, _ = sub.communicate(timeout=10)
        self.assertEqual(out, b"in\n")

    def test_mqtts(self):
        url = f"mqtts://alice:s3cret@127.0.0.1:{self.tls_port}"
        ca = os.path.join(self.dir, "ca.pem")
        with popen_rtx("-v", "mqtt", "sub", url, "--cacert", ca, "-t", "tls", "--count", "1",
                       stdin=subprocess.DEVNULL) as sub:
            wait_ready(sub)
            result = rtx("mqtt", "pub", f"mqtts://alice:s3cret@localhost:{self.tls_port}", "-k",
                         "-t", "tls", "-m", "secret", "-q", "1")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            out, _ = sub.communicate(timeout=10)
        self.assertEqual(out, b"secret\n")
        untrusted = rtx("mqtt", "pub", url, "-t", "tls", "-m", "x")
        self.assertEqual(untrusted.returncode, EXIT_TLS, untrusted.stderr)
        dead = rtx("mqtt", "pub", f"mqtts://127.0.0.1:{free_port()}", "-t", "tls", "-m", "x")
        self.assertEqual(dead.returncode, EXIT_CONNECT, dead.stderr)

    def test_websocket(self):
        url = f"ws://alice:s3cret@127.0.0.1:{self.ws_port}"
        with popen_rtx("-v", "mqtt", "sub", url, "-V", "5", "-t", "ws", "--count", "1",
                       stdin=subprocess.DEVNULL) as sub:
            wait_ready(sub)
            result = rtx("mqtt", "pub", url + "/mqtt", "-t", "ws", "-m", "over websocket")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            out, _ = sub.communicate(timeout=10)
        self.assertEqual(out, b"over websocket\n")


class SessionHandOverTest(unittest.TestCase):
    """rtx mqtt pub against a scripted broker (mqttraw.ScriptedBroker) that leaves QoS 1/2
    messages in flight at chosen points and drops the connection: what rtx sends on the next
    connection shows how the session was carried over to the fresh Paho client."""

    def start_pub(self, broker, version, qos, clean=False, extra=(), options=(), **popen):
        args = ["-v", "mqtt", "pub", f"mqtt://127.0.0.1:{broker.port}", "-t", "h",
                "-q", str(qos), "-V", "5" if version == 5 else "3.1.1", "-i", "rtx-handover",
                "--reconnect", "--backoff-initial", "20ms", "-l", *options]
        return self.enterContext(popen_rtx(*extra, *args, *([] if clean else ["-c"]), **popen))

    def expect(self, conn, first_nibble, version=5):
        p = conn.read_packet()
        self.assertIsNotNone(p, "the client closed the connection")
        self.assertEqual(p[0] >> 4, first_nibble, f"unexpected packet {p!r}")
        return p

    def first_connection(self, broker, pub, version):
        """CONNACK, then m1 released half way (PUBREC answered, PUBREL not completed) and
        m2 sent but never acknowledged; then the connection drops. Returns their ids."""
        conn = broker.accept()
        self.expect(conn, 1)
        conn.send(mqttraw.connack(version))
        pub.stdin.write(b"m1\nm2\n")
        pub.stdin.flush()
        first, body = self.expect(conn, 3)
        _, id1, payload1, _ = mqttraw.parse_publish(first, body, version)
        first, body = self.expect(conn, 3)
        _, id2, payload2, _ = mqttraw.parse_publish(first, body, version)
        self.assertEqual((payload1, payload2), (b"m1", b"m2"))
        conn.send(mqttraw.ack("pubrec", id1))
        first, body = self.expect(conn, 6)
        self.assertEqual(body[:2], id1.to_bytes(2, "big"))
        conn.close()  # PUBCOMP for m1 and PUBREC for m2 never come
        return id1, id2

    def finish(self, conn, pub):
        pub.stdin.close()
        self.expect(conn, 14)  # DISCONNECT once everything is complete
        conn.close()
        self.assertEqual(pub.wait(10), EXIT_OK, pub.stderr.read().decode()[-2000:])

    def test_qos2_in_flight_resumes_with_the_same_packet_ids(self):
        for version in (4, 5):
            with self.subTest(version=version):
                broker = mqttraw.ScriptedBroker()
                self.addCleanup(broker.close)
                pub = self.start_pub(broker, version, 2)
                id1, id2 = self.first_connection(broker, pub, version)
                conn = broker.accept()
                self.expect(conn, 1)
                conn.send(mqttraw.connack(version, session_present=True))
                seen = {}
                while len(seen) < 2:
                    first, body = conn.read_packet()
                    seen[first >> 4] = (first, body)
                # m1 continues where it stopped: PUBREL, never a second PUBLISH.
                self.assertEqual(seen[6][1][:2], id1.to_bytes(2, "big"))
                # m2 comes again: same packet id, DUP set.
                topic, packet_id, payload, dup = mqttraw.parse_publish(*seen[3], version)
                self.assertEqual((topic, packet_id, payload, dup), ("h", id2, b"m2", True))
                conn.send(mqttraw.ack("pubcomp", id1))
                conn.send(mqttraw.ack("pubrec", id2))
                self.expect(conn, 6)
                conn.send(mqttraw.ack("pubcomp", id2))
                self.finish(conn, pub)

    def test_resets_mid_stream_keep_qos2_exactly_once(self):
        """The broker resets the connection while pub is writing a stream, six times. In
        about four runs of ten a reset lands in the middle of a write: the path where Paho C
        1.3.12 frees a publication it still holds (its resend then read freed memory:
        ASan's heap-use-after-free, or garbage on the wire). Every message must come whole,
        and exactly once as the broker's session counts QoS 2 (by packet id).

        It fails in about one CI run in five (issue 12). RTX_MQTT_RESET_CUTS=40
        RTX_MQTT_RESET_PER_CONNECTION=8 (more reconnects per run) made it fail in about one
        run in ten here; the broker's timeline and pub's log then show an attempt whose
        CONNACK pub's loop never saw ("connected" missing) while Paho went on sending, or a
        connection pub closed right after the CONNACK."""
        import threading
        broker = mqttraw.ScriptedBroker()
        self.addCleanup(broker.close)
        # -vv to a file (a pipe nobody reads could fill and stall pub): shown if pub stalls.
        log = self.enterContext(tempfile.TemporaryFile())
        n = 400
        cuts = int(os.environ.get("RTX_MQTT_RESET_CUTS", "6"))
        per_connection = int(os.environ.get("RTX_MQTT_RESET_PER_CONNECTION", "40"))
        # Many cuts: the backoff, which grows over reconnects, must stay under the broker's
        # 10 s wait for the next connection.
        pub = self.start_pub(broker, 4, 2, extra=["-v"], stderr=log,
                             options=["--backoff-max", "60ms"] if cuts > 6 else [])
        timeline = []  # the broker's side, shown with pub's log when a connection fails

        def feed():
            for i in range(n):
                pub.stdin.write(f"{i}\n".encode())
                pub.stdin.flush()
            pub.stdin.close()
        writer = threading.Thread(target=feed)
        received, awaiting_pubrel = [], {}  # the broker's view of the session

        def serve(conn, limit=None):
            """Plays a QoS 2 broker until `limit` new PUBLISHes (then resets) or DISCONNECT."""
            fresh = 0
            while limit is None or fresh < limit:
                p = conn.read_packet(timeout=10)
                self.assertIsNotNone(p, "pub closed the connection")
                first, body = p
                kind = first >> 4
                if kind == 3:
                    topic, packet_id, payload, dup = mqttraw.parse_publish(first, body, 4)
                    self.assertEqual(topic, "h")
                    if packet_id in awaiting_pubrel:  # a resend of one we already have
                        self.assertTrue(dup)
                        self.assertEqual(payload, awaiting_pubrel[packet_id])
                    else:
                        awaiting_pubrel[packet_id] = payload
                        received.append(int(payload))
                        fresh += 1
                    conn.send(mqttraw.ack("pubrec", packet_id))
                elif kind == 6:
                    packet_id = struct.unpack(">H", body[:2])[0]
                    awaiting_pubrel.pop(packet_id, None)
                    conn.send(mqttraw.ack("pubcomp", packet_id))
                elif kind == 14:
                    return
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # RST while pub keeps writing

        for i in range(cuts + 1):
            try:
                conn = broker.accept()
                self.expect(conn, 1)
                conn.send(mqttraw.connack(4, session_present=i > 0))
                timeline.append(f"{time.monotonic():.3f} connection {i} from port "
                                f"{conn.sock.getpeername()[1]}: CONNACK sent")
                if i == 0:
                    writer.start()
                serve(conn, per_connection if i < cuts else None)
            except (TimeoutError, AssertionError) as failure:
                timeline.append(f"{time.monotonic():.3f} connection {i}: {failure}")
                pub.kill()
                pub.wait()
                log.seek(0)
                self.fail(f"connection {i}: {failure}; the broker's side:\n" +
                          "\n".join(timeline) +
                          f"\npub's log:\n{log.read().decode()[-4000:]}")
        writer.join()
        log.seek(0)
        self.assertEqual(pub.wait(10), EXIT_OK, log.read().decode()[-2000:])
        self.assertEqual(sorted(received), list(range(n)))  # each once, none lost

    def test_broker_without_the_session_gets_the_unacknowledged_again(self):
        broker = mqttraw.ScriptedBroker()
        self.addCleanup(broker.close)
        pub = self.start_pub(broker, 5, 2)
        self.first_connection(broker, pub, 5)
        conn = broker.accept()
        self.expect(conn, 1)
        conn.send(mqttraw.connack(5, session_present=False))  # it forgot us
        sent = [mqttraw.parse_publish(*self.expect(conn, 3), 5) for _ in range(2)]
        self.assertEqual([payload for _, _, payload, _ in sent], [b"m1", b"m2"])
        for _, packet_id, _, _ in sent:
            conn.send(mqttraw.ack("pubrec", packet_id))
            self.expect(conn, 6)
            conn.send(mqttraw.ack("pubcomp", packet_id))
        self.finish(conn, pub)

    def test_clean_session_publishes_the_unacknowledged_again(self):
        broker = mqttraw.ScriptedBroker()
        self.addCleanup(broker.close)
        pub = self.start_pub(broker, 4, 1, clean=True)
        conn = broker.accept()
        self.expect(conn, 1)
        conn.send(mqttraw.connack(4))
        pub.stdin.write(b"m1\nm2\n")
        pub.stdin.flush()
        first, body = self.expect(conn, 3)
        _, id1, _, _ = mqttraw.parse_publish(first, body, 4)
        self.expect(conn, 3)
        conn.send(mqttraw.ack("puback", id1))  # m1 done, m2 left in flight
        time.sleep(0.2)
        conn.close()
        conn = broker.accept()
        self.expect(conn, 1)
        conn.send(mqttraw.connack(4))
        first, body = self.expect(conn, 3)
        _, packet_id, payload, _ = mqttraw.parse_publish(first, body, 4)
        self.assertEqual(payload, b"m2")  # and only m2: m1 was acknowledged
        conn.send(mqttraw.ack("puback", packet_id))
        self.finish(conn, pub)


class RtxServeBrokerTest(unittest.TestCase):
    """The same client against `rtx serve`'s own broker, and across protocols."""

    def test_pub_sub_qos_and_versions_against_rtx_serve(self):
        from rtxtest import Serve
        with Serve("--no-tcp", "--no-http", "--mqtt-port", "0", expect=1) as serve:
            url = serve.url("mqtt")
            for version in ("3.1.1", "5"):
                for qos in (0, 1, 2):
                    with self.subTest(version=version, qos=qos):
                        with popen_rtx("-v", "mqtt", "sub", url, "-V", version, "-t", "s/+",
                                       "-q", str(qos), "--count", "1", "--json",
                                       stdin=subprocess.DEVNULL) as sub:
                            wait_ready(sub)
                            result = rtx("mqtt", "pub", url, "-V", version, "-t", "s/x", "-q",
                                         str(qos), "-m", f"v{version}q{qos}")
                            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
                            out, _ = sub.communicate(timeout=10)
                        [m] = messages(out)
                        self.assertEqual((m["topic"], m["payload"], m["qos"]),
                                         ("s/x", f"v{version}q{qos}", qos))

    def test_mqtt_pub_reaches_rtx_sse(self):
        from rtxtest import Serve
        with Serve("--no-tcp", "--http-port", "0", "--mqtt-port", "0", expect=4) as serve:
            sse = serve.url("http") + "/sse/news"
            with popen_rtx("sse", sse, "--count", "1", stdin=subprocess.DEVNULL) as reader:
                deadline = time.monotonic() + 10
                out = b""
                # The SSE subscription has no readiness line: publish until it is seen.
                while time.monotonic() < deadline and reader.poll() is None:
                    self.assertEqual(rtx("mqtt", "pub", serve.url("mqtt"), "-t", "news", "-m",
                                         "headline", "-q", "1").returncode, EXIT_OK)
                    time.sleep(0.2)
                out, _ = reader.communicate(timeout=10)
            self.assertEqual(out, b"headline\n")

    def test_no_loss_across_a_cut_connection_against_rtx_serve(self):
        from rtxtest import Serve
        with Serve("--no-tcp", "--no-http", "--mqtt-port", "0", expect=1) as serve:
            port = int(serve.address("mqtt").rsplit(":", 1)[1])
            for version, qos in (("3.1.1", 1), ("3.1.1", 2), ("5", 2)):
                with self.subTest(version=version, qos=qos):
                    no_loss_across_cuts(self, port, version, qos, "rtx-serve")

    def test_v5_no_local_against_rtx_serve(self):
        from rtxtest import Serve
        with Serve("--no-tcp", "--no-http", "--mqtt-port", "0", expect=1) as serve:
            for no_local in (True, False):
                with self.subTest(no_local=no_local):
                    no_local_round_trip(self, serve.url("mqtt"), no_local)


class ConnectErrorTest(unittest.TestCase):
    """No broker needed: what the user reads when there is none."""

    def test_connect_errors_say_what_rtx_tcp_says(self):
        # Paho says "connection failed" for all of these; rtx names the cause as `rtx tcp`.
        for target, why in ((f"127.0.0.1:{free_port()}", "connection refused"),
                            ("no-such-host.invalid:1883", "unknown host")):
            tcp = rtx("tcp", target, input="")
            for scheme in ("mqtt", "mqtts"):
                for args in (["sub", "-t", "x"], ["pub", "-t", "x", "-m", "hi"]):
                    with self.subTest(url=f"{scheme}://{target}", command=args[0]):
                        result = rtx("mqtt", *args, f"{scheme}://{target}")
                        self.assertEqual(result.returncode, EXIT_CONNECT, result.stderr)
                        self.assertEqual(result.stderr, tcp.stderr)
                        [line] = result.stderr.decode().splitlines()
                        self.assertTrue(line.endswith(f": {why}"), line)
                        self.assertNotRegex(line, r"  |\( | \)|\s$")


if __name__ == "__main__":
    unittest.main()
