"""rtx tcp against rtx serve and small loopback peers."""
import hashlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from rtxtest import (EXIT_CONNECT, EXIT_INTERRUPTED, EXIT_OK, EXIT_RECONNECT_EXHAUSTED,
                     EXIT_TIMEOUT, EXIT_USAGE, Serve, free_port, popen_rtx, read_line, rtx)


class EchoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.serve = Serve("--tcp-port", "0").__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.serve.__exit__(None, None, None)

    def test_line_mode_echoes_each_line(self):
        result = rtx("tcp", self.serve.address(), input="hello\nworld\n")
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"hello\nworld\n")
        self.assertEqual(result.stderr, b"")

    def test_last_line_without_newline_is_sent(self):
        result = rtx("tcp", self.serve.address(), input="one\ntwo")
        self.assertEqual(result.stdout, b"one\ntwo\n")

    def test_crlf_input_is_one_message_per_line(self):
        result = rtx("tcp", self.serve.address(), input="a\r\nb\r\n")
        self.assertEqual(result.stdout, b"a\nb\n")

    def test_tcp_scheme_url(self):
        result = rtx("tcp", self.serve.url(), input="x\n")
        self.assertEqual(result.stdout, b"x\n")

    def test_raw_mode_is_byte_exact(self):
        data = bytes(range(256)) * 3 + b"\r\n\0no newline"
        result = rtx("tcp", "--raw", self.serve.address(), input=data)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, data)

    def test_ten_mebibyte_random_file_round_trips(self):
        data = os.urandom(10 * 1024 * 1024)
        with tempfile.TemporaryFile() as source:
            source.write(data)
            source.seek(0)
            result = rtx("tcp", "--raw", self.serve.address(), stdin=source, timeout=60)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(len(result.stdout), len(data))
        self.assertEqual(hashlib.sha256(result.stdout).hexdigest(),
                         hashlib.sha256(data).hexdigest())

    def test_nul_framing(self):
        result = rtx("tcp", "-0", "--json", self.serve.address(), input=b"a b\0c\nd\0")
        payloads = [json.loads(line)["payload"] for line in result.stdout.splitlines()
                    if json.loads(line)["event"] == "message"]
        self.assertEqual(payloads, ["a b", "c\nd"])

    def test_count_exits_after_n_messages(self):
        with popen_rtx("tcp", "--count", "2", self.serve.address()) as proc:
            proc.stdin.write(b"1\n2\n3\n")
            proc.stdin.flush()  # stdin stays open: only --count can end this
            proc.wait(timeout=10)
            self.assertEqual(proc.returncode, EXIT_OK)
            self.assertEqual(proc.stdout.read(), b"1\n2\n")

    def test_json_records_have_one_shape(self):
        result = rtx("tcp", "--json", self.serve.address(), input="hi\n")
        records = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertEqual([r["event"] for r in records], ["open", "message", "close"])
        message = records[1]
        self.assertEqual(list(message.keys()), ["time", "protocol", "connection", "event",
                                                "topic", "id", "payload", "encoding", "size"])
        self.assertEqual(message["protocol"], "tcp")
        self.assertEqual(message["payload"], "hi")
        self.assertEqual(message["encoding"], "utf8")
        self.assertEqual(message["size"], 2)
        self.assertRegex(message["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

    def test_json_binary_payload_is_base64(self):
        result = rtx("tcp", "--json", self.serve.address(), input=b"\xff\xfe\n")
        message = [json.loads(l) for l in result.stdout.splitlines()][1]
        self.assertEqual(message["encoding"], "base64")
        self.assertEqual(message["payload"], "//4=")

    def test_ctrl_c_closes_and_exits_130(self):
        with popen_rtx("tcp", self.serve.address()) as proc:
            proc.stdin.write(b"ping\n")
            proc.stdin.flush()
            self.assertEqual(read_line(proc.stdout), b"ping\n")
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
            self.assertEqual(proc.returncode, EXIT_INTERRUPTED)

    def test_idle_timeout(self):
        started = time.monotonic()
        result = rtx("tcp", "--no-stdin", "--idle-timeout", "300ms", self.serve.address())
        self.assertEqual(result.returncode, EXIT_TIMEOUT)
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(result.stdout, b"")
        self.assertEqual(len(result.stderr.splitlines()), 1)

    def test_timeout(self):
        result = rtx("tcp", "--no-stdin", "--timeout", "0.3s", self.serve.address())
        self.assertEqual(result.returncode, EXIT_TIMEOUT)
        self.assertIn(b"timed out", result.stderr)

    def test_stdout_closed_by_reader_is_not_an_error(self):
        # `rtx tcp ... | head -1`: the reader goes away; rtx must end quietly.
        r, w = os.pipe()
        os.close(r)
        with popen_rtx("tcp", self.serve.address(), stdout=w) as proc:
            os.close(w)
            proc.stdin.write(b"a\nb\n")
            proc.stdin.close()
            proc.wait(timeout=10)
            self.assertEqual(proc.returncode, EXIT_OK)

    def test_fast_endless_stdin_does_not_starve_the_socket(self):
        # `yes | rtx tcp ADDR | head -1`: stdin never ends and is always ready. Reading it
        # must not keep the loop from reading the socket and writing stdout (rtx once
        # drained its stdin queue in one callback, and the reader thread refilled it as fast:
        # the socket was read only when the peer's backpressure paused stdin). So the peer
        # here never pushes back: it discards everything it receives as fast as it can, and
        # once a mebibyte of stdin has come (stdin is flowing) it sends one line of its own.
        # With the starvation that line never shows; without it, it shows within a few loop
        # turns. No timed bound: on a loaded machine
        # or a sanitizer build "at once" can take a second, and the generous timeout only
        # guards against a hang. When the reader of stdout goes away rtx ends with exit 0
        # (man rtx-tcp: "The reader of standard output goes away").
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        self.addCleanup(server.close)
        received = [0]

        def discarding_peer():
            conn, _ = server.accept()
            with conn:
                said_hello = False
                while chunk := conn.recv(1 << 20):
                    received[0] += len(chunk)
                    if received[0] >= 1 << 20 and not said_hello:
                        conn.sendall(b"hello from the peer\n")
                        said_hello = True

        peer = threading.Thread(target=discarding_peer, daemon=True)
        peer.start()
        yes = subprocess.Popen(["yes"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(yes.wait)
        self.addCleanup(yes.kill)
        address = f"127.0.0.1:{server.getsockname()[1]}"
        with popen_rtx("tcp", address, stdin=yes.stdout) as proc:
            yes.stdout.close()  # rtx holds the only read end, as in a shell pipeline
            self.assertEqual(read_line(proc.stdout, timeout=60), b"hello from the peer\n")
            proc.stdout.close()  # what head does after its line
            proc.wait(timeout=30)
            self.assertEqual(proc.returncode, EXIT_OK, proc.stderr.read())
        peer.join(timeout=30)


class HalfCloseTest(unittest.TestCase):
    def test_stdin_eof_half_closes_and_keeps_reading(self):
        # A peer that answers only after it sees our FIN: proves the half-close, and that
        # rtx still reads after it.
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        received = []

        def peer():
            conn, _ = server.accept()
            with conn:
                while chunk := conn.recv(4096):
                    received.append(chunk)
                conn.sendall(b"got %d bytes\n" % len(b"".join(received)))

        thread = threading.Thread(target=peer)
        thread.start()
        result = rtx("tcp", f"127.0.0.1:{server.getsockname()[1]}", input="abc\ndef\n")
        thread.join(timeout=10)
        server.close()
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(b"".join(received), b"abc\ndef\n")
        self.assertEqual(result.stdout, b"got 8 bytes\n")

    def test_no_shutdown_keeps_sending_side_open(self):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        saw_eof = []

        def peer():
            conn, _ = server.accept()
            with conn:
                conn.settimeout(0.5)
                conn.recv(100)
                try:
                    saw_eof.append(conn.recv(100) == b"")
                except socket.timeout:
                    saw_eof.append(False)
                conn.sendall(b"bye\n")

        thread = threading.Thread(target=peer)
        thread.start()
        result = rtx("tcp", "--no-shutdown", f"127.0.0.1:{server.getsockname()[1]}", input="x\n")
        thread.join(timeout=10)
        server.close()
        self.assertEqual(saw_eof, [False])
        self.assertEqual(result.stdout, b"bye\n")


class FailureTest(unittest.TestCase):
    def test_connect_refused(self):
        result = rtx("tcp", "127.0.0.1:1", input="x\n")
        self.assertEqual(result.returncode, EXIT_CONNECT)
        self.assertEqual(result.stdout, b"")
        lines = result.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(lines[0], "rtx: error: connect to 127.0.0.1:1: connection refused")

    def test_unresolvable_host(self):
        result = rtx("tcp", "no-such-host.invalid:80", input="")
        self.assertEqual(result.returncode, EXIT_CONNECT)
        self.assertEqual(result.stderr, b"rtx: error: resolve no-such-host.invalid: unknown host\n")

    def test_usage_errors_are_one_line_exit_2(self):
        for args in (["tcp"], ["tcp", "localhost"], ["tcp", "::1:80"], ["tcp", "h:99999"],
                     ["tcp", "--timeout", "soon", "h:1"], ["tcp", "ws://h:1"],
                     ["tcp", "--raw", "--json", "h:1"], ["tcpp", "h:1"], ["tcp", "--nope", "h:1"]):
            with self.subTest(args=args):
                result = rtx(*args, input="")
                self.assertEqual(result.returncode, EXIT_USAGE, result.stderr)
                self.assertEqual(result.stdout, b"")
                lines = result.stderr.decode().splitlines()
                self.assertEqual(len(lines), 1, lines)
                self.assertTrue(lines[0].startswith("rtx: error: "), lines)

    def test_did_you_mean(self):
        result = rtx("tpc", "h:1")
        self.assertIn(b"did you mean 'tcp'", result.stderr)

    def test_reconnect_gives_up_after_max_attempts(self):
        result = rtx("tcp", "--reconnect", "--max-attempts", "3", "--backoff-initial", "10ms",
                     f"127.0.0.1:{free_port()}", input="")
        self.assertEqual(result.returncode, EXIT_RECONNECT_EXHAUSTED)
        self.assertEqual(result.stderr.count(b"reconnecting in"), 2)
        self.assertIn(b"gave up after 3 attempts in a row", result.stderr)


class ReconnectTest(unittest.TestCase):
    def test_reconnects_after_server_restart_and_replays_preamble(self):
        port = free_port()
        first = Serve("--tcp-port", str(port)).__enter__()
        with popen_rtx("tcp", "--reconnect", "--backoff-initial", "50ms", "--backoff-max",
                       "200ms", "--preamble", "hello-again", first.address()) as client:
            self.assertEqual(read_line(client.stdout), b"hello-again\n")
            client.stdin.write(b"before\n")
            client.stdin.flush()
            self.assertEqual(read_line(client.stdout), b"before\n")
            first.__exit__(None, None, None)  # the server goes away...
            with Serve("--tcp-port", str(port)):  # ...and comes back on the same port
                # The preamble comes first on the new connection, then new input flows.
                self.assertEqual(read_line(client.stdout), b"hello-again\n")
                client.stdin.write(b"after\n")
                client.stdin.flush()
                self.assertEqual(read_line(client.stdout), b"after\n")
                client.stdin.close()
                client.wait(timeout=10)
                self.assertEqual(client.returncode, EXIT_OK)
                self.assertIn(b"reconnecting", client.stderr.read())


class Ipv6Test(unittest.TestCase):
    def test_ipv6_loopback(self):
        with Serve("--bind", "::1", "--tcp-port", "0") as serve:
            self.assertTrue(serve.url().startswith("tcp://[::1]:"), serve.url())
            result = rtx("tcp", serve.address(), input="six\n")
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertEqual(result.stdout, b"six\n")


if __name__ == "__main__":
    unittest.main()
