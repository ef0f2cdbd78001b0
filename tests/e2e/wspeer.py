"""A raw-socket WebSocket peer (RFC 6455) for the tests, standard library only.

It speaks the protocol byte by byte so that tests can also send what a well-behaved library
never would: bad opcodes, reserved bits, fragmented messages with control frames between
the fragments, oversized control frames, broken close payloads. permessage-deflate is not
implemented (a test may offer it and read the server's answer from `response_headers`).

    peer = WsPeer.connect("ws://127.0.0.1:8080/echo")
    peer.send_text("hello")
    assert peer.recv_message() == (OP_TEXT, b"hello")
    assert peer.close() == 1000

A client role by default (frames masked). For tests of a WebSocket client, `WsPeer.accept(sock)`
answers the handshake on an accepted socket and returns a server-side peer (frames
unmasked; it checks nothing about the client's masking).
"""

import base64
import hashlib
import os
import socket
import struct
import urllib.parse
from dataclasses import dataclass

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeError(Exception):
    """The server answered the upgrade with something other than 101 (or hung up)."""

    def __init__(self, status, headers, body):
        super().__init__(f"upgrade refused: {status} {body[:200]!r}")
        self.status = status  # None: the connection closed without an HTTP answer
        self.headers = headers
        self.body = body


class Closed(Exception):
    """The peer sent a close frame (code None: it had no payload) or hung up (eof True)."""

    def __init__(self, code=None, reason=b"", eof=False):
        super().__init__(f"closed: code={code} reason={reason!r} eof={eof}")
        self.code = code
        self.reason = reason
        self.eof = eof


@dataclass
class Frame:
    fin: bool
    opcode: int
    payload: bytes
    rsv: int = 0  # the three reserved bits, as a number 0-7


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def encode_frame(opcode, payload, fin=True, rsv=0, mask=True, length=None):
    """One frame; `length` overrides the payload length field (to lie about it)."""
    payload = bytes(payload)
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0xF)])
    mask_bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + xor_mask(payload, key)


def xor_mask(data, key):
    if not data:
        return b""
    # One big-integer XOR instead of a Python loop per byte (16 MiB messages).
    repeated = (key * (len(data) // 4 + 1))[: len(data)]
    value = int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(data), "big")


def close_payload(code, reason=b""):
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class WsPeer:
    def __init__(self, sock, client=True, buffered=b""):
        self.sock = sock
        self.client = client
        self.buffer = bytearray(buffered)
        self.response_status = None
        self.response_headers = {}

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def connect(cls, url, origin=None, extensions=None, protocols=None, headers=None,
                timeout=10):
        """Opens ws://host:port/path and completes the handshake; raises HandshakeError when
        the server does not answer 101. `extensions`: a Sec-WebSocket-Extensions value to
        offer ("permessage-deflate"); `headers`: more request headers as a dict."""
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        port = parts.port or 80
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [f"GET {path} HTTP/1.1", f"Host: {authority}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        if origin is not None:
            lines.append(f"Origin: {origin}")
        if extensions is not None:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        if protocols is not None:
            lines.append(f"Sec-WebSocket-Protocol: {protocols}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

        data = b""
        while b"\r\n\r\n" not in data:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                chunk = b""
            if not chunk:
                sock.close()
                raise HandshakeError(None, {}, data)
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        response_headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            response_headers[name.strip().lower()] = value.strip()
        if status != 101:
            body = rest
            length = int(response_headers.get("content-length", "0") or 0)
            while len(body) < length:
                try:
                    chunk = sock.recv(65536)
                except (ConnectionResetError, socket.timeout):
                    break
                if not chunk:
                    break
                body += chunk
            sock.close()
            raise HandshakeError(status, response_headers, body)
        if response_headers.get("sec-websocket-accept") != accept_key(key):
            sock.close()
            raise HandshakeError(status, response_headers, b"bad Sec-WebSocket-Accept")
        peer = cls(sock, client=True, buffered=rest)
        peer.response_status = status
        peer.response_headers = response_headers
        return peer

    @classmethod
    def accept(cls, sock, headers=None, status=101, timeout=10):
        """The server side of a handshake on an accepted socket: reads the upgrade request
        and answers 101 (more response headers from `headers`), or `status` with no upgrade
        (then returns None). The peer keeps the request as `request_line` and
        `request_headers` (names lower case)."""
        sock.settimeout(timeout)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise Closed(eof=True)
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        request_headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            request_headers[name.strip().lower()] = value.strip()
        if status != 101:
            sock.sendall(f"HTTP/1.1 {status} Refused\r\ncontent-length: 0\r\n"
                         "connection: close\r\n\r\n".encode())
            return None
        lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                 "Connection: Upgrade",
                 f"Sec-WebSocket-Accept: {accept_key(request_headers['sec-websocket-key'])}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        peer = cls(sock, client=False, buffered=rest)
        peer.request_line = request_line
        peer.request_headers = request_headers
        return peer

    # -- sending ------------------------------------------------------------------------------

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, length=None):
        self.sock.sendall(encode_frame(opcode, payload, fin, rsv, self.client, length))

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_message(self, payload, opcode=OP_TEXT, fragment=None):
        """A whole message; with `fragment` (bytes per frame) as several frames."""
        if isinstance(payload, str):
            payload = payload.encode()
        if not fragment or len(payload) <= fragment:
            self.send_frame(opcode, payload)
            return
        pieces = [payload[i:i + fragment] for i in range(0, len(payload), fragment)]
        for index, piece in enumerate(pieces):
            self.send_frame(opcode if index == 0 else OP_CONTINUATION, piece,
                            fin=index == len(pieces) - 1)

    def send_text(self, text, fragment=None):
        self.send_message(text.encode() if isinstance(text, str) else text, OP_TEXT, fragment)

    def send_binary(self, data, fragment=None):
        self.send_message(data, OP_BINARY, fragment)

    def ping(self, payload=b""):
        self.send_frame(OP_PING, payload)

    def pong(self, payload=b""):
        self.send_frame(OP_PONG, payload)

    # -- receiving ----------------------------------------------------------------------------

    def _read_exact(self, n):
        while len(self.buffer) < n:
            try:
                chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed(eof=True)
            self.buffer += chunk
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def recv_frame(self):
        """The next frame, whatever it is. Raises Closed(eof=True) when the socket ends."""
        b0, b1 = self._read_exact(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._read_exact(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._read_exact(8))
        key = self._read_exact(4) if b1 & 0x80 else None
        payload = self._read_exact(n)
        if key:
            payload = xor_mask(payload, key)
        return Frame(bool(b0 & 0x80), b0 & 0xF, payload, (b0 >> 4) & 7)

    def recv_message(self, auto_pong=True):
        """The next data message as (opcode, payload bytes), fragments joined. Pings are
        answered (auto_pong) and skipped, pongs skipped. A close frame raises Closed."""
        opcode = None
        parts = []
        while True:
            frame = self.recv_frame()
            if frame.opcode == OP_PING:
                if auto_pong:
                    self.pong(frame.payload)
                continue
            if frame.opcode == OP_PONG:
                continue
            if frame.opcode == OP_CLOSE:
                raise self._closed(frame)
            if opcode is None:
                opcode = frame.opcode
            parts.append(frame.payload)
            if frame.fin:
                return opcode, b"".join(parts)

    @staticmethod
    def _closed(frame):
        if len(frame.payload) >= 2:
            return Closed(struct.unpack("!H", frame.payload[:2])[0], frame.payload[2:])
        return Closed(None, b"")

    def read_close(self, timeout=10):
        """Reads until the peer's close frame, skipping anything else; returns its code (None
        for an empty close payload). Raises Closed(eof=True) if the socket ends first."""
        self.sock.settimeout(timeout)
        while True:
            frame = self.recv_frame()
            if frame.opcode == OP_CLOSE:
                return self._closed(frame).code

    def read_eof(self, timeout=10):
        """Reads (and drops) everything until the socket ends; True if it did in time."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
        except socket.timeout:
            return False
        except ConnectionResetError:
            pass
        return True

    # -- closing ------------------------------------------------------------------------------

    def close(self, code=1000, reason=b"", timeout=10):
        """Sends a close frame and returns the code of the peer's answering close frame."""
        try:
            self.send_frame(OP_CLOSE, close_payload(code, reason))
            return self.read_close(timeout)
        finally:
            self.sock.close()

    def abort(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()
