"""curl's habits on the HTTP clients (issue 16): -i, -o, --resolve, -b/-c, --compressed and
--http2-prior-knowledge on `rtx stream`, `rtx sse` and `rtx poll` (and --resolve on
`rtx push send`), against a scripted Python http.server peer, `rtx serve` and nghttpd (h2c)."""
import contextlib
import gzip
import zlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from httppeer import Peer
from rtxtest import EXIT_OK, EXIT_USAGE, Serve, free_port, rtx


class IncludeOutputTest(unittest.TestCase):
    def setUp(self):
        self.peer = Peer()
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.peer.close()
        self.tmp.cleanup()

    def test_include_writes_the_head_before_the_body(self):
        self.peer.routes["/s"] = lambda request, writer: writer.full(
            200, "body line\n", {"X-Test": "yes"})
        result = rtx("stream", "-i", self.peer.url("/s"))
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        head, _, body = result.stdout.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), result.stdout)
        self.assertIn(b"\r\nX-Test: yes", head)
        self.assertIn(b"\r\nContent-Length: 10", head)
        self.assertEqual(body, b"body line\n")
        # Without -i only the body, as before.
        self.assertEqual(rtx("stream", self.peer.url("/s")).stdout, b"body line\n")

    def test_include_shows_interim_1xx_heads_too(self):
        # 103 Early Hints, then the response, as curl -i prints them: each head in order.
        early = (b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        final = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
                 b"Connection: close\r\n\r\n")
        self.peer.routes["/h"] = lambda request, writer: writer.raw(early + final + b"hello\n")
        result = rtx("stream", "-i", self.peer.url("/h"))
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, early + final + b"hello\n")
        # Without -i: the body only.
        self.assertEqual(rtx("stream", self.peer.url("/h")).stdout, b"hello\n")

    def test_include_on_sse_and_on_each_poll(self):
        def events(request, writer):
            writer.head(200, {"Content-Type": "text/event-stream", "X-Stream": "1"},
                        chunked=True)
            writer.chunk("data: one\n\n")
            writer.end()
        self.peer.routes["/e"] = events
        result = rtx("sse", "-i", "--count", "1", self.peer.url("/e"))
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertTrue(result.stdout.startswith(b"HTTP/1.1 200 OK\r\n"), result.stdout)
        self.assertIn(b"X-Stream: 1\r\n", result.stdout)
        self.assertTrue(result.stdout.endswith(b"\r\n\r\none\n"), result.stdout)

        state = {"n": 0}

        def poll(request, writer):
            state["n"] += 1
            writer.full(200, f"poll {state['n']}\n", {"X-Poll": str(state["n"])})
        self.peer.routes["/p"] = poll
        result = rtx("poll", "-i", "--count", "2", "--interval", "10ms", self.peer.url("/p"))
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        parts = result.stdout.split(b"\r\n\r\n")
        self.assertEqual(len(parts), 3, result.stdout)
        self.assertIn(b"X-Poll: 1", parts[0])
        self.assertTrue(parts[1].startswith(b"poll 1\nHTTP/1.1 200 OK\r\n"), parts[1])
        self.assertIn(b"X-Poll: 2", parts[1])
        self.assertEqual(parts[2], b"poll 2\n")

    def test_include_with_json_is_a_usage_error(self):
        result = rtx("stream", "-i", "--json", self.peer.url("/s"))
        self.assertEqual(result.returncode, EXIT_USAGE)
        self.assertEqual(result.stdout, b"")
        self.assertEqual(len(result.stderr.decode().strip().splitlines()), 1, result.stderr)

    def test_output_file_takes_what_stdout_would_have(self):
        self.peer.routes["/s"] = lambda request, writer: writer.full(200, "to the file\n")
        path = os.path.join(self.tmp.name, "out.txt")
        with open(path, "w") as f:
            f.write("old content that is longer than the body\n")
        result = rtx("stream", "-o", path, "-i", self.peer.url("/s"))
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"")
        with open(path, "rb") as f:
            written = f.read()
        self.assertTrue(written.startswith(b"HTTP/1.1 200 OK\r\n"), written)
        self.assertTrue(written.endswith(b"\r\n\r\nto the file\n"), written)

    def test_output_file_that_cannot_be_written(self):
        path = os.path.join(self.tmp.name, "no", "such", "dir", "out.txt")
        result = rtx("stream", "-o", path, self.peer.url("/s"))
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, b"")
        lines = result.stderr.decode().strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn("-o: cannot write", lines[0])
        self.assertEqual(self.peer.requests, [])


class ResolveTest(unittest.TestCase):
    def test_resolve_connects_a_name_to_an_address_and_keeps_the_host(self):
        peer = Peer()
        try:
            peer.routes["/s"] = lambda request, writer: writer.full(200, "resolved\n")
            name = f"rtx-test.invalid:{peer.port}"
            result = rtx("stream", "--resolve", f"{name}:127.0.0.1", f"http://{name}/s")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertEqual(result.stdout, b"resolved\n")
            self.assertEqual(peer.requests[0].headers["host"], name)
        finally:
            peer.close()

    def test_push_send_takes_resolve_too(self):
        keys = json.loads(rtx("push", "keys", "--json").stdout)
        with Serve("--no-tcp", "--http-port", "0") as serve:
            url = serve.url("http")
            port = url.rsplit(":", 1)[1].split("/")[0]
            body = json.dumps({"applicationServerKey": keys["publicKey"]}).encode()
            import urllib.request
            with urllib.request.urlopen(urllib.request.Request(f"{url}/push/subscribe",
                                                               data=body), timeout=10) as r:
                subscription = json.loads(r.read())
            # The endpoint names a host that does not resolve; --resolve points it at serve.
            subscription["endpoint"] = subscription["endpoint"].replace(
                "127.0.0.1", "push.rtx-test.invalid")
            result = rtx("push", "send", json.dumps(subscription), "--vapid-key",
                         keys["privateKey"], "--resolve", f"push.rtx-test.invalid:{port}:127.0.0.1",
                         "-m", "hello via resolve")
            # The service builds its audience from Host, so the token's aud matches it.
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertTrue(result.stdout.startswith(b"201 Created"), result.stdout)

    def test_bad_resolve_entries(self):
        for entry in ("example.org", "example.org:80", "example.org:x:127.0.0.1",
                      ":80:127.0.0.1", "example.org:99999:127.0.0.1", "example.org:80:"):
            with self.subTest(entry=entry):
                result = rtx("stream", "--resolve", entry, "http://example.org/")
                self.assertEqual(result.returncode, EXIT_USAGE, result.stderr)
                self.assertIn("--resolve", result.stderr.decode())
                self.assertEqual(result.stdout, b"")


class CookieTest(unittest.TestCase):
    def setUp(self):
        self.peer = Peer()
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.peer.close()
        self.tmp.cleanup()

    def test_cookie_set_by_one_poll_goes_with_the_next_and_into_the_jar(self):
        state = {"n": 0}

        def route(request, writer):
            state["n"] += 1
            headers = {"Set-Cookie": "session=abc123; Path=/"} if state["n"] == 1 else {}
            writer.full(200, f"poll {state['n']}\n", headers)
        self.peer.routes["/p"] = route
        jar = os.path.join(self.tmp.name, "jar.txt")
        result = rtx("poll", "-c", jar, "--count", "2", "--interval", "10ms",
                     self.peer.url("/p"))
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"poll 1\npoll 2\n")
        self.assertIsNone(self.peer.requests[0].headers.get("cookie"))
        self.assertEqual(self.peer.requests[1].headers.get("cookie"), "session=abc123")
        with open(jar) as f:
            lines = [l.split("\t") for l in f.read().splitlines() if l and not l.startswith("#")]
        self.assertEqual([(l[5], l[6]) for l in lines], [("session", "abc123")])

    def test_cookie_file_and_literal_cookies_are_sent(self):
        self.peer.routes["/s"] = lambda request, writer: writer.full(200, "ok\n")
        path = os.path.join(self.tmp.name, "cookies.txt")
        with open(path, "w") as f:
            f.write("# Netscape HTTP Cookie File\n"
                    "127.0.0.1\tFALSE\t/\tFALSE\t0\tfromfile\tyes\n")
        result = rtx("stream", "-b", path, self.peer.url("/s"))
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(self.peer.requests[0].headers.get("cookie"), "fromfile=yes")
        def events(request, writer):
            writer.head(200, {"Content-Type": "text/event-stream"}, chunked=True)
            writer.chunk("data: one\n\n")
            writer.end()
        self.peer.routes["/e"] = events
        result = rtx("sse", "-b", "a=1; b=2", "--count", "1", self.peer.url("/e"))
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"one\n")
        self.assertEqual(self.peer.requests[1].headers.get("cookie"), "a=1; b=2")


class CompressedTest(unittest.TestCase):
    def test_compressed_asks_for_gzip_and_decodes_it(self):
        peer = Peer()
        try:
            plain = b"".join(b"line %d of a compressible body\n" % i for i in range(200))

            def route(request, writer):
                if "gzip" in request.headers.get("accept-encoding", ""):
                    writer.full(200, gzip.compress(plain), {"Content-Encoding": "gzip"})
                else:
                    writer.full(200, plain)
            peer.routes["/s"] = route
            result = rtx("stream", "--compressed", peer.url("/s"))
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertEqual(result.stdout, plain)
            self.assertIn("gzip", peer.requests[0].headers["accept-encoding"])
            # Without the flag nothing is asked for, and the body comes as sent.
            result = rtx("stream", peer.url("/s"))
            self.assertEqual(result.stdout, plain)
            self.assertNotIn("accept-encoding", peer.requests[1].headers)
        finally:
            peer.close()

    def test_compressed_event_stream_is_decoded_as_it_arrives(self):
        peer = Peer()
        try:
            def route(request, writer):
                writer.head(200, {"Content-Type": "text/event-stream",
                                  "Content-Encoding": "gzip"}, chunked=True)
                compressor = zlib.compressobj(wbits=31)
                for n in range(3):
                    writer.chunk(compressor.compress(f"data: event {n}\n\n".encode()) +
                                 compressor.flush(zlib.Z_SYNC_FLUSH))
                with contextlib.suppress(BrokenPipeError):  # rtx may be gone after --count 3
                    writer.chunk(compressor.flush())
                    writer.end()
            peer.routes["/e"] = route
            result = rtx("sse", "--compressed", "--count", "3", peer.url("/e"))
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertEqual(result.stdout, b"event 0\nevent 1\nevent 2\n")
        finally:
            peer.close()


@unittest.skipUnless(shutil.which("nghttpd"), "needs nghttpd (Debian nghttp2-server)")
class PriorKnowledgeTest(unittest.TestCase):
    def test_http2_prior_knowledge_speaks_h2c(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "hello.txt"), "w") as f:
                f.write("hello over h2c\n")
            port = free_port()
            server = subprocess.Popen(["nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", tmp,
                                       str(port)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 10
                while True:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
                url = f"http://127.0.0.1:{port}/hello.txt"
                result = rtx("stream", "-i", "--http2-prior-knowledge", url)
                self.assertEqual(result.returncode, EXIT_OK, result.stderr)
                self.assertTrue(result.stdout.startswith(b"HTTP/2 200"), result.stdout)
                self.assertTrue(result.stdout.endswith(b"\r\n\r\nhello over h2c\n"),
                                result.stdout)
                result = rtx("poll", "--http2-prior-knowledge", "--count", "1", url)
                self.assertEqual(result.stdout, b"hello over h2c\n", result.stderr)
                # HTTP/1.1 to an h2c-only server gets no HTTP/1.1 answer.
                result = rtx("stream", "--http1.1", url)
                self.assertNotEqual(result.returncode, EXIT_OK)
                self.assertEqual(result.stdout, b"")
            finally:
                server.terminate()
                server.wait()

    def test_http11_and_prior_knowledge_conflict(self):
        result = rtx("stream", "--http1.1", "--http2-prior-knowledge", "http://127.0.0.1:9/")
        self.assertEqual(result.returncode, EXIT_USAGE)
        self.assertIn("cannot be combined", result.stderr.decode())


if __name__ == "__main__":
    unittest.main()
