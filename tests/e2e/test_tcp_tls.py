"""rtx tcp --tls against a Python ssl echo peer with a throwaway CA made by openssl(1)."""
import hashlib
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest

from rtxtest import EXIT_OK, EXIT_TLS, rtx


def make_pki(directory):
    """A CA and a server certificate for localhost and 127.0.0.1, signed by that CA."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=rtx test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout",
        "server.key", "-out", "server.csr")
    with open(os.path.join(directory, "san.ext"), "w") as ext:
        ext.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem")


class TlsEchoPeer:
    """Echoes every byte over TLS; records the SNI name each client sent."""

    def __init__(self, directory):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(os.path.join(directory, "server.pem"),
                                     os.path.join(directory, "server.key"))
        self.server_names = []
        self.context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.echo, args=(conn,), daemon=True).start()

    def echo(self, conn):
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                while data := tls.recv(65536):
                    tls.sendall(data)
                # rtx sent close_notify (its half-close); answer with ours.
                tls.unwrap()
        except (ssl.SSLError, OSError):
            pass

    def close(self):
        self.listener.close()


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        make_pki(cls.tmp.name)
        cls.ca = os.path.join(cls.tmp.name, "ca.pem")
        cls.peer = TlsEchoPeer(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.peer.close()
        cls.tmp.cleanup()

    def test_verified_echo_with_sni(self):
        before = len(self.peer.server_names)
        result = rtx("tcp", "--tls", "--cacert", self.ca, f"localhost:{self.peer.port}",
                     input="secure hello\n")
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"secure hello\n")
        self.assertEqual(self.peer.server_names[before:], ["localhost"])

    def test_tls_url_with_ip_address_sends_no_sni(self):
        before = len(self.peer.server_names)
        result = rtx("tcp", "--cacert", self.ca, f"tls://127.0.0.1:{self.peer.port}",
                     input="by ip\n")
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"by ip\n")
        self.assertEqual(self.peer.server_names[before:], [None])

    def test_untrusted_certificate_fails_with_exit_4(self):
        result = rtx("tcp", "--tls", f"localhost:{self.peer.port}", input="x\n")
        self.assertEqual(result.returncode, EXIT_TLS)
        self.assertEqual(result.stdout, b"")
        lines = result.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("certificate verification failed", lines[0])

    def test_reconnect_does_not_retry_a_certificate_failure(self):
        result = rtx("tcp", "--tls", "--reconnect", f"localhost:{self.peer.port}", input="x\n",
                     timeout=10)
        self.assertEqual(result.returncode, EXIT_TLS)
        self.assertNotIn(b"reconnecting", result.stderr)

    def test_wrong_host_name_fails(self):
        result = rtx("tcp", "--tls", "--cacert", self.ca, "--servername", "other.example",
                     f"127.0.0.1:{self.peer.port}", input="x\n")
        self.assertEqual(result.returncode, EXIT_TLS)
        self.assertIn(b"hostname mismatch", result.stderr)

    def test_insecure_skips_verification(self):
        result = rtx("tcp", "--tls", "-k", f"localhost:{self.peer.port}", input="anyway\n")
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, b"anyway\n")

    def test_binary_transfer_over_tls(self):
        data = os.urandom(2 * 1024 * 1024)
        result = rtx("tcp", "--raw", "--tls", "--cacert", self.ca, f"localhost:{self.peer.port}",
                     input=data, timeout=60)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(hashlib.sha256(result.stdout).digest(), hashlib.sha256(data).digest())

    def test_missing_ca_file_is_a_tls_error(self):
        result = rtx("tcp", "--tls", "--cacert", "/nonexistent/ca.pem",
                     f"localhost:{self.peer.port}", input="")
        self.assertEqual(result.returncode, EXIT_TLS)
        self.assertEqual(len(result.stderr.splitlines()), 1)

    def test_tls_to_a_plain_tcp_port_fails_cleanly(self):
        plain = socket.socket()
        plain.bind(("127.0.0.1", 0))
        plain.listen(1)

        def answer():
            conn, _ = plain.accept()
            conn.recv(4096)
            conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
            conn.close()

        thread = threading.Thread(target=answer)
        thread.start()
        result = rtx("tcp", "--tls", "-k", f"127.0.0.1:{plain.getsockname()[1]}", input="")
        thread.join()
        plain.close()
        self.assertEqual(result.returncode, EXIT_TLS)
        self.assertEqual(len(result.stderr.splitlines()), 1)


if __name__ == "__main__":
    unittest.main()
