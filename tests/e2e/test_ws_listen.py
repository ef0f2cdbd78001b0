"""rtx ws -l: listen mode against node ws, rtx ws and Chromium's WebSocket as clients."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import unittest

import chromium
from listentest import finish, listening
from rtxtest import EXIT_BIND, EXIT_OK, EXIT_USAGE, popen_rtx, read_line, rtx
from test_tcp_tls import make_pki

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = "node"
NODE_WS_AVAILABLE = os.path.exists(os.environ.get("NODE_WS", "/usr/share/nodejs/ws"))
REQUIRE_BROWSER = os.environ.get("RTX_REQUIRE_BROWSER") == "1"


def line_client(url):
    return subprocess.Popen([NODE, os.path.join(HERE, "ws_line_client.js"), url],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def next_json(stream):
    return json.loads(read_line(stream))


@unittest.skipUnless(NODE_WS_AVAILABLE, "needs Debian node-ws")
class NodeClientTest(unittest.TestCase):
    def test_echo_with_permessage_deflate(self):
        # stdout gets every message too (1 MiB of text): not read here.
        with listening("ws", "-l", "--keep-open", "--no-stdin", "--echo", "0",
                       stdout=subprocess.DEVNULL) as (proc, url):
            self.assertTrue(url.startswith("ws://127.0.0.1:"), url)
            peer = subprocess.run([NODE, os.path.join(HERE, "ws_node_peer.js"), "echo", url],
                                  capture_output=True, timeout=60)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        self.assertEqual(peer.returncode, 0, peer.stderr)
        seen = json.loads(peer.stdout)
        self.assertEqual(seen["extensions"], ["permessage-deflate"])
        self.assertEqual([r["same"] for r in seen["results"]], [True, True, True])
        self.assertEqual([r["binary"] for r in seen["results"]], [False, False, True])

    def test_keep_open_broadcast_and_json(self):
        with listening("ws", "-l", "--keep-open", "--json", "0/chat") as (proc, url):
            self.assertTrue(url.endswith("/chat"), url)
            clients = [line_client(url) for _ in range(2)]
            try:
                for client in clients:
                    self.assertEqual(next_json(client.stdout), {"open": True})
                opened = [next_json(proc.stdout) for _ in clients]
                self.assertEqual([r["event"] for r in opened], ["open", "open"])
                clients[0].stdin.write(b"hello from 0\n")
                clients[0].stdin.flush()
                text = next_json(proc.stdout)
                self.assertEqual((text["payload"], text["opcode"]), ("hello from 0", "text"))
                clients[1].stdin.write(b"b:00ff10\n")
                clients[1].stdin.flush()
                binary = next_json(proc.stdout)
                self.assertEqual((binary["opcode"], binary["encoding"], binary["payload"]),
                                 ("binary", "base64", "AP8Q"))
                self.assertNotEqual(text["connection"], binary["connection"])
                self.assertTrue(text["peer"].startswith("127.0.0.1:"), text)
                proc.stdin.write(b"to all\n")
                proc.stdin.flush()
                for client in clients:
                    self.assertEqual(next_json(client.stdout), {"data": "to all", "binary": False})
                # One client leaves: a close record with its code; the other stays.
                clients[0].stdin.close()
                self.assertEqual(next_json(clients[0].stdout), {"close": 1000})
                closed = next_json(proc.stdout)
                self.assertEqual((closed["event"], closed["code"], closed["connection"]),
                                 ("close", 1000, text["connection"]))
                proc.stdin.write(b"still here\n")
                proc.stdin.flush()
                self.assertEqual(next_json(clients[1].stdout)["data"], "still here")
                # stdin EOF: rtx closes the others with 1000.
                proc.stdin.close()
                self.assertEqual(next_json(clients[1].stdout), {"close": 1000})
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=20)
            finally:
                for client in clients:
                    if client.poll() is None:
                        client.kill()
                    client.wait()

    def test_other_path_is_not_found(self):
        with listening("ws", "-l", "0/chat") as (proc, url):
            client = line_client(url.replace("/chat", "/other"))
            out, _ = client.communicate(timeout=20)
            self.assertEqual(json.loads(out), {"status": 404})
            self.assertIsNone(proc.poll())  # still waiting for its one client


class RtxClientTest(unittest.TestCase):
    def test_one_client_both_ways(self):
        with listening("ws", "-l", "0") as (server, url):
            with popen_rtx("ws", "--no-close", url) as client:
                client.stdin.write(b"ping\n")
                client.stdin.close()
                self.assertEqual(read_line(server.stdout), b"ping\n")
                server.stdin.write(b"pong\n")
                server.stdin.close()  # sends the close frame
                client_out, client_err = finish(client)
                server.wait(timeout=20)
        self.assertEqual(client.returncode, EXIT_OK, client_err)
        self.assertEqual(client_out, b"pong\n")
        self.assertEqual(server.returncode, EXIT_OK)

    def test_client_close_code_is_the_exit_status(self):
        with listening("ws", "-l", "--no-stdin", "0") as (server, url):
            client = rtx("ws", "--close-code", "4000", url, input="bye\n")
            server.wait(timeout=20)
            out = server.stdout.read()
        self.assertEqual(client.returncode, EXIT_OK, client.stderr)
        self.assertEqual(out, b"bye\n")
        self.assertEqual(server.returncode, 9)  # closed with another code than 1000/1001

    def test_wss(self):
        with tempfile.TemporaryDirectory() as directory:
            make_pki(directory)
            with listening("ws", "-l", "--tls-cert", os.path.join(directory, "server.pem"),
                           "--tls-key", os.path.join(directory, "server.key"),
                           "0") as (server, url):
                self.assertTrue(url.startswith("wss://"), url)
                client = rtx("ws", "--cacert", os.path.join(directory, "ca.pem"),
                             url.replace("127.0.0.1", "localhost"), input="secure\n")
                server.stdin.close()
                out, err = finish(server)
        self.assertEqual(client.returncode, EXIT_OK, client.stderr)
        self.assertEqual(out, b"secure\n")
        self.assertEqual(server.returncode, EXIT_OK, err)


@unittest.skipUnless(REQUIRE_BROWSER or chromium.available(),
                     "needs Debian chromium (scripts/install-deps.sh --with-tests)")
class BrowserClientTest(unittest.TestCase):
    def test_chromium_websocket(self):
        with listening("ws", "-l", "--keep-open", "0") as (server, url), \
                chromium.Chromium() as browser:
            page = browser.new_page()
            page.evaluate(f"""
                window.received = [];
                window.ws = new WebSocket({json.dumps(url)});
                ws.onmessage = (event) => window.received.push(event.data);
                ws.onopen = () => ws.send('hello from chromium');""")
            self.assertEqual(read_line(server.stdout), b"hello from chromium\n")
            server.stdin.write("wörld ✓\n".encode())
            server.stdin.flush()
            received = page.wait_for("window.received.length >= 1 && window.received")
            self.assertEqual(received, ["wörld ✓"])
            server.send_signal(signal.SIGINT)
            server.wait(timeout=20)


@unittest.skipUnless(NODE_WS_AVAILABLE, "needs Debian node-ws")
class UnixSocketClientTest(unittest.TestCase):
    def test_rtx_ws_over_a_unix_socket(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "ws.sock")
            server = subprocess.Popen([NODE, os.path.join(HERE, "ws_unix_echo.js"), path],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            try:
                self.assertEqual(read_line(server.stdout, timeout=20), b"listening\n")
                client = rtx("ws", "--unix-socket", path, "ws://localhost/chat",
                             input="over unix\n")
                missing = rtx("ws", "--unix-socket", path + ".nope", "ws://localhost/",
                              input="")
            finally:
                server.stdin.close()
                server.wait(timeout=20)
        self.assertEqual(client.returncode, EXIT_OK, client.stderr)
        self.assertEqual(client.stdout, b"/chat over unix\n")
        self.assertEqual(missing.returncode, 3, missing.stderr)


class UnixSocketListenTest(unittest.TestCase):
    def test_rtx_ws_client_over_the_listeners_unix_socket(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "ws.sock")
            with listening("ws", "-l", f"unix:{path}") as (proc, url):
                self.assertEqual(url, f"unix:{path}")
                with popen_rtx("ws", "--no-close", "--unix-socket", path,
                               "ws://localhost/chat") as client:
                    client.stdin.write(b"to the listener\n")
                    client.stdin.close()
                    self.assertEqual(read_line(proc.stdout), b"to the listener\n")
                    proc.stdin.write(b"to the client\n")
                    proc.stdin.close()  # sends the close frame
                    client_out, client_err = finish(client)
                out, err = finish(proc)
            self.assertFalse(os.path.exists(path))  # removed when rtx stops
        self.assertEqual(client.returncode, EXIT_OK, client_err)
        self.assertEqual(client_out, b"to the client\n")
        self.assertEqual(out, b"")
        self.assertEqual(proc.returncode, EXIT_OK, err)

    @unittest.skipUnless(NODE_WS_AVAILABLE, "needs Debian node-ws")
    def test_node_ws_client_over_a_unix_socket(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "ws.sock")
            with listening("ws", "-l", "--json", "--no-stdin", "--echo",
                           f"unix:{path}") as (proc, url):
                client = line_client(f"ws+unix://{path}:/any/path")
                self.assertEqual(next_json(client.stdout), {"open": True})
                opened = next_json(proc.stdout)
                self.assertEqual((opened["event"], opened["peer"]), ("open", "unix"))
                client.stdin.write("über unix\n".encode())
                client.stdin.flush()
                self.assertEqual(next_json(client.stdout), {"data": "über unix", "binary": False})
                client.stdin.close()
                self.assertEqual(next_json(client.stdout), {"close": 1000})
                client.wait(timeout=20)
                proc.wait(timeout=20)
        self.assertEqual(proc.returncode, EXIT_OK)

    def test_unix_path_that_cannot_be_bound(self):
        result = rtx("ws", "-l", "unix:/nonexistent-dir/ws.sock")
        self.assertEqual(result.returncode, EXIT_BIND, result.stderr)
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
        self.assertEqual(rtx("ws", "-l", "unix:").returncode, EXIT_USAGE)


class BadInputTest(unittest.TestCase):
    def test_port_in_use(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            result = rtx("ws", "-l", str(taken.getsockname()[1]))
        self.assertEqual(result.returncode, EXIT_BIND, result.stderr)
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)

    def test_client_flags_do_not_fit(self):
        for flags in (["-H", "a: b"], ["--subprotocol", "x"], ["--reconnect"]):
            with self.subTest(flags=flags):
                result = rtx("ws", "-l", *flags, "0")
                self.assertEqual(result.returncode, EXIT_USAGE, result.stderr)
                self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)


if __name__ == "__main__":
    unittest.main()
