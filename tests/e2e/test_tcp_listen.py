"""rtx tcp -l: listen mode against nc, socat, Python sockets and rtx tcp as clients."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import unittest

from listentest import finish, listening, port_of, wait_for_line
from rtxtest import (EXIT_BIND, EXIT_CONNECT, EXIT_INTERRUPTED, EXIT_OK, EXIT_TIMEOUT,
                     EXIT_TLS, EXIT_USAGE, free_port, popen_rtx, read_line, rtx, take_rest)
from test_tcp_tls import make_pki


class OneClientTest(unittest.TestCase):
    def test_nc_exchanges_lines_both_ways(self):
        with listening("tcp", "-l", "0") as (proc, url):
            self.assertTrue(url.startswith("tcp://127.0.0.1:"), url)
            # nc keeps the socket open after its stdin ends (no -N) until rtx closes.
            nc = subprocess.Popen(["nc", "127.0.0.1", str(port_of(url))],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            try:
                nc.stdin.write(b"one\ntwo\n")
                nc.stdin.close()
                self.assertEqual(read_line(proc.stdout), b"one\n")
                self.assertEqual(read_line(proc.stdout), b"two\n")
                proc.stdin.write(b"from rtx\n")
                proc.stdin.close()  # rtx half-closes: nc prints, sees the FIN, and leaves
                self.assertEqual(nc.stdout.read(), b"from rtx\n")
                self.assertEqual(nc.wait(timeout=20), 0)
            finally:
                if nc.poll() is None:
                    nc.kill()
                    nc.wait()
            _, err = finish(proc)
        self.assertEqual(proc.returncode, EXIT_OK, err)

    def test_stdin_waits_for_the_client(self):
        # stdin given before anyone connects goes to the client that comes.
        with listening("tcp", "-l", "0") as (proc, url):
            proc.stdin.write(b"early\n")
            proc.stdin.close()
            with socket.create_connection(("127.0.0.1", port_of(url)), timeout=10) as client:
                received = b""
                while chunk := client.recv(4096):
                    received += chunk
            out, err = finish(proc)
        self.assertEqual(received, b"early\n")  # then the FIN of rtx's half-close
        self.assertEqual(proc.returncode, EXIT_OK, err)

    def test_rtx_tcp_client(self):
        with listening("tcp", "-l", "0") as (proc, url):
            proc.stdin.write(b"pong\n")  # waits for the client; then a half-close
            proc.stdin.close()
            client = rtx("tcp", "--no-shutdown", f"127.0.0.1:{port_of(url)}", input="ping\n")
            out, err = finish(proc)
        self.assertEqual(client.returncode, EXIT_OK, client.stderr)
        self.assertEqual(client.stdout, b"pong\n")
        self.assertEqual(out, b"ping\n")
        self.assertEqual(proc.returncode, EXIT_OK, err)

    def test_client_stdin_after_the_servers_fin_still_goes(self):
        # The server answers and half-closes at once; the client's stdin is written only
        # after the client logged that FIN (-vv): the server still reads it (TCP half-close),
        # with and without --no-shutdown.
        for flags in ([], ["--no-shutdown"]):
            with self.subTest(flags=flags), listening("tcp", "-l", "0") as (proc, url):
                proc.stdin.write(b"pong\n")
                proc.stdin.close()
                with popen_rtx("tcp", "-vv", *flags, f"127.0.0.1:{port_of(url)}") as client:
                    self.assertEqual(read_line(client.stdout), b"pong\n")
                    wait_for_line(client.stderr, "finished sending")
                    client.stdin.write(b"ping\n")
                    client.stdin.close()
                    client.wait(timeout=20)
                    rest = take_rest(client.stdout) + client.stdout.read()
                out, err = finish(proc)
                self.assertEqual(client.returncode, EXIT_OK)
                self.assertEqual(rest, b"")
                self.assertEqual(out, b"ping\n")
                self.assertEqual(proc.returncode, EXIT_OK, err)

    def test_listener_stdin_after_the_clients_fin_still_goes(self):
        with listening("tcp", "-l", "-vv", "0") as (proc, url):
            with socket.create_connection(("127.0.0.1", port_of(url)), timeout=10) as client:
                client.sendall(b"ping\n")
                client.shutdown(socket.SHUT_WR)
                self.assertEqual(read_line(proc.stdout), b"ping\n")
                wait_for_line(proc.stderr, "finished sending")
                proc.stdin.write(b"pong\n")
                proc.stdin.close()
                received = b""
                while chunk := client.recv(4096):
                    received += chunk
            out, err = finish(proc)
        self.assertEqual(received, b"pong\n")
        self.assertEqual(proc.returncode, EXIT_OK, err)

    def test_second_client_is_refused_without_keep_open(self):
        with listening("tcp", "-l", "--no-stdin", "0") as (proc, url):
            port = port_of(url)
            first = socket.create_connection(("127.0.0.1", port), timeout=10)
            first.sendall(b"first\n")
            self.assertEqual(read_line(proc.stdout), b"first\n")
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=10)
            first.close()
            proc.wait(timeout=20)
        self.assertEqual(proc.returncode, EXIT_OK)


class KeepOpenTest(unittest.TestCase):
    def test_socat_clients_get_stdin_and_json_names_them(self):
        with listening("tcp", "-l", "--keep-open", "--json", "0") as (proc, url):
            port = port_of(url)
            clients = [subprocess.Popen(["socat", "-", f"TCP:127.0.0.1:{port}"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                       for _ in range(2)]
            try:
                opened = [json.loads(read_line(proc.stdout)) for _ in clients]
                self.assertEqual([r["event"] for r in opened], ["open", "open"])
                self.assertEqual(sorted(r["connection"] for r in opened), [1, 2])
                for r in opened:
                    self.assertTrue(r["peer"].startswith("127.0.0.1:"), r)
                for number, client in enumerate(clients):
                    client.stdin.write(f"from client {number}\n".encode())
                    client.stdin.flush()
                    message = json.loads(read_line(proc.stdout))
                    self.assertEqual(message["payload"], f"from client {number}")
                    self.assertEqual(message["event"], "message")
                    # The record names the connection that sent it, with its peer.
                    sender = [r for r in opened if r["connection"] == message["connection"]]
                    self.assertEqual(sender[0]["peer"], message["peer"])
                proc.stdin.write(b"to everyone\n")
                proc.stdin.flush()
                for client in clients:
                    self.assertEqual(read_line(client.stdout), b"to everyone\n")
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=20)
                for client in clients:
                    client.stdin.close()
                    self.assertEqual(client.wait(timeout=20), 0)
            finally:
                for client in clients:
                    if client.poll() is None:
                        client.kill()
                        client.wait()
        self.assertEqual(proc.returncode, EXIT_INTERRUPTED)

    def test_count_ends_after_messages_from_any_connection(self):
        with listening("tcp", "-l", "--keep-open", "--no-stdin", "--count", "3",
                       "0") as (proc, url):
            port = port_of(url)
            with socket.create_connection(("127.0.0.1", port)) as a, \
                    socket.create_connection(("127.0.0.1", port)) as b:
                a.sendall(b"a1\n")
                self.assertEqual(read_line(proc.stdout), b"a1\n")
                b.sendall(b"b1\n")
                self.assertEqual(read_line(proc.stdout), b"b1\n")
                a.sendall(b"a2\n")
                out, _ = finish(proc)
        self.assertEqual(proc.returncode, EXIT_OK)
        self.assertEqual(out, b"a2\n")

    def test_timeout(self):
        with listening("tcp", "-l", "--keep-open", "--timeout", "300ms", "0") as (proc, _):
            proc.wait(timeout=20)
            err = proc.stderr.read().decode()
        self.assertEqual(proc.returncode, EXIT_TIMEOUT)
        self.assertIn("timed out", err)


class TlsListenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        make_pki(cls.dir.name)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def test_rtx_tls_client(self):
        with listening("tcp", "-l", "--tls-cert", self.path("server.pem"), "--tls-key",
                       self.path("server.key"), "0") as (proc, url):
            self.assertTrue(url.startswith("tls://"), url)
            proc.stdin.write(b"secret answer\n")
            proc.stdin.close()
            client = rtx("tcp", "--tls", "--no-shutdown", "--cacert", self.path("ca.pem"),
                         f"localhost:{port_of(url)}", input="secret hello\n")
            out, err = finish(proc)
        self.assertEqual(client.returncode, EXIT_OK, client.stderr)
        self.assertEqual(client.stdout, b"secret answer\n")
        self.assertEqual(out, b"secret hello\n")
        self.assertEqual(proc.returncode, EXIT_OK, err)

    def test_rtx_tls_client_stdin_after_the_servers_close_notify_still_goes(self):
        # The client side takes close_notify as a half-close, as a FIN without TLS: its stdin,
        # written only after it logged the close_notify (-vv), still reaches the listener.
        with listening("tcp", "-l", "--tls-cert", self.path("server.pem"), "--tls-key",
                       self.path("server.key"), "0") as (proc, url):
            proc.stdin.write(b"secret answer\n")
            proc.stdin.close()
            with popen_rtx("tcp", "-vv", "--tls", "--no-shutdown", "--cacert",
                           self.path("ca.pem"), f"localhost:{port_of(url)}") as client:
                self.assertEqual(read_line(client.stdout), b"secret answer\n")
                wait_for_line(client.stderr, "finished sending")
                client.stdin.write(b"secret hello\n")
                client.stdin.close()
                client.wait(timeout=20)
            out, err = finish(proc)
        self.assertEqual(client.returncode, EXIT_OK)
        self.assertEqual(out, b"secret hello\n")
        self.assertEqual(proc.returncode, EXIT_OK, err)

    def test_socat_openssl_client(self):
        with listening("tcp", "-l", "--tls-cert", self.path("server.pem"), "--tls-key",
                       self.path("server.key"), "0") as (proc, url):
            socat = subprocess.run(
                ["socat", "-", f"OPENSSL:localhost:{port_of(url)},cafile={self.path('ca.pem')}"],
                input=b"over socat\n", capture_output=True, timeout=20)
            out, _ = proc.communicate(input=b"", timeout=20)
        self.assertEqual(socat.returncode, 0, socat.stderr)
        self.assertEqual(out, b"over socat\n")

    def test_bad_certificate_file(self):
        result = rtx("tcp", "-l", "--tls-cert", self.path("nope.pem"), "0")
        self.assertEqual(result.returncode, EXIT_TLS)
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
        self.assertIn(b"nope.pem", result.stderr)


class UnixSocketTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.path = os.path.join(self.dir.name, "rtx.sock")

    def test_rtx_client_and_listener(self):
        with listening("tcp", "-l", f"unix:{self.path}") as (proc, url):
            self.assertEqual(url, f"unix:{self.path}")
            proc.stdin.write(b"over unix\n")
            proc.stdin.close()
            client = rtx("tcp", "--no-shutdown", f"unix:{self.path}", input="hello unix\n")
            out, err = finish(proc)
        self.assertEqual(client.returncode, EXIT_OK, client.stderr)
        self.assertEqual(client.stdout, b"over unix\n")
        self.assertEqual(out, b"hello unix\n")
        self.assertEqual(proc.returncode, EXIT_OK, err)
        self.assertFalse(os.path.exists(self.path), "the socket file was left behind")

    def test_socat_client_with_keep_open(self):
        with listening("tcp", "-l", "--keep-open", "--no-stdin", "--count", "2",
                       f"unix:{self.path}") as (proc, _):
            for text in (b"first\n", b"second\n"):
                socat = subprocess.run(["socat", "-", f"UNIX-CONNECT:{self.path}"], input=text,
                                       capture_output=True, timeout=20)
                self.assertEqual(socat.returncode, 0, socat.stderr)
            proc.wait(timeout=20)
            self.assertEqual(proc.stdout.read(), b"first\nsecond\n")
        self.assertEqual(proc.returncode, EXIT_OK)

    def test_errors(self):
        missing = rtx("tcp", f"unix:{self.path}", input="")
        self.assertEqual(missing.returncode, EXIT_CONNECT, missing.stderr)
        self.assertEqual(len(missing.stderr.splitlines()), 1, missing.stderr)
        open(self.path, "w").close()  # the path is taken
        taken = rtx("tcp", "-l", f"unix:{self.path}")
        self.assertEqual(taken.returncode, EXIT_BIND, taken.stderr)
        self.assertEqual(len(taken.stderr.splitlines()), 1, taken.stderr)
        self.assertTrue(os.path.exists(self.path), "a file rtx did not make was removed")
        self.assertEqual(rtx("tcp", "unix:").returncode, EXIT_USAGE)


class BadInputTest(unittest.TestCase):
    def one_line_error(self, result, code):
        self.assertEqual(result.returncode, code, result.stderr)
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)

    def test_port_in_use(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            result = rtx("tcp", "-l", str(taken.getsockname()[1]))
        self.one_line_error(result, EXIT_BIND)

    def test_bad_addresses(self):
        for target in ("70000", "nope:9000", "127.0.0.1:", "[::1]9000", "9000/path"):
            with self.subTest(target=target):
                self.one_line_error(rtx("tcp", "-l", target), EXIT_USAGE)

    def test_listen_flags_need_listen_and_client_flags_do_not_fit(self):
        port = str(free_port())
        self.one_line_error(rtx("tcp", "--keep-open", f"127.0.0.1:{port}"), EXIT_USAGE)
        self.one_line_error(rtx("tcp", "-l", "--reconnect", port), EXIT_USAGE)
        self.one_line_error(rtx("tcp", "-l", "--tls", port), EXIT_USAGE)


if __name__ == "__main__":
    unittest.main()
