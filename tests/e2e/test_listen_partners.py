"""rtx tcp -l / rtx ws -l with --exec (a process per connection, websocketd's model) and
--bridge (websockify's job), against node ws, socat, Python sockets and rtx serve."""
import os
import socket
import subprocess
import tempfile
import time
import unittest

from listentest import finish, listening, port_of
from rtxtest import EXIT_CONNECT, EXIT_USAGE, Serve, free_port, read_line, rtx
from test_ws_listen import NODE_WS_AVAILABLE, line_client, next_json


def wait_gone(pid, seconds=15):
    """True once process `pid` no longer runs (a zombie counts as gone)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(")")[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def wait_for_file(path, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path) and open(path).read().strip():
            return open(path).read().strip()
        time.sleep(0.05)
    raise TimeoutError(path)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def send_until_stalled(sock, limit, stall=3.0):
    """Sends zeros until `limit` bytes went or the peer took nothing for `stall` seconds (it
    stopped reading); returns the bytes sent."""
    sock.settimeout(stall)
    chunk = bytes(64 * 1024)
    sent = 0
    while sent < limit:
        try:
            sent += sock.send(chunk)
        except (socket.timeout, TimeoutError):
            break
    return sent


def wait_for_port(port, seconds=15):
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@unittest.skipUnless(NODE_WS_AVAILABLE, "needs Debian node-ws")
class WsExecTest(unittest.TestCase):
    def test_each_connection_gets_its_own_cat(self):
        with listening("ws", "-l", "--keep-open", "--exec",
                       'echo "you are $RTX_CONNECTION"; cat', "0") as (proc, url):
            clients = [line_client(url) for _ in range(2)]
            try:
                greetings = []
                for client in clients:
                    self.assertEqual(next_json(client.stdout), {"open": True})
                    greetings.append(next_json(client.stdout)["data"])
                self.assertEqual(sorted(greetings), ["you are 1", "you are 2"])
                for number, client in enumerate(clients):
                    client.stdin.write(f"line {number}\n".encode())
                    client.stdin.flush()
                for number, client in enumerate(clients):
                    self.assertEqual(next_json(client.stdout),
                                     {"data": f"line {number}", "binary": False})
                for client in clients:
                    client.stdin.close()
                    self.assertEqual(next_json(client.stdout), {"close": 1000})
            finally:
                for client in clients:
                    if client.poll() is None:
                        client.kill()
                    client.wait()

    def test_a_process_that_exits_early_closes_the_connection(self):
        with listening("ws", "-l", "--exec", 'read line; echo "got $line"', "0") as (proc, url):
            client = rtx("ws", "--no-close", url, input="first\nsecond\n")
            proc.wait(timeout=20)
        self.assertEqual(client.returncode, 0, client.stderr)
        self.assertEqual(client.stdout, b"got first\n")  # then the close (1000)
        self.assertEqual(proc.returncode, 0)

    def test_the_process_ends_when_the_peer_goes(self):
        with tempfile.TemporaryDirectory() as directory:
            pid_file = os.path.join(directory, "pid")
            # sleep reads no stdin: only the SIGTERM after the grace ends it.
            with listening("ws", "-l", "--keep-open", "--exec",
                           f'echo $$ > {pid_file}; exec sleep 60', "0") as (proc, url):
                client = line_client(url)
                self.assertEqual(next_json(client.stdout), {"open": True})
                pid = int(wait_for_file(pid_file))
                client.stdin.close()
                self.assertEqual(next_json(client.stdout), {"close": 1000})
                client.wait(timeout=20)
                self.assertTrue(wait_gone(pid), "the process outlived its connection")
                self.assertIsNone(proc.poll())  # --keep-open: still listening

    def test_max_procs_refuses_with_1013(self):
        with listening("ws", "-l", "--keep-open", "--max-procs", "1", "--exec", "cat",
                       "0") as (proc, url):
            first = line_client(url)
            second = None
            try:
                self.assertEqual(next_json(first.stdout), {"open": True})
                second = line_client(url)
                self.assertEqual(next_json(second.stdout), {"open": True})
                self.assertEqual(next_json(second.stdout), {"close": 1013})
                first.stdin.write(b"still served\n")
                first.stdin.flush()
                self.assertEqual(next_json(first.stdout)["data"], "still served")
            finally:
                for client in (first, second):
                    if client and client.poll() is None:
                        client.kill()
                    if client:
                        client.wait()


class TcpExecTest(unittest.TestCase):
    def test_cat_per_connection_and_early_exit(self):
        with listening("tcp", "-l", "--keep-open", "--exec", "cat", "0") as (proc, url):
            with socket.create_connection(("127.0.0.1", port_of(url)), timeout=10) as client:
                client.sendall(b"hello exec\n")
                self.assertEqual(client.makefile("rb").readline(), b"hello exec\n")
        with listening("tcp", "-l", "--exec", 'read line; echo "got $line"', "0") as (proc, url):
            with socket.create_connection(("127.0.0.1", port_of(url)), timeout=10) as client:
                client.sendall(b"x\ny\n")
                received = b""
                while chunk := client.recv(4096):  # ends with the FIN after the process exited
                    received += chunk
            proc.wait(timeout=20)
        self.assertEqual(received, b"got x\n")
        self.assertEqual(proc.returncode, 0)

    def test_output_after_the_clients_fin_still_goes(self):
        # The client half-closes: the process's stdin ends, and what it writes after that
        # still reaches the client before rtx's FIN (ncat -l --exec).
        script = 'while read line; do echo "got $line"; done; echo "after eof"'
        with listening("tcp", "-l", "--exec", script, "0") as (proc, url):
            with socket.create_connection(("127.0.0.1", port_of(url)), timeout=10) as client:
                client.sendall(b"a\nb\n")
                client.shutdown(socket.SHUT_WR)
                received = b""
                while chunk := client.recv(4096):
                    received += chunk
            proc.wait(timeout=20)
        self.assertEqual(received, b"got a\ngot b\nafter eof\n")
        self.assertEqual(proc.returncode, 0)

    def test_nc_half_close_gets_the_whole_output(self):
        script = 'tr a-z A-Z; echo done'
        with listening("tcp", "-l", "--keep-open", "--exec", script, "0") as (proc, url):
            for _ in range(2):
                nc = subprocess.run(["nc", "-N", "127.0.0.1", str(port_of(url))],
                                    input=b"one\ntwo\n", capture_output=True, timeout=20)
                self.assertEqual(nc.stdout, b"ONE\nTWO\ndone\n")
                self.assertEqual(nc.returncode, 0)

    def test_missing_program(self):
        for command in ("tcp", "ws"):
            with self.subTest(command=command):
                result = rtx(command, "-l", "--exec", "no-such-program-here --flag", "0")
                self.assertEqual(result.returncode, EXIT_USAGE, result.stderr)
                [line] = result.stderr.decode().splitlines()
                self.assertIn("'no-such-program-here': command not found", line)


class BridgeTest(unittest.TestCase):
    @unittest.skipUnless(NODE_WS_AVAILABLE, "needs Debian node-ws")
    def test_node_ws_through_rtx_ws_bridge_to_socat_echo(self):
        port = free_port()
        echo = subprocess.Popen(["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr",
                                 "EXEC:cat"])
        try:
            with listening("ws", "-l", "--keep-open", "--bridge", f"tcp://127.0.0.1:{port}",
                           "0") as (proc, url):
                client = line_client(url)
                self.assertEqual(next_json(client.stdout), {"open": True})
                for text in ("hello bridge", "wörld"):
                    client.stdin.write(f"{text}\n".encode())
                    client.stdin.flush()
                    self.assertEqual(next_json(client.stdout), {"data": text, "binary": False})
                client.stdin.close()
                self.assertEqual(next_json(client.stdout), {"close": 1000})
                client.wait(timeout=20)
        finally:
            echo.kill()
            echo.wait()

    @unittest.skipUnless(NODE_WS_AVAILABLE, "needs Debian node-ws")
    def test_raw_bridge_to_rtx_serve_carries_binary(self):
        with Serve("--tcp-port", "0") as serve, \
                listening("ws", "-l", "--keep-open", "--raw", "--bridge", serve.url(),
                          "0") as (proc, url):
            client = line_client(url)
            self.assertEqual(next_json(client.stdout), {"open": True})
            client.stdin.write(b"b:00ff0a10\n")
            client.stdin.flush()
            self.assertEqual(next_json(client.stdout), {"data": "00ff0a10", "binary": True})
            client.stdin.close()
            client.wait(timeout=20)

    @unittest.skipUnless(NODE_WS_AVAILABLE, "needs Debian node-ws")
    def test_unreachable_backend_closes_with_1011(self):
        with listening("ws", "-l", "--bridge", f"tcp://127.0.0.1:{free_port()}",
                       "0") as (proc, url):
            client = line_client(url)
            self.assertEqual(next_json(client.stdout), {"open": True})
            self.assertEqual(next_json(client.stdout), {"close": 1011})
            client.wait(timeout=20)

    def test_tcp_listener_bridged_to_websocket_echo(self):
        with Serve("--no-tcp", "--http-port", "0", expect=3) as serve, \
                listening("tcp", "-l", "--bridge", serve.url("ws-echo"), "0") as (proc, url):
            nc = subprocess.Popen(["nc", "127.0.0.1", str(port_of(url))],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            try:
                nc.stdin.write(b"over websocket\n")
                nc.stdin.flush()
                self.assertEqual(read_line(nc.stdout), b"over websocket\n")
            finally:
                nc.kill()
                nc.wait()
            proc.wait(timeout=20)

    def test_refused_backend_is_an_error_and_the_exit_code(self):
        port = free_port()
        with listening("tcp", "-l", "--bridge", f"tcp://127.0.0.1:{port}", "0") as (proc, url):
            with socket.create_connection(("127.0.0.1", port_of(url)), timeout=10) as client:
                client.sendall(b"anyone there?\n")
                try:  # closed, nothing relayed (a reset: what it sent was never read)
                    self.assertEqual(client.recv(4096), b"")
                except ConnectionResetError:
                    pass
            out, err = finish(proc)
        self.assertEqual(proc.returncode, EXIT_CONNECT, err)
        [line] = err.decode().splitlines()
        self.assertIn(f"--bridge: connection 1: connect to 127.0.0.1:{port}:", line)
        self.assertIn("refused", line)

    def test_client_fin_reaches_the_backend_and_its_answer_comes_back(self):
        # socat's backend answers only at the end of its input: the client's half-close
        # goes through the bridge, and the answer comes back before rtx's FIN.
        port = free_port()
        # -t: socat waits this long for sort's answer after the input ended (0.5 s default).
        backend = subprocess.Popen(["socat", "-t", "10",
                                    f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                                    "SYSTEM:sort -r"])
        try:
            wait_for_port(port)
            with listening("tcp", "-l", "--bridge", f"tcp://127.0.0.1:{port}",
                           "0") as (proc, url):
                nc = subprocess.run(["nc", "-N", "127.0.0.1", str(port_of(url))],
                                    input=b"a\nc\nb\n", capture_output=True, timeout=20)
                proc.wait(timeout=20)
        finally:
            backend.kill()
            backend.wait()
        self.assertEqual(nc.stdout, b"c\nb\na\n")
        self.assertEqual(proc.returncode, 0)

    def test_fast_client_against_a_backend_that_is_not_up_is_bounded(self):
        # The backend accepts TCP but never answers the WebSocket handshake (a stuck
        # server), or never reads: rtx stops reading the client instead of holding what it
        # sends. Without the bound rtx would take all 64 MiB.
        stuck = socket.socket()
        stuck.bind(("127.0.0.1", 0))
        stuck.listen(8)
        port = stuck.getsockname()[1]
        try:
            for backend in (f"ws://127.0.0.1:{port}/", f"tcp://127.0.0.1:{port}"):
                with self.subTest(backend=backend), \
                        listening("tcp", "-l", "--raw", "--connect-timeout", "60s",
                                  "--bridge", backend, "0") as (proc, url):
                    with socket.create_connection(("127.0.0.1", port_of(url))) as client:
                        before = rss_kib(proc.pid)
                        sent = send_until_stalled(client, 64 << 20)
                        grown = rss_kib(proc.pid) - before
                    proc.kill()
                    proc.wait()
                self.assertLess(sent, 48 << 20)  # kernel buffers and 1 MiB of rtx's
                self.assertLess(grown, 24 << 10, f"rss grew {grown} KiB")
        finally:
            stuck.close()

    def test_bad_bridge_urls(self):
        for args in (["ws", "-l", "--bridge", "ws://127.0.0.1:1/", "0"],
                     ["tcp", "-l", "--bridge", "http://127.0.0.1:1/", "0"],
                     ["tcp", "-l", "--bridge", "tcp://x:1", "--exec", "cat", "0"]):
            with self.subTest(args=args):
                result = rtx(*args)
                self.assertEqual(result.returncode, EXIT_USAGE, result.stderr)
                self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)


if __name__ == "__main__":
    unittest.main()
