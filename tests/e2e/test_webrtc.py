"""rtx webrtc: two real peers on loopback with manual signalling (issue 14).

Each rtx writes its description to a file (--sdp-out) and reads the peer's from a FIFO
(--sdp-in); the test carries the lines across, so that it can also tamper with them (a
fingerprint that does not match, a candidate off loopback, an answer that never comes).
ICE is pinned to 127.0.0.1 with --ice-address, and the descriptions are checked to carry no
other address: this machine has other interfaces and no check may leave loopback.
"""
import base64
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from rtxtest import EXIT_CONNECT, EXIT_OK, EXIT_TIMEOUT, EXIT_TLS, RTX, Serve

# werift (npm) as an independent peer: WERIFT_DIR names a directory whose node_modules holds
# it (`npm install werift` there); without it that test is skipped.
WERIFT_DIR = os.environ.get("WERIFT_DIR", "")
WERIFT_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "werift_peer.mjs")

EXIT_PROTOCOL = 6
EXIT_HTTP_STATUS = 8
WAIT = 60  # generous: a loaded 2-core machine, and sanitizer builds


class Peer:
    """One `rtx webrtc` process with its signalling files and a thread draining stdout."""

    def __init__(self, workdir, role, *args, stdin=subprocess.PIPE, room=None):
        """Manual signalling through files (role "offer" or "answer"), or through the
        signalling room at URL `room` (role is then only a name)."""
        self.role = role
        if "--connect-timeout" not in args:
            # ICE + DTLS + SCTP on a loaded 2-core machine under sanitizers: far from 10s.
            args = ("--connect-timeout", "60s", *args)
        if room:
            signalling = [room]
        else:
            self.sdp_out = os.path.join(workdir, role + ".out")
            self.sdp_in = os.path.join(workdir, role + ".in")
            os.mkfifo(self.sdp_in)
            signalling = ["--" + role, "--sdp-out", self.sdp_out, "--sdp-in", self.sdp_in]
        self.proc = subprocess.Popen(
            [RTX, "webrtc", *signalling, "-v", "--ice-address", "127.0.0.1", *args],
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.stdout = b""
        self.got_lines = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.stderr = b""
        self.err_reader = threading.Thread(target=self._read_err, daemon=True)
        self.err_reader.start()

    def _read(self):
        while True:
            chunk = self.proc.stdout.read1(1 << 20)
            if not chunk:
                break
            with self.got_lines:
                self.stdout += chunk
                self.got_lines.notify_all()

    def _read_err(self):
        while True:
            chunk = self.proc.stderr.read1(65536)
            if not chunk:
                break
            self.stderr += chunk

    def stderr_so_far(self):
        return self.stderr.decode(errors="replace")

    def description(self):
        """Our description, decoded, once rtx has written it."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if os.path.exists(self.sdp_out):
                with open(self.sdp_out, "rb") as f:
                    line = f.read()
                if line.endswith(b"\n"):
                    return base64.b64decode(line).decode()
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.proc.kill()
        raise AssertionError(f"{self.role}: no description; stderr: {self.stderr_text()}")

    def give(self, sdp):
        """Writes the peer's description into our FIFO, once rtx has opened it."""
        deadline = time.monotonic() + WAIT
        while True:
            try:
                fd = os.open(self.sdp_in, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:  # ENXIO: rtx has not opened its end yet
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)
        try:
            os.write(fd, base64.b64encode(sdp.encode()) + b"\n")
        finally:
            os.close(fd)

    def feed(self, data):
        """Writes stdin from a thread (megabytes do not fit in a pipe buffer)."""
        def write():
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except BrokenPipeError:
                pass
        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        return thread

    def wait_stdout(self, size):
        with self.got_lines:
            ok = self.got_lines.wait_for(lambda: len(self.stdout) >= size, timeout=WAIT)
        if not ok:
            raise AssertionError(
                f"{self.role}: {len(self.stdout)} of {size} bytes on stdout; "
                f"stderr: {self.stderr_text()}")

    def finish(self):
        code = self.proc.wait(timeout=WAIT)
        self.reader.join(timeout=WAIT)
        self.err_reader.join(timeout=WAIT)
        return code

    def stderr_text(self):
        return self.stderr.decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def first_difference(got, want):
    """None when equal, else a short description (megabytes do not belong in a failure)."""
    if got == want:
        return None
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    return (f"{len(got)} bytes, {len(want)} expected; first difference at {at}: "
            f"{got[max(0, at - 20):at + 40]!r} vs {want[max(0, at - 20):at + 40]!r}")


def candidate_addresses(sdp):
    return re.findall(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ", sdp, re.M)


class WebrtcPeers(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="rtx-webrtc-")
        self.peers = []

    def tearDown(self):
        for peer in self.peers:
            peer.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def peer(self, role, *args, workdir=None, **kwargs):
        peer = Peer(workdir or self.workdir, role, *args, **kwargs)
        self.peers.append(peer)
        return peer

    def signal(self, offerer, answerer, edit_offer=None, edit_answer=None):
        offer = offerer.description()
        answerer.give(edit_offer(offer) if edit_offer else offer)
        answer = answerer.description()
        offerer.give(edit_answer(answer) if edit_answer else answer)
        return offer, answer

    def test_text_binary_empty_and_large_messages_both_ways(self):
        big_text = b"t" * (3 << 20)
        big_binary = os.urandom(2 << 20)
        offerer = self.peer("offer")
        answerer = self.peer("answer", "--base64")
        offer, answer = self.signal(offerer, answerer)
        for sdp in (offer, answer):
            addresses = candidate_addresses(sdp)
            self.assertTrue(addresses, sdp)
            self.assertEqual(set(addresses), {"127.0.0.1"}, sdp)
        # Text from the offerer (an empty one among them: PPID 56), binary from the answerer
        # (decoded from base64 lines; the empty line is an empty binary message, PPID 57).
        to_answerer = b"hello\n\n" + big_text + b"\nbye\n"
        binaries = [b"\x00\x01\xfe\xff", b"", big_binary]
        to_offerer = b"".join(base64.b64encode(b) + b"\n" for b in binaries)
        writers = [offerer.feed(to_answerer), answerer.feed(to_offerer)]
        # Each side prints what it received (binary as base64) before either closes: a data
        # channel closes both ways at once, so stdin stays open until both have everything.
        answerer.wait_stdout(len(to_answerer))
        offerer.wait_stdout(len(to_offerer))
        for writer in writers:
            writer.join(timeout=WAIT)
        offerer.proc.stdin.close()
        self.assertEqual(offerer.finish(), EXIT_OK, offerer.stderr_text())
        self.assertEqual(answerer.finish(), EXIT_OK, answerer.stderr_text())
        answerer.proc.stdin.close()
        self.assertIsNone(first_difference(answerer.stdout, to_answerer))
        self.assertIsNone(first_difference(offerer.stdout, to_offerer))
        self.assertIn("DTLS as server", offerer.stderr_text())
        self.assertIn("DTLS as client", answerer.stderr_text())
        self.assertIn("webrtc: the peer closed the data channel", answerer.stderr_text())

    def test_large_messages_keep_their_boundaries(self):
        # Partial delivery (64 KiB pieces) of large messages back to back with small ones:
        # each must come out whole and in order (the receive callback once let the tail of a
        # 3 MiB message come after the small message sent next).
        payload = b"".join(bytes([0x61 + i]) * ((1 << 20) + 4099 * i) + b"\nsmall %d\n" % i
                           for i in range(8))
        offerer = self.peer("offer")
        answerer = self.peer("answer", "--no-stdin", stdin=subprocess.DEVNULL)
        self.signal(offerer, answerer)
        offerer.feed(payload)
        answerer.wait_stdout(len(payload))
        offerer.proc.stdin.close()
        self.assertEqual(offerer.finish(), EXIT_OK, offerer.stderr_text())
        self.assertEqual(answerer.finish(), EXIT_OK, answerer.stderr_text())
        self.assertIsNone(first_difference(answerer.stdout, payload))

    def test_stdin_eof_closes_only_after_everything_is_delivered(self):
        # The offerer's whole input is a file: EOF follows the 4 MiB message at once, and the
        # channel may only close once the answerer has it all.
        path = os.path.join(self.workdir, "input")
        payload = b"first\n" + b"m" * (4 << 20) + b"\nlast\n"
        with open(path, "wb") as f:
            f.write(payload)
        with open(path, "rb") as stdin:
            offerer = self.peer("offer", "--json", stdin=stdin)
        answerer = self.peer("answer", "--no-stdin", stdin=subprocess.DEVNULL)
        self.signal(offerer, answerer)
        self.assertEqual(offerer.finish(), EXIT_OK, offerer.stderr_text())
        self.assertEqual(answerer.finish(), EXIT_OK, answerer.stderr_text())
        self.assertEqual(answerer.stdout, payload)

    def test_json_records_and_count(self):
        offerer = self.peer("offer", "--json", "--count", "2", "--label", "chat",
                            "--protocol", "p1")
        answerer = self.peer("answer", "--echo")
        self.signal(offerer, answerer)
        offerer.feed(b"one\ntwo\n")
        self.assertEqual(offerer.finish(), EXIT_OK, offerer.stderr_text())
        records = [line for line in offerer.stdout.decode().splitlines()]
        messages = [r for r in records if '"event":"message"' in r]
        self.assertEqual(len(messages), 2, records)
        self.assertIn('"protocol":"webrtc"', messages[0])
        self.assertIn('"payload":"one"', messages[0])
        self.assertIn('"payload":"two"', messages[1])
        # --count closes the channel the way a peer expects: the echo side sees a clean close
        # (before, rtx exited at once and the peer saw the association aborted: exit 7).
        self.assertEqual(answerer.finish(), EXIT_OK, answerer.stderr_text())
        self.assertIn("webrtc: the peer closed the data channel", answerer.stderr_text())
        # DATA_CHANNEL_OPEN carried the offerer's label and protocol (RFC 8832 section 5.1).
        self.assertIn('channel open: stream 1, label "chat", protocol "p1"',
                      answerer.stderr_text())
        answerer.proc.stdin.close()

    def test_unordered_and_partially_reliable_channels(self):
        # The offerer's parameters travel in DATA_CHANNEL_OPEN (RFC 8832 section 5.1) and the
        # answerer sends back with them; loopback loses nothing, so every message comes back.
        for index, (args, described) in enumerate([
                (("--unordered",), "reliable unordered"),
                (("--max-retransmits", "0"), "ordered, at most 0 retransmissions"),
                (("--unordered", "--max-packet-life", "1500"),
                 "unordered, abandoned after 1500 ms"),
        ]):
            with self.subTest(args=args):
                workdir = os.path.join(self.workdir, str(index))
                os.mkdir(workdir)
                offerer = self.peer("offer", "--count", "3", *args, workdir=workdir)
                answerer = self.peer("answer", "--echo", "--no-stdin", stdin=subprocess.DEVNULL,
                                     workdir=workdir)
                self.signal(offerer, answerer)
                big = b"p" * 200000  # partial delivery (64 KiB pieces) on such a channel
                offerer.feed(b"one\n" + big + b"\nthree\n")
                self.assertEqual(offerer.finish(), EXIT_OK, offerer.stderr_text())
                self.assertEqual(answerer.finish(), EXIT_OK, answerer.stderr_text())
                self.assertEqual(sorted(offerer.stdout.splitlines()),
                                 sorted([b"one", big, b"three"]))
                for peer in (offerer, answerer):
                    self.assertIn(f"channel open: stream 1, label \"rtx\", protocol \"\", "
                                  f"{described},", peer.stderr_text())

    def test_remote_candidates_off_loopback_are_dropped(self):
        offerer = self.peer("offer")
        answerer = self.peer("answer")

        def add_foreign_candidates(sdp):
            # A documentation address (RFC 5737) and an IPv6 one: never to be checked.
            extra = ("a=candidate:9 1 UDP 2130706431 192.0.2.7 9 typ host\r\n"
                     "a=candidate:10 1 UDP 2130706175 2001:db8::7 9 typ host\r\n")
            return sdp.replace("a=end-of-candidates\r\n", extra + "a=end-of-candidates\r\n")

        self.signal(offerer, answerer, edit_offer=add_foreign_candidates)
        offerer.feed(b"ping\n")
        answerer.wait_stdout(5)
        offerer.proc.stdin.close()
        self.assertEqual(offerer.finish(), EXIT_OK, offerer.stderr_text())
        self.assertEqual(answerer.finish(), EXIT_OK, answerer.stderr_text())
        answerer.proc.stdin.close()
        err = answerer.stderr_text()
        self.assertIn("192.0.2.7 is not an --ice-address", err)
        self.assertIn("2001:db8::7 is not an --ice-address", err)
        pairs = re.findall(r"ICE selected pair (\S+) typ \S+ <-> (\S+) typ", err)
        self.assertTrue(pairs, err)
        for local, remote in pairs:
            self.assertTrue(local.startswith("127.0.0.1:") and remote.startswith("127.0.0.1:"),
                            pairs)

    def test_fingerprint_mismatch_fails_dtls(self):
        offerer = self.peer("offer")
        answerer = self.peer("answer")

        def wrong_fingerprint(sdp):
            return re.sub(r"(a=fingerprint:sha-256 )\S+", r"\g<1>" + ":".join(["AB"] * 32), sdp)

        self.signal(offerer, answerer, edit_answer=wrong_fingerprint)
        self.assertEqual(offerer.finish(), EXIT_TLS, offerer.stderr_text())
        self.assertRegex(offerer.stderr_text(),
                         r"rtx: error: DTLS: the peer's certificate fingerprint \S+ does not "
                         r"match the SDP's AB:AB")
        self.assertEqual(offerer.stdout, b"")
        answerer.kill()

    def test_dead_peer_fails_ice(self):
        offerer = self.peer("offer")
        offer = offerer.description()
        # A well-formed answer whose only candidate is a loopback port nobody answers on.
        dead = subprocess.run(["python3", "-c", "import socket; s=socket.socket(socket.AF_INET,"
                               "socket.SOCK_DGRAM); s.bind(('127.0.0.1',0));"
                               "print(s.getsockname()[1])"], capture_output=True, text=True)
        port = dead.stdout.strip()
        answer = re.sub(r"a=candidate:.*\r\n", "", offer)
        answer = answer.replace("a=setup:actpass", "a=setup:active").replace(
            "a=end-of-candidates", f"a=candidate:1 1 UDP 2015363327 127.0.0.1 {port} typ host\r\n"
            "a=end-of-candidates")
        answer = re.sub(r"a=ice-ufrag:\S+", "a=ice-ufrag:dead", answer)
        offerer.give(answer)
        self.assertEqual(offerer.finish(), EXIT_CONNECT, offerer.stderr_text())
        self.assertIn("rtx: error: ICE failed: no candidate pair answered connectivity checks",
                      offerer.stderr_text())
        self.assertEqual(offerer.stdout, b"")

    def test_peer_that_never_answers_times_out(self):
        offerer = self.peer("offer", "--timeout", "3s")
        offerer.description()
        self.assertEqual(offerer.finish(), EXIT_TIMEOUT, offerer.stderr_text())
        self.assertIn("rtx: error: timed out after 3s", offerer.stderr_text())
        self.assertEqual(offerer.stdout, b"")

    @unittest.skipUnless(os.path.isdir(os.path.join(WERIFT_DIR, "node_modules", "werift")),
                         "WERIFT_DIR with node_modules/werift not set")
    def test_werift_answers_and_echoes(self):
        offerer = self.peer("offer", "--count", "2", "--label", "to-werift", "--unordered",
                            "--max-retransmits", "3")
        answer_path = os.path.join(self.workdir, "werift.answer")
        werift = subprocess.Popen(["node", WERIFT_PEER, offerer.sdp_out, answer_path],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  env={**os.environ, "WERIFT_DIR": WERIFT_DIR})
        try:
            deadline = time.monotonic() + WAIT
            while not (os.path.exists(answer_path) and
                       open(answer_path, "rb").read().endswith(b"\n")):
                if time.monotonic() > deadline or werift.poll() is not None:
                    werift.kill()
                    self.fail("werift wrote no answer: " + werift.communicate()[1].decode())
                time.sleep(0.05)
            answer = base64.b64decode(open(answer_path, "rb").read()).decode()
            offerer.give(answer)
            big = b"w" * 60000  # werift announces a=max-message-size:65536
            offerer.feed(b"hello werift\n" + big + b"\n")
            self.assertEqual(offerer.finish(), EXIT_OK, offerer.stderr_text())
            # Unordered: the two may come back in either order.
            self.assertEqual(sorted(offerer.stdout.splitlines()), sorted([b"hello werift", big]))
            self.assertEqual(werift.wait(timeout=WAIT), 0)
            err = werift.stderr.read().decode()
            self.assertIn('werift: channel "to-werift" open', err)
            # werift read the channel type and reliability parameter of our DATA_CHANNEL_OPEN.
            self.assertIn("werift: ordered false, maxRetransmits 3, maxPacketLifeTime undefined",
                          err)
            self.assertIn("werift: channel closed", err)
            pairs = re.findall(r"ICE selected pair (\S+) typ \S+ <-> (\S+) typ",
                               offerer.stderr_text())
            self.assertTrue(pairs and all(a.startswith("127.0.0.1:") and b.startswith("127.0.0.1:")
                                          for a, b in pairs), pairs)
        finally:
            if werift.poll() is None:
                werift.kill()
                werift.wait()
            werift.stderr.close()

    def test_usage_errors(self):
        for args, message in [
                ((), "give a room URL, or one of --offer or --answer"),
                (("ws://127.0.0.1:1/echo",), "not a signalling room URL"),
                (("ws://127.0.0.1:1/signal/r", "--offer"), "a room URL decides who offers"),
                (("--answer", "--label", "x"), "--label, --protocol, --unordered"),
                (("--answer", "--unordered"), "belong to --offer"),
                (("--offer", "--max-retransmits", "1", "--max-packet-life", "5"), "excludes"),
                (("--offer", "--reconnect"), "--reconnect"),
                (("--offer", "--sdp-in", os.path.join(self.workdir, "missing")),
                 "--sdp-in"),
        ]:
            result = subprocess.run([RTX, "webrtc", *args], capture_output=True, timeout=WAIT,
                                    stdin=subprocess.DEVNULL)
            self.assertEqual(result.returncode, 2, (args, result.stderr))
            self.assertIn(message, result.stderr.decode(), args)
            self.assertEqual(result.stdout, b"")

    def test_bad_remote_description(self):
        answerer = self.peer("answer")
        answerer.give("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n")
        self.assertEqual(answerer.finish(), EXIT_PROTOCOL, answerer.stderr_text())
        self.assertIn("rtx: error: remote description: no data-channel m= section",
                      answerer.stderr_text())
        self.assertEqual(answerer.stdout, b"")


def assert_loopback_only(test, peer):
    """Every local candidate and every selected pair of `peer` (from -v) is on 127.0.0.1."""
    err = peer.stderr_text()
    local = re.findall(r"webrtc: local candidate \S+ \d+ \S+ \d+ (\S+) ", err)
    test.assertTrue(local, err)
    test.assertEqual(set(local), {"127.0.0.1"}, err)
    pairs = re.findall(r"ICE selected pair (\S+) typ \S+ <-> (\S+) typ", err)
    test.assertTrue(pairs, err)
    for ours, theirs in pairs:
        test.assertTrue(ours.startswith("127.0.0.1:") and theirs.startswith("127.0.0.1:"), pairs)


class WebrtcRoom(unittest.TestCase):
    """Two `rtx webrtc ws://.../signal/ROOM` meet through rtx serve's signalling room."""

    def setUp(self):
        self.serve = Serve("--no-tcp", "--http-port", "0", expect=3).__enter__()
        self.room = self.serve.url("ws").replace("/ws/{topic}", "/signal/") + self.id()
        self.peers = []

    def tearDown(self):
        for peer in self.peers:
            peer.kill()
        self.serve.__exit__(None, None, None)

    def peer(self, name, *args, **kwargs):
        peer = Peer(None, name, *args, room=self.room, **kwargs)
        self.peers.append(peer)
        return peer

    def test_text_binary_and_a_16_mib_message_then_the_second_closes(self):
        first = self.peer("first", "--base64")
        # The first is alone in the room: it waits for the offer (else the second could
        # come before it, and both would wait).
        self.wait_for(first, "peer(s) in the room before us: we wait for the offer")
        second = self.peer("second", "--label", "room-chat")
        # 16 MiB of random text in one message: SCTP fragments and reassembles it, and
        # every byte is checked.
        big = base64.b64encode(os.urandom(12 << 20))
        self.assertEqual(len(big), 16 << 20)
        to_first = b"hello\n" + big + b"\nbye\n"
        binaries = [b"\x00\x01\xff", os.urandom(300000)]
        to_second = b"".join(base64.b64encode(b) + b"\n" for b in binaries)
        writers = [second.feed(to_first), first.feed(to_second)]
        first.wait_stdout(len(to_first))
        second.wait_stdout(len(to_second))
        for writer in writers:
            writer.join(timeout=WAIT)
        second.proc.stdin.close()
        self.assertEqual(second.finish(), EXIT_OK, second.stderr_text())
        self.assertEqual(first.finish(), EXIT_OK, first.stderr_text())
        first.proc.stdin.close()
        self.assertIsNone(first_difference(first.stdout, to_first))
        self.assertIsNone(first_difference(second.stdout, to_second))
        self.assertIn("we make the offer", second.stderr_text())
        self.assertIn('label "room-chat"', first.stderr_text())
        self.assertIn("webrtc: the peer closed the data channel", first.stderr_text())
        for peer in (first, second):
            assert_loopback_only(self, peer)

    def test_the_first_closes_and_a_third_peer_finds_the_room_full(self):
        first = self.peer("first")
        self.wait_for(first, "we wait for the offer")
        second = self.peer("second", "--no-stdin", stdin=subprocess.DEVNULL)
        first.feed(b"from the first\n")
        second.wait_stdout(len(b"from the first\n"))
        third = self.peer("third", "--no-stdin", stdin=subprocess.DEVNULL)
        self.assertEqual(third.finish(), EXIT_HTTP_STATUS, third.stderr_text())
        self.assertIn("answered HTTP 409 instead of 101", third.stderr_text())
        self.assertEqual(third.stdout, b"")
        first.proc.stdin.close()
        self.assertEqual(first.finish(), EXIT_OK, first.stderr_text())
        self.assertEqual(second.finish(), EXIT_OK, second.stderr_text())
        self.assertIn("webrtc: the peer closed the data channel", second.stderr_text())
        self.assertEqual(second.stdout, b"from the first\n")

    def test_a_room_nobody_joins_times_out(self):
        alone = self.peer("alone", "--timeout", "2s", "--no-stdin", stdin=subprocess.DEVNULL)
        self.assertEqual(alone.finish(), EXIT_TIMEOUT, alone.stderr_text())
        self.assertIn("rtx: error: timed out after 2s", alone.stderr_text())

    def wait_for(self, peer, text):
        deadline = time.monotonic() + WAIT
        while text not in peer.stderr_so_far():
            if time.monotonic() > deadline or peer.proc.poll() is not None:
                self.fail(f"{peer.role}: no '{text}': {peer.stderr_so_far()}")
            time.sleep(0.05)


if __name__ == "__main__":
    unittest.main()
