"""rtx serve --tls: https (HTTP/1.1 and HTTP/2), wss, mqtts and the TLS TCP echo, checked with
curl, node-ws, mosquitto, openssl s_client, Python's ssl module and rtx's own clients."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from rtxtest import EXIT_OK, EXIT_USAGE, Serve, popen_rtx, read_line, rtx

HERE = os.path.dirname(os.path.abspath(__file__))
ALL_PORTS = ("--tcp-port", "0", "--http-port", "0", "--mqtt-port", "0")
# tcp-echo, http, ws, ws-echo, mqtt, then tls-cert and tls-sha256.
ALL_LINES = 7


def host_port(url):
    authority = url.split("://", 1)[1].split("/", 1)[0]
    host, port = authority.rsplit(":", 1)
    return host, int(port)


def curl(*args, timeout=20):
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True,
                          timeout=timeout)


def openssl(directory, *args):
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


def make_client_pki(directory):
    """A CA and a client certificate it signed, for --tls-client-ca."""
    openssl(directory, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=rtx client CA", "-keyout", "ca.key",
            "-out", "ca.pem")
    openssl(directory, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=client", "-keyout", "client.key", "-out", "client.csr")
    openssl(directory, "x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", "client.pem")


class GeneratedCertificateTest(unittest.TestCase):
    def test_every_listener_speaks_tls_with_the_printed_certificate(self):
        with Serve("--tls", *ALL_PORTS, expect=ALL_LINES) as serve:
            self.assertRegex(serve.url("tcp-echo"), r"^tls://127\.0\.0\.1:\d+$")
            self.assertRegex(serve.url("http"), r"^https://127\.0\.0\.1:\d+$")
            self.assertRegex(serve.url("ws"), r"^wss://127\.0\.0\.1:\d+/ws/\{topic\}$")
            self.assertRegex(serve.url("ws-echo"), r"^wss://127\.0\.0\.1:\d+/echo$")
            self.assertRegex(serve.url("mqtt"), r"^mqtts://127\.0\.0\.1:\d+$")
            cert = serve.url("tls-cert")
            self.assertTrue(os.path.isfile(cert))
            shown = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint",
                                    "-sha256", "-ext", "subjectAltName"],
                                   capture_output=True, check=True).stdout.decode()
            self.assertIn("=" + serve.url("tls-sha256"), shown)
            self.assertIn("IP Address:127.0.0.1", shown)
            self.assertIn("IP Address:0:0:0:0:0:0:0:1", shown)
            self.assertIn("DNS:localhost", shown)
            self.assertEqual(serve.stop(), EXIT_OK)
        # A certificate made for the run goes with it.
        self.assertFalse(os.path.exists(cert))


class TlsServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.serve = Serve("--tls", *ALL_PORTS, expect=ALL_LINES).__enter__()
        cls.cert = cls.serve.url("tls-cert")
        cls.https = cls.serve.url("http")

    @classmethod
    def tearDownClass(cls):
        cls.serve.__exit__(None, None, None)

    def sse_through_curl(self, version_flag, topic):
        sub = subprocess.Popen(["curl", "-sSN", version_flag, "--cacert", self.cert,
                                "--max-time", "15", f"{self.https}/sse/{topic}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # Publish until the subscriber sees it: the subscription may not be there yet.
            for attempt in range(50):
                published = curl(version_flag, "--cacert", self.cert, "-d", f"hello {attempt}",
                                 f"{self.https}/publish/{topic}")
                self.assertEqual(published.returncode, 0, published.stderr)
                # Read what came (the stream's "retry:" head may come before the first
                # event) until a quiet 0.2 s, then publish again: a publish that came before
                # the subscription reached nobody.
                try:
                    while True:
                        line = read_line(sub.stdout, timeout=0.2)
                        if line.startswith(b"data:"):
                            return line.decode().strip()
                except TimeoutError:
                    continue
            self.fail("the SSE subscriber saw nothing")
        finally:
            sub.kill()
            sub.wait()
            sub.stdout.close()
            sub.stderr.close()

    def test_curl_https_http1_and_http2(self):
        for flag, version in (("--http1.1", "1.1"), ("--http2", "2")):
            with self.subTest(flag):
                result = curl(flag, "--cacert", self.cert, "-o", "/dev/null", "-w",
                              "%{http_code} %{http_version}", f"{self.https}/")
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(result.stdout.decode(), f"200 {version}")
                line = self.sse_through_curl(flag, f"h{version}")
                self.assertRegex(line, r"^data: ?hello \d+$")

    def test_curl_without_the_certificate_is_refused(self):
        result = curl(f"{self.https}/")
        self.assertEqual(result.returncode, 60, result.stderr)  # peer certificate not trusted

    def test_rtx_sse_and_ws_with_cacert(self):
        with popen_rtx("sse", f"{self.https}/sse/rtx", "--cacert", self.cert) as sub:
            for attempt in range(50):
                curl("--cacert", self.cert, "-d", "over tls", f"{self.https}/publish/rtx")
                try:
                    self.assertEqual(read_line(sub.stdout, timeout=0.2), b"over tls\n")
                    break
                except TimeoutError:
                    continue
            else:
                self.fail("rtx sse saw nothing")
        echo = self.serve.url("ws-echo")
        result = rtx("ws", echo, "--cacert", self.cert, input=b"one\ntwo\n", timeout=20)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"one\ntwo\n")
        insecure = rtx("ws", echo, input=b"one\n", timeout=20)
        self.assertEqual(insecure.returncode, 4, insecure.stderr)  # not trusted: TLS failed

    @unittest.skipUnless(shutil.which("node") and os.path.isdir("/usr/share/nodejs/ws"),
                         "needs node and Debian's node-ws")
    def test_node_ws_over_wss(self):
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=self.cert)
        result = subprocess.run(["node", os.path.join(HERE, "ws_node_peer.js"), "echo",
                                 self.serve.url("ws-echo")], capture_output=True, env=env,
                                timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        seen = json.loads(result.stdout)
        self.assertEqual([r["same"] for r in seen["results"]], [True, True, True])

    @unittest.skipUnless(shutil.which("mosquitto_sub"), "needs mosquitto-clients")
    def test_mosquitto_and_rtx_mqtt_over_mqtts(self):
        host, port = host_port(self.serve.url("mqtt"))
        tls = ["-h", host, "-p", str(port), "--cafile", self.cert]
        sub = subprocess.Popen(["mosquitto_sub", *tls, "-t", "secure", "-C", "2", "-W", "20"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # mosquitto_sub prints nothing when it is subscribed: a retained message tells.
            subprocess.run(["mosquitto_pub", *tls, "-t", "secure", "-m", "first", "-r"],
                           check=True, capture_output=True, timeout=20)
            self.assertEqual(read_line(sub.stdout, timeout=15), b"first\n")
            result = rtx("mqtt", "pub", self.serve.url("mqtt"), "--cacert", self.cert, "-t",
                         "secure", "-m", "from rtx", timeout=20)
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            self.assertEqual(read_line(sub.stdout, timeout=15), b"from rtx\n")
        finally:
            sub.kill()
            sub.wait()
            sub.stdout.close()
            sub.stderr.close()
        got = rtx("mqtt", "sub", self.serve.url("mqtt"), "--cacert", self.cert, "-t", "secure",
                  "--count", "1", timeout=20)
        self.assertEqual(got.returncode, EXIT_OK, got.stderr)
        self.assertEqual(got.stdout, b"first\n")  # the retained one

    def test_openssl_s_client_and_python_on_the_tcp_echo(self):
        host, port = host_port(self.serve.url("tcp-echo"))
        client = subprocess.Popen(["openssl", "s_client", "-connect", f"{host}:{port}",
                                   "-CAfile", self.cert, "-verify_return_error", "-quiet"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        try:
            client.stdin.write(b"hello over tls\n")
            client.stdin.flush()
            self.assertEqual(read_line(client.stdout, timeout=15), b"hello over tls\n")
        finally:
            client.kill()
            client.wait()
            for stream in (client.stdin, client.stdout, client.stderr):
                stream.close()
        context = ssl.create_default_context(cafile=self.cert)
        with socket.create_connection((host, port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"x" * 100000)
            received = b""
            while len(received) < 100000:
                received += tls.recv(65536)
            self.assertEqual(received, b"x" * 100000)
        echoed = rtx("tcp", self.serve.url("tcp-echo"), "--cacert", self.cert,
                     input=b"from rtx tcp\n", timeout=20)
        self.assertEqual(echoed.returncode, EXIT_OK, echoed.stderr)
        self.assertEqual(echoed.stdout, b"from rtx tcp\n")

    def test_plain_text_on_a_tls_port_gets_nothing(self):
        host, port = host_port(self.serve.url("mqtt"))
        with socket.create_connection((host, port), timeout=10) as plain:
            plain.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")  # CONNECT
            data = plain.recv(100)
            self.assertFalse(data.startswith(b"\x20"))  # no CONNACK, a TLS alert at most


class ClientCertificateTest(unittest.TestCase):
    def test_client_ca_requires_a_signed_client_certificate(self):
        with tempfile.TemporaryDirectory() as directory:
            make_client_pki(directory)
            ca, cert, key = (os.path.join(directory, name)
                             for name in ("ca.pem", "client.pem", "client.key"))
            with Serve("--tls", "--tls-client-ca", ca, *ALL_PORTS, expect=ALL_LINES) as serve:
                server_cert = serve.url("tls-cert")
                https = serve.url("http")
                refused = curl("--cacert", server_cert, f"{https}/")
                self.assertNotEqual(refused.returncode, 0)
                allowed = curl("--cacert", server_cert, "--cert", cert, "--key", key, "-o",
                               "/dev/null", "-w", "%{http_code}", f"{https}/")
                self.assertEqual(allowed.stdout, b"200", allowed.stderr)

                host, port = host_port(serve.url("tcp-echo"))
                context = ssl.create_default_context(cafile=server_cert)
                with socket.create_connection((host, port), timeout=10) as raw:
                    # TLS 1.3: the server's verdict on the client comes with the first read.
                    with self.assertRaises((ssl.SSLError, ConnectionResetError)):
                        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                            tls.sendall(b"no cert\n")
                            if not tls.recv(100):
                                raise ConnectionResetError("closed")
                context.load_cert_chain(cert, key)
                with socket.create_connection((host, port), timeout=10) as raw, \
                        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    tls.sendall(b"with cert\n")
                    self.assertEqual(tls.recv(100), b"with cert\n")

                result = rtx("mqtt", "pub", serve.url("mqtt"), "--cacert", server_cert,
                             "--cert", cert, "--key", key, "-t", "t", "-m", "m", timeout=20)
                self.assertEqual(result.returncode, EXIT_OK, result.stderr)


class TlsUsageTest(unittest.TestCase):
    def test_bad_tls_flags_are_usage_errors(self):
        with tempfile.TemporaryDirectory() as directory:
            make_client_pki(directory)
            ca, cert, key = (os.path.join(directory, name)
                             for name in ("ca.pem", "client.pem", "client.key"))
            for args in (["--tls-key", key],
                         ["--tls-client-ca", ca],
                         ["--tls-cert", cert, "--tls-key", os.path.join(directory, "ca.key")],
                         ["--tls-cert", key, "--tls-key", key]):
                with self.subTest(args=args):
                    result = rtx("serve", *args, *ALL_PORTS, timeout=10)
                    self.assertEqual(result.returncode, EXIT_USAGE, result.stderr)
                    self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)

    def test_own_certificate_and_key(self):
        with tempfile.TemporaryDirectory() as directory:
            openssl(directory, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", "key.pem",
                    "-out", "cert.pem")
            cert = os.path.join(directory, "cert.pem")
            with Serve("--tls-cert", cert, "--tls-key", os.path.join(directory, "key.pem"),
                       "--http-port", "0", "--no-tcp", expect=5) as serve:
                self.assertEqual(serve.url("tls-cert"), cert)
                port = host_port(serve.url("http"))[1]
                result = curl("--cacert", cert, "--resolve", f"localhost:{port}:127.0.0.1",
                              "-o", "/dev/null", "-w", "%{http_code}",
                              f"https://localhost:{port}/")
                self.assertEqual(result.stdout, b"200", result.stderr)


if __name__ == "__main__":
    unittest.main()
