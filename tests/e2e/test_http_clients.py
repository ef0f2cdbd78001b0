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


class NotHttpTest(unittest.TestCase):
    """A reply without a status line is a protocol error in rtx's words (exit 6), not curl's
    "Received HTTP/0.9 when not allowed" with exit 1; nothing is retried."""

    def setUp(self):
        self.peer = Peer()
        self.peer.routes["/x"] = lambda r, w: w.raw(b"hello\n")

    def tearDown(self):
        self.peer.close()

    def test_sse_stream_and_poll_say_the_reply_is_not_http(self):
        for command in ("sse", "stream", "poll"):
            with self.subTest(command=command):
                before = len(self.peer.requests)
                result = rtx(command, self.peer.url("/x"), timeout=20)
                self.assertEqual(result.returncode, EXIT_PROTOCOL, result.stderr)
                self.assertEqual(result.stdout, b"")
                self.assertEqual(
                    result.stderr.decode(),
                    f"rtx: error: {self.peer.url('/x')}: the reply is not HTTP (no status line; "
                    "it starts with \"hello\")\n")
                self.assertEqual(len(self.peer.requests) - before, 1)  # not retried


class ErrorBodyTest(unittest.TestCase):
    """On a 4xx/5xx the start of the body follows the status on the one error line (as curl
    users expect to see why); -v writes all of it."""

    def setUp(self):
        self.peer = Peer()

    def tearDown(self):
        self.peer.close()

    def test_first_bytes_of_the_body_on_the_error_line(self):
        self.peer.routes["/x"] = lambda r, w: w.full(
            403, "topic is private\nask an admin\n", {"Content-Type": "text/plain"})
        for command in ("sse", "stream", "poll"):
            with self.subTest(command=command):
                result = rtx(command, self.peer.url("/x"), timeout=20)
                self.assertEqual(result.returncode, EXIT_HTTP, result.stderr)
                self.assertEqual(result.stderr.decode(),
                                 f"rtx: error: {self.peer.url('/x')}: HTTP 403 Forbidden: "
                                 "topic is private ask an admin\n")

    def test_a_long_body_is_cut_and_verbose_shows_all_of_it(self):
        body = "why: " + "x" * 5000 + " end"
        self.peer.routes["/x"] = lambda r, w: w.full(500, body)
        # A 500 is worth retrying: sse and poll would try again without --no-reconnect.
        for command in (["sse", "--no-reconnect"], ["stream"], ["poll", "--no-reconnect"]):
            with self.subTest(command=command[0]):
                result = rtx(*command, self.peer.url("/x"), timeout=20)
                self.assertEqual(result.returncode, EXIT_HTTP, result.stderr)
                lines = result.stderr.decode().splitlines()
                self.assertEqual(len(lines), 1, lines)
                self.assertIn("HTTP 500 Internal Server Error: why: xxx", lines[0])
                self.assertTrue(lines[0].endswith("..."), lines[0])
                self.assertLess(len(lines[0]), 400)
                verbose = rtx(*command, "-v", self.peer.url("/x"), timeout=20)
                self.assertIn(body.encode(), verbose.stderr)

    def test_a_body_that_never_ends_does_not_hold_the_error(self):
        def route(request, writer):
            writer.head(502, {"Content-Type": "text/plain"}, chunked=True)
            writer.chunk("upstream down")
            time.sleep(15)
        self.peer.routes["/x"] = route
        started = time.monotonic()
        result = rtx("stream", self.peer.url("/x"), timeout=20)
        self.assertEqual(result.returncode, EXIT_HTTP, result.stderr)
        self.assertIn(b"HTTP 502 Bad Gateway: upstream down", result.stderr)
        self.assertLess(time.monotonic() - started, 10)


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

    def test_a_stream_that_ended_waits_retry_each_time_without_backoff(self):
        # WHATWG HTML 9.2.3: after a stream that worked and ended, wait the reconnection
        # time; backoff is for failures, and jitter never makes the wait shorter.
        started = []

        def route(request, writer):
            started.append(time.monotonic())
            writer.head(200, {"Content-Type": "text/event-stream", "Connection": "close"})
            writer.chunk("retry: 300\ndata: x\n\n")
        self.peer.routes["/e"] = route
        result = rtx("sse", "--count", "7", self.peer.url("/e"), timeout=60)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        gaps = [b - a for a, b in zip(started, started[1:])]
        self.assertEqual(len(gaps), 6)
        for gap in gaps:
            self.assertGreaterEqual(gap, 0.29, gaps)  # never shorter than retry:
            self.assertLess(gap, 1.5, gaps)  # no doubling (today: 2.4 s and more by the 5th)

    def test_content_length_bounded_stream_is_explained_once(self):
        self.peer.routes["/e"] = lambda r, w: w.full(
            200, "retry: 50\ndata: one\n\n", {"Content-Type": "text/event-stream"})
        result = rtx("sse", "--count", "3", self.peer.url("/e"), timeout=20)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"one\none\none\n")
        warnings = [l for l in result.stderr.decode().splitlines() if "Content-Length" in l]
        self.assertEqual(len(warnings), 1, result.stderr)
        self.assertTrue(warnings[0].startswith("rtx: warning: "), warnings[0])

    def test_event_filter_and_no_lifecycle_apply_to_json_records(self):
        self.peer.routes["/e"] = sse_stream(lambda r: [
            "event: a\ndata: 1\n\n", "event: b\ndata: 2\n\n", "event: a\ndata: 3\n\n"])
        url = self.peer.url("/e")
        only_a = records(rtx("sse", "--json", "--event", "a", "--count", "2", url).stdout)
        self.assertEqual([(r["event"], r["payload"]) for r in only_a], [("a", "1"), ("a", "3")])
        with_close = records(rtx("sse", "--json", "--event", "a", "--event", "close",
                                 "--count", "2", url).stdout)
        self.assertEqual([r["event"] for r in with_close], ["a", "a", "close"])
        messages = records(rtx("sse", "--json", "--no-lifecycle", "--count", "3", url).stdout)
        self.assertEqual([r["event"] for r in messages], ["a", "b", "a"])
        stream = records(rtx("stream", "--lines", "--json", "--no-lifecycle", url).stdout)
        self.assertEqual({r["event"] for r in stream}, {"message"})

    def test_null_after_each_event_for_multiline_data(self):
        self.peer.routes["/e"] = sse_stream(lambda r: ["data: one\n\n", "data: two\ndata: lines\n\n"])
        result = rtx("sse", "-0", "--count", "2", self.peer.url("/e"))
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"one\0two\nlines\0")

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

    def test_null_after_each_body(self):
        self.peer.routes["/p"] = lambda r, w: w.full(200, "line 1\nline 2\n")
        result = rtx("poll", "--null", "--count", "2", self.peer.url("/p"))
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"line 1\nline 2\0line 1\nline 2\0")

    def test_bad_pointer_is_usage(self):
        result = rtx("poll", "--cursor", "next", self.peer.url("/p"))
        self.assertEqual(result.returncode, EXIT_USAGE)


if __name__ == "__main__":
    unittest.main()
