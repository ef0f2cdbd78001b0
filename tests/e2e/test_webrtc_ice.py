"""rtx webrtc --stun, --turn and --relay-only (issue 14), all on loopback.

TURN: coturn's turnserver (Debian package coturn) listens on 127.0.0.1 and relays from
127.0.0.1; with --relay-only both peers announce and use relayed candidates only, so the
data channel goes through the relay (asserted on the candidates and the selected pairs).
STUN: a small responder in this file answers binding requests with mapped address
127.0.0.2, and the offer must carry that server-reflexive candidate; coturn as the STUN
server answers too, but on loopback its mapped address is the host candidate's own, which
libnice drops as redundant (RFC 8445 section 5.1.3). libnice asks in the classic RFC 3489
form (no magic cookie), which coturn answers only with its backward compatibility on.

Skipped when turnserver is missing, unless RTX_REQUIRE_TURN=1."""

import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import zlib

from rtxtest import EXIT_CONNECT, EXIT_OK, EXIT_USAGE, rtx
from test_webrtc import WAIT, Peer

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
REQUIRED = os.environ.get("RTX_REQUIRE_TURN") == "1"
MAGIC = 0x2112A442


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binding_request():
    return struct.pack("!HHI", 0x0001, 0, MAGIC) + os.urandom(12)


def candidates(sdp):
    """(address, type) of each a=candidate line."""
    return re.findall(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ (\w+)", sdp, re.M)


def selected_pairs(peer):
    return re.findall(r"ICE selected pair (\S+) typ (\w+) <-> (\S+) typ (\w+)",
                      peer.stderr_text())


class StunResponder:
    """Answers STUN binding requests on 127.0.0.1 with mapped address 127.0.0.2 and the
    request's source port; counts the requests. libnice asks in the classic RFC 3489 form
    (no magic cookie: the transaction id is the 16 bytes after the length), so that form is
    answered with MAPPED-ADDRESS; an RFC 8489 request (with the cookie) gets
    XOR-MAPPED-ADDRESS and FINGERPRINT."""

    MAPPED = "127.0.0.2"

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                data, source = self.sock.recvfrom(2048)
            except OSError:
                return
            if len(data) < 20 or struct.unpack("!H", data[:2])[0] != 0x0001:
                continue
            self.requests += 1
            self.sock.sendto(self.response(data[4:20], source[1]), source)

    def response(self, transaction, port):
        mapped = socket.inet_aton(self.MAPPED)
        if struct.unpack("!I", transaction[:4])[0] != MAGIC:
            # RFC 3489 section 11.2.1: MAPPED-ADDRESS, the address in the clear.
            attribute = struct.pack("!HHBBH", 0x0001, 8, 0, 1, port) + mapped
            return struct.pack("!HH", 0x0101, len(attribute)) + transaction + attribute
        xaddress = bytes(a ^ b for a, b in zip(mapped, struct.pack("!I", MAGIC)))
        attribute = struct.pack("!HHBBH", 0x0020, 8, 0, 1, port ^ (MAGIC >> 16)) + xaddress
        # FINGERPRINT (RFC 8489 section 14.7): CRC-32 of what precedes it, the length in the
        # header already counting it, XOR 0x5354554E.
        header = struct.pack("!HH", 0x0101, len(attribute) + 8) + transaction
        crc = zlib.crc32(header + attribute) ^ 0x5354554E
        return header + attribute + struct.pack("!HHI", 0x8028, 4, crc)

    def close(self):
        self.sock.close()


class Peers:
    """Two rtx webrtc peers with manual signalling (a mixin for the test cases below)."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="rtx-webrtc-ice-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.peers = []
        self.addCleanup(lambda: [peer.kill() for peer in self.peers])

    def peer(self, role, *args, **kwargs):
        peer = Peer(self.workdir, role, *args, **kwargs)
        self.peers.append(peer)
        return peer

    def exchange(self, offerer, answerer):
        """Carries the descriptions across; a few lines each way; returns them."""
        offer = offerer.description()
        answerer.give(offer)
        answer = answerer.description()
        offerer.give(answer)
        offerer.feed(b"to the answerer\n")
        answerer.feed(b"to the offerer\n")
        answerer.wait_stdout(len(b"to the answerer\n"))
        offerer.wait_stdout(len(b"to the offerer\n"))
        offerer.proc.stdin.close()
        self.assertEqual(offerer.finish(), EXIT_OK, offerer.stderr_text())
        self.assertEqual(answerer.finish(), EXIT_OK, answerer.stderr_text())
        self.assertEqual(answerer.stdout, b"to the answerer\n")
        self.assertEqual(offerer.stdout, b"to the offerer\n")
        return offer, answer


class WebrtcIceServers(Peers, unittest.TestCase):
    def test_stun_gives_a_server_reflexive_candidate(self):
        # The responder maps every request to 127.0.0.2 (as a NAT would to its outside
        # address): the offer carries that srflx candidate, based on the host one. The
        # answerer's --ice-address 127.0.0.1 drops it, so the pair in use stays host <-> host.
        stun = StunResponder()
        self.addCleanup(stun.close)
        offerer = self.peer("offer", "--stun", f"127.0.0.1:{stun.port}")
        answerer = self.peer("answer")
        offer, _ = self.exchange(offerer, answerer)
        self.assertGreaterEqual(stun.requests, 1)
        self.assertIn(f"webrtc: STUN server 127.0.0.1:{stun.port}", offerer.stderr_text())
        host = re.findall(r"^a=candidate:\S+ 1 UDP \d+ 127\.0\.0\.1 (\d+) typ host", offer, re.M)
        srflx = re.findall(r"^a=candidate:\S+ 1 UDP \d+ 127\.0\.0\.2 (\d+) typ srflx "
                           r"raddr 127\.0\.0\.1 rport (\d+)", offer, re.M)
        self.assertEqual(len(host), 1, offer)
        # The mapped port is the request's source port: the host candidate's socket.
        self.assertEqual(srflx, [(host[0], host[0])], offer)
        self.assertIn("127.0.0.2 is not an --ice-address", answerer.stderr_text())
        for peer in (offerer, answerer):
            pairs = selected_pairs(peer)
            self.assertTrue(pairs, peer.stderr_text())
            for ours, our_type, theirs, their_type in pairs:
                self.assertEqual((our_type, their_type), ("host", "host"), pairs)
                self.assertTrue(ours.startswith("127.0.0.1:") and theirs.startswith("127.0.0.1:"))

    def test_usage_errors(self):
        for args, message in (
                (("--stun", "::1:3478"), "--stun ::1:3478: expected HOST:PORT or [IPv6]:PORT"),
                (("--turn", "turn:127.0.0.1:3478"),
                 "--turn turn:127.0.0.1:3478: expected turn:USER:PASS@HOST:PORT"),
                (("--relay-only",), "--relay-only needs a --turn relay")):
            with self.subTest(args=args):
                result = rtx("webrtc", "--offer", *args, timeout=WAIT)
                self.assertEqual(result.returncode, EXIT_USAGE, result.stderr)
                self.assertEqual(result.stderr.decode(),
                                 f"rtx: error: {message}; see 'rtx webrtc --help'\n")
                self.assertEqual(result.stdout, b"")


@unittest.skipUnless(REQUIRED or os.access(TURNSERVER, os.X_OK),
                     "needs coturn's turnserver (scripts/install-deps.sh --with-tests)")
class WebrtcTurn(Peers, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.port = free_udp_port()
        # Classic RFC 3489 STUN off: TURN allocations are RFC 8489 requests.
        self.turnserver = self.start_turnserver(self.port, "--no-stun-backward-compatibility")

    def start_turnserver(self, port, *extra, log="stdout"):
        """coturn on 127.0.0.1:`port`, relaying from 127.0.0.1; stopped in the cleanup."""
        low = free_udp_port()
        server = subprocess.Popen(  # noqa: SIM115 (stopped in the cleanup)
            [TURNSERVER, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
             f"--listening-port={port}", "--realm=rtx.test", "--lt-cred-mech",
             "--user=alice:s3cret", "--allow-loopback-peers", "--no-tls", "--no-dtls",
             "--no-tcp-relay", "--no-cli", "--no-rfc5780", *extra,
             f"--min-port={min(low, 65000)}", f"--max-port={min(low, 65000) + 200}",
             f"--pidfile={self.workdir}/turnserver-{port}.pid", f"--log-file={log}",
             "--simple-log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_turn, server)
        self.wait_for_turn(server, port)
        return server

    @staticmethod
    def stop_turn(server):
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    def wait_for_turn(self, server, port):
        """Until turnserver answers a binding request on its port."""
        deadline = time.monotonic() + WAIT
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            while True:
                s.sendto(binding_request(), ("127.0.0.1", port))
                try:
                    if s.recv(2048)[:2] == b"\x01\x01":
                        return
                except OSError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    self.fail("turnserver did not answer")

    def turn(self, password="s3cret"):
        return ("--turn", f"turn:alice:{password}@127.0.0.1:{self.port}", "--relay-only")

    def test_relay_only_peers_talk_through_the_turn_relay(self):
        offerer = self.peer("offer", *self.turn())
        answerer = self.peer("answer", *self.turn())
        offer, answer = self.exchange(offerer, answerer)
        for sdp in (offer, answer):
            found = candidates(sdp)
            self.assertTrue(found, sdp)
            self.assertEqual({kind for _, kind in found}, {"relay"}, sdp)
            self.assertEqual({address for address, _ in found}, {"127.0.0.1"}, sdp)
        for peer in (offerer, answerer):
            pairs = selected_pairs(peer)
            self.assertTrue(pairs, peer.stderr_text())
            for ours, our_type, theirs, their_type in pairs:
                self.assertEqual((our_type, their_type), ("relay", "relay"), pairs)
                self.assertTrue(ours.startswith("127.0.0.1:") and theirs.startswith("127.0.0.1:"))
            self.assertIn(f"webrtc: TURN server 127.0.0.1:{self.port} (UDP, user alice)",
                          peer.stderr_text())

    def test_coturn_as_stun_server_on_loopback(self):
        # coturn answers libnice's binding request (sent in the RFC 3489 form, hence coturn
        # with its classic STUN on). On loopback the mapped address is the host candidate's
        # own address and port, so libnice drops the srflx candidate as redundant (RFC 8445
        # section 5.1.3): the offer has the host candidate only. coturn's log shows that it
        # answered that candidate's socket.
        port = free_udp_port()
        log = os.path.join(self.workdir, "stun.log")
        self.start_turnserver(port, "--verbose", "--log-binding", log=log)
        offerer = self.peer("offer", "--stun", f"127.0.0.1:{port}")
        answerer = self.peer("answer")
        offer, _ = self.exchange(offerer, answerer)
        self.assertIn(f"webrtc: STUN server 127.0.0.1:{port}", offerer.stderr_text())
        found = candidates(offer)
        self.assertEqual(found, [("127.0.0.1", "host")], offer)
        host_port = re.search(r"^a=candidate:\S+ 1 UDP \d+ 127\.0\.0\.1 (\d+) typ host",
                              offer, re.M).group(1)
        # coturn (--verbose --log-binding) logs the new endpoint, then the request it answered:
        # "OLD BINDING" is the RFC 3489 form.
        deadline = time.monotonic() + WAIT
        pattern = re.compile(r"remote addr 127\.0\.0\.1:" + host_port + r"\n(?:.*\n)*?"
                             r".*session \d+: .*incoming packet OLD BINDING processed, success")
        while True:
            text = open(log, errors="replace").read() if os.path.exists(log) else ""
            if pattern.search(text):
                break
            if time.monotonic() > deadline:
                self.fail("coturn logged no answer to the host candidate: " + text[-3000:])
            time.sleep(0.1)

    def test_a_wrong_turn_password_leaves_no_candidate(self):
        offerer = self.peer("offer", *self.turn(password="wrong"))
        self.assertEqual(offerer.finish(), EXIT_CONNECT, offerer.stderr_text())
        self.assertIn("rtx: error: ICE: no local candidate", offerer.stderr_text())
        self.assertEqual(offerer.stdout, b"")


if __name__ == "__main__":
    unittest.main()
