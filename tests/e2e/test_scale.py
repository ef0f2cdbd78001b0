"""Scale proof: 1,000 concurrent TCP connections on one loop against rtx serve, each echoing
messages that are checked byte for byte (tests/e2e/tcp_scale_probe.cpp). Prints the time
and peak memory of both sides."""
import os
import subprocess
import time
import unittest

from rtxtest import Serve

PROBE = os.environ.get("RTX_SCALE_PROBE",
                       os.path.join(os.path.dirname(__file__), "../../build/tests/e2e/tcp_scale_probe"))
CONNECTIONS = 1000
MESSAGES = 20


class ScaleTest(unittest.TestCase):
    def test_thousand_concurrent_connections_on_one_loop(self):
        with Serve("--tcp-port", "0") as serve:
            started = time.monotonic()
            result = subprocess.run([PROBE, serve.url(), str(CONNECTIONS), str(MESSAGES)],
                                    capture_output=True, timeout=120)
            elapsed = time.monotonic() - started
            with open(f"/proc/{serve.proc.pid}/status") as status:
                serve_peak_kib = next(l.split()[1] for l in status if l.startswith("VmHWM:"))
        summary = result.stdout.decode().strip()
        print(f"\n{summary}\nwall={elapsed:.2f}s serve_peak_rss_kib={serve_peak_kib}")
        self.assertEqual(result.returncode, 0, result.stderr.decode() + summary)
        fields = dict(item.split("=") for item in summary.split())
        self.assertEqual(int(fields["opened"]), CONNECTIONS)
        self.assertEqual(int(fields["echoed"]), CONNECTIONS * MESSAGES)
        self.assertEqual(int(fields["mismatches"]), 0)
        self.assertEqual(int(fields["errors"]), 0)


if __name__ == "__main__":
    unittest.main()
