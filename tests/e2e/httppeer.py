"""A scripted HTTP/1.1 peer for client tests: each test registers handlers per path and
reads back what the client sent. Runs in a thread of the test process, on 127.0.0.1."""
import http.server
import socketserver
import threading


class Request:
    def __init__(self, handler, body):
        self.method = handler.command
        self.path = handler.path
        self.headers = {k.lower(): v for k, v in handler.headers.items()}
        self.body = body


class Peer:
    """routes: path (without query) -> function(request, writer) where writer has
    .head(status, headers), .chunk(bytes), .end(), .close()."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self, body)
                peer.requests.append(request)
                route = peer.routes.get(self.path.split("?", 1)[0])
                writer = Writer(self)
                if route is None:
                    writer.head(404, {"Content-Length": "0"})
                    return
                route(request, writer)

            do_GET = do_POST = do_PUT = handle_any

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Writer:
    def __init__(self, handler):
        self.handler = handler
        self.chunked = False

    def head(self, status, headers=None, chunked=False):
        self.handler.send_response(status)
        for name, value in (headers or {}).items():
            self.handler.send_header(name, value)
        if chunked:
            self.chunked = True
            self.handler.send_header("Transfer-Encoding", "chunked")
        self.handler.end_headers()

    def chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.chunked:
            self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.handler.wfile.write(data)
        self.handler.wfile.flush()

    def end(self):
        if self.chunked:
            self.handler.wfile.write(b"0\r\n\r\n")
            self.handler.wfile.flush()

    def raw(self, data):
        """Sends `data` as it is, with no status line, and closes the connection: a server
        that does not speak HTTP (or speaks HTTP/0.9)."""
        self.handler.wfile.write(data)
        self.handler.wfile.flush()
        self.handler.close_connection = True

    def full(self, status, body=b"", headers=None):
        if isinstance(body, str):
            body = body.encode()
        headers = dict(headers or {})
        headers["Content-Length"] = str(len(body))
        self.head(status, headers)
        if body:
            self.handler.wfile.write(body)
            self.handler.wfile.flush()
