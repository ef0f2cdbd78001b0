"""A minimal raw MQTT client for the broker tests: exact bytes in, packets out, so tests
can send what no well-behaved client would (malformed packets, silence after CONNECT)."""

import socket
import struct
import time


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(client_id="", version=5, keepalive=60, clean=True, user=None, password=None,
            props=b"", will_topic=None, will_payload=b"", will_props=b""):
    flags = (0x02 if clean else 0) | (0x80 if user is not None else 0) | (
        0x40 if password is not None else 0) | (0x04 if will_topic is not None else 0)
    body = string("MQTT") + bytes([version, flags]) + struct.pack(">H", keepalive)
    if version == 5:
        body += varint(len(props)) + props
    body += string(client_id)
    if will_topic is not None:
        if version == 5:
            body += varint(len(will_props)) + will_props
        body += string(will_topic) + string(will_payload)
    if user is not None:
        body += string(user)
    if password is not None:
        body += string(password)
    return packet(0x10, body)


def publish(topic, payload, version=5, qos=0, packet_id=1, retain=False, props=b""):
    body = string(topic)
    if qos:
        body += struct.pack(">H", packet_id)
    if version == 5:
        body += varint(len(props)) + props
    return packet(0x30 | qos << 1 | (1 if retain else 0), body + payload)


def subscribe(topic, qos=0, version=5, packet_id=1, options=None, props=b""):
    body = struct.pack(">H", packet_id) + (varint(len(props)) + props if version == 5 else b"")
    body += string(topic) + bytes([qos if options is None else options])
    return packet(0x82, body)


def unsubscribe(topic, version=5, packet_id=1):
    body = struct.pack(">H", packet_id) + (b"\x00" if version == 5 else b"")
    return packet(0xA2, body + string(topic))


# MQTT 5 properties (section 2.2.2.2): builders, and a reader that gives [(id, value)].
def prop_byte(pid, value):
    return bytes([pid, value])


def prop_u16(pid, value):
    return bytes([pid]) + struct.pack(">H", value)


def prop_u32(pid, value):
    return bytes([pid]) + struct.pack(">I", value)


def prop_varint(pid, value):
    return bytes([pid]) + varint(value)


_BYTE, _U16, _U32, _VARINT, _STRING, _PAIR = range(6)
_PROPERTY_TYPES = {
    0x01: _BYTE, 0x02: _U32, 0x03: _STRING, 0x08: _STRING, 0x09: _STRING, 0x0B: _VARINT,
    0x11: _U32, 0x12: _STRING, 0x13: _U16, 0x15: _STRING, 0x16: _STRING, 0x17: _BYTE,
    0x18: _U32, 0x19: _BYTE, 0x1A: _STRING, 0x1C: _STRING, 0x1F: _STRING, 0x21: _U16,
    0x22: _U16, 0x23: _U16, 0x24: _BYTE, 0x25: _BYTE, 0x26: _PAIR, 0x27: _U32, 0x28: _BYTE,
    0x29: _BYTE, 0x2A: _BYTE,
}


def read_varint(data, i=0):
    """(value, index after it)."""
    value, multiplier = 0, 1
    while True:
        byte = data[i]
        value += (byte & 0x7F) * multiplier
        multiplier *= 128
        i += 1
        if not byte & 0x80:
            return value, i


def parse_properties(block):
    """[(identifier, value)] of a property block (without its length), in wire order."""
    out, i = [], 0
    while i < len(block):
        pid = block[i]
        i += 1
        kind = _PROPERTY_TYPES[pid]
        if kind == _BYTE:
            value, i = block[i], i + 1
        elif kind == _U16:
            value, i = struct.unpack(">H", block[i:i + 2])[0], i + 2
        elif kind == _U32:
            value, i = struct.unpack(">I", block[i:i + 4])[0], i + 4
        elif kind == _VARINT:
            value, i = read_varint(block, i)
        elif kind == _STRING:
            n = struct.unpack(">H", block[i:i + 2])[0]
            value, i = block[i + 2:i + 2 + n], i + 2 + n
        else:
            n = struct.unpack(">H", block[i:i + 2])[0]
            name = block[i + 2:i + 2 + n]
            i += 2 + n
            m = struct.unpack(">H", block[i:i + 2])[0]
            value, i = (name, block[i + 2:i + 2 + m]), i + 2 + m
        out.append((pid, value))
    return out


def connack_properties(body):
    """The properties of an MQTT 5 CONNACK body as {identifier: value}."""
    length, i = read_varint(body, 2)
    return dict(parse_properties(body[i:i + length]))


def parse_publish5(first, body):
    """An MQTT 5 PUBLISH as a dict: topic, qos, retain, dup, packet_id, props, payload."""
    qos = (first >> 1) & 3
    n = struct.unpack(">H", body[:2])[0]
    topic, i = body[2:2 + n].decode(), 2 + n
    packet_id = None
    if qos:
        packet_id, i = struct.unpack(">H", body[i:i + 2])[0], i + 2
    length, i = read_varint(body, i)
    return {"topic": topic, "qos": qos, "retain": bool(first & 1), "dup": bool(first & 8),
            "packet_id": packet_id, "props": parse_properties(body[i:i + length]),
            "payload": body[i + length:]}


class Client:
    """One TCP connection to the broker with a packet reader."""

    def __init__(self, port, host="127.0.0.1", timeout=5):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_packet(self, timeout=5):
        """(first byte, body), or None once the broker closed the connection."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = self._parse()
            if parsed is not None:
                return parsed
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no packet within timeout")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buffer += chunk

    def _parse(self):
        if len(self.buffer) < 2:
            return None
        length, multiplier, i = 0, 1, 1
        while True:
            if i >= len(self.buffer):
                return None
            byte = self.buffer[i]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            i += 1
            if not byte & 0x80:
                break
        if len(self.buffer) < i + length:
            return None
        first, body = self.buffer[0], self.buffer[i:i + length]
        self.buffer = self.buffer[i + length:]
        return first, body

    def connect(self, **kwargs):
        """CONNECT and return the CONNACK body."""
        self.send(connect(**kwargs))
        reply = self.read_packet()
        assert reply is not None and reply[0] == 0x20, f"no CONNACK: {reply!r}"
        return reply[1]

    def closed(self, timeout=5):
        """Reads until the broker closes; returns the packets seen before."""
        seen = []
        while True:
            p = self.read_packet(timeout)
            if p is None:
                return seen
            seen.append(p)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ScriptedBroker:
    """A listening socket that plays the broker one connection at a time, as the test
    scripts it: the test decides every CONNACK and every acknowledgement (or its absence),
    so it can leave messages in flight exactly where it wants and then drop the client."""

    def __init__(self, host="127.0.0.1"):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]

    def accept(self, timeout=10):
        """The next client connection, as a Client (its CONNECT not yet read)."""
        self.listener.settimeout(timeout)
        sock, _ = self.listener.accept()
        sock.settimeout(timeout)
        client = Client.__new__(Client)
        client.sock, client.buffer = sock, b""
        return client

    def close(self):
        self.listener.close()


def connack(version, session_present=False, reason=0):
    body = bytes([1 if session_present else 0, reason])
    return packet(0x20, body + (b"\x00" if version == 5 else b""))


def ack(kind, packet_id):
    """PUBACK, PUBREC, PUBREL or PUBCOMP with a success code (the short form)."""
    first = {"puback": 0x40, "pubrec": 0x50, "pubrel": 0x62, "pubcomp": 0x70}[kind]
    return packet(first, struct.pack(">H", packet_id))


def parse_publish(first, body, version):
    """(topic, packet id or None, payload, dup) of a PUBLISH body."""
    qos = (first >> 1) & 3
    topic_len = struct.unpack(">H", body[:2])[0]
    topic, rest = body[2:2 + topic_len].decode(), body[2 + topic_len:]
    packet_id = None
    if qos:
        packet_id, rest = struct.unpack(">H", rest[:2])[0], rest[2:]
    if version == 5:
        length, multiplier, i = 0, 1, 0
        while True:
            length += (rest[i] & 0x7F) * multiplier
            multiplier *= 128
            i += 1
            if not rest[i - 1] & 0x80:
                break
        rest = rest[i + length:]
    return topic, packet_id, rest, bool(first & 0x08)
