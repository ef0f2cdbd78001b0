"""A server that is not rtx serve, for `rtx bench` against any server: Python's
http.server (stdlib only), one thread per connection.

  GET  /events   text/event-stream: every message as one SSE event
  GET  /lines    chunked text: every message as one line
  GET  /poll     long poll: the next message as the body (204 after 5 s of nothing)
  POST /publish  the body goes to every subscriber (204)

--tick MS makes the server publish its own JSON messages every MS milliseconds:
{"n": N, "ts": <time>} with ts in --ts-unit (ms, us, s or rfc3339).
--token T answers 401 to requests without "Authorization: Bearer T".
Prints "port N" on stdout once listening; runs until killed.

Run: python3 tests/e2e/foreign_sse.py --port 0 --tick 10
"""
import argparse
import datetime
import http.server
import json
import queue
import threading
import time


class Hub:
    def __init__(self):
        self.lock = threading.Lock()
        self.queues = set()

    def add(self):
        q = queue.Queue()
        with self.lock:
            self.queues.add(q)
        return q

    def remove(self, q):
        with self.lock:
            self.queues.discard(q)

    def publish(self, message):
        with self.lock:
            for q in self.queues:
                q.put(message)

    def count(self):
        with self.lock:
            return len(self.queues)


def make_handler(hub, token):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def authorized(self):
            if token is None or self.headers.get("Authorization") == "Bearer " + token:
                return True
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False

        def do_POST(self):
            if not self.authorized():
                return
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            if self.path != "/publish":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            hub.publish(body)
            self.send_response(204)
            self.end_headers()

        def do_GET(self):
            if not self.authorized():
                return
            if self.path == "/poll":
                return self.poll()
            if self.path not in ("/events", "/lines"):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            sse = self.path == "/events"
            q = hub.add()
            try:
                self.send_response(200)
                self.send_header("Content-Type",
                                 "text/event-stream" if sse else "text/plain")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.chunk(": hello\n\n" if sse else "")
                while True:
                    message = q.get()
                    self.chunk(f"data: {message}\n\n" if sse else message + "\n")
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass
            finally:
                hub.remove(q)

        def chunk(self, text):
            if not text:
                return
            data = text.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def poll(self):
            q = hub.add()
            try:
                message = q.get(timeout=5)
            except queue.Empty:
                message = None
            finally:
                hub.remove(q)
            if message is None:
                self.send_response(204)
                self.end_headers()
                return
            data = message.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def stamp(unit):
    now = time.time()
    if unit == "ms":
        return int(now * 1000)
    if unit == "us":
        return int(now * 1_000_000)
    if unit == "s":
        return now
    return datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat(
        timespec="microseconds").replace("+00:00", "Z")


def ticker(hub, interval, unit):
    n = 0
    next_at = time.monotonic()
    while True:
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
        n += 1
        hub.publish(json.dumps({"n": n, "ts": stamp(unit)}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tick", type=float, default=0, help="milliseconds; 0: none")
    parser.add_argument("--ts-unit", default="ms", choices=["ms", "us", "s", "rfc3339"])
    parser.add_argument("--token")
    args = parser.parse_args()
    hub = Hub()
    server = http.server.ThreadingHTTPServer((args.host, args.port),
                                             make_handler(hub, args.token))
    server.daemon_threads = True
    server.request_queue_size = 1024
    if args.tick > 0:
        threading.Thread(target=ticker, args=(hub, args.tick / 1000, args.ts_unit),
                         daemon=True).start()
    print("port", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
