"""rtx without its modules (rtx-webrtc.so, rtx-http.so; docs/ARCHITECTURE.md, "Modules"):
a command that needs one exits 1 with one line naming the paths tried, and the others, the
embedded server included, run without them. The rtx under test is a hard link in a
directory of its own, where the loader finds neither module.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

from rtxtest import RTX, Serve
from test_webrtc import WAIT, Peer
from test_webrtc_serve import http_request


class WithoutModules(unittest.TestCase):
    def setUp(self):
        # /proc/self/exe names the hard link, so the loader looks beside it (and in
        # ../lib/rtx), where no module is.
        self.workdir = tempfile.mkdtemp(prefix="rtx-no-module-",
                                        dir=os.path.dirname(os.path.abspath(RTX)))
        self.lonely = os.path.join(self.workdir, "rtx")
        os.link(os.path.abspath(RTX), self.lonely)

    def tearDown(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def run_lonely(self, *args):
        return subprocess.run([self.lonely, *args], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=WAIT)

    def assert_one_line_exit_1(self, result, module):
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(result.stdout, b"")
        lines = result.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn(f"{module} not found", lines[0])
        self.assertIn(os.path.join(self.workdir, module), lines[0])

    def test_rtx_webrtc_exits_1_with_one_line(self):
        result = self.run_lonely("webrtc", "--offer", "--no-stdin")
        self.assert_one_line_exit_1(result, "rtx-webrtc.so")
        self.assertIn("WebRTC module", result.stderr.decode())

    def test_http_clients_exit_1_with_one_line(self):
        for args in (["sse", "http://127.0.0.1:9/sse/t"], ["stream", "http://127.0.0.1:9/"],
                     ["poll", "http://127.0.0.1:9/poll/t"]):
            with self.subTest(args=args):
                result = self.run_lonely(*args)
                self.assert_one_line_exit_1(result, "rtx-http.so")
                self.assertIn("HTTP module", result.stderr.decode())

    def test_bench_fan_out_over_http_exits_1_before_it_starts(self):
        result = self.run_lonely("bench", "sse", "-c", "1", "-d", "1s",
                                 "http://127.0.0.1:9/sse/t")
        self.assert_one_line_exit_1(result, "rtx-http.so")

    def test_version_says_libcurl_is_not_loaded(self):
        result = self.run_lonely("--version")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("libcurl not loaded: HTTP module rtx-http.so not found",
                      result.stdout.decode())

    def test_other_commands_and_serve_run_without_them(self):
        with Serve("--no-tcp", "--http-port", "0", expect=3, binary=self.lonely) as serve:
            http = serve.url("http")
            status, _, _ = http_request(http, "POST", "/publish/t", b"x")
            self.assertLess(status, 300)
            # rtx ws needs neither module.
            result = subprocess.run([self.lonely, "ws", serve.url("ws-echo"), "--count", "1"],
                                    input=b"hi\n", capture_output=True, timeout=WAIT)
            self.assertEqual((result.returncode, result.stdout, result.stderr),
                             (0, b"hi\n", b""))
            # A real offer, from an rtx that has its modules: serve answers 500.
            offerer = Peer(self.workdir, "offer", "--no-stdin", stdin=subprocess.DEVNULL)
            offer = offerer.description().encode()
            offerer.kill()
            status, _, body = http_request(http, "POST", "/whip/echo", offer,
                                           {"Content-Type": "application/sdp"})
            self.assertEqual(status, 500, body)
            self.assertIn(b"rtx-webrtc.so", body)
            serve.stop()
            self.assertIn("rtx-webrtc.so not found", serve.proc.stderr.read().decode())


if __name__ == "__main__":
    unittest.main()
