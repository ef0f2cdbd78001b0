"""rtx serve --auth / --auth-publish-only / --cors: curl, node-ws and headless Chromium (an
EventSource and a WebSocket opened by a page of another origin)."""
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import unittest

import chromium
from rtxtest import EXIT_OK, EXIT_USAGE, Serve, popen_rtx, read_line, rtx
from wspeer import WsPeer

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIRED = os.environ.get("RTX_REQUIRE_BROWSER") == "1"


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "10", "-D", "-", *args],
                          capture_output=True, timeout=20)


def head_and_body(result):
    text = result.stdout.decode()
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(lines[0].split()[1]), headers, body


def serve_http(*args):
    return Serve("--no-tcp", "--http-port", "0", *args, expect=3)


class AuthTest(unittest.TestCase):
    def test_bearer_and_basic_on_http(self):
        with serve_http("--auth", "bearer:tok", "--auth", "basic:alice:pa:ss") as serve:
            base = serve.url("http")
            status, headers, _ = head_and_body(curl(f"{base}/poll/t?cursor=0"))
            self.assertEqual(status, 401)
            self.assertEqual(headers["www-authenticate"],
                             ['Bearer realm="rtx", Basic realm="rtx", charset="UTF-8"'])
            for creds in (["-H", "Authorization: Bearer tok"], ["-u", "alice:pa:ss"]):
                with self.subTest(creds=creds):
                    status, _, _ = head_and_body(curl(*creds, "-d", "m", f"{base}/publish/t"))
                    self.assertEqual(status, 200)
            status, _, _ = head_and_body(curl("-u", "alice:wrong", f"{base}/"))
            self.assertEqual(status, 401)
            status, _, _ = head_and_body(curl(f"{base}/publish/t?access_token=tok", "-d", "m"))
            self.assertEqual(status, 200)
            # The preflight goes without credentials, as browsers send it.
            status, _, _ = head_and_body(curl("-X", "OPTIONS", f"{base}/publish/t"))
            self.assertEqual(status, 204)
            # rtx's own client sends a header the same way.
            got = rtx("poll", f"{base}/poll/t?cursor=0", "-H", "Authorization: Bearer tok",
                      "--count", "1", timeout=20)
            unauthorized = rtx("poll", f"{base}/poll/t?cursor=0", "--count", "1", timeout=20)
            self.assertEqual(unauthorized.returncode, 8, unauthorized.stderr)  # HTTP status
            self.assertEqual(got.returncode, 0, got.stderr)
            self.assertEqual([m["payload"] for m in json.loads(got.stdout)["messages"]], ["m"] * 3)

    def test_websocket_upgrade_needs_credentials(self):
        with serve_http("--auth", "bearer:tok") as serve:
            url = serve.url("ws-echo")
            refused = rtx("ws", url, input=b"x\n", timeout=20)
            self.assertNotEqual(refused.returncode, 0)
            self.assertIn("401", refused.stderr.decode())
            echoed = rtx("ws", url, "-H", "Authorization: Bearer tok", input=b"x\n", timeout=20)
            self.assertEqual(echoed.returncode, 0, echoed.stderr)
            self.assertEqual(echoed.stdout, b"x\n")
            query = rtx("ws", url + "?access_token=tok", input=b"y\n", timeout=20)
            self.assertEqual(query.stdout, b"y\n", query.stderr)

    def test_publish_only_leaves_reading_open(self):
        with serve_http("--auth", "bearer:tok", "--auth-publish-only") as serve:
            base = serve.url("http")
            status, _, _ = head_and_body(curl("-d", "m", f"{base}/publish/t"))
            self.assertEqual(status, 401)
            status, _, _ = head_and_body(curl("-H", "Authorization: Bearer tok", "-d", "kept",
                                              f"{base}/publish/t"))
            self.assertEqual(status, 200)
            status, _, body = head_and_body(curl(f"{base}/poll/t?cursor=0"))
            self.assertEqual(status, 200)
            self.assertEqual([m["payload"] for m in json.loads(body)["messages"]], ["kept"])
            # A WebSocket client without credentials reads, and is closed (1008) when it
            # publishes.
            topic = serve.url("ws").replace("{topic}", "t")
            with WsPeer.connect(topic) as client:
                client.send_text("not allowed")
                self.assertEqual(client.read_close(), 1008)

    def test_bad_auth_specs_are_usage_errors(self):
        for args in (["--auth", "token"], ["--auth", "basic:nopass"], ["--auth-publish-only"],
                     ["--cors", "localhost:3000"]):
            with self.subTest(args=args):
                result = rtx("serve", "--no-tcp", "--no-mqtt", "--http-port", "0", *args,
                             timeout=10)
                self.assertEqual(result.returncode, EXIT_USAGE)
                self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)


ACL = """# anonymous clients
topic read public/#
user alice
topic readwrite sensors/#
topic deny sensors/secret
user bob
pattern write users/%u/inbox
"""


class MqttAclTest(unittest.TestCase):
    def test_publish_and_delivery_follow_the_acl(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "acl")
            with open(path, "w") as f:
                f.write(ACL)
            with Serve("--no-tcp", "--mqtt-port", "0", "--mqtt-acl", path) as serve:
                url = serve.url("mqtt")

                def pub(user, topic, message, *extra):
                    who = ["-u", user] if user else []
                    result = rtx("mqtt", "pub", url, *who, "-t", topic, "-m", message, "-q", "1",
                                 *extra, timeout=20)
                    self.assertEqual(result.returncode, EXIT_OK, result.stderr)

                pub("alice", "sensors/ready", "ready", "-r")
                with popen_rtx("mqtt", "sub", url, "-u", "alice", "-t", "#", "--count", "3",
                               stdin=subprocess.DEVNULL) as sub:
                    # The retained message says the subscription is in place.
                    self.assertEqual(read_line(sub.stdout, timeout=15), b"ready\n")
                    pub(None, "public/news", "anonymous may only read")
                    pub("alice", "sensors/secret", "denied")
                    pub("alice", "sensors/t1", "t1")
                    pub("bob", "users/bob/inbox", "alice may not read it")
                    pub("bob", "sensors/t2", "bob may not write it")
                    pub("alice", "sensors/t3", "t3")
                    self.assertEqual(read_line(sub.stdout, timeout=15), b"t1\n")
                    self.assertEqual(read_line(sub.stdout, timeout=15), b"t3\n")
                    self.assertEqual(sub.wait(timeout=15), EXIT_OK)
                # Delivery is checked per reader: bob, whose pattern lets him write his inbox,
                # may not read it; an anonymous client reads public/.
                pub("bob", "users/bob/inbox", "kept", "-r")
                got = rtx("mqtt", "sub", url, "-t", "users/#", "-t", "public/#",
                          "--timeout", "1s", timeout=20)
                self.assertEqual(got.stdout, b"")

    def test_bad_acl_is_a_usage_error_naming_the_line(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "acl")
            with open(path, "w") as f:
                f.write("user alice\nallow everything\n")
            result = rtx("serve", "--no-tcp", "--no-http", "--mqtt-port", "0", "--mqtt-acl",
                         path, timeout=10)
            self.assertEqual(result.returncode, EXIT_USAGE)
            self.assertIn("line 2", result.stderr.decode())
            self.assertEqual(len(result.stderr.splitlines()), 1)


class CorsTest(unittest.TestCase):
    def test_default_is_any_origin_without_credentials(self):
        with serve_http() as serve:
            status, headers, _ = head_and_body(
                curl("-H", "Origin: http://elsewhere.example", f"{serve.url('http')}/"))
            self.assertEqual(status, 200)
            self.assertEqual(headers["access-control-allow-origin"], ["*"])
            self.assertNotIn("access-control-allow-credentials", headers)

    def test_listed_origins_get_credentials_and_others_nothing(self):
        with serve_http("--cors", "http://app.example:3000") as serve:
            base = serve.url("http")
            status, headers, _ = head_and_body(curl(
                "-H", "Origin: http://app.example:3000", "-X", "OPTIONS",
                "-H", "Access-Control-Request-Method: POST", f"{base}/publish/t"))
            self.assertEqual(status, 204)
            self.assertEqual(headers["access-control-allow-origin"], ["http://app.example:3000"])
            self.assertEqual(headers["access-control-allow-credentials"], ["true"])
            self.assertIn("POST", headers["access-control-allow-methods"][0])
            self.assertIn("authorization", headers["access-control-allow-headers"][0])
            self.assertEqual(headers["vary"], ["origin"])
            status, headers, _ = head_and_body(
                curl("-H", "Origin: http://evil.example", f"{base}/"))
            self.assertEqual(status, 200)  # the browser, not the server, withholds the body
            self.assertNotIn("access-control-allow-origin", headers)


class PageServer:
    """Serves one HTML page on its own port: another origin than rtx serve's."""

    def __init__(self, html):
        page = html.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


CROSS_ORIGIN_PAGE = """<!doctype html><meta charset="utf-8"><body><script>
window.events = []; window.messages = []; window.state = {};
window.listen = (url, credentials) => {
  const source = new EventSource(url, {withCredentials: credentials});
  source.onopen = () => { window.state.sse = 'open'; };
  source.onerror = () => { window.state.sse = 'error'; source.close(); };
  source.onmessage = (e) => window.events.push(e.data);
};
window.connect = (url) => {
  const ws = new WebSocket(url);
  ws.onopen = () => { window.state.ws = 'open'; ws.send('from the page'); };
  ws.onclose = (e) => { window.state.ws = 'closed ' + e.code; };
  ws.onmessage = (e) => window.messages.push(e.data);
};
window.publish = (url, body) => fetch(url, {method: 'POST', body,
    headers: {'Authorization': 'Bearer tok', 'Content-Type': 'text/plain'}})
  .then((r) => r.status, (e) => 'failed: ' + e);
</script>"""


@unittest.skipUnless(REQUIRED or chromium.available(),
                     "needs Debian chromium (scripts/install-deps.sh --with-tests)")
class BrowserCorsTest(unittest.TestCase):
    def setUp(self):
        self.pages = PageServer(CROSS_ORIGIN_PAGE)
        self.addCleanup(self.pages.close)
        self.browser = chromium.Chromium()
        self.addCleanup(self.browser.close)

    def test_eventsource_with_credentials_websocket_and_preflighted_publish(self):
        with serve_http("--cors", self.pages.origin, "--auth", "bearer:tok") as serve:
            base = serve.url("http")
            page = self.browser.new_page()
            page.navigate(self.pages.origin + "/")
            page.evaluate(f"window.listen({json.dumps(base + '/sse/cross?access_token=tok')},"
                          " true)")
            page.wait_for("window.state.sse === 'open'")
            ws = serve.url("ws").replace("{topic}", "cross") + "?access_token=tok"
            page.evaluate(f"window.connect({json.dumps(ws)})")
            page.wait_for("window.state.ws === 'open'")
            # POST with Authorization and a JSON-less content type: preflighted.
            status = page.evaluate(
                f"window.publish({json.dumps(base + '/publish/cross')}, 'from fetch')")
            self.assertEqual(status, 200)
            events = page.wait_for("window.events.length >= 2 && window.events")
            self.assertEqual(sorted(events), ["from fetch", "from the page"])

    def test_an_origin_not_listed_cannot_read(self):
        with serve_http("--cors", "http://other.example") as serve:
            page = self.browser.new_page()
            page.navigate(self.pages.origin + "/")
            page.evaluate(f"window.listen({json.dumps(serve.url('http') + '/sse/x')}, true)")
            self.assertEqual(page.wait_for("window.state.sse"), "error")


if __name__ == "__main__":
    unittest.main()
