"""rtx serve's HTTP endpoints (SSE, streaming, long-poll, publish, pages), checked with curl
as the independent client and Python's http.client."""
import http.client
import json
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from rtxtest import EXIT_OK, CheckedServe, RTX, Serve


def serve_http(*args):
    """rtx serve with both listeners on free ports (two endpoint lines)."""
    return CheckedServe("--tcp-port", "0", "--http-port", "0", *args, expect=2)


def host_port(serve):
    host, port = serve.address("http").rsplit(":", 1)
    return host, int(port)


def request(serve, method, path, body=None, headers=None, timeout=10):
    """One request on a fresh connection: (status, headers dict lower-case, body bytes)."""
    host, port = host_port(serve)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        connection.close()


def publish(serve, topic, payload, event=None):
    path = "/publish/" + urllib.parse.quote(topic, safe="")
    if event:
        path += "?event=" + urllib.parse.quote(event)
    status, _, body = request(serve, "POST", path, body=payload)
    assert status == 200, (status, body)
    return json.loads(body)


class Curl:
    """`curl -sN URL` in the background; its output is collected by a thread."""

    def __init__(self, url, *args):
        self.proc = subprocess.Popen(["curl", "-sN", *args, url], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.data = b""
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            with self.lock:
                self.data += chunk

    def text(self):
        with self.lock:
            return self.data.decode()

    def wait_for(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.text()):
                return self.text()
            time.sleep(0.02)
        raise AssertionError(f"timed out; received so far: {self.text()[-2000:]!r}")

    def finish(self, timeout=10):
        """Waits for curl to exit on its own; returns its exit status."""
        self.proc.wait(timeout=timeout)
        self.thread.join(timeout)
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        self.thread.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


def sse_events(text):
    """Parses an event stream (LF line ends) into dicts with id/event/data; comments and
    retry lines are returned as {"comment": ...} / {"retry": ...}."""
    events, current, data = [], {}, []
    for line in text.split("\n"):
        if line == "":
            if data:
                current["data"] = "\n".join(data)
            if current:
                events.append(current)
            current, data = {}, []
        elif line.startswith(":"):
            events.append({"comment": line[1:].strip()})
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                current[name] = value
    return events


def messages(text):
    return [e for e in sse_events(text) if "data" in e]


def wait_for_subscribers(serve, topic, count, timeout=10):
    """Publishes "warmup" messages until the hub reports `count` subscribers on `topic`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if publish(serve, topic, "warmup")["subscribers"] >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"never saw {count} subscribers on {topic}")


class ServeHttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.serve = serve_http("--poll-hold", "1s", "--max-body", "1KiB").__enter__()
        cls.base = cls.serve.url("http")

    @classmethod
    def tearDownClass(cls):
        cls.serve.__exit__(None, None, None)

    def curl(self, path, *args):
        curl = Curl(self.base + path, *args)
        self.addCleanup(curl.close)
        return curl

    def test_endpoint_line_and_index_page(self):
        self.assertRegex(self.base, r"^http://127\.0\.0\.1:\d+$")
        self.assertNotEqual(self.base.rsplit(":", 1)[1], "0")
        status, headers, body = request(self.serve, "GET", "/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertIn(b"<title>rtx serve</title>", body)
        for link in (b"/sse/", b"/stream/", b"/poll/", b"/eventsource.html"):
            self.assertIn(link, body)

    def test_index_page_names_every_listener_with_its_url(self):
        with Serve("--tcp-port", "0", "--http-port", "0", "--mqtt-port", "0",
                   expect=5) as serve:
            status, _, body = request(serve, "GET", "/")
            self.assertEqual(status, 200)
            page = body.decode()
            for name, url in serve.endpoints.items():
                with self.subTest(listener=name):
                    self.assertIn(url, page)
            for words in ("TCP echo", "WebSocket", "MQTT", "Server-Sent Events"):
                with self.subTest(words=words):
                    self.assertIn(words, page)
        with Serve("--tcp-port", "0", "--http-port", "0", "--no-mqtt", expect=4) as serve:
            _, _, body = request(serve, "GET", "/")
            self.assertNotIn(b"mqtt://", body)  # only the listeners that run

    def test_eventsource_page(self):
        status, headers, body = request(self.serve, "GET", "/eventsource.html?topic=news")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/html"))
        for needle in (b"new EventSource('/sse/'", b"window.received", b'<pre id="events">',
                       b"/publish/"):
            self.assertIn(needle, body)
        self.assertNotIn(b"http://", body)  # self-contained: no external resources

    def test_sse_stream_and_ndjson_each_get_every_message_in_order(self):
        topic, count = "fanout", 300
        sse = self.curl(f"/sse/{topic}")
        text = self.curl(f"/stream/{topic}")
        ndjson = self.curl(f"/stream/{topic}?format=ndjson")
        wait_for_subscribers(self.serve, topic, 3)
        host, port = host_port(self.serve)
        connection = http.client.HTTPConnection(host, port, timeout=10)  # one keep-alive
        for i in range(1, count + 1):
            connection.request("POST", f"/publish/{topic}", body=f"message {i}")
            response = connection.getresponse()
            self.assertEqual(response.status, 200)
            response.read()
        connection.close()
        want = [f"message {i}" for i in range(1, count + 1)]
        last = f"message {count}"

        events = messages(sse.wait_for(lambda t: f"data: {last}\n\n" in t))
        got = [e["data"] for e in events if e["data"] != "warmup"]
        self.assertEqual(got, want)
        ids = [int(e["id"]) for e in events]
        self.assertEqual(ids, sorted(set(ids)))  # increasing, no duplicates

        lines = text.wait_for(lambda t: t.endswith(last + "\n")).splitlines()
        self.assertEqual([l for l in lines if l != "warmup"], want)

        records = [json.loads(l) for l in ndjson.wait_for(lambda t: last in t).splitlines()]
        records = [r for r in records if r["payload"] != "warmup"]
        self.assertEqual([r["payload"] for r in records], want)
        self.assertEqual({r["topic"] for r in records}, {topic})
        self.assertEqual(len({r["id"] for r in records}), count)

    def test_sse_headers_retry_and_event_names(self):
        sse = self.curl("/sse/named", "-i")
        wait_for_subscribers(self.serve, "named", 1)
        publish(self.serve, "named", "hello", event="greeting")
        text = sse.wait_for(lambda t: "data: hello" in t)
        head, _, body = text.partition("\r\n\r\n")
        self.assertIn("HTTP/1.1 200", head)
        self.assertRegex(head.lower(), r"content-type: text/event-stream")
        self.assertRegex(head.lower(), r"cache-control: no-cache")
        self.assertRegex(head.lower(), r"transfer-encoding: chunked")
        self.assertTrue(body.startswith("retry: "), body)
        event = [e for e in messages(body) if e["data"] == "hello"][0]
        self.assertEqual(event["event"], "greeting")

    def test_sse_multiline_payloads(self):
        sse = self.curl("/sse/lines")
        wait_for_subscribers(self.serve, "lines", 1)
        for payload in ("one\ntwo\nthree", "crlf\r\nline", "trailing\n", ""):
            publish(self.serve, "lines", payload)
        publish(self.serve, "lines", "end")
        text = sse.wait_for(lambda t: "data: end\n\n" in t)
        self.assertIn("data: one\ndata: two\ndata: three\n\n", text)
        self.assertIn("data: crlf\ndata: line\n\n", text)
        self.assertIn("data: trailing\ndata: \n\n", text)
        got = [e["data"] for e in messages(text) if e["data"] != "warmup"]
        self.assertEqual(got, ["one\ntwo\nthree", "crlf\nline", "trailing\n", "", "end"])

    def test_sse_replay_from_last_event_id(self):
        topic = "replay"
        ids = [publish(self.serve, topic, f"r{i}")["id"] for i in range(1, 6)]
        sse = self.curl(f"/sse/{topic}", "-H", f"Last-Event-ID: {ids[1]}")
        events = messages(sse.wait_for(lambda t: "data: r5\n" in t))
        self.assertEqual([e["data"] for e in events], ["r3", "r4", "r5"])
        self.assertEqual([int(e["id"]) for e in events], ids[2:])
        # The query form, for a first connection.
        sse = self.curl(f"/sse/{topic}?lastEventId={ids[3]}")
        self.assertEqual([e["data"] for e in messages(sse.wait_for(lambda t: "r5" in t))],
                         ["r5"])
        # Then live messages follow the replay.
        publish(self.serve, topic, "r6")
        self.assertEqual([e["data"] for e in messages(sse.wait_for(lambda t: "r6" in t))],
                         ["r5", "r6"])

    def test_stream_since_replays_then_goes_live(self):
        first = publish(self.serve, "since", "s1")["id"]
        publish(self.serve, "since", "s2")
        stream = self.curl(f"/stream/since?since={first}")
        stream.wait_for(lambda t: t == "s2\n")
        publish(self.serve, "since", "s3")
        self.assertEqual(stream.wait_for(lambda t: "s3" in t), "s2\ns3\n")

    def test_poll_answers_at_once_when_newer_messages_exist(self):
        for i in range(3):
            publish(self.serve, "polled", f"p{i}", event="e" if i == 0 else None)
        status, headers, body = request(self.serve, "GET", "/poll/polled?cursor=0")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        answer = json.loads(body)
        self.assertEqual([m["payload"] for m in answer["messages"]], ["p0", "p1", "p2"])
        self.assertEqual(answer["messages"][0]["event"], "e")
        self.assertEqual(answer["cursor"], answer["messages"][-1]["id"])
        self.assertEqual(headers["x-cursor"], str(answer["cursor"]))

    def test_poll_holds_then_204_with_cursor(self):
        cursor = publish(self.serve, "quiet", "q")["id"]
        started = time.monotonic()
        status, headers, body = request(self.serve, "GET", f"/poll/quiet?cursor={cursor}")
        elapsed = time.monotonic() - started
        self.assertEqual(status, 204)
        self.assertEqual(body, b"")
        self.assertEqual(headers["x-cursor"], str(cursor))
        self.assertGreater(elapsed, 0.8)  # --poll-hold 1s
        self.assertLess(elapsed, 3)
        # ?timeout= shortens the hold; the server maximum caps it.
        started = time.monotonic()
        status, _, _ = request(self.serve, "GET", f"/poll/quiet?cursor={cursor}&timeout=0.2")
        self.assertEqual(status, 204)
        self.assertLess(time.monotonic() - started, 0.8)
        started = time.monotonic()
        status, _, _ = request(self.serve, "GET", f"/poll/quiet?cursor={cursor}&timeout=60")
        self.assertEqual(status, 204)
        self.assertLess(time.monotonic() - started, 3)

    def test_held_poll_is_answered_by_a_publish(self):
        cursor = publish(self.serve, "held", "h0")["id"]
        result = {}

        def poll():
            result["answer"] = request(self.serve, "GET", f"/poll/held?cursor={cursor}")
            result["at"] = time.monotonic()

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.3)
        published_at = time.monotonic()
        new_id = publish(self.serve, "held", "h1")["id"]
        poller.join(5)
        status, headers, body = result["answer"]
        self.assertEqual(status, 200)
        answer = json.loads(body)
        self.assertEqual([m["payload"] for m in answer["messages"]], ["h1"])
        self.assertEqual(answer["cursor"], new_id)
        self.assertEqual(headers["x-cursor"], str(new_id))
        self.assertLess(result["at"] - published_at, 0.5)

    def test_poll_without_cursor_waits_for_new_messages_only(self):
        old = publish(self.serve, "fresh", "old")["id"]
        status, headers, _ = request(self.serve, "GET", "/poll/fresh?timeout=0.2")
        self.assertEqual(status, 204)
        self.assertEqual(headers["x-cursor"], str(old))

    def test_poll_cursor_from_another_run_gets_whole_history_at_once(self):
        publish(self.serve, "restarted", "a")
        last = publish(self.serve, "restarted", "b")["id"]
        # Ids start at the server's start time: a cursor from an earlier run is smaller than
        # all of them; one from a server whose clock was ahead is larger.
        for cursor in (5, last + 1000):
            with self.subTest(cursor=cursor):
                started = time.monotonic()
                status, headers, body = request(self.serve, "GET",
                                                f"/poll/restarted?cursor={cursor}")
                self.assertLess(time.monotonic() - started, 0.5)
                self.assertEqual(status, 200)
                answer = json.loads(body)
                self.assertEqual([m["payload"] for m in answer["messages"]], ["a", "b"])
                self.assertEqual(answer["cursor"], last)
                self.assertTrue(answer["gap"])

    def test_sse_id_from_another_run_replays_the_history(self):
        publish(self.serve, "rerun", "x1")
        publish(self.serve, "rerun", "x2")
        sse = self.curl("/sse/rerun", "-H", "Last-Event-ID: 17")
        text = sse.wait_for(lambda t: "data: x2\n" in t)
        self.assertEqual([e["data"] for e in messages(text)], ["x1", "x2"])
        self.assertIn("earlier run", text)

    def test_long_poll_loop_loses_nothing(self):
        topic, count = "pollloop", 200
        got, cursor = [], 0
        stop = threading.Event()

        def publisher():
            for i in range(count):
                publish(self.serve, topic, f"m{i}")
                time.sleep(0.005)  # about 200 messages a second
            stop.set()

        thread = threading.Thread(target=publisher)
        thread.start()
        deadline = time.monotonic() + 30
        while len(got) < count and time.monotonic() < deadline:
            status, headers, body = request(self.serve, "GET",
                                            f"/poll/{topic}?cursor={cursor}&timeout=1")
            if status == 200:
                answer = json.loads(body)
                got += [m["payload"] for m in answer["messages"]]
                cursor = answer["cursor"]
            else:
                self.assertEqual(status, 204)
                cursor = int(headers["x-cursor"])
        thread.join()
        self.assertEqual(got, [f"m{i}" for i in range(count)])

    def test_publish_reply(self):
        sse = self.curl("/sse/counted")
        wait_for_subscribers(self.serve, "counted", 1)
        reply = publish(self.serve, "counted", "x")
        self.assertEqual(reply["topic"], "counted")
        self.assertEqual(reply["subscribers"], 1)
        self.assertIsInstance(reply["id"], int)
        sse.wait_for(lambda t: "data: x\n" in t)
        status, headers, body = request(self.serve, "POST", "/publish/empty", body=b"")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(json.loads(body)["subscribers"], 0)

    def test_percent_decoded_topics(self):
        reply = publish(self.serve, "a b/c", "spaced")
        self.assertEqual(reply["topic"], "a b/c")
        status, _, body = request(self.serve, "GET", "/poll/a%20b%2Fc?cursor=0")
        self.assertEqual(json.loads(body)["messages"][0]["payload"], "spaced")

    def test_not_found(self):
        status, headers, body = request(self.serve, "GET", "/nothing/here")
        self.assertEqual(status, 404)
        self.assertTrue(headers["content-type"].startswith("text/plain"))
        self.assertEqual(body.count(b"\n"), 1)

    def test_wrong_method(self):
        for method, path, allow in (("POST", "/sse/x", "GET"), ("GET", "/publish/x", "POST"),
                                    ("PUT", "/publish/x", "POST"), ("DELETE", "/poll/x", "GET")):
            with self.subTest(method=method, path=path):
                status, headers, _ = request(self.serve, method, path, body=b"" if method in (
                    "POST", "PUT") else None)
                self.assertEqual(status, 405)
                self.assertIn(allow, headers["allow"])

    def test_bad_requests(self):
        for path in ("/sse/", "/sse", "/stream/", "/poll/", "/poll/x?cursor=abc",
                     "/stream/x?format=xml", "/stream/x?since=-1", "/sse/x?lastEventId=z",
                     "/poll/x?timeout=soon"):
            with self.subTest(path=path):
                status, _, body = request(self.serve, "GET", path)
                self.assertEqual(status, 400, body)
        status, _, _ = request(self.serve, "POST", "/publish/")
        self.assertEqual(status, 400)
        status, _, _ = request(self.serve, "POST", "/publish/x?event=%FF", body=b"x")
        self.assertEqual(status, 400)  # an event name must be UTF-8

    def test_body_too_large(self):
        status, headers, body = request(self.serve, "POST", "/publish/big", body=b"x" * 5000)
        self.assertEqual(status, 413)
        self.assertIn(b"1024", body)
        status, _, _ = request(self.serve, "POST", "/publish/big", body=b"x" * 1024)
        self.assertEqual(status, 200)

    def test_curl_publish_and_chunked_body(self):
        result = subprocess.run(["curl", "-s", "-d", "from curl", self.base + "/publish/c"],
                                capture_output=True, timeout=10)
        self.assertEqual(json.loads(result.stdout)["topic"], "c")
        result = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                                 "Transfer-Encoding: chunked", "--data-binary", "@-",
                                 self.base + "/publish/c"], input=b"chunky",
                                capture_output=True, timeout=10)
        self.assertEqual(result.stdout, b"411")

    def test_binary_payloads_are_base64_where_text_is_required(self):
        publish(self.serve, "bytes", b"\xff\x00\xfe")
        status, _, body = request(self.serve, "GET", "/poll/bytes?cursor=0")
        message = json.loads(body)["messages"][0]
        self.assertEqual(message["payload"], "/wD+")
        self.assertEqual(message["encoding"], "base64")
        sse = self.curl("/sse/bytes?lastEventId=0")
        self.assertEqual(messages(sse.wait_for(lambda t: "/wD+" in t))[0]["data"], "/wD+")

    def test_head_is_not_allowed(self):
        status, headers, body = request(self.serve, "HEAD", "/sse/x")
        self.assertEqual(status, 405)
        self.assertEqual(body, b"")

    def test_keep_alive_connection_serves_several_requests(self):
        host, port = host_port(self.serve)
        connection = http.client.HTTPConnection(host, port, timeout=10)
        for path in ("/", "/nothing", "/poll/ka?timeout=0"):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            self.assertIn(response.status, (200, 204, 404))
        connection.close()


class ServeHttpOptionsTest(unittest.TestCase):
    def test_tick_publishes_a_counter(self):
        with serve_http("--tick", "100ms") as serve:
            curl = Curl(serve.url("http") + "/sse/tick")
            try:
                events = messages(curl.wait_for(lambda t: len(messages(t)) >= 3))
            finally:
                curl.close()
        numbers = [int(e["data"]) for e in events]
        self.assertEqual(numbers, list(range(numbers[0], numbers[0] + len(numbers))))
        ids = [int(e["id"]) for e in events]
        self.assertEqual(ids, list(range(ids[0], ids[0] + len(ids))))

    def test_heartbeat_comment_on_a_quiet_stream(self):
        with serve_http("--heartbeat", "200ms") as serve:
            curl = Curl(serve.url("http") + "/sse/silent")
            try:
                text = curl.wait_for(lambda t: ": heartbeat\n" in t, timeout=5)
            finally:
                curl.close()
        self.assertEqual(messages(text), [])

    def test_max_subscribers_is_503(self):
        with serve_http("--max-subscribers", "2") as serve:
            first = Curl(serve.url("http") + "/sse/a")
            second = Curl(serve.url("http") + "/stream/b")
            try:
                wait_for_subscribers(serve, "a", 1)
                wait_for_subscribers(serve, "b", 1)
                status, headers, body = request(serve, "GET", "/poll/c?timeout=5")
                self.assertEqual(status, 503, body)
                self.assertIn(b"subscribers", body)
                self.assertIn("retry-after", headers)
            finally:
                first.close()
                second.close()

    def test_history_bound_and_gap_comment(self):
        with serve_http("--history", "3") as serve:
            first = publish(serve, "short", "h1")["id"]
            for i in range(2, 7):
                publish(serve, "short", f"h{i}")
            curl = Curl(serve.url("http") + "/sse/short", "-H", f"Last-Event-ID: {first}")
            try:
                text = curl.wait_for(lambda t: "data: h6" in t)
            finally:
                curl.close()
        self.assertIn("lost", " ".join(e["comment"] for e in sse_events(text)
                                      if "comment" in e))
        self.assertEqual([e["data"] for e in messages(text)], ["h4", "h5", "h6"])

    def test_header_timeout_is_408(self):
        with serve_http("--header-timeout", "1s") as serve:
            client = socket.create_connection(host_port(serve))
            client.sendall(b"GET /sse/x HTTP/1.1\r\nHost: x\r\n")  # never finished
            started = time.monotonic()
            client.settimeout(10)
            data = b""
            while True:
                chunk = client.recv(4096)
                if not chunk:
                    break
                data += chunk
            client.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 408"), data)
        self.assertLess(time.monotonic() - started, 5)

    def test_idle_keep_alive_connection_is_closed_after_the_header_timeout(self):
        with serve_http("--header-timeout", "1s") as serve:
            client = socket.create_connection(host_port(serve))
            client.settimeout(10)
            client.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"not found" not in data:
                chunk = client.recv(4096)
                self.assertTrue(chunk, data)
                data += chunk
            self.assertTrue(data.startswith(b"HTTP/1.1 404"), data)
            started = time.monotonic()
            rest = b""
            while chunk := client.recv(4096):  # no next request: closed, without a 408
                rest += chunk
            elapsed = time.monotonic() - started
            client.close()
        self.assertEqual(rest, b"")
        self.assertGreater(elapsed, 0.5)
        self.assertLess(elapsed, 5)

    def test_held_poll_and_stream_outlive_the_header_timeout(self):
        with serve_http("--header-timeout", "1s") as serve:
            curl = Curl(serve.url("http") + "/stream/late")
            try:
                wait_for_subscribers(serve, "late", 1)
                started = time.monotonic()
                status, headers, body = request(serve, "GET", "/poll/late?timeout=2500ms")
                held = time.monotonic() - started
                self.assertEqual(status, 204, body)
                self.assertGreater(held, 2)
                publish(serve, "late", "still here")
                curl.wait_for(lambda t: "still here" in t)
            finally:
                curl.close()

    def test_slow_subscriber_is_dropped_and_others_keep_up(self):
        count, payload = 64, b"z" * (512 * 1024)
        with serve_http("--max-body", "1MiB") as serve, \
                tempfile.NamedTemporaryFile() as fast_output:
            host, port = host_port(serve)
            slow = socket.create_connection((host, port))
            slow.sendall(b"GET /stream/flood HTTP/1.1\r\nHost: x\r\n\r\n")  # never read
            fast = subprocess.Popen(["curl", "-sN", "-o", fast_output.name,
                                     serve.url("http") + "/stream/flood"])
            try:
                wait_for_subscribers(serve, "flood", 2)
                for _ in range(count):
                    publish(serve, "flood", payload)
                # The slow one was closed once it fell too far behind...
                self.assertEqual(publish(serve, "flood", "done")["subscribers"], 1)
                # ...while the fast one got everything.
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    with open(fast_output.name, "rb") as output:
                        if output.read().endswith(b"\ndone\n"):
                            break
                    time.sleep(0.1)
                with open(fast_output.name, "rb") as output:
                    lines = [l for l in output.read().split(b"\n") if l != b"warmup"]
                self.assertEqual(lines, [payload] * count + [b"done", b""])
                # The slow one reads what the kernel held, then the end of the connection.
                slow.settimeout(10)
                received = 0
                while chunk := slow.recv(1 << 20):
                    received += len(chunk)
                self.assertLess(received, count * len(payload))
            finally:
                slow.close()
                fast.terminate()
                fast.wait()

    def test_http_port_in_use_is_exit_12(self):
        with serve_http() as serve:
            port = str(host_port(serve)[1])
            result = subprocess.run([RTX, "serve", "--tcp-port", "0", "--http-port", port],
                                    capture_output=True, timeout=10)
        self.assertEqual(result.returncode, 12)
        self.assertEqual(result.stdout, b"")
        self.assertRegex(result.stderr.decode(),
                         r"^rtx: error: listen on 127\.0\.0\.1:\d+: address already in use\n$")

    def test_ipv6_loopback(self):
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback")
        with CheckedServe("--bind", "::1", "--tcp-port", "0", "--http-port", "0",
                       expect=2) as serve:
            self.assertRegex(serve.url("http"), r"^http://\[::1\]:\d+$")
            result = subprocess.run(["curl", "-s", "-d", "v6", serve.url("http") + "/publish/6"],
                                    capture_output=True, timeout=10)
            self.assertEqual(json.loads(result.stdout)["topic"], "6")

    def test_no_http(self):
        with Serve("--tcp-port", "0", "--no-http") as serve:
            self.assertEqual(list(serve.endpoints), ["tcp-echo"])

    def test_graceful_shutdown_with_clients_attached(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig), serve_http("--tick", "50ms") as serve:
                sse = Curl(serve.url("http") + "/sse/tick")
                stream = Curl(serve.url("http") + "/stream/tick")
                poll = Curl(serve.url("http") + "/poll/idle?timeout=30", "-o", "/dev/null",
                            "-w", "%{http_code}")
                try:
                    sse.wait_for(lambda t: len(messages(t)) >= 2)
                    stream.wait_for(lambda t: t.count("\n") >= 2)
                    time.sleep(0.2)  # the poll is held by now
                    started = time.monotonic()
                    self.assertEqual(serve.stop(sig), EXIT_OK)
                    self.assertLess(time.monotonic() - started, 3)
                    # Each response ended properly (curl exit 0: the last chunk came).
                    self.assertEqual(sse.finish(), 0)
                    self.assertEqual(stream.finish(), 0)
                    self.assertEqual(poll.finish(), 0)
                    self.assertEqual(poll.text(), "204")
                    self.assertEqual(serve.proc.stderr.read(), b"")
                finally:
                    for curl in (sse, stream, poll):
                        curl.close()

    def test_many_sse_subscribers_get_a_message(self):
        count = 200
        with serve_http() as serve:
            host, port = host_port(serve)
            clients = []
            for _ in range(count):
                client = socket.create_connection((host, port))
                client.sendall(b"GET /sse/crowd HTTP/1.1\r\nHost: x\r\n\r\n")
                clients.append(client)
            wait_for_subscribers(serve, "crowd", count)
            publish(serve, "crowd", "to everyone")
            for client in clients:
                client.settimeout(10)
                data = b""
                while b"data: to everyone\n" not in data:
                    chunk = client.recv(65536)
                    self.assertTrue(chunk, data)
                    data += chunk
                client.close()


if __name__ == "__main__":
    unittest.main()
