"""Helpers for rtx end-to-end tests: run the real binary, start `rtx serve` on port 0.

Standard library only. Every process a test starts is stopped by the test (context
managers), and all traffic stays on loopback.
"""
import contextlib
import os
import select
import signal
import socket
import subprocess
import time

RTX = os.environ.get("RTX_BIN", os.path.join(os.path.dirname(__file__), "../../build/cmd/rtx"))
SOURCE_DIR = os.environ.get("RTX_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))

# Exit codes from lib/core/exit_code.hpp (documented in man/rtx.1).
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CONNECT = 3
EXIT_TLS = 4
EXIT_TIMEOUT = 5
EXIT_RECONNECT_EXHAUSTED = 11
EXIT_BIND = 12
EXIT_INTERRUPTED = 130


def rtx(*args, input=None, timeout=30, **kwargs):
    """Runs rtx to completion; returns CompletedProcess with bytes stdout/stderr."""
    if isinstance(input, str):
        input = input.encode()
    return subprocess.run([RTX, *args], input=input, capture_output=True, timeout=timeout,
                          **kwargs)


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Serve:
    """`rtx serve` as a context manager; endpoints parsed from its first stdout lines."""

    def __init__(self, *args, expect=1, binary=None):
        self.binary = binary or RTX  # another rtx (e.g. one without its WebRTC module)
        # Tests that do not ask for the HTTP listener keep it off, so that no two tests
        # running at once fight over its default port.
        if not any(a in ("--http-port", "--no-http") for a in args) and args:
            args = (*args, "--no-http")
        # Likewise the MQTT broker and its default port 1883.
        if not any(a in ("--mqtt-port", "--no-mqtt") for a in args) and args:
            args = (*args, "--no-mqtt")
        self.args = args
        self.expect = expect
        self.proc = None
        self.endpoints = {}

    def __enter__(self):
        self.proc = subprocess.Popen([self.binary, "serve", *self.args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        # Unbuffered reads: serve prints all its endpoint lines at once, and a buffered
        # readline() would hide the later ones from select().
        pending = b""
        deadline = time.monotonic() + 10
        while len(self.endpoints) < self.expect:
            if b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                name, url = line.decode().split()
                self.endpoints[name] = url
                continue
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(remaining, 0))
            chunk = os.read(self.proc.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                err = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""
                self.stop()
                raise RuntimeError(f"rtx serve printed no endpoints in 10 s: {err}")
            pending += chunk
        return self

    def url(self, name="tcp-echo"):
        return self.endpoints[name]

    def address(self, name="tcp-echo"):
        """'127.0.0.1:7070' (host:port part of the URL)."""
        return self.endpoints[name].split("://", 1)[1]

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __exit__(self, *exc):
        self.stop()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


class CheckedServe(Serve):
    """Serve whose stop is checked: exit 0 and nothing on stderr (sanitizer builds report
    leaks and memory errors there)."""

    def __exit__(self, *exc):
        status = self.stop()
        errors = self.proc.stderr.read()
        super().__exit__(*exc)
        if exc[0] is None and (status != EXIT_OK or errors):
            raise AssertionError(f"rtx serve exited {status}: {errors.decode()[-3000:]}")


@contextlib.contextmanager
def popen_rtx(*args, **kwargs):
    """A running rtx with pipes; killed on exit if still running."""
    for stream in ("stdin", "stdout", "stderr"):
        kwargs.setdefault(stream, subprocess.PIPE)
    proc = subprocess.Popen([RTX, *args], **kwargs)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(AttributeError, OSError):
                stream.close()


_pending = {}  # stream -> bytes read past the last line handed out


def read_line(stream, timeout=10):
    """One line from a pipe, or raises TimeoutError. Reads the fd directly (select() cannot
    see what a buffered reader holds); take_rest() returns what it read past the line."""
    buffer = _pending.pop(stream, b"")
    deadline = time.monotonic() + timeout
    while b"\n" not in buffer:
        ready, _, _ = select.select([stream.fileno()], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            _pending[stream] = buffer
            raise TimeoutError("no line within timeout")
        chunk = os.read(stream.fileno(), 65536)
        if not chunk:
            return buffer  # end of stream, like readline()
        buffer += chunk
    line, rest = buffer.split(b"\n", 1)
    _pending[stream] = rest
    return line + b"\n"


def take_rest(stream):
    """Bytes read_line() read ahead and has not handed out yet."""
    return _pending.pop(stream, b"")
