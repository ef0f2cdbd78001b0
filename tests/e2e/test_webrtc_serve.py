"""rtx serve as a WebRTC peer (issue 14): /webrtc/echo and /webrtc/{topic} over the
signalling WebSocket, and WHIP (RFC 9725) at /whip/echo and /whip/{topic}, against
`rtx webrtc` and against werift as an independent WHIP client.

ICE is on 127.0.0.1 only: rtx serve binds to loopback (its peers gather there) and the
clients get --ice-address 127.0.0.1; the selected pairs are checked to be loopback on both
sides, since this machine has other interfaces.
"""
import base64
import http.client
import json
import os
import select
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from rtxtest import EXIT_OK, EXIT_TIMEOUT, RTX, Serve
from wspeer import Closed, WsPeer
from test_webrtc import (EXIT_HTTP_STATUS, WAIT, WERIFT_DIR, Peer, assert_loopback_only,
                         candidate_addresses, first_difference)

WERIFT_WHIP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "werift_whip_client.mjs")
HAVE_WERIFT = os.path.isdir(os.path.join(WERIFT_DIR, "node_modules", "werift"))


def http_request(base, method, path, body=None, headers=None):
    """One request to rtx serve's HTTP port: (status, headers, body)."""
    parsed = urllib.parse.urlparse(base)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=WAIT)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        connection.close()


class ServePeer(unittest.TestCase):
    extra_serve_args = ()

    def setUp(self):
        self.serve = Serve("--no-tcp", "--http-port", "0", *self.extra_serve_args,
                           expect=3).__enter__()
        self.http = self.serve.url("http")
        self.ws = self.serve.url("ws").replace("/ws/{topic}", "")
        self.workdir = tempfile.mkdtemp(prefix="rtx-webrtc-serve-")
        self.peers = []

    def tearDown(self):
        for peer in self.peers:
            peer.kill()
        self.serve.__exit__(None, None, None)

    def client(self, url, *args, **kwargs):
        """`rtx webrtc URL` (a /webrtc/ WebSocket), or `--whip URL` for an http:// one."""
        signalling = f"--whip={url}" if url.startswith("http") else url
        peer = Peer(None, "client", *args, room=signalling, **kwargs)
        self.peers.append(peer)
        return peer


class WebrtcEcho(ServePeer):
    def test_text_binary_empty_and_a_16_mib_message_come_back(self):
        client = self.client(self.ws + "/webrtc/echo", "--base64")
        # 16 MiB in one message: SCTP fragments it (and reassembles the echo).
        messages = [b"hello", b"", os.urandom(16 << 20), b"\x00\x01\xff", b"bye"]
        data = b"".join(base64.b64encode(m) + b"\n" for m in messages)
        writer = client.feed(data)
        client.wait_stdout(len(data))
        writer.join(timeout=WAIT)
        client.proc.stdin.close()
        self.assertEqual(client.finish(), EXIT_OK, client.stderr_text())
        self.assertIsNone(first_difference(client.stdout, data))
        self.assertIn("we make the offer", client.stderr_text())
        assert_loopback_only(self, client)

    def test_unordered_and_partially_reliable_channels_echo(self):
        for args in (("--unordered",), ("--max-retransmits", "0"),
                     ("--unordered", "--max-packet-life", "1500")):
            with self.subTest(args=args):
                client = self.client(self.ws + "/webrtc/echo", "--count", "3", *args)
                big = b"p" * 200000
                client.feed(b"one\n" + big + b"\nthree\n")
                self.assertEqual(client.finish(), EXIT_OK, client.stderr_text())
                self.assertEqual(sorted(client.stdout.splitlines()),
                                 sorted([b"one", big, b"three"]))

    def test_serve_closes_the_peers_on_sigint(self):
        client = self.client(self.ws + "/webrtc/echo", "--no-stdin", stdin=subprocess.DEVNULL)
        self.wait_for(client, "channel open")
        self.serve.proc.send_signal(signal.SIGINT)
        self.assertEqual(client.finish(), EXIT_OK, client.stderr_text())
        self.assertIn("webrtc: the peer closed the data channel", client.stderr_text())
        self.assertEqual(self.serve.proc.wait(timeout=WAIT), 0)

    def test_a_bad_offer_closes_the_websocket_with_a_reason(self):
        # Not through rtx: a raw WebSocket sends an offer that is not SDP.
        with WsPeer.connect(self.ws + "/webrtc/echo") as client:
            _, welcome = client.recv_message()
            self.assertIn(b'"peers":1', welcome)
            client.send_text('{"type":"offer","sdp":"not sdp"}')
            with self.assertRaises(Closed) as closed:
                client.recv_message()
            self.assertEqual(closed.exception.code, 1008)
            self.assertIn(b"bad offer", closed.exception.reason)

    def wait_for(self, peer, text):
        deadline = time.monotonic() + WAIT
        while text not in peer.stderr_so_far():
            if time.monotonic() > deadline or peer.proc.poll() is not None:
                self.fail(f"no '{text}': {peer.stderr_so_far()}")
            time.sleep(0.05)


class WebrtcMaxPeers(ServePeer):
    extra_serve_args = ("--webrtc-max-peers", "1")

    def test_a_peer_beyond_the_limit_is_refused(self):
        first = self.client(self.ws + "/webrtc/echo", "--no-stdin", stdin=subprocess.DEVNULL)
        WebrtcEcho.wait_for(self, first, "channel open")
        second = self.client(self.ws + "/webrtc/echo", "--no-stdin", stdin=subprocess.DEVNULL)
        code = second.finish()
        self.assertNotEqual(code, EXIT_OK, second.stderr_text())
        self.assertIn("--webrtc-max-peers", second.stderr_text())
        self.assertEqual(second.stdout, b"")
        whip = self.client(self.http + "/whip/echo", "--no-stdin", stdin=subprocess.DEVNULL)
        self.assertEqual(whip.finish(), EXIT_HTTP_STATUS, whip.stderr_text())
        self.assertIn("503", whip.stderr_text())


class WebrtcTopic(ServePeer):
    def test_a_channel_is_bridged_to_the_hub_topic(self):
        # lastEventId=0 replays the topic's history: the subscriber gets the message whether
        # it subscribed before or after it was published.
        sse = subprocess.Popen([RTX, "sse", self.http + "/sse/rtc?lastEventId=0", "--count", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            client = self.client(self.ws + "/webrtc/rtc", "--count", "2")
            WebrtcEcho.wait_for(self, client, "channel open")
            # From the data channel to the SSE subscriber (and back to the sender).
            client.feed(b"from webrtc\n")
            out, err = sse.communicate(timeout=WAIT)
            self.assertEqual(sse.returncode, 0, err)
            self.assertEqual(out, b"from webrtc\n")
            # From an HTTP publish down the channel.
            curl = subprocess.run(["curl", "-sS", "-d", "from curl", self.http + "/publish/rtc"],
                                  capture_output=True, timeout=WAIT)
            self.assertEqual(curl.returncode, 0, curl.stderr)
            self.assertEqual(client.finish(), EXIT_OK, client.stderr_text())
            self.assertEqual(client.stdout, b"from webrtc\nfrom curl\n")
            assert_loopback_only(self, client)
        finally:
            if sse.poll() is None:
                sse.kill()
                sse.communicate()


class Whip(ServePeer):
    def test_rtx_webrtc_whip_echo_then_delete(self):
        client = self.client(self.http + "/whip/echo", "--count", "2",
                             "-H", "Authorization: Bearer secret")
        client.feed(b"hello whip\n\n")
        self.assertEqual(client.finish(), EXIT_OK, client.stderr_text())
        self.assertEqual(client.stdout, b"hello whip\n\n")
        err = client.stderr_text()
        self.assertIn("webrtc: WHIP session http://", err)
        # The DELETE went out; the session had ended with the peer connection (404) or
        # ended by it (200).
        self.assertRegex(err, r"webrtc: WHIP session (deleted|already ended)")
        location = err.split("webrtc: WHIP session ", 1)[1].split()[0]
        status, _, _ = http_request(self.http, "DELETE", urllib.parse.urlparse(location).path)
        self.assertEqual(status, 404)
        assert_loopback_only(self, client)

    def test_whip_topic(self):
        client = self.client(self.http + "/whip/whipnews", "--count", "1", "--no-stdin",
                             stdin=subprocess.DEVNULL)
        WebrtcEcho.wait_for(self, client, "channel open")
        # The channel is a subscriber once it is open; publishing now reaches it.
        status, _, _ = http_request(self.http, "POST", "/publish/whipnews", b"to whip")
        self.assertEqual(status, 200)
        self.assertEqual(client.finish(), EXIT_OK, client.stderr_text())
        self.assertEqual(client.stdout, b"to whip\n")

    def test_whip_resource_answer_and_delete(self):
        # The answer's candidates are on the bind address only; DELETE ends the session once.
        offerer = Peer(self.workdir, "offer", "--no-stdin", stdin=subprocess.DEVNULL)
        self.peers.append(offerer)
        offer = offerer.description()
        status, headers, body = http_request(self.http, "POST", "/whip/echo", offer.encode(),
                                             {"Content-Type": "application/sdp"})
        self.assertEqual(status, 201, body)
        self.assertEqual(headers["content-type"], "application/sdp")
        self.assertEqual(set(candidate_addresses(body.decode())), {"127.0.0.1"}, body)
        location = headers["location"]
        self.assertTrue(location.startswith("/whip/resource/"), location)
        self.assertEqual(http_request(self.http, "DELETE", location)[0], 200)
        self.assertEqual(http_request(self.http, "DELETE", location)[0], 404)
        offerer.kill()

    def test_whip_errors(self):
        cases = [
            ("POST", "/whip/echo", b"v=0\r\n", {"Content-Type": "text/plain"}, 415),
            ("POST", "/whip/echo", b"not sdp", {"Content-Type": "application/sdp"}, 400),
            ("GET", "/whip/echo", None, {}, 405),
            ("DELETE", "/whip/resource/nope", None, {}, 404),
            ("PATCH", "/whip/resource/nope", b"x", {"Content-Type": "application/trickle-ice-sdpfrag"}, 405),
        ]
        for method, path, body, headers, want in cases:
            with self.subTest(method=method, path=path):
                status, _, text = http_request(self.http, method, path, body, headers)
                self.assertEqual(status, want, text)

    def test_client_errors_are_one_line_and_an_exit_code(self):
        # A WHIP URL that is not one (404), and an offer the server refuses.
        client = self.client(self.http + "/nothing-here", "--no-stdin", stdin=subprocess.DEVNULL)
        self.assertEqual(client.finish(), EXIT_HTTP_STATUS, client.stderr_text())
        errors = [line for line in client.stderr_text().splitlines()
                  if line.startswith("rtx: error:")]
        self.assertEqual(len(errors), 1, client.stderr_text())
        self.assertIn("WHIP POST", errors[0])
        self.assertIn("404", errors[0])
        self.assertEqual(client.stdout, b"")

    @unittest.skipUnless(HAVE_WERIFT, "WERIFT_DIR with node_modules/werift not set")
    def test_werift_whip_client_against_the_echo_peer(self):
        # werift offers (ICE controlling; rtx serve answers a=setup:active, as RFC 5763
        # section 5 recommends and browsers do, so werift is the DTLS server), messages come
        # back, and werift DELETEs its session. It works because rtx's DTLS negotiates an
        # SRTP profile: werift 0.19.9's connect() throws "need srtpProfile" without one and
        # never starts its SCTP transport (werift_whip_client.mjs has the details).
        werift = subprocess.run(["node", WERIFT_WHIP, self.http + "/whip/echo"],
                                capture_output=True, timeout=WAIT * 2,
                                env={**os.environ, "WERIFT_DIR": WERIFT_DIR})
        self.assertEqual(werift.returncode, 0, werift.stderr.decode(errors="replace"))
        location = werift.stdout.decode().strip()
        self.assertTrue(location.startswith("/whip/resource/"), location)
        self.assertEqual(http_request(self.http, "DELETE", location)[0], 404)


class WebrtcTopicEnd(ServePeer):
    extra_serve_args = ("--webrtc-max-peers", "2")

    def publish(self, text):
        """Publishes `text` on the topic; the number of its subscribers at that moment."""
        status, _, body = http_request(self.http, "POST", "/publish/rtc", text.encode())
        self.assertEqual(status, 200, body)
        return json.loads(body)["subscribers"]

    def test_topic_peers_leave_cleanly_when_their_sessions_end(self):
        # An SSE subscriber sees everything published on the topic. Two rounds of two
        # peers each fill --webrtc-max-peers 2: the second round is only admitted if the
        # first round's peers were removed, and after each round the topic is back to its
        # one SSE subscriber, nothing published by the peers after they left, serve up.
        sse = subprocess.Popen([RTX, "sse", self.http + "/sse/rtc"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        self.addCleanup(lambda: sse.poll() is None and (sse.kill(), sse.communicate()))
        self.wait_subscribers(1)
        for round_ in (1, 2):
            first = self.client(self.ws + "/webrtc/rtc")
            second = self.client(self.ws + "/webrtc/rtc")
            for peer in (first, second):
                WebrtcEcho.wait_for(self, peer, "channel open")
            self.assertEqual(self.publish(f"probe {round_}"), 3)
            first.feed(f"from the first {round_}\n".encode())
            expected = f"probe {round_}\nfrom the first {round_}\n".encode()
            for peer in (first, second):  # the first gets its own message back too
                peer.wait_stdout(len(expected))
            for peer in (first, second):
                peer.proc.stdin.close()
                self.assertEqual(peer.finish(), EXIT_OK, peer.stderr_text())
                self.assertEqual(peer.stdout, expected, peer.stderr_text())
            self.wait_subscribers(1)
            self.assertIsNone(self.serve.proc.poll())
        self.assertEqual(self.publish("the end"), 1)
        # publish() returns once the hub has queued the message for the SSE subscriber, not
        # once rtx sse has printed it: read up to it before the SIGINT (under ASan the SIGINT
        # used to overtake it).
        out = b""
        deadline = time.monotonic() + WAIT
        while b"the end\n" not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([sse.stdout], [], [], max(deadline - time.monotonic(), 0))
            chunk = os.read(sse.stdout.fileno(), 65536) if ready else b""
            if not chunk:
                break
            out += chunk
        sse.send_signal(signal.SIGINT)
        rest, err = sse.communicate(timeout=WAIT)
        out += rest
        lines = [line for line in out.decode().split("\n") if not line.startswith("waiting ")]
        self.assertEqual(lines, ["probe 1", "from the first 1", "probe 2", "from the first 2",
                                 "the end", ""], err)

    def wait_subscribers(self, count):
        """Until the topic has `count` subscribers (each check is a "waiting N" message)."""
        deadline = time.monotonic() + WAIT
        checks = 0
        while self.publish(f"waiting {checks}") != count:
            checks += 1
            if time.monotonic() > deadline:
                self.fail(f"the topic never went back to {count} subscriber(s)")
            time.sleep(0.1)


class Trickle(unittest.TestCase):
    """Trickle ICE over the signalling WebSocket (RFC 8838): descriptions without
    candidates, then {"type":"candidate"} messages, then an empty one for the end."""

    def test_rtx_to_rtx_trickles_and_drops_a_foreign_candidate(self):
        # A third, raw member of the room sees the offer and answer go by and throws in a
        # candidate off loopback: both peers drop it and connect on 127.0.0.1.
        with Serve("--no-tcp", "--http-port", "0", "--signal-room-size", "3",
                   expect=3) as serve:
            room = serve.url("ws").replace("/ws/{topic}", "/signal/trickle")
            first = Peer(None, "first", room=room)
            try:
                WebrtcEcho.wait_for(self, first, "we wait for the offer")
                with WsPeer.connect(room) as raw:
                    raw.recv_message()  # the welcome
                    second = Peer(None, "second", "--count", "1", "--no-stdin",
                                  stdin=subprocess.DEVNULL, room=room)
                    try:
                        seen = []
                        while not any(b'"type":"answer"' in m for m in seen):
                            seen.append(raw.recv_message()[1])
                        raw.send_text('{"type":"candidate","candidate":"candidate:9 1 UDP '
                                      '2130706431 192.0.2.7 9 typ host","sdpMid":"0"}')
                        # The second closes after one message; then the first ends too.
                        first.feed(b"to second\n")
                        self.assertEqual(second.finish(), EXIT_OK, second.stderr_text())
                        self.assertEqual(first.finish(), EXIT_OK, first.stderr_text())
                    finally:
                        second.kill()
                    raw.sock.settimeout(2)
                    try:
                        while True:
                            seen.append(raw.recv_message()[1])
                    except (OSError, Closed):
                        pass  # a timeout: the room is quiet (both peers left)
                    offer = next(m for m in seen if b'"type":"offer"' in m)
                    self.assertIn(b"a=ice-options:trickle", offer)
                    self.assertNotIn(b"a=candidate", offer)
                    self.assertTrue(any(b'"type":"candidate"' in m
                                        and b'"candidate":"candidate:' in m for m in seen), seen)
                    # {"candidate":""}: the end of candidates, from each peer.
                    self.assertTrue(any(b'"candidate":""' in m for m in seen), seen)
                self.assertEqual(second.stdout, b"to second\n")
                for peer in (first, second):
                    err = peer.stderr_text()
                    self.assertIn("webrtc: remote candidate 1 1 UDP", err)
                    self.assertIn("192.0.2.7 is not an --ice-address", err)
                    assert_loopback_only(self, peer)
            finally:
                first.kill()

    def test_no_trickle_puts_the_candidates_in_the_descriptions(self):
        with Serve("--no-tcp", "--http-port", "0", expect=3) as serve:
            echo = serve.url("ws").replace("/ws/{topic}", "/webrtc/echo")
            peer = Peer(None, "client", "--no-trickle", "--count", "1", room=echo)
            try:
                peer.feed(b"full sdp\n")
                self.assertEqual(peer.finish(), EXIT_OK, peer.stderr_text())
            finally:
                peer.kill()
            self.assertEqual(peer.stdout, b"full sdp\n")
            self.assertNotIn("webrtc: remote candidate 1", peer.stderr_text())
            assert_loopback_only(self, peer)

    def test_the_echo_peer_trickles_its_candidates(self):
        with Serve("--no-tcp", "--http-port", "0", expect=3) as serve:
            echo = serve.url("ws").replace("/ws/{topic}", "/webrtc/echo")
            peer = Peer(None, "client", "--count", "1", room=echo)
            try:
                peer.feed(b"trickled\n")
                self.assertEqual(peer.finish(), EXIT_OK, peer.stderr_text())
            finally:
                peer.kill()
            self.assertEqual(peer.stdout, b"trickled\n")
            self.assertIn("webrtc: remote candidate", peer.stderr_text())
            self.assertIn("webrtc: the peer's end of candidates", peer.stderr_text())
            assert_loopback_only(self, peer)


class NeverAnswers(unittest.TestCase):
    def test_a_room_peer_that_never_answers(self):
        # A raw WebSocket joins the room first and stays silent: rtx offers, and gives up
        # after --connect-timeout with exit 5, nothing on stdout.
        with Serve("--no-tcp", "--http-port", "0", expect=3) as serve:
            room = serve.url("ws").replace("/ws/{topic}", "/signal/silent")
            with WsPeer.connect(room) as silent:
                silent.recv_message()  # the welcome
                peer = Peer(None, "client", "--connect-timeout", "2s", "--no-stdin",
                            stdin=subprocess.DEVNULL, room=room)
                try:
                    self.assertEqual(peer.finish(), EXIT_TIMEOUT, peer.stderr_text())
                finally:
                    peer.kill()
                self.assertIn("no answer from the peer after 2000 ms", peer.stderr_text())
                self.assertEqual(peer.stdout, b"")
                # The room relayed the offer to the silent peer (after the join).
                relayed = [silent.recv_message()[1], silent.recv_message()[1]]
                self.assertTrue(any(b'"type":"offer"' in m for m in relayed), relayed)


if __name__ == "__main__":
    unittest.main()
