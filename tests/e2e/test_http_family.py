"""rtx sse / stream / poll against rtx serve: every message, in order, no duplicates; SSE
resumes across a dropped connection and a server restart; long-poll keeps up at 200/s; a
real browser's EventSource receives what is published."""
import json
import subprocess
import threading
import time
import unittest
import urllib.request

from rtxtest import EXIT_OK, RTX, Serve, free_port, read_line, take_rest
from tcpproxy import Proxy


def publish(base, topic, payload):
    request = urllib.request.Request(f"{base}/publish/{topic}", data=payload.encode(),
                                     method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def serve_http(*args, port="0"):
    return Serve("--tcp-port", "0", "--http-port", port, *args, expect=2)


def client(*args):
    return subprocess.Popen([RTX, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)


def wait_for_stream(proc):
    """Returns once the client (run with -v) has the server's 200: a message published from
    then on reaches it. A fixed sleep was too short for a sanitizer build's start-up."""
    while not read_line(proc.stderr).startswith(b"rtx: < HTTP/1.1 200"):
        pass


def finish(proc, timeout=30):
    early = take_rest(proc.stdout)
    try:
        out, err = proc.communicate(timeout=timeout)
        out = early + out
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"client did not finish: {err.decode()[-2000:]}")
    return proc.returncode, out, err


class FanOutTest(unittest.TestCase):
    def test_sse_stream_and_poll_each_receive_all_messages_in_order(self):
        n = 200
        with serve_http() as serve:
            base = serve.url("http")
            clients = {
                # Each asks for the topic's history from the start, so a message published
                # before the client's request arrived is replayed, not missed.
                "sse": client("sse", "--count", str(n), "--last-event-id", "0",
                              f"{base}/sse/fan"),
                "stream": client("stream", "--lines", "--count", str(n),
                                 f"{base}/stream/fan?since=0"),
                "poll": client("poll", "--cursor", "/cursor", "--items", "/messages",
                               "--since", "0", "--count", str(n), f"{base}/poll/fan"),
            }
            for i in range(1, n + 1):
                publish(base, "fan", f"message {i}")
            expected = [f"message {i}" for i in range(1, n + 1)]
            for name, proc in clients.items():
                with self.subTest(client=name):
                    status, out, err = finish(proc)
                    self.assertEqual(status, EXIT_OK, err)
                    lines = out.decode().splitlines()
                    if name == "poll":
                        lines = [json.loads(line)["payload"] for line in lines]
                    self.assertEqual(lines, expected)


class SseResumeTest(unittest.TestCase):
    def test_resumes_from_last_event_id_across_a_dropped_connection(self):
        with serve_http() as serve:
            base = serve.url("http")
            port = int(base.rsplit(":", 1)[1])
            proxy = Proxy(port)
            try:
                proc = client("sse", "-v", "--backoff-initial", "100ms", "--count", "20",
                              f"http://127.0.0.1:{proxy.port}/sse/resume")
                wait_for_stream(proc)
                publish(base, "resume", "1")
                self.assertEqual(read_line(proc.stdout), b"1\n")
                for i in range(2, 11):
                    publish(base, "resume", str(i))
                lines = [read_line(proc.stdout) for _ in range(9)]
                self.assertEqual(lines, [f"{i}\n".encode() for i in range(2, 11)])
                proxy.cut()  # the stream drops mid-way...
                for i in range(11, 21):
                    publish(base, "resume", str(i))  # ...while these are published
                status, out, err = finish(proc)
                self.assertEqual(status, EXIT_OK, err)
                self.assertEqual(out.decode().split(), [str(i) for i in range(11, 21)])
                self.assertGreaterEqual(proxy.accepted, 2)
                self.assertIn(b"reconnect", err)
            finally:
                proxy.close()

    def test_keeps_going_across_a_server_restart(self):
        port = str(free_port())
        first = serve_http(port=port).__enter__()
        base = first.url("http")
        proc = client("sse", "-v", "--backoff-initial", "100ms", "--backoff-max", "300ms",
                      "--count", "6", f"{base}/sse/restart")
        try:
            wait_for_stream(proc)
            for i in (1, 2, 3):
                publish(base, "restart", str(i))
            self.assertEqual([read_line(proc.stdout) for _ in range(3)], [b"1\n", b"2\n", b"3\n"])
            first.__exit__(None, None, None)
            with serve_http(port=port):
                # Published before the client is back: the new server keeps them in its
                # history and the client, resuming with an id this server has not reached,
                # gets that history replayed.
                for i in (4, 5, 6):
                    publish(base, "restart", str(i))
                status, out, err = finish(proc)
            self.assertEqual(status, EXIT_OK, err)
            self.assertEqual(out.decode().split(), ["4", "5", "6"])
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


class LongPollRateTest(unittest.TestCase):
    def test_long_poll_loses_nothing_at_200_messages_per_second(self):
        n = 600  # 3 s at 200/s
        with serve_http() as serve:
            base = serve.url("http")
            proc = client("poll", "--cursor", "/cursor", "--items", "/messages", "--since", "0",
                          "--count", str(n), f"{base}/poll/rate")

            def publisher():
                started = time.monotonic()
                for i in range(1, n + 1):
                    publish(base, "rate", str(i))
                    delay = started + i / 200 - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)

            thread = threading.Thread(target=publisher)
            thread.start()
            status, out, err = finish(proc, timeout=60)
            thread.join()
            self.assertEqual(status, EXIT_OK, err)
            ids = [json.loads(line)["payload"] for line in out.decode().splitlines()]
            self.assertEqual(ids, [str(i) for i in range(1, n + 1)])


if __name__ == "__main__":
    unittest.main()
