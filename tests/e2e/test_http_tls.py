"""HTTP clients over TLS and HTTP/2 (nghttpd, Debian nghttp2-server, as the independent h2
server) and through a proxy."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from httppeer import Peer
from rtxtest import EXIT_OK, EXIT_TLS, free_port, rtx
from test_tcp_tls import make_pki


@unittest.skipUnless(shutil.which("nghttpd"), "needs nghttpd (Debian nghttp2-server)")
class Http2TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        make_pki(cls.tmp.name)
        cls.ca = os.path.join(cls.tmp.name, "ca.pem")
        docs = os.path.join(cls.tmp.name, "docs")
        os.mkdir(docs)
        with open(os.path.join(docs, "hello.txt"), "w") as f:
            f.write("hello over h2\nsecond line\n")
        cls.port = free_port()
        cls.server = subprocess.Popen(
            ["nghttpd", "-a", "127.0.0.1", "-d", docs, str(cls.port),
             os.path.join(cls.tmp.name, "server.key"), os.path.join(cls.tmp.name, "server.pem")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", cls.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait()
        cls.tmp.cleanup()

    def url(self):
        return f"https://localhost:{self.port}/hello.txt"

    def test_verified_https_negotiates_http2(self):
        result = rtx("-v", "stream", "--cacert", self.ca, self.url())
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"hello over h2\nsecond line\n")
        self.assertIn(b"< HTTP/2 200", result.stderr)

    def test_lines_over_http2(self):
        result = rtx("stream", "--lines", "--count", "1", "--cacert", self.ca, self.url())
        self.assertEqual(result.stdout, b"hello over h2\n")

    def test_untrusted_certificate_is_exit_4(self):
        result = rtx("stream", self.url())
        self.assertEqual(result.returncode, EXIT_TLS)
        self.assertEqual(result.stdout, b"")
        self.assertEqual(len(result.stderr.splitlines()), 1)

    def test_insecure_skips_verification(self):
        result = rtx("stream", "-k", self.url())
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)


class ProxyTest(unittest.TestCase):
    def test_request_goes_through_the_proxy(self):
        proxy = Peer()
        try:
            target = f"http://127.0.0.1:{free_port()}/feed"
            # A forward proxy receives the absolute URL as the request target.
            proxy.routes[target] = lambda r, w: w.full(200, "via proxy\n",
                                                       {"Content-Type": "text/plain"})
            result = rtx("stream", "--proxy", f"http://127.0.0.1:{proxy.port}", target)
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertEqual(result.stdout, b"via proxy\n")
            self.assertEqual(proxy.requests[0].path, target)
        finally:
            proxy.close()


if __name__ == "__main__":
    unittest.main()
