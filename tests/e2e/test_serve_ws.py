"""rtx serve's WebSocket endpoints (/echo, /ws/{topic}), checked with a raw RFC 6455 peer
(wspeer.py), Debian's node-ws as an independent client, headless Chromium, and against the
HTTP endpoints of the same hub (rtx sse, curl)."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import unittest
import urllib.request
import zlib

from rtxtest import EXIT_OK, CheckedServe, RTX, Serve, read_line
from wspeer import (OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, Closed,
                    HandshakeError, WsPeer, close_payload, encode_frame)

HERE = os.path.dirname(os.path.abspath(__file__))


class ServeWs(CheckedServe):
    """rtx serve with only the HTTP port (http, ws, ws-echo lines); its stop must be clean:
    exit 0 and nothing on stderr (sanitizer builds report there)."""

    def __init__(self, *args):
        super().__init__("--no-tcp", "--http-port", "0", *args, expect=3)

    def echo(self):
        return self.url("ws-echo")

    def topic(self, name):
        return self.url("ws").replace("{topic}", name)


def publish(base, topic, payload):
    request = urllib.request.Request(f"{base}/publish/{topic}", data=payload, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class OneServeTest(unittest.TestCase):
    """Tests that share one rtx serve; connect() opens a raw peer on /echo (or `path`)."""

    @classmethod
    def setUpClass(cls):
        cls.serve = ServeWs().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.serve.__exit__(None, None, None)

    def connect(self, path=None, **kwargs):
        peer = WsPeer.connect(path or self.serve.echo(), **kwargs)
        self.addCleanup(peer.abort)
        return peer


class EchoTest(OneServeTest):

    def test_endpoint_lines_share_the_http_port(self):
        http = self.serve.url("http")
        port = http.rsplit(":", 1)[1]
        self.assertEqual(self.serve.url("ws"), f"ws://127.0.0.1:{port}/ws/{{topic}}")
        self.assertEqual(self.serve.url("ws-echo"), f"ws://127.0.0.1:{port}/echo")

    def test_text_and_binary_echo_keep_their_opcode(self):
        peer = self.connect()
        for opcode, payload in ((OP_TEXT, "héllo".encode()), (OP_BINARY, bytes(range(256))),
                                (OP_TEXT, b""), (OP_BINARY, b"")):
            peer.send_message(payload, opcode)
            self.assertEqual(peer.recv_message(), (opcode, payload))
        self.assertEqual(peer.close(), 1000)

    def test_16_mib_message_is_echoed_byte_exact(self):
        peer = self.connect()
        payload = os.urandom(16 * 1024 * 1024)
        peer.send_binary(payload)
        opcode, echoed = peer.recv_message()
        self.assertEqual(opcode, OP_BINARY)
        self.assertEqual(len(echoed), len(payload))
        self.assertTrue(echoed == payload)
        self.assertEqual(peer.close(), 1000)

    def test_fragmented_message_with_a_ping_between_the_fragments(self):
        peer = self.connect()
        peer.send_frame(OP_TEXT, b"frag", fin=False)
        peer.ping(b"in the middle")
        peer.send_frame(OP_CONTINUATION, b"men", fin=False)
        peer.send_frame(OP_CONTINUATION, b"ted", fin=True)
        pong = peer.recv_frame()
        self.assertEqual((pong.opcode, pong.payload), (OP_PONG, b"in the middle"))
        self.assertEqual(peer.recv_message(), (OP_TEXT, b"fragmented"))
        # A multi-byte UTF-8 character split between two fragments is fine.
        peer.send_frame(OP_TEXT, "é".encode()[:1], fin=False)
        peer.send_frame(OP_CONTINUATION, "é".encode()[1:], fin=True)
        self.assertEqual(peer.recv_message(), (OP_TEXT, "é".encode()))
        payload = os.urandom(300000)
        peer.send_binary(payload, fragment=65536)
        self.assertEqual(peer.recv_message(), (OP_BINARY, payload))

    def test_ping_is_answered_with_a_pong_carrying_its_payload(self):
        peer = self.connect()
        for payload in (b"", b"x" * 125):
            peer.ping(payload)
            frame = peer.recv_frame()
            self.assertEqual((frame.opcode, frame.payload, frame.fin), (OP_PONG, payload, True))
        peer.pong(b"unsolicited")  # ignored (RFC 6455 section 5.5.3)
        peer.send_text("still here")
        self.assertEqual(peer.recv_message(), (OP_TEXT, b"still here"))

    def test_echo_of_a_message_in_the_same_read_as_the_close_goes_out_first(self):
        # `echo hi | rtx ws .../echo`: the message and the close arrive together; RFC 6455
        # section 5.5.1 lets the server send the echo before answering the close.
        for extensions in (None, "permessage-deflate"):
            with self.subTest(extensions=extensions):
                peer = self.connect(extensions=extensions)
                peer.send_raw(encode_frame(OP_TEXT, b"hi") +
                              encode_frame(OP_CLOSE, close_payload(1000)))
                first = peer.recv_frame()
                self.assertEqual(first.opcode, OP_TEXT)
                self.assertEqual(peer.read_close(), 1000)

    def test_text_after_the_close_in_the_same_read_is_not_echoed(self):
        peer = self.connect()
        peer.send_raw(encode_frame(OP_CLOSE, close_payload(1000)) +
                      encode_frame(OP_TEXT, b"after close"))
        frame = peer.recv_frame()
        self.assertEqual((frame.opcode, frame.payload[:2]), (OP_CLOSE, b"\x03\xe8"))
        self.assertTrue(peer.read_eof())

    def test_large_compressed_echo_leaves_in_few_frames(self):
        # lws deflated into 1 KiB frames (one send() each, on a socket with Nagle on): a
        # 300 KiB message left as ~300 frames and took ~43 ms a round trip.
        peer = self.connect(extensions="permessage-deflate")
        self.assertIn("permessage-deflate", peer.response_headers["sec-websocket-extensions"])
        payload = os.urandom(300 * 1024)
        peer.send_binary(payload)  # uncompressed, as RFC 7692 allows
        frames = []
        while not frames or not frames[-1].fin:
            frames.append(peer.recv_frame())
        self.assertLessEqual(len(frames), 16, [len(f.payload) for f in frames])

    def test_close_is_answered_with_the_same_code(self):
        for code in (1000, 1001, 3000, 4999):
            with self.subTest(code=code):
                self.assertEqual(self.connect().close(code, "bye"), code)

    def test_protocol_violations_close_with_the_rfc_6455_code(self):
        cases = {
            "invalid UTF-8 in a text message": (1007, [(OP_TEXT, b"\xff\xfe", True, 0)]),
            "UTF-8 cut at the end of the message":
                (1007, [(OP_TEXT, b"ok", False, 0), (OP_CONTINUATION, b"\xc3", True, 0)]),
            "reserved opcode 3": (1002, [(0x3, b"x", True, 0)]),
            "reserved control opcode 0xB": (1002, [(0xB, b"", True, 0)]),
            "RSV1 without an extension": (1002, [(OP_TEXT, b"x", True, 4)]),
            "RSV2": (1002, [(OP_TEXT, b"x", True, 2)]),
            "RSV3 on a ping": (1002, [(OP_PING, b"", True, 1)]),
            "close with a 1-byte payload": (1002, [(OP_CLOSE, b"\x03", True, 0)]),
            "ping payload over 125 bytes": (1002, [(OP_PING, b"x" * 126, True, 0)]),
            "close payload over 125 bytes":
                (1002, [(OP_CLOSE, close_payload(1000, b"r" * 124), True, 0)]),
            "fragmented ping": (1002, [(OP_PING, b"x", False, 0)]),
            "continuation with no message started": (1002, [(OP_CONTINUATION, b"x", True, 0)]),
            "new message inside a fragmented one":
                (1002, [(OP_TEXT, b"a", False, 0), (OP_TEXT, b"b", True, 0)]),
            "close code 999": (1002, [(OP_CLOSE, close_payload(999), True, 0)]),
            "close code 1005": (1002, [(OP_CLOSE, close_payload(1005), True, 0)]),
            "close code 2000": (1002, [(OP_CLOSE, close_payload(2000), True, 0)]),
            "close reason not UTF-8": (1007, [(OP_CLOSE, close_payload(1000, b"\xff"), True, 0)]),
        }
        for name, (code, frames) in cases.items():
            with self.subTest(name):
                peer = self.connect()
                for opcode, payload, fin, rsv in frames:
                    peer.send_frame(opcode, payload, fin=fin, rsv=rsv)
                self.assertIn(peer.read_close(timeout=5), code if isinstance(code, tuple) else (code,))
                try:
                    peer.send_frame(OP_CLOSE, close_payload(1000))
                except OSError:
                    pass  # the server may hang up first
                self.assertTrue(peer.read_eof(timeout=10), "the server keeps the socket open")

    def test_plain_get_is_426_and_subprotocols_are_refused(self):
        base = self.serve.url("http")
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"{base}/echo", timeout=10)
        self.assertEqual(raised.exception.code, 426)
        with self.assertRaises(HandshakeError) as refused:
            WsPeer.connect(self.serve.echo(), protocols="chat")
        self.assertEqual(refused.exception.status, 400)
        with self.assertRaises(HandshakeError) as refused:
            WsPeer.connect(self.serve.topic(""))
        self.assertEqual(refused.exception.status, 400)

    def test_permessage_deflate_is_negotiated_when_offered(self):
        peer = self.connect(extensions="permessage-deflate; client_max_window_bits")
        self.assertIn("permessage-deflate", peer.response_headers["sec-websocket-extensions"])
        plain = self.connect()
        self.assertNotIn("sec-websocket-extensions", plain.response_headers)


def deflate(payload, wbits=-15):
    """permessage-deflate (RFC 7692 section 7.2.1): raw deflate, 00 00 FF FF removed."""
    compressor = zlib.compressobj(wbits=wbits)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]


class ServeConformanceTest(OneServeTest):
    """The RFC 6455 / RFC 7692 rules of issue 13 for `rtx serve`'s /echo and /ws/{topic},
    each with the exact bytes a raw peer sends in one write."""

    def endpoints(self):
        return (("echo", self.serve.echo()), ("topic", self.serve.topic("conformance")))

    def frames_until_close(self, peer):
        frames = []
        while not frames or frames[-1].opcode != OP_CLOSE:
            frames.append(peer.recv_frame())
        return frames

    def assert_fails(self, send, code, **kwargs):
        """Sends `send` in one write; the server closes with `code` and, once the peer
        answers its close, ends the TCP connection at once (not after lws's 5 s)."""
        peer = self.connect(**kwargs)
        peer.send_raw(send)
        frames = self.frames_until_close(peer)
        self.assertNotIn(OP_TEXT, [f.opcode for f in frames], "the bad message was echoed")
        self.assertEqual(int.from_bytes(frames[-1].payload[:2], "big"), code)
        answered = time.monotonic()
        try:
            peer.send_frame(OP_CLOSE, close_payload(code))
        except OSError:
            pass  # the server may have hung up already
        self.assertTrue(peer.read_eof(timeout=10), "the server keeps the socket open")
        return time.monotonic() - answered

    def test_ping_burst_in_one_write_gets_a_pong_each_in_order(self):
        for name, url in self.endpoints():
            with self.subTest(name):
                peer = self.connect(url)
                peer.send_raw(b"".join(encode_frame(OP_PING, b"p%d" % i) for i in range(10)) +
                              encode_frame(OP_CLOSE, close_payload(1000)))
                frames = self.frames_until_close(peer)
                self.assertEqual([f.payload for f in frames if f.opcode == OP_PONG],
                                 [b"p%d" % i for i in range(10)])
                self.assertTrue(peer.read_eof())

    def test_ping_with_the_last_fragment_is_answered_before_the_echo(self):
        peer = self.connect()
        peer.send_frame(OP_TEXT, b"frag1 ", fin=False)
        peer.send_raw(encode_frame(OP_PING, b"now") +
                      encode_frame(OP_CONTINUATION, b"frag2", fin=True))
        first, second = peer.recv_frame(), peer.recv_frame()
        self.assertEqual([(f.opcode, f.payload) for f in (first, second)],
                         [(OP_PONG, b"now"), (OP_TEXT, b"frag1 frag2")])

    def test_after_the_peers_close_nothing_but_the_answer(self):
        for name, url in self.endpoints():
            with self.subTest(name):
                peer = self.connect(url)
                peer.send_raw(encode_frame(OP_CLOSE, close_payload(4001, b"bye")) +
                              encode_frame(OP_TEXT, b"after close") + encode_frame(OP_PING, b"p") +
                              encode_frame(0x3, b"even a bad frame"))
                frames = self.frames_until_close(peer)
                self.assertEqual([(f.opcode, f.payload) for f in frames],
                                 [(OP_CLOSE, close_payload(4001))])
                self.assertTrue(peer.read_eof(timeout=5))

    def test_close_1002_ends_tcp_when_the_peer_answers_or_after_a_short_linger(self):
        waited = self.assert_fails(encode_frame(0x3, b"x"), 1002)
        self.assertLess(waited, 3, "lws waited 5 s for the close answer")
        # A peer that never answers: the server hangs up by itself after its linger.
        peer = self.connect()
        peer.send_raw(encode_frame(0x3, b"x"))
        self.assertEqual(peer.read_close(), 1002)
        started = time.monotonic()
        self.assertTrue(peer.read_eof(timeout=10))
        self.assertLess(time.monotonic() - started, 4.5)

    def test_invalid_utf8_fails_1007_even_inside_a_fragment(self):
        invalid = {
            "lone continuation": b"\x80", "truncated 2-byte": b"ab\xc3",
            "truncated 3-byte": b"\xe2\x82", "truncated 4-byte": b"\xf0\x9f\x98",
            "overlong /": b"\xc0\xaf", "overlong 3-byte": b"\xe0\x80\xaf",
            "overlong 4-byte": b"\xf0\x80\x80\xaf", "surrogate D800": b"\xed\xa0\x80",
            "surrogate DFFF": b"\xed\xbf\xbf", "above U+10FFFF": b"\xf4\x90\x80\x80",
            "F5 lead byte": b"\xf5\x80\x80\x80", "FF byte": b"\xff",
        }
        for name, payload in invalid.items():
            with self.subTest(name):
                self.assert_fails(encode_frame(OP_TEXT, payload), 1007)
        # Split across fragments; and found in the first fragment, without waiting for more.
        self.assert_fails(encode_frame(OP_TEXT, b"ok \xf0\x9f", fin=False) +
                          encode_frame(OP_CONTINUATION, b"\x98\x28"), 1007)
        self.assert_fails(encode_frame(OP_TEXT, b"ok \xed\xa0\x80 more", fin=False), 1007)
        # Inside a compressed message: found after inflating.
        self.assert_fails(encode_frame(OP_TEXT, deflate(b"ok \xed\xa0\x80"), rsv=4), 1007,
                          extensions="permessage-deflate")

    def test_close_codes_and_reasons(self):
        for bad in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
            with self.subTest(code=bad):
                self.assert_fails(encode_frame(OP_CLOSE, close_payload(bad)), 1002)
        for reason in (b"\xff", b"ok\xc3", b"\xed\xa0\x80"):
            with self.subTest(reason=reason):
                self.assert_fails(encode_frame(OP_CLOSE, close_payload(1000, reason)), 1007)
        for good in (1000, 1003, 1007, 1011, 1014, 3000, 4999):
            with self.subTest(code=good):
                self.assertEqual(self.connect().close(good, "é".encode()), good)

    def test_reserved_bits_with_and_without_a_negotiated_extension(self):
        self.assert_fails(encode_frame(OP_TEXT, deflate(b"x" * 100), rsv=4), 1002)
        deflated = {"extensions": "permessage-deflate"}
        self.assert_fails(encode_frame(OP_TEXT, b"ab", fin=False) +
                          encode_frame(OP_CONTINUATION, b"c", rsv=4), 1002, **deflated)
        self.assert_fails(encode_frame(OP_TEXT, b"bad", rsv=2), 1002, **deflated)
        self.assert_fails(encode_frame(OP_PING, b"", rsv=4), 1002, **deflated)
        # A compressed message split in fragments (RSV1 on the first only) is echoed.
        peer = self.connect(**deflated)
        text = b"compressed " * 200
        body = deflate(text)
        peer.send_raw(encode_frame(OP_TEXT, body[:10], fin=False, rsv=4) +
                      encode_frame(OP_CONTINUATION, body[10:]))
        frame = peer.recv_frame()
        self.assertEqual(frame.rsv, 4)
        self.assertEqual(zlib.decompressobj(wbits=-15).decompress(frame.payload + b"\0\0\xff\xff"),
                         text)

    def test_server_max_window_bits_and_no_context_takeover_are_honoured(self):
        peer = self.connect(extensions="permessage-deflate; server_max_window_bits=9; "
                                       "server_no_context_takeover")
        # A repeat 1000 bytes back, and the same message three times: a compressor with a
        # 15-bit window and context takeover would refer to both.
        block = os.urandom(500).hex().encode()
        text = block + block
        for _ in range(3):
            peer.send_text(text.decode())
            frame = peer.recv_frame()
            self.assertEqual(frame.rsv, 4)
            # A fresh 9-bit inflater per message reads it: no distance beyond 512 bytes, no
            # reference to an earlier message.
            self.assertEqual(zlib.decompressobj(wbits=-9).decompress(frame.payload + b"\0\0\xff\xff"),
                             text)

    def test_unmasked_frame_from_a_client_is_1002(self):
        self.assert_fails(encode_frame(OP_TEXT, b"unmasked", mask=False), 1002)

    def test_frame_header_over_the_limit_is_1009_at_once(self):
        with ServeWs("--ws-max-message", "1KiB") as serve:
            peer = WsPeer.connect(serve.echo())
            self.addCleanup(peer.abort)
            started = time.monotonic()
            peer.send_raw(bytes([0x82, 0xFF]) + (1 << 62).to_bytes(8, "big") + os.urandom(4))
            self.assertEqual(peer.read_close(), 1009)
            self.assertLess(time.monotonic() - started, 5)

    def test_frames_sent_with_the_upgrade_request_are_refused(self):
        # RFC 6455 section 4.1: a client waits for the 101 before it sends frames.
        import socket as socketlib
        port = int(self.serve.url("http").rsplit(":", 1)[1])
        with socketlib.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         b"Sec-WebSocket-Version: 13\r\n\r\n" + encode_frame(OP_TEXT, b"early"))
            data = b""
            sock.settimeout(10)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.assertIn(b" 101 ", data.split(b"\r\n", 1)[0])
            self.assertNotIn(b"early", data)
            body = data.split(b"\r\n\r\n", 1)[1]
            self.assertEqual(body[:1], b"\x88")  # a close frame (1002), and TCP ends


class PubSubTest(unittest.TestCase):
    def test_ws_clients_of_a_topic_get_every_message_including_their_own(self):
        with ServeWs() as serve:
            a = WsPeer.connect(serve.topic("room"))
            b = WsPeer.connect(serve.topic("room"))
            other = WsPeer.connect(serve.topic("elsewhere"))
            a.send_text("from a")
            b.send_binary(b"\x00from b")
            for peer in (a, b):
                self.assertEqual(peer.recv_message(), (OP_TEXT, b"from a"))
                self.assertEqual(peer.recv_message(), (OP_BINARY, b"\x00from b"))
            other.send_text("alone")
            self.assertEqual(other.recv_message(), (OP_TEXT, b"alone"))
            big = os.urandom(5 * 1024 * 1024)
            a.send_binary(big, fragment=1 << 20)
            for peer in (a, b):
                self.assertEqual(peer.recv_message(), (OP_BINARY, big))
            for peer in (a, b, other):
                self.assertEqual(peer.close(), 1000)

    def test_signal_room_relays_json_between_its_peers_only(self):
        # /signal/{room} (issue 14): a WebRTC signalling room. Each peer learns how many were
        # there before it (the second makes the offer), the others hear of joins and leaves,
        # and each JSON message goes to the room's other peers, as it came.
        with ServeWs("--signal-room-size", "2") as serve:
            room = serve.topic("x").replace("/ws/x", "/signal/r1")
            first = WsPeer.connect(room)
            self.assertEqual(json.loads(first.recv_message()[1]),
                             {"type": "welcome", "room": "r1", "peers": 0})
            second = WsPeer.connect(room)
            self.assertEqual(json.loads(second.recv_message()[1]),
                             {"type": "welcome", "room": "r1", "peers": 1})
            self.assertEqual(first.recv_message(), (OP_TEXT, b'{"type":"join"}'))
            elsewhere = WsPeer.connect(room.replace("/r1", "/r2"))
            self.assertEqual(json.loads(elsewhere.recv_message()[1])["peers"], 0)
            offer = '{"type":"offer","sdp":"v=0\\r\\n"}'
            second.send_text(offer)
            self.assertEqual(first.recv_message(), (OP_TEXT, offer.encode()))
            answer = '{"type": "answer", "sdp": "v=0"}'
            first.send_text(answer)
            self.assertEqual(second.recv_message(), (OP_TEXT, answer.encode()))
            first.send_text('{"type":"candidate","candidate":"candidate:1 1 UDP 1 127.0.0.1 9 '
                            'typ host"}')
            self.assertEqual(json.loads(second.recv_message()[1])["type"], "candidate")
            # The room is full: a third peer is refused before the upgrade.
            with self.assertRaises(HandshakeError) as refused:
                WsPeer.connect(room)
            self.assertEqual(refused.exception.status, 409)
            self.assertIn(b"--signal-room-size", refused.exception.body)
            # Not JSON, or no "type": closed 1007; binary: 1003. The other peer hears it leave.
            second.send_text("not json")
            self.assertEqual(second.read_close(timeout=5), 1007)
            self.assertEqual(first.recv_message(), (OP_TEXT, b'{"type":"leave"}'))
            again = WsPeer.connect(room)
            self.assertEqual(json.loads(again.recv_message()[1])["peers"], 1)
            self.assertEqual(first.recv_message(), (OP_TEXT, b'{"type":"join"}'))
            again.send_binary(b'{"type":"offer"}')
            self.assertEqual(again.read_close(timeout=5), 1003)
            self.assertEqual(first.recv_message(), (OP_TEXT, b'{"type":"leave"}'))
            self.assertEqual(first.close(), 1000)
            # The other room heard nothing of r1: the first frame after its welcome is the
            # answer to its close.
            elsewhere.send_frame(OP_CLOSE, close_payload(1000))
            self.assertEqual(elsewhere.recv_frame().opcode, OP_CLOSE)
            elsewhere.abort()
            for peer in (second, again):
                peer.abort()

    def test_cross_protocol_ws_to_sse_and_http_publish_to_ws(self):
        with ServeWs() as serve:
            base = serve.url("http")
            peer = WsPeer.connect(serve.topic("news"))
            sse = subprocess.Popen([RTX, "sse", f"{base}/sse/news"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
            try:
                # Until the SSE subscriber is attached: the publish reply counts subscribers.
                warmups = 0
                deadline = time.monotonic() + 10
                while True:
                    warmups += 1
                    if publish(base, "news", b"warm-up")["subscribers"] == 2:
                        break
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.05)
                for _ in range(warmups):
                    self.assertEqual(peer.recv_message(), (OP_TEXT, b"warm-up"))
                peer.send_text("from ws")
                self.assertEqual(peer.recv_message(), (OP_TEXT, b"from ws"))
                subprocess.run(["curl", "-sS", "-d", "from curl", f"{base}/publish/news"],
                               check=True, capture_output=True, timeout=10)
                self.assertEqual(peer.recv_message(), (OP_TEXT, b"from curl"))
                lines = []
                while len(lines) < 2:
                    line = read_line(sse.stdout, timeout=10).decode().rstrip("\n")
                    if line != "warm-up":
                        lines.append(line)
                self.assertEqual(lines, ["from ws", "from curl"])
            finally:
                sse.kill()
                sse.communicate()
            self.assertEqual(peer.close(), 1000)


class LimitsTest(unittest.TestCase):
    def test_message_over_max_message_is_closed_1009(self):
        with ServeWs("--ws-max-message", "1KiB") as serve:
            peer = WsPeer.connect(serve.echo())
            peer.send_binary(b"x" * 1024)
            self.assertEqual(peer.recv_message(), (OP_BINARY, b"x" * 1024))
            peer.send_binary(b"x" * 1025)
            self.assertEqual(peer.read_close(), 1009)
            fragmented = WsPeer.connect(serve.topic("t"))
            fragmented.send_binary(b"y" * 3000, fragment=600)
            self.assertEqual(fragmented.read_close(), 1009)

    def test_max_conns_refuses_the_next_upgrade_with_503(self):
        with ServeWs("--ws-max-conns", "2") as serve:
            first = WsPeer.connect(serve.echo())
            second = WsPeer.connect(serve.topic("t"))  # the limit spans both endpoints
            with self.assertRaises(HandshakeError) as refused:
                WsPeer.connect(serve.echo())
            self.assertEqual(refused.exception.status, 503)
            self.assertIn(b"--ws-max-conns", refused.exception.body)
            self.assertEqual(first.close(), 1000)
            deadline = time.monotonic() + 5
            while True:  # the server forgets the closed connection a moment later
                try:
                    third = WsPeer.connect(serve.echo())
                    break
                except HandshakeError:
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.05)
            third.send_text("in")
            self.assertEqual(third.recv_message(), (OP_TEXT, b"in"))
            self.assertEqual(second.close(), 1000)
            self.assertEqual(third.close(), 1000)

    def test_origin_check(self):
        with ServeWs("--ws-origin", "http://good.example", "--ws-origin",
                     "https://also.example:8443") as serve:
            for origin in ("http://good.example", "HTTP://GOOD.example",
                           "https://also.example:8443"):
                peer = WsPeer.connect(serve.echo(), origin=origin)
                self.assertEqual(peer.close(), 1000)
            for origin in ("http://evil.example", "http://good.example:80", None):
                with self.subTest(origin=origin), self.assertRaises(HandshakeError) as refused:
                    WsPeer.connect(serve.echo(), origin=origin)
                self.assertEqual(refused.exception.status, 403)
        with ServeWs() as serve:  # no --ws-origin: any origin, or none
            for origin in ("http://evil.example", None):
                self.assertEqual(WsPeer.connect(serve.echo(), origin=origin).close(), 1000)

    def test_no_ws_compress_does_not_negotiate_permessage_deflate(self):
        with ServeWs("--no-ws-compress") as serve:
            peer = WsPeer.connect(serve.echo(), extensions="permessage-deflate")
            self.assertNotIn("sec-websocket-extensions", peer.response_headers)
            peer.send_text("plain")
            self.assertEqual(peer.recv_message(), (OP_TEXT, b"plain"))
            self.assertEqual(peer.close(), 1000)

    def test_server_pings_quiet_clients_and_drops_those_that_do_not_answer(self):
        with ServeWs("--ws-ping-interval", "200ms") as serve:
            answering = WsPeer.connect(serve.echo())
            silent = WsPeer.connect(serve.echo())
            frames = []
            stop = threading.Event()

            def answer():  # the answering peer pongs every ping, meanwhile
                answering.sock.settimeout(0.1)
                while not stop.is_set():
                    try:
                        frame = answering.recv_frame()
                    except TimeoutError:
                        continue
                    frames.append(frame.opcode)
                    if frame.opcode == OP_PING:
                        answering.pong(frame.payload)

            thread = threading.Thread(target=answer)
            thread.start()
            try:
                started = time.monotonic()
                # The silent peer reads but never answers: pinged, then closed (1001) after
                # two or three intervals.
                silent.sock.settimeout(5)
                self.assertEqual(silent.recv_frame().opcode, OP_PING)
                with self.assertRaises(Closed) as closed:
                    silent.recv_message(auto_pong=False)
                self.assertEqual((closed.exception.code, closed.exception.reason),
                                 (1001, b"ping timeout"))
                self.assertTrue(silent.read_eof(timeout=5))
                self.assertLess(time.monotonic() - started, 3)
                time.sleep(0.5)
            finally:
                stop.set()
                thread.join()
            self.assertGreaterEqual(frames.count(OP_PING), 1)
            self.assertEqual(set(frames), {OP_PING})
            answering.sock.settimeout(10)
            answering.send_text("alive")
            self.assertEqual(answering.recv_message(), (OP_TEXT, b"alive"))
            self.assertEqual(answering.close(), 1000)

    def test_sigterm_closes_every_connection_with_1001(self):
        serve = ServeWs().__enter__()
        try:
            peers = [WsPeer.connect(serve.echo()), WsPeer.connect(serve.topic("a")),
                     WsPeer.connect(serve.topic("b"))]
            peers[0].send_text("before")
            self.assertEqual(peers[0].recv_message(), (OP_TEXT, b"before"))
            serve.proc.send_signal(signal.SIGTERM)
            for peer in peers:
                with self.assertRaises(Closed) as closed:
                    peer.recv_message()
                self.assertEqual(closed.exception.code, 1001)
                self.assertEqual(closed.exception.reason, b"going away")
                self.assertTrue(peer.read_eof())
            self.assertEqual(serve.proc.wait(timeout=10), EXIT_OK)
        finally:
            serve.__exit__(None, None, None)


@unittest.skipUnless(shutil.which("node") and os.path.isdir("/usr/share/nodejs/ws"),
                     "needs node and Debian's node-ws")
class NodeWsTest(unittest.TestCase):
    def node(self, *args):
        result = subprocess.run(["node", os.path.join(HERE, "ws_node_peer.js"), *args],
                                capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        return json.loads(result.stdout)

    def test_node_ws_echo_with_compression_and_binary(self):
        with ServeWs() as serve:
            seen = self.node("echo", serve.echo())
            self.assertEqual(seen["extensions"], ["permessage-deflate"])
            self.assertEqual([r["same"] for r in seen["results"]], [True, True, True])
            self.assertEqual([r["binary"] for r in seen["results"]], [False, False, True])

    def test_node_ws_fanout_between_two_clients(self):
        with ServeWs() as serve:
            seen = self.node("fanout", serve.topic("node"))
            self.assertEqual(seen, {"a": ["from a", [1, 2, 3]], "b": ["from a", [1, 2, 3]]})


if __name__ == "__main__":
    unittest.main()
