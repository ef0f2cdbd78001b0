"""The MQTT broker of `rtx serve` against Debian's mosquitto clients (both 3.1.1 and 5) and a
raw socket client (tests/e2e/mqttraw.py) for what well-behaved clients never send."""

import contextlib
import os
import shutil
import signal
import subprocess
import time
import unittest
import urllib.request

import mqttraw
import rtxtest
from rtxtest import Serve, popen_rtx, read_line

MOSQ = shutil.which("mosquitto_sub") and shutil.which("mosquitto_pub")


@contextlib.contextmanager
def broker(*args, http=False):
    """`rtx serve` with the broker on a free port; it must then stop cleanly (exit 0, and
    nothing from the sanitizers in an ASan build)."""
    extra = ("--http-port", "0") if http else ("--no-http",)
    # With HTTP, serve prints http, ws, ws-echo and mqtt.
    with Serve("--no-tcp", *extra, "--mqtt-port", "0", *args, expect=4 if http else 1) as serve:
        yield serve
        code = serve.stop()
        err = serve.proc.stderr.read().decode(errors="replace")
    if code != 0 or "Sanitizer" in err:
        raise AssertionError(f"rtx serve exited {code}: {err}")


def port_of(serve):
    return int(serve.address("mqtt").rsplit(":", 1)[1])


def pub(port, topic, *args, message=None, version="5", check=True):
    cmd = ["mosquitto_pub", "-p", str(port), "-t", topic, "-V", version, *args]
    if message is not None:
        cmd += ["-m", message]
    result = subprocess.run(cmd, capture_output=True, timeout=10)
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd}: {result.returncode} {result.stderr!r}")
    return result


_probe_count = 0


@contextlib.contextmanager
def sub(port, *topics, args=(), version="5", fmt="%t %p", wait_ready=True):
    """A running mosquitto_sub printing `fmt` lines (which must show %t or %p); once it is
    subscribed (a probe message on its own topic came back) unless wait_ready is false."""
    global _probe_count
    _probe_count += 1
    probe = f"probe/{os.getpid()}/{_probe_count}"
    cmd = ["mosquitto_sub", "-p", str(port), "-V", version, "-F", fmt, *args]
    for t in topics:
        cmd += ["-t", t]
    if wait_ready:
        cmd += ["-t", probe]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        early = []  # lines that came before the probe (retained messages): handed back
        if wait_ready:
            deadline = time.monotonic() + 10
            while True:
                if time.monotonic() > deadline:
                    raise AssertionError(f"mosquitto_sub never subscribed: {cmd}")
                pub(port, probe, message=probe, version="311", check=False)
                try:
                    line = read_line(proc.stdout, timeout=0.3)
                except TimeoutError:
                    continue
                if probe.encode() in line:
                    break
                if not line:
                    raise AssertionError(f"mosquitto_sub ended: {proc.stderr.read()!r}")
                early.append(line)
            rtxtest._pending[proc.stdout] = b"".join(early) + rtxtest._pending.get(
                proc.stdout, b"")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def lines(proc, count, timeout=5, skip_probe=True):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        line = read_line(proc.stdout, timeout=max(deadline - time.monotonic(), 0.01))
        if not line:
            break
        if skip_probe and b"probe/" in line:
            continue
        out.append(line.rstrip(b"\n").decode())
    return out


def extra_lines(proc, wait=0.7):
    """What arrives (but probes) within `wait` seconds: [] when all is quiet."""
    try:
        return lines(proc, 1, timeout=wait)
    except TimeoutError:
        return []


@unittest.skipUnless(MOSQ, "mosquitto-clients not installed")
class MqttBroker(unittest.TestCase):
    def test_prints_its_endpoint_and_no_mqtt_turns_it_off(self):
        with broker() as serve:
            self.assertRegex(serve.url("mqtt"), r"^mqtt://127\.0\.0\.1:\d+$")
        with Serve("--tcp-port", "0", "--no-mqtt") as serve:
            self.assertNotIn("mqtt", serve.endpoints)

    def test_qos_0_1_2_both_directions_both_versions(self):
        with broker() as serve:
            port = port_of(serve)
            for sub_version in ("311", "5"):
                for pub_version in ("311", "5"):
                    for qos in (0, 1, 2):
                        topic = f"q/{sub_version}/{pub_version}/{qos}"
                        with self.subTest(sub=sub_version, pub=pub_version, qos=qos), \
                                sub(port, topic, args=("-q", "2"), version=sub_version,
                                    fmt="%t %q %p") as s:
                            for i in range(3):
                                pub(port, topic, "-q", str(qos), message=f"m{i}",
                                    version=pub_version)
                            got = lines(s, 3)
                            self.assertEqual(got, [f"{topic} {qos} m{i}" for i in range(3)])

    def test_subscription_qos_caps_delivery(self):
        with broker() as serve:
            port = port_of(serve)
            with sub(port, "cap", args=("-q", "1"), fmt="%q %p") as s:
                pub(port, "cap", "-q", "2", message="x")
                self.assertEqual(lines(s, 1), ["1 x"])

    def test_qos2_many_messages_no_duplicates(self):
        with broker() as serve:
            port = port_of(serve)
            n = 200
            with sub(port, "exactly", args=("-q", "2"), fmt="%p") as s:
                feed = "".join(f"{i}\n" for i in range(n)) + "end\n"
                subprocess.run(["mosquitto_pub", "-p", str(port), "-t", "exactly", "-q", "2",
                                "-l"], input=feed.encode(), check=True, timeout=20)
                got = lines(s, n + 1, timeout=15)
                self.assertEqual(got, [str(i) for i in range(n)] + ["end"])
                self.assertEqual(extra_lines(s, 0.3), [])

    def test_retained_message_and_clearing_it(self):
        with broker() as serve:
            port = port_of(serve)
            with sub(port, "r/live", fmt="%r %t %p") as live:
                pub(port, "r/live", "-r", "-q", "1", message="kept")
                # Delivered to an existing subscription: retain flag 0 (MQTT 3.3.1.3).
                self.assertEqual(lines(live, 1), ["0 r/live kept"])
            for version in ("311", "5"):
                with sub(port, "r/#", version=version, fmt="%r %t %p") as late:
                    self.assertEqual(lines(late, 1), ["1 r/live kept"])
            pub(port, "r/live", "-r", "-n")  # an empty retained publish clears it
            with sub(port, "r/#", fmt="%r %t %p") as after:
                self.assertEqual(extra_lines(after), [])

    def test_will_on_abrupt_disconnect_not_on_clean_one(self):
        with broker() as serve:
            port = port_of(serve)
            with sub(port, "will/#", fmt="%t %p") as watcher:
                for version in ("311", "5"):
                    with sub(port, "x", version=version, args=(
                            "-i", f"willy{version}", "--will-topic", f"will/{version}",
                            "--will-payload", "gone")) as victim:
                        victim.send_signal(signal.SIGKILL)
                        victim.wait()
                        self.assertEqual(lines(watcher, 1), [f"will/{version} gone"])
                # SIGINT: mosquitto_sub (3.1.1) sends DISCONNECT, so no will.
                with sub(port, "x", version="311", args=(
                        "-i", "polite", "--will-topic", "will/polite",
                        "--will-payload", "never")) as polite:
                    polite.send_signal(signal.SIGINT)
                    polite.wait(timeout=5)
                self.assertEqual(extra_lines(watcher), [])
                # MQTT 5: DISCONNECT 0x00 drops the will, 0x04 asks for it.
                for reason, expected in ((b"", []), (b"\x04", ["will/asked bye"])):
                    with mqttraw.Client(port) as c:
                        c.connect(client_id="raw", will_topic="will/asked", will_payload=b"bye")
                        c.send(mqttraw.packet(0xE0, reason))
                        self.assertEqual(c.closed(), [])
                    self.assertEqual(extra_lines(watcher), expected)

    def test_v5_will_delay(self):
        with broker() as serve:
            port = port_of(serve)
            with sub(port, "delayed", fmt="%p") as watcher:
                with sub(port, "x", args=("-i", "slowwill", "-x", "60", "--will-topic",
                                          "delayed", "--will-payload", "late", "-D", "will",
                                          "will-delay-interval", "1")) as victim:
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                    killed = time.monotonic()
                self.assertEqual(lines(watcher, 1, timeout=5), ["late"])
                self.assertGreater(time.monotonic() - killed, 0.8)
                # A reconnect within the delay cancels the will.
                with sub(port, "x", args=("-c", "-i", "back", "-x", "60", "--will-topic", "delayed",
                                          "--will-payload", "cancelled", "-D", "will",
                                          "will-delay-interval", "2")) as victim:
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                with sub(port, "x", args=("-c", "-i", "back", "-x", "60")):
                    self.assertEqual(extra_lines(watcher, 2.5), [])

    def test_wildcards_and_dollar_topics(self):
        with broker() as serve:
            port = port_of(serve)
            with sub(port, "#", fmt="%t") as everything, \
                    sub(port, "+/b", fmt="%t") as plus, \
                    sub(port, "$SYS/#", fmt="%t") as sys_:
                for topic in ("a/b", "a/c", "$SYS/uptime", "x/b"):
                    pub(port, topic, message="1")
                self.assertEqual(lines(everything, 3), ["a/b", "a/c", "x/b"])
                self.assertEqual(lines(plus, 2), ["a/b", "x/b"])
                self.assertEqual(lines(sys_, 1), ["$SYS/uptime"])
                self.assertEqual(extra_lines(everything, 0.3), [])

    def test_persistent_session_gets_queued_messages(self):
        with broker() as serve:
            port = port_of(serve)
            for version in ("311", "5"):
                with self.subTest(version=version):
                    cid = f"keeper{version}"
                    args = ("-c", "-i", cid, "-q", "2")
                    with sub(port, "persist", version=version, args=args) as s:
                        s.send_signal(signal.SIGINT)  # a clean DISCONNECT; the session stays
                        s.wait(timeout=5)
                    pub(port, "persist", "-q", "1", message="one")
                    pub(port, "persist", "-q", "2", message="two")
                    pub(port, "persist", "-q", "0", message="zero-not-kept")
                    with sub(port, "persist", version=version, args=args,
                             wait_ready=False) as again:
                        self.assertEqual(lines(again, 2), ["persist one", "persist two"])
                        self.assertEqual(extra_lines(again, 0.5), [])

    def test_max_queued_bounds_an_absent_session(self):
        with broker("--mqtt-max-queued", "2") as serve:
            port = port_of(serve)
            args = ("-c", "-i", "bounded", "-q", "1")
            with sub(port, "bounded", version="311", args=args) as s:
                s.send_signal(signal.SIGINT)
                s.wait(timeout=5)
            for i in range(4):
                pub(port, "bounded", "-q", "1", message=f"m{i}")
            with sub(port, "bounded", version="311", args=args, wait_ready=False) as again:
                self.assertEqual(lines(again, 2), ["bounded m0", "bounded m1"])
                self.assertEqual(extra_lines(again, 0.5), [])

    def test_v5_session_expiry(self):
        with broker() as serve:
            port = port_of(serve)
            expiry = b"\x11\x00\x00\x00\x01"  # Session Expiry Interval: 1 s
            with mqttraw.Client(port) as c:
                self.assertEqual(c.connect(client_id="brief", clean=False, props=expiry)[0], 0)
                c.send(mqttraw.subscribe("brief", qos=1))
                self.assertEqual(c.read_packet(), (0x90, b"\x00\x01\x00\x01"))
                c.send(mqttraw.packet(0xE0, b""))
                self.assertEqual(c.closed(), [])
            pub(port, "brief", "-q", "1", message="kept")
            with mqttraw.Client(port) as c:  # within the second: the session and message
                self.assertEqual(c.connect(client_id="brief", clean=False, props=expiry)[0], 1)
                first, body = c.read_packet()
                self.assertEqual(first & 0xF6, 0x32)
                self.assertTrue(body.endswith(b"kept"))
                packet_id = body[7:9]
                c.send(mqttraw.packet(0x40, packet_id))  # PUBACK
                c.send(mqttraw.packet(0xE0, b""))
                self.assertEqual(c.closed(), [])
            time.sleep(1.5)
            with mqttraw.Client(port) as c:  # expired: a new session
                self.assertEqual(c.connect(client_id="brief", clean=False, props=expiry)[0], 0)

    def test_unsubscribe(self):
        with broker() as serve:
            port = port_of(serve)
            for version, unsuback in ((5, b"\x00\x02\x00\x00"), (4, b"\x00\x02")):
                with self.subTest(version=version), mqttraw.Client(port) as c:
                    c.connect(client_id=f"unsub{version}", version=version)
                    c.send(mqttraw.subscribe("u/+", version=version))
                    c.read_packet()
                    props = b"\x00" if version == 5 else b""
                    c.send(mqttraw.packet(0xA2, b"\x00\x02" + props + mqttraw.string("u/+")))
                    self.assertEqual(c.read_packet(), (0xB0, unsuback))
                    c.send(mqttraw.packet(0xA2, b"\x00\x03" + props + mqttraw.string("u/+")))
                    expected = b"\x00\x03\x00\x11" if version == 5 else b"\x00\x03"
                    self.assertEqual(c.read_packet(), (0xB0, expected))  # none existed
                    pub(port, "u/x", message="after")
                    c.send(mqttraw.packet(0xC0, b""))
                    self.assertEqual(c.read_packet(), (0xD0, b""))  # and no PUBLISH first

    def test_clean_session_forgets(self):
        with broker() as serve:
            port = port_of(serve)
            with sub(port, "gone", args=("-i", "forgetful", "-q", "1")) as s:
                s.send_signal(signal.SIGINT)
                s.wait(timeout=5)
            pub(port, "gone", "-q", "1", message="lost")
            with mqttraw.Client(port) as c:
                connack = c.connect(client_id="forgetful", version=4, clean=False)
                self.assertEqual(connack[0], 0)  # session present: no

    def test_takeover_kicks_the_first_client(self):
        with broker() as serve:
            port = port_of(serve)
            with mqttraw.Client(port) as first, mqttraw.Client(port) as second:
                first.connect(client_id="twin")
                second.connect(client_id="twin")
                seen = first.closed()
                self.assertEqual(seen, [(0xE0, b"\x8e")])  # DISCONNECT session taken over
                second.send(mqttraw.packet(0xC0, b""))
                self.assertEqual(second.read_packet(), (0xD0, b""))
            with mqttraw.Client(port) as first, mqttraw.Client(port) as second:
                first.connect(client_id="twin311", version=4)
                second.connect(client_id="twin311", version=4)
                self.assertEqual(first.closed(), [])  # 3.1.1: closed without DISCONNECT

    def test_keepalive_timeout_is_one_and_a_half_keepalives(self):
        with broker() as serve:
            port = port_of(serve)
            for version, expected in ((5, [(0xE0, b"\x8d")]), (4, [])):
                with self.subTest(version=version), mqttraw.Client(port) as c:
                    c.connect(client_id=f"silent{version}", version=version, keepalive=1)
                    start = time.monotonic()
                    self.assertEqual(c.closed(timeout=5), expected)
                    elapsed = time.monotonic() - start
                    self.assertGreater(elapsed, 1.3)
                    self.assertLess(elapsed, 3.5)  # 1.5 s, plus slack for a loaded machine
            with mqttraw.Client(port) as c:  # PINGREQ keeps it alive
                c.connect(client_id="pinger", keepalive=1)
                for _ in range(4):
                    time.sleep(0.5)
                    c.send(mqttraw.packet(0xC0, b""))
                    self.assertEqual(c.read_packet(), (0xD0, b""))

    def test_user_and_password(self):
        with broker("--mqtt-user", "alice", "--mqtt-password", "s3cret") as serve:
            port = port_of(serve)
            with sub(port, "auth", args=("-u", "alice", "-P", "s3cret"),
                     wait_ready=False) as s:
                time.sleep(0.3)
                pub(port, "auth", "-u", "alice", "-P", "s3cret", message="in")
                self.assertEqual(lines(s, 1), ["auth in"])
            refused = pub(port, "auth", "-u", "alice", "-P", "wrong", message="x", check=False)
            self.assertNotEqual(refused.returncode, 0)
            for version, code in ((5, 0x86), (4, 0x04)):
                with mqttraw.Client(port) as c:
                    connack = c.connect(client_id="intruder", version=version, user="alice",
                                        password="nope")
                    self.assertEqual(connack[1], code)
                    self.assertEqual(c.closed(), [])
                with mqttraw.Client(port) as c:
                    self.assertEqual(c.connect(version=version)[1], code)  # no credentials

    def test_max_packet_size(self):
        with broker("--mqtt-max-packet", "1KiB") as serve:
            port = port_of(serve)
            with sub(port, "big", fmt="%t %l") as watcher, mqttraw.Client(port) as c:
                connack = c.connect(client_id="big")
                self.assertIn(b"\x27\x00\x00\x04\x00", connack)  # Maximum Packet Size 1024
                c.send(mqttraw.publish("big", b"x" * 900))
                self.assertEqual(lines(watcher, 1), ["big 900"])
                c.send(mqttraw.publish("big", b"x" * 2000))
                self.assertEqual(c.closed(), [(0xE0, b"\x95")])
                pub(port, "big", message="still here")  # the others are unaffected
                self.assertEqual(lines(watcher, 1), ["big 10"])

    def test_malformed_packets_disconnect_only_that_client(self):
        cases = [
            # (version, bytes after CONNACK, packets expected before close)
            (5, b"\x36\x05\x00\x01t\x00\x01", [(0xE0, b"\x81")]),  # PUBLISH QoS 3
            (5, mqttraw.connect("again"), [(0xE0, b"\x82")]),  # a second CONNECT
            (5, b"\x30\xff\xff\xff\xff\x7f", [(0xE0, b"\x81")]),  # 5-byte remaining length
            (5, b"\x30\x04\x00\x01#\x00", [(0xE0, b"\x90")]),  # wildcard in a topic name
            (5, b"\x82\x03\x00\x01\x00", [(0xE0, b"\x82")]),  # SUBSCRIBE without a filter
            (5, b"\x20\x03\x00\x00\x00", [(0xE0, b"\x82")]),  # CONNACK from a client
            (4, b"\x36\x05\x00\x01t\x00\x01", []),  # 3.1.1: just closed
            (4, b"\x30\x04\x00\x02\xc0\x80", []),  # invalid UTF-8 topic
        ]
        with broker() as serve:
            port = port_of(serve)
            with sub(port, "alive", fmt="%p") as bystander:
                for i, (version, data, expected) in enumerate(cases):
                    with self.subTest(case=i), mqttraw.Client(port) as c:
                        c.connect(client_id=f"bad{i}", version=version)
                        c.send(data)
                        self.assertEqual(c.closed(), expected)
                        pub(port, "alive", message=f"ok{i}")
                        self.assertEqual(lines(bystander, 1), [f"ok{i}"])
                # Before CONNECT: not a CONNECT, and an unsupported protocol level (3.1).
                with mqttraw.Client(port) as c:
                    c.send(b"\xc0\x00")
                    self.assertEqual(c.closed(), [])
                with mqttraw.Client(port) as c:
                    c.send(mqttraw.packet(0x10, mqttraw.string("MQIsdp") +
                                          b"\x03\x02\x00\x3c" + mqttraw.string("old")))
                    self.assertEqual(c.closed(), [(0x20, b"\x00\x01")])
                # A broken MQTT 5 CONNECT (receive maximum 0) is refused in CONNACK.
                with mqttraw.Client(port) as c:
                    c.send(mqttraw.connect("zero", props=b"\x21\x00\x00"))
                    self.assertEqual(c.closed(), [(0x20, b"\x00\x82\x00")])
                # Garbage split into single bytes does not confuse the decoder.
                with mqttraw.Client(port) as c:
                    c.connect(client_id="trickle")
                    for byte in mqttraw.publish("alive", b"trickled"):
                        c.send(bytes([byte]))
                        time.sleep(0.002)
                    self.assertEqual(lines(bystander, 1), ["trickled"])

    def test_v5_properties_pass_through(self):
        with broker() as serve:
            port = port_of(serve)
            with sub(port, "props", fmt="%C|%R|%D|%E|%F|%P|%p") as s:
                pub(port, "props", "-D", "publish", "content-type", "text/x",
                    "-D", "publish", "response-topic", "reply/here",
                    "-D", "publish", "correlation-data", "c0rr",
                    "-D", "publish", "message-expiry-interval", "100",
                    "-D", "publish", "payload-format-indicator", "1",
                    "-D", "publish", "user-property", "k", "v",
                    "-D", "publish", "user-property", "k2", "v2", message="body")
                got = lines(s, 1)[0].split("|")
                self.assertEqual(got[0:3], ["text/x", "reply/here", "c0rr"])
                self.assertIn(got[3], ("100", "99"))  # the remaining expiry, counted down
                self.assertEqual(got[4], "1")
                self.assertEqual(got[5], "k:v k2:v2")
                self.assertEqual(got[6], "body")
            # A 3.1.1 subscriber gets the same message without properties.
            with sub(port, "props", version="311", fmt="%p") as old:
                pub(port, "props", "-D", "publish", "user-property", "k", "v", message="plain")
                self.assertEqual(lines(old, 1), ["plain"])

    def test_v5_subscription_options(self):
        with broker() as serve:
            port = port_of(serve)
            with mqttraw.Client(port) as c:
                c.connect(client_id="opts")
                # no-local (0x04) on "nl", retain-as-published (0x08) on "rap".
                c.send(mqttraw.subscribe("nl", options=0x04, packet_id=1))
                self.assertEqual(c.read_packet(), (0x90, b"\x00\x01\x00\x00"))
                c.send(mqttraw.subscribe("rap", options=0x08, packet_id=2))
                self.assertEqual(c.read_packet(), (0x90, b"\x00\x02\x00\x00"))
                c.send(mqttraw.publish("nl", b"mine"))
                c.send(mqttraw.publish("rap", b"r", retain=True))
                first, body = c.read_packet()
                self.assertEqual(first, 0x31)  # retain kept, and nothing on "nl"
                self.assertTrue(body.endswith(b"r"))
                pub(port, "nl", message="theirs")
                first, body = c.read_packet()
                self.assertTrue(body.endswith(b"theirs"))
                # retain handling 2: no retained message on subscribe; 1: only if new.
                c.send(mqttraw.subscribe("rap", options=0x20, packet_id=3))
                self.assertEqual(c.read_packet(), (0x90, b"\x00\x03\x00\x00"))
                c.send(mqttraw.subscribe("rap", options=0x10, packet_id=4))
                self.assertEqual(c.read_packet(), (0x90, b"\x00\x04\x00\x00"))
                c.send(mqttraw.packet(0xC0, b""))
                self.assertEqual(c.read_packet(), (0xD0, b""))  # no retained PUBLISH first
                c.send(mqttraw.subscribe("rap", options=0x00, packet_id=5))
                self.assertEqual(c.read_packet(), (0x90, b"\x00\x05\x00\x00"))
                first, body = c.read_packet()
                self.assertEqual(first, 0x31)
                # Invalid filters are refused per filter; shared ones are granted (their
                # rules: test_serve_mqtt5.py).
                c.send(mqttraw.subscribe("a/#/b", packet_id=6))
                self.assertEqual(c.read_packet(), (0x90, b"\x00\x06\x00\x8f"))
                c.send(mqttraw.subscribe("$share/g/t", packet_id=7))
                self.assertEqual(c.read_packet(), (0x90, b"\x00\x07\x00\x00"))

    def test_inflight_qos1_retried_with_dup_on_reconnect(self):
        with broker() as serve:
            port = port_of(serve)
            with mqttraw.Client(port) as c:
                c.connect(client_id="retry", version=4, clean=False)
                c.send(mqttraw.subscribe("retry", qos=1, version=4))
                self.assertEqual(c.read_packet(), (0x90, b"\x00\x01\x01"))
                pub(port, "retry", "-q", "1", message="unacked")
                first, body = c.read_packet()
                self.assertEqual(first, 0x32)  # QoS 1, no DUP; never acknowledged
            with mqttraw.Client(port) as c:
                self.assertEqual(c.connect(client_id="retry", version=4, clean=False),
                                 b"\x01\x00")  # session present
                first, body = c.read_packet()
                self.assertEqual(first, 0x3A)  # DUP set
                self.assertTrue(body.endswith(b"unacked"))

    def test_inflight_qos2_resumed_with_dup_publish_and_pubrel(self):
        # MQTT-4.4.0-1: on a resumed session the server resends an unacknowledged PUBLISH
        # with DUP and the same packet id, and a PUBREL whose PUBCOMP never came.
        with broker() as serve:
            port = port_of(serve)
            with mqttraw.Client(port) as c:
                c.connect(client_id="q2", version=4, clean=False)
                c.send(mqttraw.subscribe("q2/#", qos=2, version=4))
                self.assertEqual(c.read_packet(), (0x90, b"\x00\x01\x02"))
                pub(port, "q2/a", "-q", "2", message="released")
                first, body = c.read_packet()
                self.assertEqual(first, 0x34)  # QoS 2, no DUP
                released_id = body[6:8]  # after the topic "q2/a" (2 + 4 bytes)
                c.send(mqttraw.packet(0x50, released_id))  # PUBREC
                self.assertEqual(c.read_packet(), (0x62, released_id))  # PUBREL; no PUBCOMP
                pub(port, "q2/b", "-q", "2", message="unacked")
                first, body = c.read_packet()
                self.assertEqual(first, 0x34)
                unacked_id = body[6:8]
            with mqttraw.Client(port) as c:
                self.assertEqual(c.connect(client_id="q2", version=4, clean=False), b"\x01\x00")
                self.assertEqual(c.read_packet(), (0x62, released_id))  # PUBREL again
                first, body = c.read_packet()
                self.assertEqual((first, body[6:8]), (0x3C, unacked_id))  # DUP, same id
                self.assertTrue(body.endswith(b"unacked"))
                c.send(mqttraw.packet(0x70, released_id))  # PUBCOMP
                c.send(mqttraw.packet(0x50, unacked_id))  # PUBREC
                self.assertEqual(c.read_packet(), (0x62, unacked_id))
                c.send(mqttraw.packet(0x70, unacked_id))
                c.send(mqttraw.packet(0xC0, b""))
                self.assertEqual(c.read_packet(), (0xD0, b""))  # nothing else owed

    def test_qos2_publish_retried_after_a_drop_is_delivered_once(self):
        # The client's side of the same rule: PUBREC came, the connection dropped before
        # PUBREL; the client resends the PUBLISH with DUP. The broker must not route it a
        # second time, and must complete the exchange.
        with broker() as serve:
            port = port_of(serve)
            with sub(port, "once", args=("-q", "2"), fmt="%p") as s:
                body = mqttraw.string("once") + b"\x00\x07" + b"exactly"
                with mqttraw.Client(port) as c:
                    c.connect(client_id="sender", version=4, clean=False)
                    c.send(mqttraw.packet(0x34, body))
                    self.assertEqual(c.read_packet(), (0x50, b"\x00\x07"))  # PUBREC
                with mqttraw.Client(port) as c:
                    self.assertEqual(c.connect(client_id="sender", version=4, clean=False),
                                     b"\x01\x00")
                    c.send(mqttraw.packet(0x3C, body))  # the same PUBLISH, DUP set
                    self.assertEqual(c.read_packet(), (0x50, b"\x00\x07"))
                    c.send(mqttraw.packet(0x62, b"\x00\x07"))  # PUBREL
                    self.assertEqual(c.read_packet(), (0x70, b"\x00\x07"))  # PUBCOMP
                self.assertEqual(lines(s, 1), ["exactly"])
                self.assertEqual(extra_lines(s), [])

    def test_v5_pubrel_resent_after_a_drop_completes(self):
        # The PUBCOMP was lost in the drop, so the client resends PUBREL for an id the broker
        # already released: during recovery that is success (Paho counts a PUBCOMP >= 0x80
        # as a failed publish); outside recovery an unknown id is 0x92.
        expiry = b"\x11\x00\x00\x00\x3c"  # Session Expiry Interval 60 s
        with broker() as serve:
            port = port_of(serve)
            with mqttraw.Client(port) as c:
                c.connect(client_id="rel", version=5, clean=False, props=expiry)
                c.send(mqttraw.publish("rel", b"x", qos=2, packet_id=9))
                self.assertEqual(c.read_packet()[0], 0x50)  # PUBREC
                c.send(mqttraw.packet(0x62, b"\x00\x09"))
                self.assertEqual(c.read_packet()[0], 0x70)  # PUBCOMP, then the drop
            with mqttraw.Client(port) as c:
                c.connect(client_id="rel", version=5, clean=False, props=expiry)
                c.send(mqttraw.packet(0x62, b"\x00\x09"))
                first, body = c.read_packet()
                self.assertEqual(first, 0x70)
                self.assertIn(body, (b"\x00\x09", b"\x00\x09\x00"))  # success
            with mqttraw.Client(port) as c:
                c.connect(client_id="fresh", version=5)
                c.send(mqttraw.packet(0x62, b"\x00\x05"))
                self.assertEqual(c.read_packet(), (0x70, b"\x00\x05\x92"))


@unittest.skipUnless(MOSQ, "mosquitto-clients not installed")
class MqttCrossProtocol(unittest.TestCase):
    def test_mqtt_publish_reaches_sse_and_http_publish_reaches_mqtt(self):
        with broker(http=True) as serve:
            port = port_of(serve)
            http = serve.url("http")
            with popen_rtx("sse", f"{http}/sse/news") as sse:
                deadline = time.monotonic() + 10
                got = None
                while got is None and time.monotonic() < deadline:
                    pub(port, "news", message="from-mqtt")
                    with contextlib.suppress(TimeoutError):
                        got = read_line(sse.stdout, timeout=0.5)
                self.assertEqual(got, b"from-mqtt\n")
            with sub(port, "news", fmt="%t %q %p") as s:
                request = urllib.request.Request(f"{http}/publish/news", data=b"from-http",
                                                 method="POST")
                with urllib.request.urlopen(request, timeout=5) as response:
                    self.assertLess(response.status, 300)
                self.assertEqual(lines(s, 1), ["news 0 from-http"])
            # The long-poll endpoint sees MQTT messages with their source.
            pub(port, "polled", "-q", "1", message="m")
            with urllib.request.urlopen(f"{http}/poll/polled?cursor=0", timeout=5) as response:
                body = response.read().decode()
            self.assertIn("m", body)


if __name__ == "__main__":
    unittest.main()
