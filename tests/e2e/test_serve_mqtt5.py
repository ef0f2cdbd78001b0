"""The MQTT 5 features of `rtx serve` (issue 20): shared subscriptions, subscription
identifiers, server keep alive, server topic aliases, Receive Maximum, will delay against
session expiry. Each against Debian's mosquitto clients (-V 5) where they can say it, and the
raw client (tests/e2e/mqttraw.py) for the exact bytes and the edges."""

import contextlib
import signal
import subprocess
import time
import unittest

import mqttraw
from mqttraw import parse_publish5, prop_byte, prop_u16, prop_u32, prop_varint
from rtxtest import EXIT_USAGE, rtx as run_rtx
from test_serve_mqtt import MOSQ, broker, extra_lines, lines, port_of, pub, sub

SUB_ID, TOPIC_ALIAS, RECEIVE_MAX, SERVER_KEEP_ALIVE = 0x0B, 0x23, 0x21, 0x13
SUB_ID_AVAILABLE, SHARED_AVAILABLE = 0x29, 0x2A
SESSION_EXPIRY, WILL_DELAY, TOPIC_ALIAS_MAX = 0x11, 0x18, 0x22


def ids_of(publish):
    return [v for k, v in publish["props"] if k == SUB_ID]


def alias_of(publish):
    found = [v for k, v in publish["props"] if k == TOPIC_ALIAS]
    return found[0] if found else None


def read_publish(client):
    first, body = client.read_packet()
    assert first >> 4 == 3, f"not a PUBLISH: {first:#x} {body!r}"
    return parse_publish5(first, body)


def ping(client):
    """PINGREQ, and the PINGRESP: proof that nothing else was sent before it."""
    client.send(mqttraw.packet(0xC0, b""))
    return client.read_packet()


@unittest.skipUnless(MOSQ, "mosquitto-clients not installed")
class SharedSubscriptions(unittest.TestCase):
    def test_connack_announces_the_features(self):
        with broker() as serve, mqttraw.Client(port_of(serve)) as c:
            props = mqttraw.connack_properties(c.connect(client_id="features"))
            self.assertEqual(props[SHARED_AVAILABLE], 1)
            self.assertEqual(props[SUB_ID_AVAILABLE], 1)
            self.assertEqual(props[RECEIVE_MAX], 100)  # the default --mqtt-receive-max
            self.assertNotIn(SERVER_KEEP_ALIVE, props)  # none without --mqtt-keep-alive

    def test_each_message_goes_to_one_member_in_turn(self):
        with broker() as serve:
            port = port_of(serve)
            members = [sub(port, "$share/workers/jobs", args=("-q", "1"), fmt="%q %p")
                       for _ in range(3)]
            procs = [m.__enter__() for m in members]
            try:
                with sub(port, "$share/audit/jobs", fmt="%p") as auditor, \
                        sub(port, "jobs", fmt="%p") as plain:
                    for i in range(9):
                        pub(port, "jobs", "-q", "2", message=f"m{i}")
                    got = [lines(p, 3) for p in procs]
                    # Round robin: three each, QoS capped at the member's 1, no overlap.
                    for mine in got:
                        self.assertEqual(len(mine), 3)
                        self.assertTrue(all(line.startswith("1 ") for line in mine))
                    payloads = sorted(line.split()[1] for mine in got for line in mine)
                    self.assertEqual(payloads, sorted(f"m{i}" for i in range(9)))
                    # Another group, and an ordinary subscription, each get every message.
                    self.assertEqual(lines(auditor, 9), [f"m{i}" for i in range(9)])
                    self.assertEqual(lines(plain, 9), [f"m{i}" for i in range(9)])
                    for p in procs:
                        self.assertEqual(extra_lines(p, 0.3), [])
            finally:
                for m in members:
                    m.__exit__(None, None, None)

    def test_round_robin_order_and_leaving_the_group(self):
        with broker() as serve:
            port = port_of(serve)
            with mqttraw.Client(port) as a, mqttraw.Client(port) as b:
                for name, c in (("a", a), ("b", b)):
                    c.connect(client_id=f"rr-{name}")
                    c.send(mqttraw.subscribe("$share/g/rr/+", qos=1))
                    self.assertEqual(c.read_packet(), (0x90, b"\x00\x01\x00\x01"))
                for i in range(4):
                    pub(port, f"rr/{i}", message=f"{i}")
                for c, expected in ((a, [b"0", b"2"]), (b, [b"1", b"3"])):
                    got = [read_publish(c)["payload"] for _ in range(2)]
                    self.assertEqual(got, expected)
                    self.assertEqual(ping(c), (0xD0, b""))
                b.send(mqttraw.unsubscribe("$share/g/rr/+", packet_id=2))
                self.assertEqual(b.read_packet(), (0xB0, b"\x00\x02\x00\x00"))
                for i in range(2):
                    pub(port, "rr/x", message=f"solo{i}")
                self.assertEqual([read_publish(a)["payload"] for _ in range(2)],
                                 [b"solo0", b"solo1"])
                self.assertEqual(ping(b), (0xD0, b""))

    def test_no_retained_on_subscribe_and_retain_as_published(self):
        with broker() as serve:
            port = port_of(serve)
            pub(port, "kept", "-r", message="old")
            with mqttraw.Client(port) as c:
                c.connect(client_id="shared-retain")
                c.send(mqttraw.subscribe("$share/g/kept", options=0x08 | 1))  # RAP, QoS 1
                self.assertEqual(c.read_packet(), (0x90, b"\x00\x01\x00\x01"))
                self.assertEqual(ping(c), (0xD0, b""))  # no retained message (MQTT 4.8.2)
                pub(port, "kept", "-r", message="new")
                got = read_publish(c)
                self.assertEqual((got["payload"], got["retain"]), (b"new", True))

    def test_bad_share_filters_and_no_local(self):
        with broker() as serve, mqttraw.Client(port_of(serve)) as c:
            c.connect(client_id="bad-share")
            for i, bad in enumerate(("$share/g", "$share//t", "$share/g+/t", "$share/g/",
                                     "$share/g/a/#/b"), start=1):
                with self.subTest(filter=bad):
                    c.send(mqttraw.subscribe(bad, packet_id=i))
                    self.assertEqual(c.read_packet(), (0x90, bytes([0, i, 0, 0x8F])))
            # No Local on a shared subscription is a Protocol Error (MQTT-3.8.3-4).
            c.send(mqttraw.subscribe("$share/g/t", options=0x04, packet_id=9))
            self.assertEqual(c.closed(), [(0xE0, b"\x82")])

    def test_a_message_left_in_an_ending_session_goes_to_another_member(self):
        with broker() as serve:
            port = port_of(serve)
            with mqttraw.Client(port) as brief:  # session expiry 1 s
                brief.connect(client_id="brief", clean=False, props=prop_u32(SESSION_EXPIRY, 1))
                brief.send(mqttraw.subscribe("$share/g/orphan", qos=1))
                brief.read_packet()
            pub(port, "orphan", "-q", "1", message="kept")  # the only member: queued
            with mqttraw.Client(port) as other:
                other.connect(client_id="other")
                other.send(mqttraw.subscribe("$share/g/orphan", qos=1))
                other.read_packet()
                # When "brief" expires, its undelivered message goes to the group's next member.
                got = read_publish(other)
                self.assertEqual((got["payload"], got["qos"]), (b"kept", 1))

    def test_shared_and_ordinary_subscription_of_one_session_get_a_copy_each(self):
        with broker() as serve, mqttraw.Client(port_of(serve)) as c:
            c.connect(client_id="both")
            c.send(mqttraw.subscribe("$share/g/both", packet_id=1))
            c.read_packet()
            c.send(mqttraw.subscribe("both", packet_id=2))
            c.read_packet()
            pub(port_of(serve), "both", message="x")
            self.assertEqual([read_publish(c)["payload"] for _ in range(2)], [b"x", b"x"])
            self.assertEqual(ping(c), (0xD0, b""))

    def test_absent_member_is_skipped_and_later_gets_its_queued_messages(self):
        with broker() as serve:
            port = port_of(serve)
            expiry = prop_u32(SESSION_EXPIRY, 60)
            with mqttraw.Client(port) as away:
                away.connect(client_id="away", clean=False, props=expiry)
                away.send(mqttraw.subscribe("$share/g/q", qos=1))
                away.read_packet()
            with mqttraw.Client(port) as here:
                here.connect(client_id="here", version=4)  # 3.1.1 members are welcome too
                here.send(mqttraw.subscribe("$share/g/q", qos=1, version=4))
                self.assertEqual(here.read_packet(), (0x90, b"\x00\x01\x01"))
                for i in range(3):
                    pub(port, "q", "-q", "1", message=f"{i}")
                got = []
                for _ in range(3):
                    first, body = here.read_packet()
                    got.append(mqttraw.parse_publish(first, body, 4)[2])
                    here.send(mqttraw.packet(0x40, body[3:5]))  # PUBACK
                self.assertEqual(got, [b"0", b"1", b"2"])
            # The connected member has gone (clean session): the absent one's turn, queued.
            pub(port, "q", "-q", "1", message="queued")
            with mqttraw.Client(port) as away:
                self.assertEqual(away.connect(client_id="away", clean=False, props=expiry)[0], 1)
                self.assertEqual(read_publish(away)["payload"], b"queued")


@unittest.skipUnless(MOSQ, "mosquitto-clients not installed")
class SubscriptionIdentifiers(unittest.TestCase):
    def test_overlapping_subscriptions_one_copy_with_every_identifier(self):
        with broker() as serve, mqttraw.Client(port_of(serve)) as c:
            port = port_of(serve)
            c.connect(client_id="ids")
            c.send(mqttraw.subscribe("a/+", packet_id=1, props=prop_varint(SUB_ID, 7)))
            c.read_packet()
            c.send(mqttraw.subscribe("a/b", packet_id=2, props=prop_varint(SUB_ID, 268435455)))
            c.read_packet()
            c.send(mqttraw.subscribe("#", packet_id=3))  # no identifier
            c.read_packet()
            pub(port, "a/b", message="both")
            got = read_publish(c)
            self.assertEqual((got["topic"], got["payload"]), ("a/b", b"both"))
            self.assertEqual(sorted(ids_of(got)), [7, 268435455])
            self.assertEqual(ping(c), (0xD0, b""))  # one copy, not three
            pub(port, "a/c", message="one")
            self.assertEqual(ids_of(read_publish(c)), [7])
            pub(port, "z", message="none")
            self.assertEqual(ids_of(read_publish(c)), [])
            # Subscribing again without an identifier removes it (MQTT 3.8.4).
            c.send(mqttraw.subscribe("a/+", packet_id=4))
            c.read_packet()
            pub(port, "a/c", message="gone")
            self.assertEqual(ids_of(read_publish(c)), [])

    def test_retained_and_resent_messages_carry_the_identifier(self):
        with broker() as serve:
            port = port_of(serve)
            pub(port, "ret/x", "-r", "-q", "1", message="stored")
            expiry = prop_u32(SESSION_EXPIRY, 60)
            with mqttraw.Client(port) as c:
                c.connect(client_id="ids-retry", clean=False, props=expiry)
                c.send(mqttraw.subscribe("ret/#", qos=1, props=prop_varint(SUB_ID, 42)))
                self.assertEqual(c.read_packet(), (0x90, b"\x00\x01\x00\x01"))
                got = read_publish(c)
                self.assertEqual((got["payload"], got["retain"], ids_of(got)),
                                 (b"stored", True, [42]))
                # Never acknowledged: resent on the next connection, with DUP and the id.
            with mqttraw.Client(port) as c:
                c.connect(client_id="ids-retry", clean=False, props=expiry)
                got = read_publish(c)
                self.assertEqual((got["payload"], got["dup"], ids_of(got)), (b"stored", True, [42]))

    def test_shared_subscription_identifier(self):
        with broker() as serve, mqttraw.Client(port_of(serve)) as c:
            c.connect(client_id="shared-id")
            c.send(mqttraw.subscribe("$share/g/sid", props=prop_varint(SUB_ID, 3)))
            c.read_packet()
            pub(port_of(serve), "sid", message="x")
            self.assertEqual(ids_of(read_publish(c)), [3])

    def test_protocol_errors(self):
        cases = [
            # Two identifiers in one SUBSCRIBE, and identifier 0.
            (prop_varint(SUB_ID, 1) + prop_varint(SUB_ID, 2), [(0xE0, b"\x82")]),
            (prop_varint(SUB_ID, 0), [(0xE0, b"\x82")]),
        ]
        with broker() as serve:
            for i, (props, expected) in enumerate(cases):
                with self.subTest(case=i), mqttraw.Client(port_of(serve)) as c:
                    c.connect(client_id=f"bad-id{i}")
                    c.send(mqttraw.subscribe("t", props=props))
                    self.assertEqual(c.closed(), expected)
            # A client may not send one in PUBLISH.
            with mqttraw.Client(port_of(serve)) as c:
                c.connect(client_id="bad-id-pub")
                c.send(mqttraw.publish("t", b"x", props=prop_varint(SUB_ID, 1)))
                self.assertEqual(c.closed(), [(0xE0, b"\x82")])

    def test_mosquitto_sub_with_an_identifier_gets_its_messages(self):
        # Before issue 20 the broker disconnected such a SUBSCRIBE with 0xA1.
        with broker() as serve:
            port = port_of(serve)
            with sub(port, "sid/#", args=("-D", "subscribe", "subscription-identifier", "5"),
                     fmt="%t %p") as s:
                pub(port, "sid/a", message="hello")
                self.assertEqual(lines(s, 1), ["sid/a hello"])


@unittest.skipUnless(MOSQ, "mosquitto-clients not installed")
class ServerKeepAlive(unittest.TestCase):
    def test_announced_and_enforced_at_one_and_a_half(self):
        with broker("--mqtt-keep-alive", "1s") as serve:
            port = port_of(serve)
            for keepalive in (60, 0):  # the client's own value does not matter
                with self.subTest(keepalive=keepalive), mqttraw.Client(port) as c:
                    props = mqttraw.connack_properties(
                        c.connect(client_id=f"ska{keepalive}", keepalive=keepalive))
                    self.assertEqual(props[SERVER_KEEP_ALIVE], 1)
                    start = time.monotonic()
                    self.assertEqual(c.closed(timeout=6), [(0xE0, b"\x8d")])
                    elapsed = time.monotonic() - start
                    self.assertGreater(elapsed, 1.3)
                    self.assertLess(elapsed, 4)  # 1.5 s, plus slack for a loaded machine
            # MQTT 3.1.1 cannot be told: its own keep alive stays (0: none), as before.
            with mqttraw.Client(port) as c:
                self.assertEqual(c.connect(client_id="old", version=4, keepalive=0), b"\x00\x00")
                time.sleep(2)
                self.assertEqual(ping(c), (0xD0, b""))

    def test_mosquitto_sub_adopts_it_and_stays(self):
        # mosquitto_sub asks for 60 s; told 1 s, it pings every second and is never dropped.
        with broker("--mqtt-keep-alive", "1s") as serve:
            port = port_of(serve)
            with sub(port, "alive", args=("-k", "60"), fmt="%p") as s:
                time.sleep(3)
                pub(port, "alive", message="still")
                self.assertEqual(lines(s, 1), ["still"])
                self.assertIsNone(s.poll())

    def test_zero_means_no_keep_alive(self):
        with broker("--mqtt-keep-alive", "0") as serve, mqttraw.Client(port_of(serve)) as c:
            props = mqttraw.connack_properties(c.connect(client_id="zero", keepalive=1))
            self.assertEqual(props[SERVER_KEEP_ALIVE], 0)
            time.sleep(2)  # past 1.5 x the client's 1 s: not enforced
            self.assertEqual(ping(c), (0xD0, b""))

    def test_bad_values_are_usage_errors(self):
        for args in (("--mqtt-keep-alive", "1500ms"), ("--mqtt-keep-alive", "65536s"),
                     ("--mqtt-receive-max", "0"), ("--mqtt-receive-max", "65536")):
            with self.subTest(args=args):
                result = run_rtx("serve", "--no-tcp", "--no-http", "--mqtt-port", "0", *args)
                self.assertEqual(result.returncode, EXIT_USAGE)
                self.assertIn(args[0].encode(), result.stderr)


@unittest.skipUnless(MOSQ, "mosquitto-clients not installed")
class TopicAliases(unittest.TestCase):
    def test_aliases_within_the_clients_maximum(self):
        with broker() as serve:
            port = port_of(serve)
            with mqttraw.Client(port) as c:
                c.connect(client_id="alias", props=prop_u16(TOPIC_ALIAS_MAX, 2))
                c.send(mqttraw.subscribe("t/#"))
                c.read_packet()
                sent = ["t/a", "t/a", "t/b", "t/c", "t/a", "t/c", "t/b"]
                for i, topic in enumerate(sent):
                    pub(port, topic, message=str(i))
                got = [read_publish(c) for _ in sent]
                self.assertEqual([g["payload"] for g in got],
                                 [str(i).encode() for i in range(len(sent))])
                # (topic on the wire, alias): named once, then the alias alone; past the
                # maximum of 2, t/c goes by name every time.
                self.assertEqual([(g["topic"], alias_of(g)) for g in got],
                                 [("t/a", 1), ("", 1), ("t/b", 2), ("t/c", None), ("", 1),
                                  ("t/c", None), ("", 2)])
            with mqttraw.Client(port) as c:  # a new connection starts over
                c.connect(client_id="alias", props=prop_u16(TOPIC_ALIAS_MAX, 2))
                c.send(mqttraw.subscribe("t/#"))
                c.read_packet()
                pub(port, "t/c", message="x")
                got = read_publish(c)
                self.assertEqual((got["topic"], alias_of(got)), ("t/c", 1))

    def test_no_aliases_without_a_maximum(self):
        with broker() as serve, mqttraw.Client(port_of(serve)) as c:
            c.connect(client_id="noalias")
            c.send(mqttraw.subscribe("n"))
            c.read_packet()
            for _ in range(2):
                pub(port_of(serve), "n", message="x")
                got = read_publish(c)
                self.assertEqual((got["topic"], alias_of(got)), ("n", None))

    # mosquitto_sub cannot say it: libmosquitto refuses a PUBLISH whose topic is only an
    # alias (a protocol error to it), so its -D connect topic-alias-maximum is not usable.


@unittest.skipUnless(MOSQ, "mosquitto-clients not installed")
class ReceiveMaximum(unittest.TestCase):
    def test_announced_and_enforced_with_0x93(self):
        with broker("--mqtt-receive-max", "2") as serve:
            port = port_of(serve)
            with mqttraw.Client(port) as c:
                props = mqttraw.connack_properties(c.connect(client_id="greedy"))
                self.assertEqual(props[RECEIVE_MAX], 2)
                for packet_id in (1, 2):  # two QoS 2 exchanges left open (no PUBREL)
                    c.send(mqttraw.publish("rm", b"x", qos=2, packet_id=packet_id))
                    self.assertEqual(c.read_packet()[0], 0x50)
                c.send(mqttraw.publish("rm", b"qos0"))  # QoS 0 does not count
                c.send(mqttraw.packet(0x62, b"\x00\x01"))  # PUBREL: one slot free again
                self.assertEqual(c.read_packet()[0], 0x70)
                c.send(mqttraw.publish("rm", b"x", qos=1, packet_id=3))
                self.assertEqual(c.read_packet()[0], 0x40)  # PUBACK: 2 in flight at most
                c.send(mqttraw.publish("rm", b"x", qos=2, packet_id=4))
                self.assertEqual(c.read_packet()[0], 0x50)
                c.send(mqttraw.publish("rm", b"x", qos=1, packet_id=5))  # a third
                self.assertEqual(c.closed(), [(0xE0, b"\x93")])
            # MQTT 3.1.1 has no Receive Maximum: not enforced, as before.
            with mqttraw.Client(port) as c:
                c.connect(client_id="old", version=4)
                for packet_id in range(1, 6):
                    c.send(mqttraw.publish("rm", b"x", version=4, qos=2, packet_id=packet_id))
                    self.assertEqual(c.read_packet(), (0x50, bytes([0, packet_id])))

    def test_mosquitto_pub_keeps_within_it(self):
        with broker("--mqtt-receive-max", "2") as serve:
            port = port_of(serve)
            n = 60
            with sub(port, "window", args=("-q", "2"), fmt="%p") as s:
                feed = "".join(f"{i}\n" for i in range(n))
                subprocess.run(["mosquitto_pub", "-V", "5", "-p", str(port), "-t", "window",
                                "-q", "2", "-l"], input=feed.encode(), check=True, timeout=20)
                self.assertEqual(lines(s, n, timeout=15), [str(i) for i in range(n)])


@unittest.skipUnless(MOSQ, "mosquitto-clients not installed")
class WillDelayAndSessionExpiry(unittest.TestCase):
    """The will goes at the earlier of its delay and the session's end (MQTT 3.1.3.2.2)."""

    @contextlib.contextmanager
    def watching(self):
        """A broker, and a subscriber that prints the wills (payload: the client id)."""
        with broker() as serve:
            port = port_of(serve)
            with sub(port, "wills", fmt="%p") as watcher:
                yield port, watcher

    def will_client(self, port, cid, delay, expiry, **kwargs):
        c = mqttraw.Client(port)
        props = prop_u32(SESSION_EXPIRY, expiry) if expiry is not None else b""
        c.connect(client_id=cid, clean=kwargs.pop("clean", True), props=props,
                  will_topic="wills", will_payload=cid.encode(),
                  will_props=prop_u32(WILL_DELAY, delay))
        return c

    def assert_will_after(self, watcher, cid, low, high):
        start = time.monotonic()
        self.assertEqual(lines(watcher, 1, timeout=high + 2), [cid])
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, low)
        self.assertLess(elapsed, high)

    def test_session_ending_first_sends_the_will(self):
        with self.watching() as (port, watcher):
            # Delay 30 s, session 1 s: the will at the session's end.
            self.will_client(port, "short-session", 30, 1).close()
            self.assert_will_after(watcher, "short-session", 0.7, 4)
            # Session expiry 0 (absent): the session ends with the connection.
            self.will_client(port, "no-session", 30, None).close()
            self.assert_will_after(watcher, "no-session", 0, 2)

    def test_delay_first_sends_the_will_and_the_session_stays(self):
        with self.watching() as (port, watcher):
            self.will_client(port, "short-delay", 1, 60, clean=False).close()
            self.assert_will_after(watcher, "short-delay", 0.7, 4)
            with mqttraw.Client(port) as c:  # the session outlived its will
                self.assertEqual(c.connect(client_id="short-delay", clean=False)[0], 1)

    def test_disconnect_changes(self):
        with self.watching() as (port, watcher):
            # DISCONNECT 0x04 with Session Expiry 0: the session ends now, so the will.
            c = self.will_client(port, "ends-now", 30, 60)
            c.send(mqttraw.packet(0xE0, b"\x04" + mqttraw.varint(5) +
                                  prop_u32(SESSION_EXPIRY, 0)))
            self.assertEqual(c.closed(), [])
            c.close()
            self.assert_will_after(watcher, "ends-now", 0, 2)
            # DISCONNECT 0x04 alone: the will after its delay.
            c = self.will_client(port, "asked", 1, 60)
            c.send(mqttraw.packet(0xE0, b"\x04"))
            c.closed()
            c.close()
            self.assert_will_after(watcher, "asked", 0.7, 4)

    def test_reconnect_within_the_delay(self):
        with self.watching() as (port, watcher):
            # Clean start 0: the session goes on, the will is cancelled.
            self.will_client(port, "resumes", 2, 60, clean=False).close()
            time.sleep(0.3)
            with mqttraw.Client(port) as c:
                self.assertEqual(c.connect(client_id="resumes", clean=False)[0], 1)
                self.assertEqual(extra_lines(watcher, 2.7), [])
            # Clean start 1 ends the old session, and with it comes the will, at once.
            self.will_client(port, "restarts", 30, 60).close()
            time.sleep(0.3)
            with mqttraw.Client(port) as c:
                c.connect(client_id="restarts", clean=True)
                self.assert_will_after(watcher, "restarts", 0, 2)

    def test_mosquitto_sub_killed_with_a_will_delay_longer_than_its_session(self):
        with self.watching() as (port, watcher):
            with sub(port, "x", args=("-i", "mosq-will", "-x", "1", "--will-topic", "wills",
                                      "--will-payload", "mosq-will", "-D", "will",
                                      "will-delay-interval", "30")) as victim:
                victim.send_signal(signal.SIGKILL)
                victim.wait()
            self.assert_will_after(watcher, "mosq-will", 0.7, 4)


if __name__ == "__main__":
    unittest.main()
