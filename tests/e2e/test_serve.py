"""rtx serve: endpoints, binding, shutdown."""
import signal
import socket
import subprocess
import time
import unittest

from rtxtest import EXIT_BIND, EXIT_OK, EXIT_USAGE, RTX, Serve, free_port, rtx


class ServeTest(unittest.TestCase):
    def test_prints_endpoints_and_binds_loopback_by_default(self):
        with Serve("--tcp-port", "0") as serve:
            url = serve.url("tcp-echo")
            self.assertRegex(url, r"^tcp://127\.0\.0\.1:\d+$")
            self.assertNotEqual(url.rsplit(":", 1)[1], "0")

    def test_default_ports_with_no_flags(self):
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", 7070))
        except OSError:
            self.skipTest("default port 7070 is taken on this machine")
        finally:
            probe.close()
        with Serve() as serve:
            self.assertEqual(serve.url("tcp-echo"), "tcp://127.0.0.1:7070")

    def test_port_in_use_is_exit_12(self):
        with Serve("--tcp-port", "0") as serve:
            port = serve.address().rsplit(":", 1)[1]
            result = rtx("serve", "--tcp-port", port, timeout=10)
            self.assertEqual(result.returncode, EXIT_BIND)
            self.assertEqual(result.stdout, b"")
            self.assertRegex(result.stderr.decode(),
                             r"^rtx: error: listen on 127\.0\.0\.1:\d+: address already in use\n$")

    def test_bad_bind_address_is_usage_error(self):
        result = rtx("serve", "--bind", "not-an-ip", "--tcp-port", "0", timeout=10)
        self.assertEqual(result.returncode, EXIT_USAGE)
        self.assertEqual(len(result.stderr.splitlines()), 1)

    def test_sigterm_and_sigint_shut_down_cleanly_with_open_clients(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig), Serve("--tcp-port", "0") as serve:
                host, port = serve.address().rsplit(":", 1)
                client = socket.create_connection((host, int(port)))
                client.sendall(b"still here\n")
                self.assertEqual(client.recv(100), b"still here\n")
                started = time.monotonic()
                self.assertEqual(serve.stop(sig), EXIT_OK)
                self.assertLess(time.monotonic() - started, 5)
                # The server closed our connection gracefully (FIN, not reset).
                client.settimeout(5)
                self.assertEqual(client.recv(100), b"")
                client.close()

    def test_echo_of_many_clients_at_once(self):
        with Serve("--tcp-port", "0") as serve:
            host, port = serve.address().rsplit(":", 1)
            clients = [socket.create_connection((host, int(port))) for _ in range(50)]
            for i, c in enumerate(clients):
                c.sendall(b"client %d\n" % i)
            for i, c in enumerate(clients):
                c.settimeout(5)
                self.assertEqual(c.recv(100), b"client %d\n" % i)
                c.close()


if __name__ == "__main__":
    unittest.main()
