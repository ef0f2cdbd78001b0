"""rtx push: VAPID keys, and `rtx push send` against an independent push service that
decrypts (npm web-push-testing, pinned in tests/push/package-lock.json; scripts/test.sh runs
`npm ci` there) and against a scripted HTTP/1.1 push service in this file that answers what
a test asks for (410, 413, 429 with Retry-After, 5xx) and records the requests it got."""

import base64
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

from rtxtest import EXIT_OK, EXIT_USAGE, Serve, free_port, popen_rtx, read_line, rtx

EXIT_HTTP_STATUS = 8
EXIT_GONE = 14
EXIT_TOO_LARGE = 15
EXIT_RATE_LIMITED = 16
PUSH_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "push")
WPT_SERVER = os.path.join(PUSH_DIR, "node_modules", "web-push-testing", "src", "bin",
                          "server.js")
WEB_PUSH = os.path.join(PUSH_DIR, "node_modules", "web-push")
WEB_PUSH_REQUEST = os.path.join(PUSH_DIR, "web_push_request.js")


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_keys():
    result = rtx("push", "keys", "--json")
    assert result.returncode == 0, result.stderr
    keys = json.loads(result.stdout)
    return keys["publicKey"], keys["privateKey"]


# A valid subscription for the scripted service: RFC 8291 Appendix A's user agent keys.
UA_PUBLIC = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"


def subscription(endpoint, p256dh=UA_PUBLIC, auth=AUTH):
    return json.dumps({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})


class WebPushTesting:
    """npm web-push-testing's server on a free port: it decrypts what it is sent."""

    def __init__(self):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(["node", WPT_SERVER, str(self.port)],
                                     stdout=subprocess.PIPE, stderr=self.log)
        line = read_line(self.proc.stdout, timeout=30)
        if b"running" not in line:
            raise RuntimeError(f"web-push-testing did not start: {line!r}")

    def call(self, path, body):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                         data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def subscribe(self, application_server_key):
        data = self.call("/subscribe", {"applicationServerKey": application_server_key})["data"]
        # The service names itself "localhost"; loopback by address keeps IPv6 out of it.
        data["endpoint"] = data["endpoint"].replace("localhost", "127.0.0.1")
        return data

    def messages(self, client_hash):
        return self.call("/get-notifications", {"clientHash": client_hash})["data"]["messages"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.log.close()


class ScriptedPushService:
    """An HTTP/1.1 keep-alive push service: answers each POST with the next scripted
    (status, headers, body), then 201 with a Location; records requests and connections."""

    def __init__(self, script=()):
        self.script = list(script)
        self.requests = []
        self.connections = 0
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                service.connections += 1

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                service.requests.append((time.monotonic(), dict(self.headers), body))
                status, headers, reply = (service.script.pop(0) if service.script else
                                          (201, {"Location": f"/m/{len(service.requests)}"},
                                           b""))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/push/abc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class PushKeysTest(unittest.TestCase):
    def test_keys_text_json_and_pem(self):
        text = rtx("push", "keys")
        self.assertEqual(text.returncode, EXIT_OK, text.stderr)
        lines = text.stdout.decode().split("\n")
        self.assertEqual(lines[0], "Public Key:")
        self.assertEqual(len(unb64(lines[1])), 65)
        self.assertEqual(unb64(lines[1])[0], 4)
        self.assertEqual(lines[3], "Private Key:")
        self.assertEqual(len(unb64(lines[4])), 32)

        public, private = new_keys()
        self.assertEqual(len(unb64(public)), 65)
        self.assertEqual(len(unb64(private)), 32)
        self.assertNotEqual(new_keys(), (public, private))

        pem = rtx("push", "keys", "--pem")
        self.assertEqual(pem.returncode, EXIT_OK, pem.stderr)
        self.assertTrue(pem.stdout.startswith(b"-----BEGIN PRIVATE KEY-----\n"))
        self.assertIn(b"-----BEGIN PUBLIC KEY-----\n", pem.stdout)
        if shutil.which("openssl"):
            checked = subprocess.run(["openssl", "pkey", "-noout", "-check"], input=pem.stdout,
                                     capture_output=True)
            self.assertEqual(checked.returncode, 0, checked.stderr)

        both = rtx("push", "keys", "--json", "--pem")
        self.assertEqual(both.returncode, EXIT_USAGE)
        self.assertEqual(both.stdout, b"")

    def test_push_without_a_subcommand_is_a_usage_error(self):
        result = rtx("push")
        self.assertEqual(result.returncode, EXIT_USAGE)
        self.assertIn(b"keys or send", result.stderr)


@unittest.skipUnless(shutil.which("node") and os.path.exists(WPT_SERVER),
                     "node or tests/push/node_modules missing (run `npm ci` in tests/push; "
                     "scripts/test.sh does)")
class SendToWebPushTestingTest(unittest.TestCase):
    """web-push-testing checks the VAPID token against the applicationServerKey the
    subscription was made with, and decrypts each message with http_ece."""

    def test_messages_from_flags_and_stdin_lines_arrive_decrypted(self):
        public, private = new_keys()
        with WebPushTesting() as service:
            data = service.subscribe(public)
            sub = json.dumps({"endpoint": data["endpoint"], "keys": data["keys"]})
            sent = rtx("push", "send", sub, "--vapid-key", private, "--subject",
                       "mailto:tests@example.org", "-m", "hello", "-m", "ünïcode ✓")
            self.assertEqual(sent.returncode, EXIT_OK, sent.stderr)
            self.assertEqual(sent.stdout, b"201 Created\n201 Created\n")

            lines = "".join(f"line {i}\n" for i in range(20))
            with tempfile.NamedTemporaryFile("w", suffix=".json") as sub_file:
                sub_file.write(sub)
                sub_file.flush()
                piped = rtx("push", "send", sub_file.name, "--vapid-key", private, "--json",
                            "--ttl", "60", "--urgency", "high", input=lines)
            self.assertEqual(piped.returncode, EXIT_OK, piped.stderr)
            records = [json.loads(line) for line in piped.stdout.splitlines()]
            self.assertEqual(len(records), 20)
            self.assertEqual({r["status"] for r in records}, {201})
            self.assertEqual(records[0]["protocol"], "push")

            self.assertEqual(service.messages(data["clientHash"]),
                             ["hello", "ünïcode ✓"] + [f"line {i}" for i in range(20)])

    def test_a_key_other_than_the_subscriptions_is_refused_by_the_service(self):
        public, _ = new_keys()
        _, other_private = new_keys()
        with WebPushTesting() as service:
            data = service.subscribe(public)
            sub = json.dumps({"endpoint": data["endpoint"], "keys": data["keys"]})
            sent = rtx("push", "send", sub, "--vapid-key", other_private, "-m", "x")
            self.assertNotEqual(sent.returncode, EXIT_OK)
            self.assertEqual(sent.stderr.count(b"\n"), 1, sent.stderr)
            self.assertTrue(sent.stderr.startswith(b"rtx: error: push to "), sent.stderr)
            self.assertEqual(service.messages(data["clientHash"]), [])


class SendToScriptedServiceTest(unittest.TestCase):
    def send(self, service, *args, input=None):
        _, private = new_keys()
        return rtx("push", "send", subscription(service.endpoint), "--vapid-key", private, *args,
                   input=input)

    def test_headers_and_one_keep_alive_connection(self):
        with ScriptedPushService() as service:
            result = self.send(service, "--ttl", "30", "--urgency", "low", "--topic", "news_1",
                               "--subject", "https://example.org/contact", "-H", "X-Extra: 1",
                               input="a\nb\nc\n")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            port = service.server.server_address[1]
            self.assertEqual(result.stdout.decode().splitlines(),
                             [f"201 Created /m/{i}" for i in (1, 2, 3)])
            self.assertEqual(service.connections, 1)
            _, headers, body = service.requests[0]
            self.assertEqual(headers["TTL"], "30")
            self.assertEqual(headers["Urgency"], "low")
            self.assertEqual(headers["Topic"], "news_1")
            self.assertEqual(headers["Content-Encoding"], "aes128gcm")
            self.assertEqual(headers["X-Extra"], "1")
            self.assertNotIn("Expect", headers)
            # The body: salt, rs 4096, a 65-octet keyid, one record of 1 + 1 + 16 octets.
            self.assertEqual(len(body), 86 + 18)
            self.assertEqual(body[16:21], b"\x00\x00\x10\x00\x41")
            scheme, params = headers["Authorization"].split(" ", 1)
            self.assertEqual(scheme, "vapid")
            fields = dict(p.strip().split("=", 1) for p in params.split(","))
            header, claims, signature = fields["t"].split(".")
            self.assertEqual(json.loads(unb64(header)), {"typ": "JWT", "alg": "ES256"})
            claims = json.loads(unb64(claims))
            self.assertEqual(claims["aud"], f"http://127.0.0.1:{port}")
            self.assertEqual(claims["sub"], "https://example.org/contact")
            self.assertAlmostEqual(claims["exp"], time.time() + 12 * 3600, delta=120)
            self.assertEqual(len(unb64(signature)), 64)
            self.assertEqual(len(unb64(fields["k"])), 65)
            # Every message has its own salt and key.
            self.assertEqual(len({body[:86] for _, _, body in service.requests}), 3)

    def test_status_codes_map_to_exit_codes(self):
        cases = [(404, EXIT_GONE), (410, EXIT_GONE), (413, EXIT_TOO_LARGE),
                 (429, EXIT_RATE_LIMITED), (401, EXIT_HTTP_STATUS), (500, EXIT_HTTP_STATUS)]
        for status, code in cases:
            with self.subTest(status=status), ScriptedPushService(
                    [(status, {}, b"push service says no\nsecond line")]) as service:
                result = self.send(service, "-m", "first", "-m", "never sent")
                self.assertEqual(result.returncode, code, result.stderr)
                self.assertEqual(len(service.requests), 1)
                self.assertTrue(result.stdout.decode().startswith(f"{status} "), result.stdout)
                self.assertEqual(result.stderr.count(b"\n"), 1)
                self.assertIn(f"{status}".encode(), result.stderr)
                self.assertIn(b"push service says no", result.stderr)

    def test_retry_honours_retry_after(self):
        script = [(429, {"Retry-After": "1"}, b""), (503, {"Retry-After": "1"}, b"")]
        with ScriptedPushService(script) as service:
            result = self.send(service, "--retry", "2", "--json", "-m", "eventually")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            times = [t for t, _, _ in service.requests]
            self.assertEqual(len(times), 3)
            self.assertGreaterEqual(times[1] - times[0], 0.9)
            self.assertGreaterEqual(times[2] - times[1], 0.9)
            record = json.loads(result.stdout)
            self.assertEqual((record["status"], record["location"]), (201, "/m/3"))
        with ScriptedPushService([(429, {"Retry-After": "1"}, b"slow down")] * 2) as service:
            result = self.send(service, "--retry", "1", "-m", "x")
            self.assertEqual(result.returncode, EXIT_RATE_LIMITED, result.stderr)
            self.assertEqual(len(service.requests), 2)

    def test_bad_input_is_one_line_an_exit_code_and_nothing_on_stdout(self):
        _, private = new_keys()
        endpoint = "http://127.0.0.1:9/push/x"
        good = subscription(endpoint)
        cases = [
            ([good[:-2], "--vapid-key", private, "-m", "x"], EXIT_USAGE, b"JSON"),
            ([json.dumps({"keys": {}}), "--vapid-key", private, "-m", "x"], EXIT_USAGE,
             b"endpoint"),
            ([subscription(endpoint, p256dh=b64(unb64(UA_PUBLIC)[:64])), "--vapid-key",
              private, "-m", "x"], EXIT_USAGE, b"64 octets"),
            ([subscription(endpoint, auth=b64(b"short")), "--vapid-key", private, "-m", "x"],
             EXIT_USAGE, b"not 16"),
            ([good, "--vapid-key", b64(b"\x01" * 31), "-m", "x"], EXIT_USAGE, b"32 octets"),
            ([good, "-m", "x"], EXIT_USAGE, b"--vapid-key is required"),
            ([good, "--vapid-key", private, "-m", "x" * 3994], EXIT_TOO_LARGE, b"3993"),
            ([good, "--vapid-key", private, "--vapid-exp", "25h", "-m", "x"], EXIT_USAGE,
             b"24h"),
            ([good, "--vapid-key", private, "--topic", "not a topic", "-m", "x"], EXIT_USAGE,
             b"--topic"),
            ([good, "--vapid-key", private, "--subject", "me@example.org", "-m", "x"],
             EXIT_USAGE, b"mailto:"),
            (["/no/such/file.json", "--vapid-key", private, "-m", "x"], EXIT_USAGE,
             b"cannot read"),
        ]
        for args, code, words in cases:
            with self.subTest(args=args[1:]):
                result = rtx("push", "send", *args)
                self.assertEqual(result.returncode, code, result.stderr)
                self.assertEqual(result.stdout, b"")
                self.assertEqual(result.stderr.count(b"\n"), 1, result.stderr)
                self.assertTrue(result.stderr.startswith(b"rtx: error: "), result.stderr)
                self.assertIn(words, result.stderr)

    def test_subscription_from_stdin_and_key_from_pem_file(self):
        pem = rtx("push", "keys", "--pem").stdout
        with ScriptedPushService() as service, tempfile.NamedTemporaryFile() as key_file:
            key_file.write(pem)
            key_file.flush()
            result = rtx("push", "send", "-", "--vapid-key", key_file.name, "-m", "from pem",
                         input=subscription(service.endpoint))
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertEqual(len(service.requests), 1)
            no_message = rtx("push", "send", "-", "--vapid-key", key_file.name,
                             input=subscription(service.endpoint))
            self.assertEqual(no_message.returncode, EXIT_USAGE)


class ServePush:
    """`rtx serve` with only its HTTP listener, on a free port, and its mock push service."""

    def __init__(self, *args):
        self.serve = Serve("--tcp-port", "0", "--http-port", "0", *args, expect=2)

    def __enter__(self):
        self.serve.__enter__()
        self.base = self.serve.url("http")
        return self

    def __exit__(self, *exc):
        self.serve.__exit__(*exc)

    def request(self, method, path, body=None, headers=None):
        """(status, headers, body) of one request; error statuses are returned, not raised."""
        url = path if path.startswith("http") else self.base + path
        # urllib sets Content-Length from the body; web-push's own may not match a body a
        # test changed.
        headers = {k: v for k, v in (headers or {}).items() if k.lower() != "content-length"}
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def subscribe(self, **options):
        status, headers, body = self.request("POST", "/push/subscribe",
                                             json.dumps(options).encode() if options else None)
        assert status == 201, (status, body)
        sub = json.loads(body)
        self.last_id = sub["endpoint"].rsplit("/", 1)[1]
        return sub

    def messages(self, sub):
        push_id = sub["endpoint"].rsplit("/", 1)[1]
        status, _, body = self.request("GET", f"/push/{push_id}/messages")
        assert status == 200, (status, body)
        return json.loads(body)["messages"]

    def states(self, sub):
        return [(m["payload"], m["state"]) for m in self.messages(sub)]

    def receipt_subscription(self):
        status, headers, body = self.request("POST", "/push/receipts")
        assert status == 201, (status, body)
        return headers["location"]


def web_push_request(sub, payload, public, private, **extra):
    """The request npm web-push builds for `payload` (tests/push/web_push_request.js)."""
    options = {"subscription": sub, "payload": payload, "publicKey": public,
               "privateKey": private, "subject": "mailto:tests@example.org", "ttl": 60, **extra}
    result = subprocess.run(["node", WEB_PUSH_REQUEST, json.dumps(options)], capture_output=True,
                            timeout=60, cwd=PUSH_DIR)
    assert result.returncode == 0, result.stderr
    details = json.loads(result.stdout)
    return details["headers"], base64.b64decode(details["body"])


class ServePushTest(unittest.TestCase):
    """rtx serve's mock push service: rtx push send and npm web-push deliver to it; the
    plaintext reaches /push/{id}/messages and hub subscribers on /sse/push/{id}."""

    def test_rtx_push_send_to_rtx_serve_to_rtx_sse(self):
        public, private = new_keys()
        with ServePush() as service:
            sub = service.subscribe(applicationServerKey=public)
            push_id = service.last_id
            self.assertTrue(sub["endpoint"].startswith(service.base + "/push/"))
            self.assertEqual(len(unb64(sub["keys"]["p256dh"])), 65)
            self.assertEqual(len(unb64(sub["keys"]["auth"])), 16)
            with popen_rtx("sse", "-v", "--count", "3", "--json", "--no-reconnect",
                           f"{service.base}/sse/push/{push_id}?lastEventId=0") as sse:
                # Connected before the pushes: all three share a Topic, and for a
                # subscriber that is not connected yet each would replace the one before.
                while not read_line(sse.stderr).startswith(b"rtx: < HTTP/1.1 200"):
                    pass
                sent = rtx("push", "send", json.dumps(sub), "--vapid-key", private, "--subject",
                           "mailto:tests@example.org", "--ttl", "120", "--urgency", "high",
                           "--topic", "scores", "-m", "one", "-m", "twö", "-m", "3")
                self.assertEqual(sent.returncode, EXIT_OK, sent.stderr)
                lines = sent.stdout.decode().splitlines()
                self.assertEqual(lines, [f"201 Created {service.base}/push/{push_id}/messages/{n}"
                                         for n in (1, 2, 3)])
                received = []
                while len(received) < 3:
                    record = json.loads(read_line(sse.stdout, timeout=20))
                    if record["event"] == "message":  # not the open record
                        received.append(record)
                self.assertEqual([r["payload"] for r in received], ["one", "twö", "3"])
                self.assertEqual(sse.wait(timeout=20), EXIT_OK)
            listed = service.messages(sub)
            self.assertEqual([m["payload"] for m in listed], ["one", "twö", "3"])
            self.assertEqual(listed[0]["ttl"], 120)
            self.assertEqual(listed[0]["urgency"], "high")
            self.assertEqual(listed[0]["topic"], "scores")

            # DELETE ends the subscription: the next push is 410, exit status 14 (gone).
            status, _, _ = service.request("DELETE", f"/push/{push_id}")
            self.assertEqual(status, 204)
            gone = rtx("push", "send", json.dumps(sub), "--vapid-key", private, "-m", "late")
            self.assertEqual(gone.returncode, EXIT_GONE, gone.stderr)
            self.assertEqual(gone.stdout, b"410 Gone\n")

    def test_vapid_is_checked(self):
        public, private = new_keys()
        other_public, other_private = new_keys()
        with ServePush() as service:
            sub = json.dumps(service.subscribe(applicationServerKey=public))
            wrong_key = rtx("push", "send", sub, "--vapid-key", other_private, "-m", "x")
            self.assertEqual(wrong_key.returncode, EXIT_HTTP_STATUS)
            self.assertIn(b"403 Forbidden", wrong_key.stderr)
            # A token for another audience: the service is reached under another Host name.
            wrong_audience = rtx("push", "send", sub, "--vapid-key", private, "-H",
                                 "Host: push.example.net", "-m", "x")
            self.assertEqual(wrong_audience.returncode, EXIT_HTTP_STATUS)
            self.assertEqual(wrong_audience.stdout.split(b" ")[0], b"401")
            self.assertEqual(wrong_audience.stderr.count(b"\n"), 1, wrong_audience.stderr)
            self.assertIn(b"aud", wrong_audience.stderr)
            # Without an applicationServerKey any key is accepted, if its token verifies.
            open_sub = json.dumps(service.subscribe())
            fine = rtx("push", "send", open_sub, "--vapid-key", other_private, "-m", "x")
            self.assertEqual(fine.returncode, EXIT_OK, fine.stderr)

    def test_fault_modes(self):
        _, private = new_keys()
        cases = [({"fault": 410}, EXIT_GONE), ({"fault": 404}, EXIT_GONE),
                 ({"fault": 413}, EXIT_TOO_LARGE), ({"fault": 429}, EXIT_RATE_LIMITED),
                 ({"fault": 503}, EXIT_HTTP_STATUS)]
        with ServePush() as service:
            for options, code in cases:
                with self.subTest(options=options):
                    sub = json.dumps(service.subscribe(**options))
                    result = rtx("push", "send", sub, "--vapid-key", private, "-m", "x")
                    self.assertEqual(result.returncode, code, result.stderr)
                    self.assertTrue(result.stdout.startswith(str(options["fault"]).encode()))
            sub = service.subscribe(fault=429, faultCount=1, retryAfter=1)
            started = time.monotonic()
            result = rtx("push", "send", json.dumps(sub), "--vapid-key", private, "--retry", "2",
                         "-m", "after the wait")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertGreaterEqual(time.monotonic() - started, 0.9)
            self.assertEqual([m["payload"] for m in service.messages(sub)], ["after the wait"])

    def test_push_page(self):
        with ServePush() as service:
            status, headers, body = service.request("GET", "/push.html")
            self.assertEqual(status, 200)
            self.assertTrue(headers["content-type"].startswith("text/html"))
            for needle in (b"fetch('/push/subscribe'", b"new EventSource('/sse/push/'",
                           b"window.received"):
                self.assertIn(needle, body)
            _, _, index = service.request("GET", "/")
            self.assertIn(b'href="/push.html"', index)

    def test_ttl_zero_without_a_listener_is_dropped(self):
        _, private = new_keys()
        with ServePush() as service:
            sub = service.subscribe()
            result = rtx("push", "send", json.dumps(sub), "--vapid-key", private, "--ttl", "0",
                          "-m", "now or never")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertEqual(service.states(sub), [("now or never", "dropped")])

    def test_a_subscriber_connecting_later_gets_what_ttl_and_topic_left_pending(self):
        _, private = new_keys()
        with ServePush() as service:
            sub = service.subscribe()
            push_id = service.last_id

            def send(*args):
                result = rtx("push", "send", json.dumps(sub), "--vapid-key", private, *args)
                self.assertEqual(result.returncode, EXIT_OK, result.stderr)

            send("--ttl", "60", "-m", "kept")
            send("--ttl", "60", "--topic", "score", "-m", "score 1")
            send("--ttl", "60", "--topic", "score", "-m", "score 2")
            send("--ttl", "0", "-m", "now or never")
            send("--ttl", "1", "-m", "expires")
            states = service.states(sub)
            self.assertEqual(states[:4], [
                ("kept", "pending"), ("score 1", "replaced"), ("score 2", "pending"),
                ("now or never", "dropped")])
            self.assertIn(states[4], [("expires", "pending"), ("expires", "expired")])
            time.sleep(1.5)
            self.assertEqual(service.states(sub)[4], ("expires", "expired"))
            # Connecting is subscribing to push/{id}: what is still pending arrives, in order.
            sse = rtx("sse", "--count", "2", "--no-reconnect", "--timeout", "20s",
                      f"{service.base}/sse/push/{push_id}")
            self.assertEqual(sse.returncode, EXIT_OK, sse.stderr)
            self.assertEqual(sse.stdout.decode().splitlines(), ["kept", "score 2"])
            self.assertEqual(service.states(sub), [
                ("kept", "delivered"), ("score 1", "replaced"), ("score 2", "delivered"),
                ("now or never", "dropped"), ("expires", "expired")])

    def test_a_pending_push_does_not_hold_up_shutdown(self):
        _, private = new_keys()
        with ServePush() as service:
            sub = service.subscribe()
            result = rtx("push", "send", json.dumps(sub), "--vapid-key", private, "--ttl", "600",
                         "-m", "waits")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            started = time.monotonic()
            self.assertEqual(service.serve.stop(), EXIT_OK)
            # Not the 2 s grace for connections that do not close: nothing waits.
            self.assertLess(time.monotonic() - started, 1.5)

    def test_receipts(self):
        _, private = new_keys()
        with ServePush() as service:
            sub = service.subscribe()
            push_id = service.last_id
            receipt = service.receipt_subscription()
            self.assertTrue(receipt.startswith(service.base + "/push/receipts/"), receipt)
            receipt_topic = receipt[len(service.base) + 1:]
            with popen_rtx("sse", "--count", "2", "--no-reconnect",
                           f"{service.base}/sse/{receipt_topic}?lastEventId=0") as watch:
                late = rtx("push", "send", json.dumps(sub), "--vapid-key", private, "--ttl", "1",
                           "--receipt", receipt, "-m", "nobody reads this")
                self.assertEqual(late.returncode, EXIT_OK, late.stderr)
                self.assertEqual(late.stdout.decode(),
                                 f"202 Accepted {service.base}/push/{push_id}/messages/1\n")
                # Nobody connected within its TTL: a 410 receipt, sent when it expires.
                self.assertEqual(json.loads(read_line(watch.stdout, timeout=20)),
                                 {"message": f"{service.base}/push/{push_id}/messages/1",
                                  "status": 410})
                # Delivered (at once, or when the reader has subscribed): a 204 receipt.
                with popen_rtx("sse", "--count", "1", "--no-reconnect",
                               f"{service.base}/sse/push/{push_id}") as reader:
                    read = rtx("push", "send", json.dumps(sub), "--vapid-key", private,
                               "--receipt", receipt, "--json", "-m", "read")
                    self.assertEqual(read.returncode, EXIT_OK, read.stderr)
                    self.assertEqual(json.loads(read.stdout)["status"], 202)
                    self.assertEqual(read_line(reader.stdout, timeout=20), b"read\n")
                self.assertEqual(json.loads(read_line(watch.stdout, timeout=20)),
                                 {"message": f"{service.base}/push/{push_id}/messages/2",
                                  "status": 204})
            status, _, body = service.request("GET", f"/push/receipts/{receipt.rsplit('/')[-1]}")
            self.assertEqual(status, 200)
            self.assertEqual([r["status"] for r in json.loads(body)["receipts"]], [410, 204])
            # An unknown receipt subscription is refused; without --receipt the answer is 201.
            bad = rtx("push", "send", json.dumps(sub), "--vapid-key", private, "--receipt",
                      f"{service.base}/push/receipts/nope", "-m", "x")
            self.assertEqual(bad.returncode, EXIT_HTTP_STATUS)
            self.assertIn(b"400", bad.stderr)
            self.assertEqual(bad.stderr.count(b"\n"), 1)
            usage = rtx("push", "send", json.dumps(sub), "--vapid-key", private, "--receipt",
                        "receipts/1", "-m", "x")
            self.assertEqual(usage.returncode, EXIT_USAGE)
            self.assertEqual(usage.stdout, b"")

    def test_server_wide_fault_flag(self):
        _, private = new_keys()
        for fault, code in (("410", EXIT_GONE), ("413", EXIT_TOO_LARGE),
                            ("429", EXIT_RATE_LIMITED), ("503", EXIT_HTTP_STATUS)):
            with self.subTest(fault=fault), ServePush("--push-fault", fault) as service:
                sub = json.dumps(service.subscribe())
                result = rtx("push", "send", sub, "--vapid-key", private, "-m", "x", "-m", "y")
                self.assertEqual(result.returncode, code, result.stderr)
                self.assertEqual(result.stdout.decode().split(" ")[0], fault)
                self.assertIn(b"--push-fault", result.stderr)
        # Every other push gets 429 with Retry-After: 1; --retry waits and sends it again.
        with ServePush("--push-fault", "429:1@0.5") as service:
            sub = service.subscribe()
            started = time.monotonic()
            result = rtx("push", "send", json.dumps(sub), "--vapid-key", private, "--retry", "1",
                         "--ttl", "60", "-m", "first", "-m", "second")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertGreaterEqual(time.monotonic() - started, 0.9)
            self.assertEqual(len(result.stdout.splitlines()), 2)
            self.assertEqual([m["payload"] for m in service.messages(sub)], ["first", "second"])
        for bad in ("200", "429:x", "503@2", "abc"):
            with self.subTest(bad=bad):
                result = rtx("serve", "--no-tcp", "--no-mqtt", "--http-port", "0",
                             "--push-fault", bad)
                self.assertEqual(result.returncode, EXIT_USAGE)
                self.assertEqual(result.stdout, b"")
                self.assertEqual(result.stderr.count(b"\n"), 1, result.stderr)
                self.assertIn(b"--push-fault", result.stderr)

    @unittest.skipUnless(shutil.which("node") and os.path.isdir(WEB_PUSH),
                         "node or tests/push/node_modules missing (run `npm ci` in tests/push; "
                         "scripts/test.sh does)")
    def test_npm_web_push_delivers_and_bad_requests_are_refused(self):
        public, private = new_keys()
        with ServePush() as service:
            sub = service.subscribe(applicationServerKey=public)
            push_id = service.last_id
            with popen_rtx("sse", "--count", "1", "--no-reconnect",
                           f"{service.base}/sse/push/{push_id}?lastEventId=0") as sse:
                headers, body = web_push_request(sub, "from web-push ✓", public, private)
                status, answer, _ = service.request("POST", sub["endpoint"], body, headers)
                self.assertEqual(status, 201)
                self.assertIn(f"/push/{push_id}/messages/1", answer["location"])
                self.assertEqual(read_line(sse.stdout, timeout=20).decode().rstrip("\n"),
                                 "from web-push ✓")
            self.assertEqual([m["payload"] for m in service.messages(sub)], ["from web-push ✓"])

            now = int(time.time())
            refusals = [
                ({"expiration": now - 60}, {}, 401),
                ({"audience": "https://push.example.net"}, {}, 401),
                ({}, {"TTL": None}, 400),
                ({}, {"Urgency": "urgent"}, 400),
                ({}, {"Content-Encoding": "aesgcm"}, 415),
                ({}, {"Authorization": None}, 401),
            ]
            for extra, header_changes, expected in refusals:
                with self.subTest(extra=extra, headers=header_changes):
                    headers, body = web_push_request(sub, "refused", public, private, **extra)
                    for name, value in header_changes.items():
                        if value is None:
                            headers.pop(name, None)
                        else:
                            headers[name] = value
                    status, _, reply = service.request("POST", sub["endpoint"], body, headers)
                    self.assertEqual(status, expected, reply)
            headers, body = web_push_request(sub, "x", public, private)
            status, _, _ = service.request("POST", sub["endpoint"], body + b"\0" * 4096, headers)
            self.assertEqual(status, 413)
            self.assertEqual(len(service.messages(sub)), 1)


if __name__ == "__main__":
    unittest.main()
