"""rtx sse / stream / poll against a scripted HTTP peer: every protocol rule the clients keep."""
import base64
import json
import threading
import time
import unittest

from httppeer import Peer
from rtxtest import EXIT_CONNECT, EXIT_OK, EXIT_USAGE, free_port, rtx

EXIT_HTTP = 8
EXIT_PROTOCOL = 6


def sse_stream(events, retry=None):
    def route(request, writer):
        writer.head(200, {"Content-Type": "text/event-stream", "Connection": "close"})
        if retry is not None:
            writer.chunk(f"retry: {retry}\n\n")
        for event in events(request):
            writer.chunk(event)
            time.sleep(0.01)
    return route


def records(stdout):
    return [json.loads(line) for line in stdout.decode().splitlines()]


class SseTest(unittest.TestCase):
    def setUp(self):
        self.peer = Peer()

    def tearDown(self):
        self.peer.close()

    def test_data_lines_and_multiline_events(self):
        self.peer.routes["/e"] = sse_stream(lambda r: [
            "data: one\n\n", "data: two\ndata: lines\n\n", ": comment\n\n", "event: x\ndata: three\n\n"])
        result = rtx("sse", "--count", "3", self.peer.url("/e"))
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"one\ntwo\nlines\nthree\n")

    def test_json_has_event_type_and_id(self):
        self.peer.routes["/e"] = sse_stream(lambda r: ["id: 7\nevent: update\ndata: {\"a\":1}\n\n"])
        result = rtx("sse", "--json", "--count", "1", self.peer.url("/e"))
        message = [r for r in records(result.stdout) if r["event"] not in ("open", "close")][0]
        self.assertEqual(message["protocol"], "sse")
        self.assertEqual(message["event"], "update")
        self.assertEqual(message["topic"], "update")
        self.assertEqual(message["id"], "7")
        self.assertEqual(message["payload"], '{"a":1}')

    def test_reconnects_after_retry_and_resumes_with_last_event_id(self):
        def events(request):
            last = int(request.headers.get("last-event-id", "0"))
            return [f"id: {i}\ndata: {i}\n\n" for i in range(last + 1, last + 4)]
        self.peer.routes["/e"] = sse_stream(events, retry=50)
        started = time.monotonic()
        result = rtx("sse", "--count", "7", self.peer.url("/e"), timeout=20)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout.decode().split(), [str(i) for i in range(1, 8)])
        sent_ids = [r.headers.get("last-event-id") for r in self.peer.requests]
        self.assertEqual(sent_ids, [None, "3", "6"])
        self.assertLess(time.monotonic() - started, 5)  # retry: 50 ms was honoured

    def test_last_event_id_option_and_id_without_data(self):
        self.peer.routes["/e"] = sse_stream(lambda r: ["id: 99\n\n", "data: after\n\n"], retry=50)
        result = rtx("sse", "--last-event-id", "41", "--count", "2", self.peer.url("/e"))
        self.assertEqual(result.stdout, b"after\nafter\n")
        self.assertEqual(self.peer.requests[0].headers.get("last-event-id"), "41")
        self.assertEqual(self.peer.requests[1].headers.get("last-event-id"), "99")

    def test_204_stops_reconnecting(self):
        self.peer.routes["/e"] = lambda r, w: w.full(204)
        result = rtx("sse", self.peer.url("/e"), timeout=10)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(len(self.peer.requests), 1)

    def test_wrong_content_type_is_exit_8_without_retry(self):
        self.peer.routes["/e"] = lambda r, w: w.full(200, "hello", {"Content-Type": "text/html"})
        result = rtx("sse", self.peer.url("/e"), timeout=10)
        self.assertEqual(result.returncode, EXIT_HTTP)
        self.assertEqual(len(result.stderr.splitlines()), 1)
        self.assertIn(b"text/event-stream", result.stderr)
        self.assertEqual(len(self.peer.requests), 1)

    def test_not_found_is_exit_8(self):
        result = rtx("sse", self.peer.url("/missing"), timeout=10)
        self.assertEqual(result.returncode, EXIT_HTTP)
        self.assertEqual(result.stdout, b"")
        self.assertEqual(result.stderr.decode().strip(),
                         f"rtx: error: {self.peer.url('/missing')}: HTTP 404 Not Found")

    def test_event_filter(self):
        self.peer.routes["/e"] = sse_stream(lambda r: [
            "event: a\ndata: 1\n\n", "event: b\ndata: 2\n\n", "data: 3\n\n", "event: a\ndata: 4\n\n"])
        result = rtx("sse", "--event", "a", "--event", "message", "--count", "3",
                     self.peer.url("/e"))
        self.assertEqual(result.stdout, b"1\n3\n4\n")

    def test_request_headers_accept_and_custom(self):
        self.peer.routes["/e"] = sse_stream(lambda r: ["data: x\n\n"])
        rtx("sse", "-H", "X-Token: abc", "--count", "1", self.peer.url("/e"))
        headers = self.peer.requests[0].headers
        self.assertEqual(headers["accept"], "text/event-stream")
        self.assertEqual(headers["x-token"], "abc")

    def test_refused_is_exit_3_at_once(self):
        result = rtx("sse", f"http://127.0.0.1:{free_port()}/e", timeout=10)
        self.assertEqual(result.returncode, EXIT_CONNECT)
        self.assertEqual(len(result.stderr.splitlines()), 1)

    def test_bad_url_is_usage(self):
        result = rtx("sse", "ftp://example.org/")
        self.assertEqual(result.returncode, EXIT_USAGE)


class StreamTest(unittest.TestCase):
    def setUp(self):
        self.peer = Peer()

    def tearDown(self):
        self.peer.close()

    def chunks(self, pieces, content_type="text/plain"):
        def route(request, writer):
            writer.head(200, {"Content-Type": content_type}, chunked=True)
            for piece in pieces:
                writer.chunk(piece)
                time.sleep(0.01)
            writer.end()
        return route

    def test_body_bytes_exactly_as_sent(self):
        data = [b"abc", b"\x00\xff\n", b"no newline at end"]
        self.peer.routes["/s"] = self.chunks(data)
        result = rtx("stream", self.peer.url("/s"))
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"".join(data))

    def test_lines_split_across_chunks(self):
        self.peer.routes["/s"] = self.chunks(["al", "pha\nbe", "ta\r\ngam", "ma"])
        result = rtx("stream", "--lines", "--json", self.peer.url("/s"))
        payloads = [r["payload"] for r in records(result.stdout) if r["event"] == "message"]
        self.assertEqual(payloads, ["alpha", "beta", "gamma"])

    def test_ndjson_skips_blank_lines_and_counts(self):
        self.peer.routes["/s"] = self.chunks(['{"n":1}\n\n{"n":2}\n', '{"n":3}\n'])
        result = rtx("stream", "--ndjson", "--count", "2", self.peer.url("/s"))
        self.assertEqual(result.stdout, b'{"n":1}\n{"n":2}\n')

    def test_post_with_data_file_basic_auth_and_method(self):
        self.peer.routes["/s"] = self.chunks(["ok\n"])
        with open(__file__, "rb") as f:
            body = f.read()
        rtx("stream", "-d", "@" + __file__, "-u", "alice:secret", self.peer.url("/s"))
        request = self.peer.requests[0]
        self.assertEqual(request.method, "POST")
        self.assertEqual(request.body, body)
        self.assertEqual(request.headers["authorization"],
                         "Basic " + base64.b64encode(b"alice:secret").decode())
        rtx("stream", "-X", "PUT", "--bearer", "T0K", "-d", "x", self.peer.url("/s"))
        self.assertEqual(self.peer.requests[1].method, "PUT")
        self.assertEqual(self.peer.requests[1].headers["authorization"], "Bearer T0K")

    def test_server_error_is_exit_8(self):
        self.peer.routes["/s"] = lambda r, w: w.full(500, "boom")
        result = rtx("stream", self.peer.url("/s"))
        self.assertEqual(result.returncode, EXIT_HTTP)
        self.assertIn(b"HTTP 500", result.stderr)

    def test_output_is_unbuffered(self):
        gate = threading.Event()

        def route(request, writer):
            writer.head(200, {"Content-Type": "text/plain"}, chunked=True)
            writer.chunk("first\n")
            gate.wait(10)
            writer.chunk("second\n")
            writer.end()
        self.peer.routes["/s"] = route
        import subprocess
        from rtxtest import RTX, read_line
        proc = subprocess.Popen([RTX, "stream", self.peer.url("/s")], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            self.assertEqual(read_line(proc.stdout, timeout=5), b"first\n")
        finally:
            gate.set()
            proc.wait(timeout=10)
            proc.stdout.close()
            proc.stderr.close()


class PollTest(unittest.TestCase):
    def setUp(self):
        self.peer = Peer()

    def tearDown(self):
        self.peer.close()

    def test_cursor_from_json_pointer_and_items(self):
        def route(request, writer):
            cursor = int(request.path.partition("cursor=")[2] or 0)
            if cursor >= 6:
                time.sleep(0.05)
                writer.full(204)
                return
            items = [{"n": cursor + 1}, {"n": cursor + 2}]
            writer.full(200, json.dumps({"next": cursor + 2, "items": items}),
                        {"Content-Type": "application/json"})
        self.peer.routes["/p"] = route
        result = rtx("poll", "--cursor", "/next", "--items", "/items", "--count", "6",
                     self.peer.url("/p"), timeout=20)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual([json.loads(l)["n"] for l in result.stdout.splitlines()],
                         [1, 2, 3, 4, 5, 6])
        self.assertEqual([r.path for r in self.peer.requests[:3]],
                         ["/p", "/p?cursor=2", "/p?cursor=4"])

    def test_etag_is_sent_back_and_304_means_nothing_new(self):
        state = {"n": 0}

        def route(request, writer):
            state["n"] += 1
            if request.headers.get("if-none-match") == '"v1"' and state["n"] < 4:
                writer.full(304, headers={"ETag": '"v1"'})
                return
            writer.full(200, f"version {state['n']}\n", {"ETag": '"v1"'})
        self.peer.routes["/p"] = route
        result = rtx("poll", "--count", "2", self.peer.url("/p"), timeout=20)
        self.assertEqual(result.stdout, b"version 1\nversion 4\n")
        self.assertEqual(self.peer.requests[1].headers.get("if-none-match"), '"v1"')

    def test_429_waits_for_retry_after(self):
        state = {"n": 0}

        def route(request, writer):
            state["n"] += 1
            if state["n"] == 1:
                writer.full(429, "slow down", {"Retry-After": "1"})
                return
            writer.full(200, "fine")
        self.peer.routes["/p"] = route
        started = time.monotonic()
        result = rtx("poll", "--count", "1", self.peer.url("/p"), timeout=20)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"fine\n")
        self.assertGreaterEqual(time.monotonic() - started, 0.5)

    def test_interval_sets_a_minimum_gap(self):
        self.peer.routes["/p"] = lambda r, w: w.full(200, "tick")
        started = time.monotonic()
        result = rtx("poll", "--interval", "300ms", "--count", "3", self.peer.url("/p"))
        self.assertEqual(result.stdout, b"tick\ntick\ntick\n")
        self.assertGreaterEqual(time.monotonic() - started, 0.6)

    def test_not_found_is_exit_8_and_bad_json_exit_6(self):
        result = rtx("poll", self.peer.url("/missing"))
        self.assertEqual(result.returncode, EXIT_HTTP)
        self.peer.routes["/p"] = lambda r, w: w.full(200, "not json")
        result = rtx("poll", "--cursor", "/next", self.peer.url("/p"))
        self.assertEqual(result.returncode, EXIT_PROTOCOL)
        self.assertEqual(len(result.stderr.splitlines()), 1)

    def test_bad_pointer_is_usage(self):
        result = rtx("poll", "--cursor", "next", self.peer.url("/p"))
        self.assertEqual(result.returncode, EXIT_USAGE)


if __name__ == "__main__":
    unittest.main()
