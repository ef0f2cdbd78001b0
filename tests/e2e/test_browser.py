"""A real browser as the client: Debian's headless Chromium, driven over the DevTools protocol
from Python (chromium.py), so these run on a fresh Debian 12 with its own packages only.

They skip when chromium is missing, unless RTX_REQUIRE_BROWSER=1 (scripts/test.sh sets it,
after installing chromium): there a missing browser is a failure, not a silent skip."""

import json
import os
import pathlib
import tempfile
import time
import unittest
import urllib.request

import chromium
from rtxtest import EXIT_OK, Serve, rtx

REQUIRED = os.environ.get("RTX_REQUIRE_BROWSER") == "1"


def publish(base, topic, payload):
    request = urllib.request.Request(f"{base}/publish/{topic}", data=payload.encode(),
                                     method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def serve_http():
    """rtx serve with only its HTTP listener: the http, ws and ws-echo endpoint lines."""
    return Serve("--no-tcp", "--http-port", "0", expect=3)


@unittest.skipUnless(REQUIRED or chromium.available(),
                     "needs Debian chromium (scripts/install-deps.sh --with-tests)")
class BrowserTest(unittest.TestCase):
    def setUp(self):
        self.browser = chromium.Chromium()
        self.addCleanup(self.browser.close)

    def test_eventsource_receives_published_events(self):
        with serve_http() as serve:
            base = serve.url("http")
            page = self.browser.new_page()
            # Mark the moment the page's own EventSource opens, whatever its script does.
            page.add_init_script("""
                const Native = window.EventSource;
                window.EventSource = function (url, init) {
                  const source = new Native(url, init);
                  source.addEventListener('open', () => { window.__rtxOpen = true; });
                  return source;
                };
                window.EventSource.prototype = Native.prototype;""")
            page.navigate(f"{base}/eventsource.html?topic=browser")
            page.wait_for("window.__rtxOpen === true")
            for text in ("hello", "from rtx", "serve"):
                publish(base, "browser", text)
            received = page.wait_for("(window.received ?? []).length >= 3 && window.received")
            self.assertEqual(received, ["hello", "from rtx", "serve"])

    def open_websocket_page(self, url):
        page = self.browser.new_page()
        page.navigate(url)
        page.wait_for("document.getElementById('state').textContent === 'open'")
        return page

    def test_websocket_echo(self):
        with serve_http() as serve:
            page = self.open_websocket_page(f"{serve.url('http')}/websocket.html")
            for text in ("hello", "wörld"):
                page.evaluate(f"window.send({json.dumps(text)})")
            received = page.wait_for("window.received.length >= 2 && window.received")
            self.assertEqual(received, ["hello", "wörld"])

    def test_websocket_topic_joins_http_publishers(self):
        with serve_http() as serve:
            base = serve.url("http")
            page = self.open_websocket_page(f"{base}/websocket.html?topic=browser")
            page.evaluate("window.send('from page')")
            time.sleep(0.2)
            publish(base, "browser", "from http")
            received = page.wait_for("window.received.length >= 2 && window.received")
            self.assertEqual(sorted(received), ["from http", "from page"])

    def test_push_page_shows_a_subscription_and_what_rtx_push_send_sends(self):
        keys = json.loads(rtx("push", "keys", "--json").stdout)
        with serve_http() as serve:
            base = serve.url("http")
            page = self.browser.new_page()
            page.navigate(f"{base}/push.html?applicationServerKey={keys['publicKey']}")
            page.wait_for("document.getElementById('state').textContent === 'listening'")
            shown = json.loads(page.evaluate(
                "document.getElementById('subscription').textContent"))
            self.assertTrue(shown["endpoint"].startswith(f"{base}/push/"), shown)
            self.assertEqual(set(shown["keys"]), {"p256dh", "auth"})
            self.assertIn("rtx push send", page.evaluate(
                "document.getElementById('command').textContent"))
            sent = rtx("push", "send", json.dumps(shown), "--vapid-key", keys["privateKey"],
                       "--ttl", "60", "-m", "hello page", "-m", "wörld ✓")
            self.assertEqual(sent.returncode, EXIT_OK, sent.stderr.decode())
            received = page.wait_for("window.received.length >= 2 && window.received")
            self.assertEqual(received, ["hello page", "wörld ✓"])
            self.assertEqual(page.evaluate(
                "document.getElementById('notifications').textContent"),
                "hello page\nwörld ✓\n")
            self.assertEqual(page.take_events("Runtime.exceptionThrown"), [])

    def test_bench_html_report_draws_its_charts_offline(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "report.html")
            result = rtx("bench", "tcp", "-c", "4", "-d", "2s", "--html", path, timeout=60)
            self.assertEqual(result.returncode, EXIT_OK, result.stderr.decode())
            page = self.browser.new_page()
            # The report must be self-contained: any request but the file itself fails it.
            refused = page.block_requests(allow_prefix="file:")
            page.navigate(pathlib.Path(path).as_uri())
            self.assertEqual(page.wait_for("typeof window.chartsRendered === 'number' && "
                                           "window.chartsRendered + 1") - 1, 3)
            for chart in ("throughput", "latency", "spectrum"):
                drawn = page.evaluate(f"""(() => {{
                    const svg = document.querySelector('#{chart} svg');
                    if (!svg) return null;
                    const box = svg.getBoundingClientRect();
                    return {{width: box.width, height: box.height,
                             points: [...svg.querySelectorAll('path.series')].map(
                                 (p) => (p.getAttribute('d').match(/[ML]/g) ?? []).length)}};
                }})()""")
                with self.subTest(chart=chart):
                    self.assertIsNotNone(drawn, "no svg")
                    self.assertGreater(drawn["width"], 0)
                    self.assertGreater(drawn["height"], 0)
                    self.assertTrue(any(n >= 1 for n in drawn["points"]), drawn)
            self.assertEqual(refused, [])
            self.assertEqual(page.take_events("Runtime.exceptionThrown"), [])


if __name__ == "__main__":
    unittest.main()
