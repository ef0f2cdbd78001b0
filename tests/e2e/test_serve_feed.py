"""rtx serve's recorded feeds (--replay) and custom paths (--route), and the clients'
streaming-API output (--pick, --format, --until, --join) against them. Peers: curl and the
rtx clients. Fixtures: tests/fixtures/feeds/ (an LLM chat completion as `rtx sse --json`
records it, a market-data WebSocket feed as `rtx ws --json` does, an NDJSON log stream as
`rtx stream --json` does).

Spacing is checked as a lower bound only (a record never arrives before its time, measured
from the request), never an upper bound: a loaded machine may be late, never early."""
import json
import os
import subprocess
import tempfile
import time
import unittest

from rtxtest import EXIT_OK, CheckedServe, EXIT_USAGE, RTX, SOURCE_DIR, Serve, popen_rtx, read_line, rtx

FEEDS = os.path.join(SOURCE_DIR, "tests/fixtures/feeds")
LLM = os.path.join(FEEDS, "llm.ndjson")
MARKET = os.path.join(FEEDS, "market.ndjson")
LOGS = os.path.join(FEEDS, "logs.ndjson")
PRICES = ["101.25", "101.5", "101.0", "102.75", "102.5", "103.0"]
# Offsets (ms) of the LLM recording's messages from its first: 5 tokens, stop, [DONE].
LLM_OFFSETS = [0, 100, 200, 300, 400, 500, 520]


class FeedServe(CheckedServe):
    """rtx serve with only the HTTP listener, on a free port; stop checked (exit 0, no
    sanitizer report on stderr)."""

    def __init__(self, *args):
        super().__init__("--no-tcp", "--no-mqtt", "--http-port", "0", *args, expect=1)

    def http(self, path):
        return self.url("http") + path

    def ws(self, path):
        return "ws://" + self.address("http") + path


def curl(*args, timeout=30):
    return subprocess.run(["curl", "-sS", "-N", *args], capture_output=True, timeout=timeout)


def sse_data(body):
    """The data lines of an SSE body, in order."""
    return [line[len("data: "):] for line in body.decode().splitlines()
            if line.startswith("data: ")]


class ReplayRouteTest(unittest.TestCase):
    """--replay played through --route paths of every kind, curl as the client."""

    def test_post_to_sse_streams_the_whole_recording_to_each_request(self):
        with FeedServe("--replay", f"llm={LLM}",
                       "--route", "POST /v1/chat/completions=sse:llm") as serve:
            url = serve.http("/v1/chat/completions")
            for _ in range(2):  # every POST gets the recording from its start
                started = time.monotonic()
                done = curl("-d", '{"model":"mock-1","stream":true}',
                            "-H", "Content-Type: application/json", url)
                elapsed = time.monotonic() - started
                self.assertEqual(done.returncode, 0, done.stderr)  # the response ends
                data = sse_data(done.stdout)
                self.assertEqual(len(data), 7, done.stdout)
                self.assertEqual(data[-1], "[DONE]")
                tokens = [json.loads(d)["choices"][0]["delta"].get("content", "")
                          for d in data[:-1]]
                self.assertEqual("".join(tokens), "Hello, world!")
                self.assertIn(b"id: 1\n", done.stdout)
                # Lower bound only: the last record never comes before its recorded offset.
                self.assertGreaterEqual(elapsed, LLM_OFFSETS[-1] / 1000)

    def test_replay_spacing_is_a_lower_bound_per_record(self):
        # Record arrival times from the moment the request went out: each record's arrival
        # is at least its offset / speed after it.
        with FeedServe("--replay", f"llm={LLM}", "--replay-speed", "2",
                       "--route", "POST /chat=sse:llm") as serve:
            with popen_rtx("sse", "--no-reconnect", "-d", "{}", "--json", "--no-lifecycle",
                           serve.http("/chat"), stdin=subprocess.DEVNULL) as client:
                started = time.monotonic()
                arrivals = []
                for _ in LLM_OFFSETS:
                    line = read_line(client.stdout)
                    self.assertTrue(line, client.stderr.read() if client.poll() else "")
                    arrivals.append((time.monotonic() - started, json.loads(line)["payload"]))
                client.wait(timeout=10)
            self.assertEqual(arrivals[-1][1], "[DONE]")
            seqs = [json.loads(p)["choices"][0]["delta"].get("content") for _, p in arrivals[:-1]]
            self.assertEqual(seqs, ["Hel", "lo", ",", " world", "!", None])
            for (arrived, _), offset in zip(arrivals, LLM_OFFSETS):
                self.assertGreaterEqual(arrived, offset / 2 / 1000)

    def test_get_routes_of_every_kind(self):
        with FeedServe("--route", "/api/v1/events=sse:news",
                       "--route", "/api/lines=stream:news",
                       "--route", "/api/poll=poll:news",
                       "--route", "PUT,POST /api/send=publish:news",
                       "--route", "/api/socket=ws:news") as serve:
            with popen_rtx("sse", "--no-reconnect", serve.http("/api/v1/events"),
                           stdin=subprocess.DEVNULL) as sse, \
                    popen_rtx("stream", serve.http("/api/lines?format=ndjson"),
                              stdin=subprocess.DEVNULL) as stream, \
                    popen_rtx("ws", "--no-stdin", serve.ws("/api/socket")) as ws:
                # Publish until each subscriber has seen one (they connect at their own pace).
                seen = {}
                deadline = time.monotonic() + 15
                n = 0
                while len(seen) < 3 and time.monotonic() < deadline:
                    n += 1
                    method = "PUT" if n % 2 else "POST"
                    sent = curl("-X", method, "--data-binary", f"m{n}",
                                serve.http("/api/send"))
                    self.assertEqual(sent.returncode, 0, sent.stderr)
                    self.assertEqual(json.loads(sent.stdout)["topic"], "news")
                    for name, proc in (("sse", sse), ("stream", stream), ("ws", ws)):
                        if name not in seen:
                            try:
                                seen[name] = read_line(proc.stdout, timeout=0.3).decode()
                            except TimeoutError:
                                pass
                self.assertEqual(sorted(seen), ["sse", "stream", "ws"])
                self.assertRegex(seen["sse"], r"^m\d+\n$")
                self.assertRegex(json.loads(seen["stream"])["payload"], r"^m\d+$")
                self.assertRegex(seen["ws"], r"^m\d+\n$")
            polled = curl(serve.http("/api/poll?cursor=0&timeout=0"))
            self.assertEqual(polled.returncode, 0, polled.stderr)
            payloads = [m["payload"] for m in json.loads(polled.stdout)["messages"]]
            self.assertEqual(payloads, [f"m{i}" for i in range(1, n + 1)])

    def test_route_methods_and_unknown_paths(self):
        with FeedServe("--replay", f"llm={LLM}", "--route", "POST /chat=sse:llm",
                       "--route", "/events=sse:llm") as serve:
            wrong = curl("-o", "/dev/null", "-w", "%{http_code} ", "-D", "-", serve.http("/chat"))
            self.assertIn(b"405", wrong.stdout)
            self.assertIn(b"allow: post, options", wrong.stdout.lower())
            posted = curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                          "--max-time", "1", serve.http("/events"))
            self.assertEqual(posted.stdout, b"405")
            missing = curl("-o", "/dev/null", "-w", "%{http_code}", serve.http("/nope"))
            self.assertEqual(missing.stdout, b"404")
            # The built-in paths are still there.
            builtin = curl("-o", "/dev/null", "-w", "%{http_code}",
                           serve.http("/poll/llm?cursor=0&timeout=0"))
            self.assertEqual(builtin.stdout, b"200")

    def test_post_to_stream_route_and_ndjson(self):
        with FeedServe("--replay", LOGS, "--route", "POST /logs=stream:logs") as serve:
            text = curl("-X", "POST", serve.http("/logs"))
            self.assertEqual(text.returncode, 0, text.stderr)
            lines = text.stdout.decode().splitlines()
            self.assertEqual([json.loads(line)["seq"] for line in lines], [1, 2, 3, 4])
            framed = curl("-X", "POST", serve.http("/logs?format=ndjson"))
            records = [json.loads(line) for line in framed.stdout.decode().splitlines()]
            self.assertEqual([r["id"] for r in records], [1, 2, 3, 4])
            self.assertEqual(json.loads(records[2]["payload"])["level"], "warn")


class ReplayLoopTest(unittest.TestCase):
    def test_loop_plays_the_market_feed_again_and_again(self):
        with FeedServe("--replay", MARKET, "--replay-loop", "--replay-speed", "4",
                       "--route", "/feed=ws:market") as serve:
            got = rtx("ws", "--no-stdin", "--pick", "/data/price", "--pick", "/seq", "-n", "20",
                      "--timeout", "20s", serve.ws("/feed"))
            self.assertEqual(got.returncode, EXIT_OK, got.stderr)
            rows = [line.split("\t") for line in got.stdout.decode().splitlines()]
            seqs = [int(seq) for _, seq in rows]
            # The "end" message has no price but a seq: it is printed with an empty price.
            self.assertIn(7, seqs)
            # In order, wrapping from 7 to 1: the next pass came.
            for a, b in zip(seqs, seqs[1:]):
                self.assertEqual(b, a % 7 + 1, seqs)
            for (price, seq) in rows:
                self.assertEqual(price, PRICES[int(seq) - 1] if int(seq) <= 6 else "")

    def test_without_loop_a_get_stream_ends_quiet(self):
        # A GET subscriber that comes late gets the hub's history with ?since / lastEventId.
        with FeedServe("--replay", LOGS, "--route", "/tail=sse:logs") as serve:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                polled = curl(serve.http("/poll/logs?cursor=0&timeout=0"))
                if len(json.loads(polled.stdout)["messages"]) == 4:
                    break
                time.sleep(0.05)
            got = rtx("sse", "--no-reconnect", "--pick", "/msg", "-n", "4", "--timeout", "10s",
                      serve.http("/tail?lastEventId=0"))
            self.assertEqual(got.returncode, EXIT_OK, got.stderr)
            self.assertEqual(got.stdout.decode().splitlines(),
                             ["starting", "listening on :8080", "slow request", "done"])


class StreamingApiClientTest(unittest.TestCase):
    """--pick, --format, --until and --join on the clients, against replays."""

    def test_llm_sse_join_until_reads_as_text(self):
        with FeedServe("--replay", f"llm={LLM}", "--route", "POST /v1/chat=sse:llm") as serve:
            got = rtx("sse", "-d", '{"prompt":"hi"}', "--pick", "/choices/0/delta/content",
                      "--join", "--until", r"^\[DONE\]$", "--timeout", "20s",
                      serve.http("/v1/chat"))
            self.assertEqual(got.returncode, EXIT_OK, got.stderr)
            self.assertEqual(got.stdout, b"Hello, world!\n")

    def test_llm_sse_pick_lines_skip_non_json_and_missing(self):
        with FeedServe("--replay", f"llm={LLM}", "--route", "POST /v1/chat=sse:llm") as serve:
            # Without --until the stream ends, [DONE] and the stop chunk (no content) are
            # skipped, and the client (no reconnect) exits 0.
            got = rtx("sse", "--no-reconnect", "-d", "{}", "--pick",
                      "/choices/0/delta/content", "-v", "--timeout", "20s",
                      serve.http("/v1/chat"))
            self.assertEqual(got.returncode, EXIT_OK, got.stderr)
            self.assertEqual(got.stdout.decode().splitlines(), ["Hel", "lo", ",", " world", "!"])
            self.assertIn(b"skipped a message that is not JSON", got.stderr)
            self.assertIn(b"skipped a message without the picked members", got.stderr)

    def test_llm_format_with_pointers_and_record_keys(self):
        with FeedServe("--replay", f"llm={LLM}", "--route", "POST /v1/chat=sse:llm") as serve:
            got = rtx("sse", "-d", "{}", "--format",
                      "{id} {/choices/0/finish_reason}:{/choices/0/delta/content}",
                      "--until", "DONE", "--timeout", "20s", serve.http("/v1/chat"))
            self.assertEqual(got.returncode, EXIT_OK, got.stderr)
            self.assertEqual(got.stdout.decode().splitlines(),
                             ["1 null:Hel", "2 null:lo", "3 null:,", "4 null: world", "5 null:!",
                              "6 stop:"])

    def test_market_ws_pick_format_until(self):
        with FeedServe("--replay", MARKET, "--replay-loop",
                       "--route", "/feed=ws:market") as serve:
            # The client joins the looping feed at a random point of a pass; it prints the
            # rest of that pass and stops at the end marker. A join just before the marker
            # prints nothing: try again (each try has a ~90 % chance of joining earlier).
            for _ in range(6):
                got = rtx("ws", "--no-stdin", "--format", "{/data/symbol} {/data/price}",
                          "--until", '"type":"end"', "--timeout", "20s", serve.ws("/feed"))
                self.assertEqual(got.returncode, EXIT_OK, got.stderr)
                lines = got.stdout.decode().splitlines()
                # A tail of the prices, in order, up to the end marker.
                self.assertEqual(lines,
                                 [f"BTC-USD {p}" for p in PRICES[len(PRICES) - len(lines):]])
                if lines:
                    break
            self.assertTrue(lines)

    def test_ndjson_stream_pick_join_until(self):
        with FeedServe("--replay", LOGS, "--route", "POST /logs=stream:logs") as serve:
            got = rtx("stream", "-d", "{}", "--pick", "/level", "--join", "--until", "done",
                      "--timeout", "20s", serve.http("/logs"))
            self.assertEqual(got.returncode, EXIT_OK, got.stderr)
            self.assertEqual(got.stdout, b"infoinfowarn\n")
            lines = rtx("stream", "-d", "{}", "--format", "{/seq}. [{/level}] {/msg}",
                        "--timeout", "20s", serve.http("/logs"))
            self.assertEqual(lines.returncode, EXIT_OK, lines.stderr)
            self.assertEqual(lines.stdout.decode().splitlines(),
                             ["1. [info] starting", "2. [info] listening on :8080",
                              "3. [warn] slow request", "4. [info] done"])

    def test_poll_and_tcp_lines_pick(self):
        with Serve("--tcp-port", "0", "--no-http", "--no-mqtt") as echo:
            got = rtx("tcp", "--pick", "/a/b", "--until", "^bye$", "--timeout", "10s",
                      echo.address(), input='{"a":{"b":1}}\nnot json\n{"a":{"b":"two"}}\nbye\n')
            self.assertEqual(got.returncode, EXIT_OK, got.stderr)
            self.assertEqual(got.stdout, b"1\ntwo\n")
        with FeedServe("--replay", LOGS) as serve:
            # Each --items element is {"id":N,"payload":"{...}"}: --format picks from it.
            got = rtx("poll", "--cursor", "/cursor", "--items", "/messages", "--since", "0",
                      "--format", "{/id}={/payload}", "-n", "4", "--timeout", "20s",
                      serve.http("/poll/logs"))
            self.assertEqual(got.returncode, EXIT_OK, got.stderr)
            rows = [line.split("=", 1) for line in got.stdout.decode().splitlines()]
            self.assertEqual([json.loads(payload)["msg"] for _, payload in rows],
                             ["starting", "listening on :8080", "slow request", "done"])
            ids = [int(i) for i, _ in rows]
            self.assertEqual(ids, list(range(ids[0], ids[0] + 4)))

    def test_record_with_json_then_replay_the_recording(self):
        # The round trip: rtx sse --json URL > feed.ndjson; rtx serve --replay it.
        with FeedServe("--replay", f"llm={LLM}", "--route", "POST /v1/chat=sse:llm") as serve:
            recorded = rtx("sse", "--no-reconnect", "-d", "{}", "--json", "--timeout", "20s",
                           serve.http("/v1/chat"))
            self.assertEqual(recorded.returncode, EXIT_OK, recorded.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            feed = os.path.join(tmp, "chat.ndjson")
            with open(feed, "wb") as f:
                f.write(recorded.stdout)
            with FeedServe("--replay", feed, "--route", "POST /again=sse:chat") as serve:
                got = rtx("sse", "-d", "{}", "--pick", "/choices/0/delta/content", "--join",
                          "--until", r"^\[DONE\]$", "--timeout", "20s", serve.http("/again"))
                self.assertEqual(got.returncode, EXIT_OK, got.stderr)
                self.assertEqual(got.stdout, b"Hello, world!\n")


class UsageErrorTest(unittest.TestCase):
    def check_usage(self, args, fragment):
        got = rtx(*args)
        self.assertEqual(got.returncode, EXIT_USAGE, got.stderr)
        self.assertEqual(got.stderr.count(b"\n"), 1, got.stderr)
        self.assertIn(fragment.encode(), got.stderr)

    def test_bad_routes(self):
        for route, fragment in [
            ("/events", "not [METHODS ]PATH=KIND:TOPIC"),
            ("events=sse:t", "the path must start with /"),
            ("/e=mqtt:t", "unknown kind 'mqtt'"),
            ("DELETE /e=sse:t", "method 'DELETE' is not for a sse route"),
            ("POST /chat=sse:nothing", "no --replay file has topic 'nothing'"),
        ]:
            with self.subTest(route=route):
                self.check_usage(["serve", "--no-tcp", "--no-mqtt", "--http-port", "0",
                                  "--route", route], fragment)
        self.check_usage(["serve", "--no-tcp", "--no-mqtt", "--http-port", "0", "--route",
                          "/a=sse:t", "--route", "/a=poll:u"], "/a has a route already")
        self.check_usage(["serve", "--tcp-port", "0", "--no-mqtt", "--no-http", "--route",
                          "/a=sse:t"], "--route needs the HTTP listener")

    def test_bad_replay_files(self):
        with tempfile.TemporaryDirectory() as tmp:
            bad = os.path.join(tmp, "bad.ndjson")
            with open(bad, "w") as f:
                f.write('{"payload":"ok"}\n\n{"payload":"cut\n')
            self.check_usage(["serve", "--no-tcp", "--no-mqtt", "--http-port", "0", "--replay",
                              bad], f"{bad}:3: not a JSON object")
            empty = os.path.join(tmp, "empty.ndjson")
            open(empty, "w").close()
            self.check_usage(["serve", "--no-tcp", "--no-mqtt", "--http-port", "0", "--replay",
                              empty], "no records to replay")
            self.check_usage(["serve", "--no-tcp", "--no-mqtt", "--http-port", "0", "--replay",
                              os.path.join(tmp, "missing.ndjson")], "cannot read it")
            self.check_usage(["serve", "--no-tcp", "--no-mqtt", "--http-port", "0", "--replay",
                              LLM, "--replay-speed", "0"], "--replay-speed 0: must be above 0")
            self.check_usage(["serve", "--no-tcp", "--no-mqtt", "--http-port", "0",
                              "--replay-loop"], "need --replay")

    def test_bad_client_flags(self):
        url = "http://127.0.0.1:9/sse/x"
        for args, fragment in [
            (["sse", "--pick", "choices", url], "--pick: 'choices' is not a JSON pointer"),
            (["sse", "--format", "{nope}", url], "unknown record key '{nope}'"),
            (["sse", "--until", "[DONE", url], "--until: '[DONE' is not a regular expression"),
            (["sse", "--join", url], "--join needs --pick or --format"),
            (["sse", "--pick", "/a", "--json", url], "--pick and --json cannot be combined"),
            (["ws", "--pick", "/a", "--format", "{/a}", "ws://127.0.0.1:9/"],
             "--pick and --format exclude each other"),
            (["tcp", "--pick", "/a", "--raw", "127.0.0.1:9"], "--pick and --raw cannot be"),
            (["tcp", "-l", "127.0.0.1:0", "--until", "x"], "--until is for a client"),
        ]:
            with self.subTest(args=args):
                self.check_usage(args, fragment)


if __name__ == "__main__":
    unittest.main()
