"""rtx ws against an independent WebSocket server: node's `ws` (Debian node-ws), run by
ws_peer.js on a free port. Each test starts the peer it needs and stops it."""

import base64
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from rtxtest import (EXIT_CONNECT, EXIT_OK, EXIT_TIMEOUT, EXIT_TLS, EXIT_USAGE, Serve,
                     free_port, popen_rtx, read_line, rtx, take_rest)
from test_tcp_tls import make_pki
import wspeer
from wspeer import (OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
                    close_payload, encode_frame)

EXIT_FAILURE = 1
EXIT_PROTOCOL = 6
EXIT_LOST = 7
EXIT_HTTP_STATUS = 8
EXIT_CLOSED_ABNORMALLY = 9
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ws_peer.js")


class WsPeer:
    """node ws_peer.js; .port, .events() (what the peer saw), stop()."""

    def __init__(self, *args):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(["node", PEER, *args], stdout=subprocess.PIPE,
                                     stderr=self.log)
        line = read_line(self.proc.stdout, timeout=15)
        if not line:
            raise RuntimeError("ws_peer.js did not start")
        self.port = int(line)

    def url(self, path, scheme="ws"):
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def events(self, wait_for=None, timeout=10):
        """The peer's JSON events; waits until one has event == wait_for."""
        deadline = time.monotonic() + timeout
        while True:
            self.log.seek(0)
            events = [json.loads(line) for line in self.log.read().splitlines() if line]
            if wait_for is None or any(e["event"] == wait_for for e in events):
                return events
            if time.monotonic() > deadline:
                raise TimeoutError(f"peer never logged {wait_for}: {events}")
            time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on a free port; .targets lists what was asked for."""

    def __init__(self):
        self.targets = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                threading.Thread(target=self.tunnel, args=(client,), daemon=True).start()

    def tunnel(self, client):
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = client.recv(4096)
            if not chunk:
                return
            request += chunk
        target = request.split(b"\r\n")[0].split()[1].decode()
        self.targets.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pump(src, dst):
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
                dst.shutdown(socket.SHUT_WR)

        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        pump(upstream, client)

    def close(self):
        self.listener.close()


class WsClientTest(unittest.TestCase):
    def test_through_an_http_connect_proxy(self):
        proxy = ConnectProxy()
        try:
            with WsPeer() as peer:
                result = rtx("ws", "--proxy", f"127.0.0.1:{proxy.port}", peer.url("/echo"),
                             input="tunnelled\n")
                self.assertEqual((result.returncode, result.stdout), (EXIT_OK, b"tunnelled\n"),
                                 result.stderr)
                self.assertEqual(proxy.targets, [f"127.0.0.1:{peer.port}"])
        finally:
            proxy.close()

    def test_lines_echo_with_compression_negotiated(self):
        with WsPeer() as peer:
            result = rtx("ws", "-v", peer.url("/echo"), input="hello\nworld\n")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertEqual(result.stdout, b"hello\nworld\n")
            self.assertIn(b"compression on (permessage-deflate)", result.stderr)
            connection = peer.events("close")[0]
            self.assertIn("permessage-deflate", connection["extensions"])
            self.assertEqual(peer.events("close")[-1]["code"], 1000)

    def test_no_compress_offers_no_extension(self):
        with WsPeer() as peer:
            result = rtx("ws", "-v", "--no-compress", peer.url("/echo"), input="x\n")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertIn(b"compression off", result.stderr)
            self.assertIsNone(peer.events("connection")[0]["extensions"])

    def test_binary_input_and_display(self):
        with WsPeer() as peer:
            hexed = rtx("ws", "--hex", "--binary-as", "hex", peer.url("/echo"),
                        input="deadbeef\n00ff\n")
            self.assertEqual(hexed.stdout, b"deadbeef\n00ff\n", hexed.stderr)
            b64 = rtx("ws", "--base64", peer.url("/echo"), input="3q2+7w==\n")
            self.assertEqual(b64.stdout, b"3q2+7w==\n")
            raw = rtx("ws", "--binary", "--json", peer.url("/echo"), input="abc\n")
            records = [json.loads(line) for line in raw.stdout.splitlines()]
            message = [r for r in records if r["event"] == "message"][0]
            self.assertEqual(message["opcode"], "binary")
            self.assertEqual(base64.b64decode(message["payload"]), b"abc")
            close = [r for r in records if r["event"] == "close"][0]
            self.assertEqual(close["code"], 1000)
            binaries = [e["binary"] for e in peer.events() if e["event"] == "message"]
            self.assertEqual(binaries, [True, True, True, True])

    def test_bad_hex_input_is_one_line_error(self):
        with WsPeer() as peer:
            result = rtx("ws", "--hex", peer.url("/echo"), input="zz\n")
            self.assertEqual(result.returncode, EXIT_FAILURE)
            self.assertIn(b"message 1 is not valid hex", result.stderr)

    def test_16_mib_message_round_trip(self):
        payload = os.urandom(16 * 1024 * 1024)
        line = base64.b64encode(payload) + b"\n"
        for flags in ([], ["--no-compress"]):
            with self.subTest(flags=flags), WsPeer() as peer:
                # The peer may take seconds to deflate 16 MiB: a long --linger waits for it.
                result = rtx("ws", "--base64", "--linger", "60s", *flags, peer.url("/echo"),
                             input=line, timeout=120)
                self.assertEqual(result.returncode, EXIT_OK, result.stderr)
                echoed = base64.b64decode(result.stdout.strip())
                self.assertEqual(hashlib.sha256(echoed).digest(), hashlib.sha256(payload).digest())

    def test_fragmented_message_with_ping_inside(self):
        with WsPeer() as peer:
            result = rtx("ws", "--no-stdin", peer.url("/fragments"))
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertEqual(result.stdout, b"frag1frag2end\n")

    def test_server_close_codes(self):
        cases = [("/close/1000", EXIT_OK), ("/close/1001", EXIT_OK),
                 ("/close/1008", EXIT_CLOSED_ABNORMALLY), ("/close/4001", EXIT_CLOSED_ABNORMALLY),
                 ("/drop", EXIT_LOST)]
        with WsPeer() as peer:
            for path, code in cases:
                with self.subTest(path=path):
                    result = rtx("ws", "--no-stdin", peer.url(path))
                    self.assertEqual(result.returncode, code, result.stderr)
                    self.assertEqual(result.stdout, b"hello\n")
                    if path.startswith("/close/"):
                        self.assertIn(path.split("/")[2].encode(), result.stderr)
                        self.assertIn(b"bye", result.stderr)
                    self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)

    def test_our_close_code_and_reason(self):
        with WsPeer() as peer:
            result = rtx("ws", "--close-code", "4001", "--close-reason", "done here",
                         peer.url("/echo"), input="x\n")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            close = peer.events("close")[-1]
            self.assertEqual((close["code"], close["reason"]), (4001, "done here"))
        self.assertEqual(rtx("ws", "--close-code", "1006", "ws://127.0.0.1:1/").returncode,
                         EXIT_USAGE)

    def test_http_status_instead_of_upgrade(self):
        with WsPeer() as peer:
            result = rtx("ws", "--no-stdin", peer.url("/status/403"))
            self.assertEqual(result.returncode, EXIT_HTTP_STATUS)
            self.assertIn(b"HTTP 403", result.stderr)

    def test_connect_refused(self):
        result = rtx("ws", "ws://127.0.0.1:1/", input="")
        self.assertEqual(result.returncode, EXIT_CONNECT)
        self.assertEqual(result.stdout, b"")
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)

    def test_connect_errors_say_what_rtx_tcp_says(self):
        # lws itself says only "closed before established"; the user needs the cause.
        for target, why in ((f"127.0.0.1:{free_port()}", b": connection refused"),
                            ("no-such-host.invalid:80", b": unknown host")):
            for scheme in ("ws", "wss"):
                with self.subTest(url=f"{scheme}://{target}/"):
                    tcp = rtx("tcp", target, input="")
                    ws = rtx("ws", f"{scheme}://{target}/", input="")
                    self.assertEqual(ws.returncode, EXIT_CONNECT, ws.stderr)
                    self.assertEqual(ws.stderr, tcp.stderr)
                    [line] = ws.stderr.decode().splitlines()
                    self.assertTrue(line.endswith(why.decode()), line)
                    self.assertNotRegex(line, r"  |\( | \)|\s$")

    def test_count_closes_after_n(self):
        with WsPeer() as peer:
            result = rtx("ws", "--no-stdin", "--count", "3", peer.url("/burst/10"))
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertEqual(result.stdout, b"0\n1\n2\n")

    def test_headers_origin_and_subprotocol(self):
        with WsPeer() as peer:
            result = rtx("ws", "-v", "--no-stdin", "--count", "1", "-H", "X-Extra: 42",
                         "--origin", "http://app.test", "--subprotocol", "chat.v1",
                         "--subprotocol", "chat.v2", peer.url("/headers"))
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            headers = json.loads(result.stdout)
            self.assertEqual(headers["x-extra"], "42")
            self.assertEqual(headers["origin"], "http://app.test")
            self.assertEqual(headers["sec-websocket-protocol"], "chat.v1, chat.v2")
            self.assertIn(b"subprotocol chat.v2", result.stderr)

    def test_ping_rtt_and_ping_timeout(self):
        with WsPeer() as peer:
            result = rtx("ws", "-v", "--no-stdin", "--ping-interval", "100ms", "--timeout",
                         "1500ms", peer.url("/echo"))
            self.assertEqual(result.returncode, EXIT_TIMEOUT)
            self.assertGreaterEqual(result.stderr.count(b"pong after"), 2, result.stderr)
            started = time.monotonic()
            silent = rtx("ws", "--no-stdin", "--ping-interval", "100ms", "--ping-timeout",
                         "300ms", peer.url("/silent"))
            self.assertEqual(silent.returncode, EXIT_TIMEOUT)
            self.assertIn(b"no pong within 300ms", silent.stderr)
            self.assertLess(time.monotonic() - started, 3)

    def test_max_message_closes_1009(self):
        with WsPeer() as peer:
            result = rtx("ws", "--max-message", "1KiB", "--no-close", peer.url("/echo"),
                         input="x" * 2000 + "\n")
            self.assertEqual(result.returncode, EXIT_PROTOCOL)
            self.assertIn(b"--max-message", result.stderr)
            self.assertEqual(peer.events("close")[-1]["code"], 1009)

    def test_echo_reflects_with_the_same_opcode(self):
        with WsPeer() as peer:
            result = rtx("ws", "--echo", "--no-stdin", "--json", peer.url("/reflect"))
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertIn(b"ok", result.stderr)
            close = [json.loads(line) for line in result.stdout.splitlines()][-1]
            self.assertEqual((close["event"], close["code"], close["by_peer"]),
                             ("close", 1000, True))

    def test_reconnect_resends_preamble_after_restart(self):
        peer = WsPeer()
        port = peer.port
        try:
            with popen_rtx("ws", "--reconnect", "--backoff-initial", "50ms", "--backoff-max",
                           "200ms", "--preamble", "subscribe", "--no-stdin", "--count", "2",
                           peer.url("/echo")) as client:
                self.assertEqual(read_line(client.stdout), b"subscribe\n")
                peer.stop()
                peer = WsPeer("--port", str(port))
                self.assertEqual(read_line(client.stdout, timeout=10), b"subscribe\n")
                self.assertEqual(client.wait(timeout=10), EXIT_OK)
        finally:
            peer.stop()

    def test_wss_verifies_with_cacert(self):
        with tempfile.TemporaryDirectory() as pki:
            make_pki(pki)
            with WsPeer("--tls", os.path.join(pki, "server.pem"),
                        os.path.join(pki, "server.key")) as peer:
                url = peer.url("/echo", scheme="wss")
                ok = rtx("ws", "--cacert", os.path.join(pki, "ca.pem"), url, input="secure\n")
                self.assertEqual((ok.returncode, ok.stdout), (EXIT_OK, b"secure\n"), ok.stderr)
                untrusted = rtx("ws", url, input="x\n")
                self.assertEqual(untrusted.returncode, EXIT_TLS, untrusted.stderr)
                insecure = rtx("ws", "-k", url, input="k\n")
                self.assertEqual(insecure.stdout, b"k\n", insecure.stderr)
                missing = rtx("ws", "--cacert", os.path.join(pki, "nope.pem"), url, input="")
                self.assertEqual(missing.returncode, EXIT_TLS)

    def test_sigint_sends_close_and_exits_130(self):
        with WsPeer() as peer:
            with popen_rtx("ws", "--no-stdin", peer.url("/echo")) as client:
                peer.events("connection")
                time.sleep(0.1)
                client.send_signal(signal.SIGINT)
                self.assertEqual(client.wait(timeout=10), 130)
            self.assertEqual(peer.events("close")[-1]["code"], 1000)


class WsClientAgainstServeTest(unittest.TestCase):
    """rtx ws against rtx serve's /echo and /ws/{topic} (same binary, separate process)."""

    def serve(self, *args):
        return Serve("--no-tcp", "--http-port", "0", *args, expect=3)

    def test_echo_text_binary_and_compression(self):
        with self.serve() as serve:
            url = serve.url("ws-echo")
            text = rtx("ws", "-v", "--count", "2", "--no-close", url, input="hello\nworld\n")
            self.assertEqual((text.returncode, text.stdout), (EXIT_OK, b"hello\nworld\n"),
                             text.stderr)
            self.assertIn(b"compression on (permessage-deflate)", text.stderr)
            # --count: rtx serve (lws) answers a close at once, before echoes still queued.
            plain = rtx("ws", "-v", "--no-compress", "--hex", "--binary-as", "hex", "--count",
                        "1", "--no-close", url, input="00ff10\n")
            self.assertEqual(plain.stdout, b"00ff10\n", plain.stderr)
            self.assertIn(b"compression off", plain.stderr)
        with self.serve("--no-ws-compress") as serve:
            refused = rtx("ws", "-v", serve.url("ws-echo"), input="x\n")
            self.assertIn(b"compression off (no extension negotiated)", refused.stderr)

    def test_16_mib_message(self):
        payload = os.urandom(16 * 1024 * 1024)
        with self.serve() as serve:
            result = rtx("ws", "--base64", "--count", "1", "--no-close", serve.url("ws-echo"),
                         input=base64.b64encode(payload) + b"\n", timeout=120)
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertEqual(hashlib.sha256(base64.b64decode(result.stdout.strip())).digest(),
                             hashlib.sha256(payload).digest())

    def test_ping_rtt_and_close_code_echoed(self):
        with self.serve() as serve:
            pinged = rtx("ws", "-v", "--no-stdin", "--ping-interval", "100ms", "--timeout",
                         "1500ms", serve.url("ws-echo"))
            self.assertEqual(pinged.returncode, EXIT_TIMEOUT)
            self.assertGreaterEqual(pinged.stderr.count(b"pong after"), 2, pinged.stderr)
            closed = rtx("ws", "--json", "--close-code", "4000", serve.url("ws-echo"),
                         input="x\n")
            self.assertEqual(closed.returncode, EXIT_OK, closed.stderr)
            record = json.loads(closed.stdout.splitlines()[-1])
            self.assertEqual((record["event"], record["code"]), ("close", 4000))

    def test_server_shutdown_closes_1001(self):
        with self.serve() as serve:
            with popen_rtx("ws", "-v", "--no-stdin", serve.url("ws-echo")) as client:
                # Stop the server once the client is connected (a sanitizer build takes a
                # few hundred milliseconds just to start).
                while b"connected to" not in read_line(client.stderr):
                    pass
                serve.stop()
                self.assertEqual(client.wait(timeout=10), EXIT_OK)
                self.assertIn(b"1001", take_rest(client.stderr) + client.stderr.read())

    def test_count_on_a_topic_and_cross_protocol_to_sse(self):
        with self.serve() as serve:
            topic_url = serve.url("ws").replace("{topic}", "news")
            sse_url = serve.url("http") + "/sse/news"
            with popen_rtx("sse", "--count", "2", sse_url) as sse, \
                    popen_rtx("ws", "--no-stdin", "--count", "2", topic_url) as listener:
                time.sleep(0.5)  # both subscribed
                sent = rtx("ws", "--no-close", "--timeout", "2s", topic_url,
                           input="first\nsecond\n")
                self.assertEqual(sent.stdout, b"first\nsecond\n")  # the sender gets its own
                self.assertEqual(listener.wait(timeout=10), EXIT_OK)
                self.assertEqual(listener.stdout.read(), b"first\nsecond\n")
                self.assertEqual(sse.wait(timeout=10), EXIT_OK)
                self.assertEqual(sse.stdout.read(), b"first\nsecond\n")

    def test_reconnect_with_preamble_after_serve_restarts(self):
        port = free_port()
        args = ("--no-tcp", "--http-port", str(port))
        serve = Serve(*args, expect=3).__enter__()
        try:
            url = serve.url("ws-echo")
            with popen_rtx("ws", "--reconnect", "--backoff-initial", "50ms", "--backoff-max",
                           "200ms", "--preamble", "auth token", "--no-stdin", "--count", "2",
                           url) as client:
                self.assertEqual(read_line(client.stdout), b"auth token\n")
                serve.stop()
                serve = Serve(*args, expect=3).__enter__()
                self.assertEqual(read_line(client.stdout, timeout=10), b"auth token\n")
                self.assertEqual(client.wait(timeout=10), EXIT_OK)
        finally:
            serve.stop()


class RawServer:
    """One WebSocket server connection for `rtx ws` to connect to, spoken byte by byte by
    wspeer (tests/e2e/wspeer.py). `start(*args, input=...)` runs rtx against it; `peer()`
    answers the handshake. Tests send exact bytes with `peer.send_raw(encode_frame(...,
    mask=False))`."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(15)
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/"

    def peer(self, headers=None):
        sock, _ = self.listener.accept()
        return wspeer.WsPeer.accept(sock, headers=headers, timeout=15)

    def close(self):
        self.listener.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def server_frame(opcode, payload=b"", fin=True, rsv=0, length=None, mask=False):
    """A frame as a server sends it (unmasked unless the test wants the violation)."""
    return encode_frame(opcode, payload, fin, rsv, mask, length)


def deflate_message(payload):
    """permessage-deflate (RFC 7692 section 7.2.1): raw deflate, 00 00 FF FF removed."""
    import zlib
    compressor = zlib.compressobj(wbits=-15)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


def inflate_message(data):
    import zlib
    return zlib.decompressobj(wbits=-15).decompress(data + b"\x00\x00\xff\xff")


class WsClientConformanceTest(unittest.TestCase):
    """RFC 6455 rules `rtx ws` must keep as a client (issues 12 and 13), against a raw peer
    sending exact bytes. Each scenario waits for rtx's first message ("go", from stdin)
    before it sends anything, so the bytes arrive after the handshake's read."""

    def session(self, *args, send=b"", headers=None, expect_go=True, stdin=b"go\n"):
        """Runs rtx ws against a raw peer: sends `send` after the peer has received "go";
        returns (completed rtx result, peer, frames the peer received after "go")."""
        with RawServer() as server, popen_rtx("ws", *args, server.url) as client:
            if stdin is not None:
                client.stdin.write(stdin)
                client.stdin.flush()
            peer = server.peer(headers=headers)
            try:
                if expect_go:
                    first = peer.recv_frame()
                    payload = inflate_message(first.payload) if first.rsv & 4 else first.payload
                    self.assertEqual((first.opcode, payload), (OP_TEXT, b"go"))
                if send:
                    peer.send_raw(send)
                frames = []
                peer.sock.settimeout(15)
                try:
                    while True:
                        frame = peer.recv_frame()
                        frames.append(frame)
                        if frame.opcode == OP_CLOSE:
                            break
                except wspeer.Closed:
                    pass
                if frames and frames[-1].opcode == OP_CLOSE:
                    # Answer the close and end TCP, as a server does (RFC 6455 7.1.1: the
                    # server closes first), so rtx does not wait out its linger for the FIN.
                    try:
                        peer.send_frame(OP_CLOSE, frames[-1].payload[:2])
                        peer.sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                client.stdin.close()
                code = client.wait(timeout=15)
                stdout = client.stdout.read()
                stderr = client.stderr.read()
            finally:
                peer.abort()
        return code, stdout, stderr, frames

    def close_code_of(self, frames):
        closes = [f for f in frames if f.opcode == OP_CLOSE]
        self.assertTrue(closes, f"no close frame from rtx: {frames}")
        payload = closes[0].payload
        return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None

    def assert_fails(self, send, close_code, *args, **kwargs):
        code, stdout, stderr, frames = self.session("--no-close", *args, send=send, **kwargs)
        self.assertEqual(code, EXIT_PROTOCOL, stderr)
        self.assertEqual(self.close_code_of(frames), close_code, stderr)
        self.assertNotIn(b"bad", stdout)
        self.assertEqual(len(stderr.splitlines()), 1, stderr)
        return stdout, stderr, frames

    def test_protocol_errors_send_1002_and_exit_6(self):
        cases = {
            "reserved opcode 3": server_frame(3, b"bad"),
            "reserved control opcode 0xB": server_frame(0xB, b"bad"),
            "RSV1 without an extension": server_frame(OP_TEXT, b"bad", rsv=4),
            "RSV2": server_frame(OP_TEXT, b"bad", rsv=2),
            "RSV3": server_frame(OP_TEXT, b"bad", rsv=1),
            "masked frame from a server": server_frame(OP_TEXT, b"bad", mask=True),
            "fragmented ping": server_frame(OP_PING, b"x", fin=False),
            "ping over 125 bytes": server_frame(OP_PING, b"x" * 126),
            "continuation without a start": server_frame(OP_CONTINUATION, b"bad"),
            "new message inside a fragmented one": server_frame(OP_TEXT, b"ba", fin=False) +
            server_frame(OP_TEXT, b"d"),
            "close with a one-byte payload": server_frame(OP_CLOSE, b"\x03"),
            "length with the top bit set": bytes([0x81, 127]) + b"\x80" + b"\x00" * 7,
        }
        for name, send in cases.items():
            with self.subTest(name):
                stdout, stderr, _ = self.assert_fails(send, 1002, "--no-compress")
                self.assertIn(b"protocol error", stderr)

    def test_invalid_close_codes_1002_and_reasons_1007(self):
        for bad in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
            with self.subTest(code=bad):
                self.assert_fails(server_frame(OP_CLOSE, close_payload(bad)), 1002)
        for reason in (b"\xff", b"ok\xc3", b"\xed\xa0\x80"):
            with self.subTest(reason=reason):
                self.assert_fails(server_frame(OP_CLOSE, close_payload(1000, reason)), 1007)
        # Allowed codes are answered and end the session as the server asked.
        for good, exit_code in ((1000, EXIT_OK), (1003, EXIT_CLOSED_ABNORMALLY),
                                (3000, EXIT_CLOSED_ABNORMALLY), (4999, EXIT_CLOSED_ABNORMALLY)):
            with self.subTest(code=good):
                code, _, stderr, frames = self.session(
                    "--no-close", send=server_frame(OP_CLOSE, close_payload(good, "é")))
                self.assertEqual(code, exit_code, stderr)
                self.assertEqual(self.close_code_of(frames), good)

    def test_invalid_utf8_fails_1007_at_the_bad_byte(self):
        invalid = {
            "lone continuation": b"\x80",
            "truncated 2-byte": b"ab\xc3",
            "truncated 3-byte": b"\xe2\x82",
            "truncated 4-byte": b"\xf0\x9f\x98",
            "overlong /": b"\xc0\xaf",
            "overlong 3-byte": b"\xe0\x80\xaf",
            "overlong 4-byte": b"\xf0\x80\x80\xaf",
            "surrogate D800": b"\xed\xa0\x80",
            "surrogate DFFF": b"\xed\xbf\xbf",
            "above U+10FFFF": b"\xf4\x90\x80\x80",
            "F5 lead byte": b"\xf5\x80\x80\x80",
            "FF byte": b"\xff",
        }
        for name, payload in invalid.items():
            with self.subTest(name):
                self.assert_fails(server_frame(OP_TEXT, payload), 1007)
            with self.subTest(name + ", with --echo: nothing echoed"):
                _, _, frames = self.assert_fails(server_frame(OP_TEXT, payload), 1007, "--echo")
                self.assertEqual([f.opcode for f in frames], [OP_CLOSE])
        # Split across fragments: the first fragment alone is a valid prefix.
        split = server_frame(OP_TEXT, b"ok \xf0\x9f", fin=False) + \
            server_frame(OP_CONTINUATION, b"\x98\x28", fin=True)
        self.assert_fails(split, 1007)
        # Fail fast: the bad byte is in the first fragment and the rest never comes.
        started = time.monotonic()
        self.assert_fails(server_frame(OP_TEXT, b"ok \xed\xa0\x80 more", fin=False), 1007)
        self.assertLess(time.monotonic() - started, 5)
        # Valid text split inside characters is fine.
        code, stdout, stderr, _ = self.session(
            send=server_frame(OP_TEXT, b"\xce", fin=False) +
            server_frame(OP_CONTINUATION, b"\xba\xf0\x9f", fin=False) +
            server_frame(OP_CONTINUATION, b"\x98\x80") + server_frame(OP_CLOSE, close_payload(1000)))
        self.assertEqual((code, stdout), (EXIT_OK, "κ😀\n".encode()), stderr)

    def test_frame_header_over_max_message_closes_1009_at_once(self):
        # 2^62 announced and nothing sent after it: refused at the header, not waited for.
        huge = bytes([0x82, 127]) + (1 << 62).to_bytes(8, "big")
        started = time.monotonic()
        _, stderr, _ = self.assert_fails(huge, 1009, "--max-message", "1KiB")
        self.assertIn(b"--max-message", stderr)
        self.assertLess(time.monotonic() - started, 5)
        self.assert_fails(bytes([0x81, 126]) + (2000).to_bytes(2, "big") + b"x" * 10, 1009,
                          "--max-message", "1KiB")
        # Fragments that add up to more than the limit.
        self.assert_fails(server_frame(OP_BINARY, b"x" * 600, fin=False) +
                          bytes([0x80, 126]) + (600).to_bytes(2, "big"), 1009,
                          "--max-message", "1KiB")

    def test_ping_burst_gets_a_pong_each_in_order(self):
        for args in ([], ["--echo"]):
            with self.subTest(args=args):
                burst = b"".join(server_frame(OP_PING, b"p%d" % i) for i in range(10))
                code, _, stderr, frames = self.session(
                    *args, "--no-close", send=burst + server_frame(OP_CLOSE, close_payload(1000)))
                self.assertEqual(code, EXIT_OK, stderr)
                pongs = [f.payload for f in frames if f.opcode == OP_PONG]
                self.assertEqual(pongs, [b"p%d" % i for i in range(10)])

    def test_ping_inside_a_fragmented_message_is_answered_before_the_echo(self):
        send = (server_frame(OP_TEXT, b"frag1 ", fin=False) + server_frame(OP_PING, b"now") +
                server_frame(OP_CONTINUATION, b"frag2"))
        code, stdout, stderr, frames = self.session(
            "--echo", "--no-close", send=send + server_frame(OP_CLOSE, close_payload(1000)))
        self.assertEqual(code, EXIT_OK, stderr)
        self.assertEqual(stdout, b"frag1 frag2\n")
        self.assertEqual([(f.opcode, f.payload) for f in frames[:2]],
                         [(OP_PONG, b"now"), (OP_TEXT, b"frag1 frag2")])

    def test_text_after_the_servers_close_is_ignored(self):
        send = server_frame(OP_CLOSE, close_payload(1000)) + server_frame(OP_TEXT, b"late")
        code, stdout, stderr, frames = self.session("--echo", "--no-close", send=send)
        self.assertEqual((code, stdout), (EXIT_OK, b""), stderr)
        self.assertEqual([f.opcode for f in frames], [OP_CLOSE])

    def test_rsv1_with_negotiated_permessage_deflate(self):
        headers = {"Sec-WebSocket-Extensions": "permessage-deflate"}
        text = "compressed ".encode() * 50
        code, stdout, stderr, _ = self.session(
            "--no-close", headers=headers,
            send=server_frame(OP_TEXT, deflate_message(text), rsv=4) +
            server_frame(OP_CLOSE, close_payload(1000)))
        self.assertEqual((code, stdout), (EXIT_OK, text + b"\n"), stderr)
        # Negotiated, RSV1 is still wrong on a continuation and RSV2 is never right.
        self.assert_fails(server_frame(OP_TEXT, b"ab", fin=False) +
                          server_frame(OP_CONTINUATION, b"c", rsv=4), 1002, headers=headers)
        self.assert_fails(server_frame(OP_TEXT, b"bad", rsv=2), 1002, headers=headers)
        # Compressed invalid UTF-8 is found after inflating.
        self.assert_fails(server_frame(OP_TEXT, deflate_message(b"ok \xed\xa0\x80"), rsv=4), 1007,
                          headers=headers)

    def test_commands_send_a_ping_and_a_chosen_close(self):
        code, _, stderr, frames = self.session(
            "--commands", stdin=b"go\n/ping hello\n/close 4000 bye\n")
        self.assertEqual(code, EXIT_OK, stderr)
        self.assertEqual([(f.opcode, f.payload) for f in frames],
                         [(OP_PING, b"hello"), (OP_CLOSE, close_payload(4000, "bye"))])
        # Off by default: the same lines are messages.
        code, _, stderr, frames = self.session(
            "--no-compress", stdin=b"go\n/ping hello\n",
            send=server_frame(OP_CLOSE, close_payload(1000)))
        self.assertEqual([(f.opcode, f.payload) for f in frames][0], (OP_TEXT, b"/ping hello"))


class WsClientCloseBoundTest(unittest.TestCase):
    def test_count_reached_against_a_server_that_streams_on_and_ignores_the_close(self):
        # A feed that keeps sending and never answers our close (a replay loop, a busy
        # ticker): after --count, what arrives is dropped and must not restart --linger, or
        # rtx would never exit. It once did restart it, and hung as long as the feed ran.
        with RawServer() as server, popen_rtx("ws", "--no-stdin", "-n", "3", "--linger", "1s",
                                              server.url) as client:
            peer = server.peer()
            stop = threading.Event()

            def stream():
                n = 0
                while not stop.is_set():
                    try:
                        peer.send_raw(server_frame(OP_TEXT, f"tick {n}".encode()))
                    except OSError:
                        return
                    n += 1
                    time.sleep(0.02)

            sender = threading.Thread(target=stream, daemon=True)
            sender.start()
            try:
                code = client.wait(timeout=60)
            finally:
                stop.set()
                sender.join(timeout=10)
                peer.abort()
            self.assertEqual(code, EXIT_OK, client.stderr.read())
            self.assertEqual(client.stdout.read(), b"tick 0\ntick 1\ntick 2\n")


class WsClientPipeEndTest(unittest.TestCase):
    """`echo hello | rtx ws URL/echo` (the README's example), no sleep in the pipe: at
    stdin's end the close frame goes out at once, and every echo the server sends before
    its close is printed (RFC 6455 section 5.5.1)."""

    def check(self, url, lines, *flags):
        text = "".join(f"line {i}\n" for i in range(lines))
        result = rtx("ws", *flags, url, input=text)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout.decode(), text)

    def test_against_rtx_serve(self):
        with Serve("--no-tcp", "--http-port", "0", expect=3) as serve:
            for lines in (1, 1000):
                for flags in ([], ["--no-compress"]):
                    for attempt in range(5 if lines == 1 else 1):
                        with self.subTest(lines=lines, flags=flags, attempt=attempt):
                            self.check(serve.url("ws-echo"), lines, *flags)

    def test_against_node_ws(self):
        with WsPeer() as peer:
            for lines in (1, 1000):
                for flags in ([], ["--no-compress"]):
                    with self.subTest(lines=lines, flags=flags):
                        self.check(peer.url("/echo"), lines, *flags)


if __name__ == "__main__":
    unittest.main()
