"""Helpers for the listen-mode tests: start `rtx tcp -l` / `rtx ws -l` on port 0 and learn
the address it bound from its first stderr line ("rtx: listening on tcp://127.0.0.1:PORT")."""
import contextlib
import re

from rtxtest import popen_rtx, read_line, take_rest


@contextlib.contextmanager
def listening(*args, **kwargs):
    """Yields (process, url) once rtx listens; the process is killed on exit if running."""
    with popen_rtx(*args, **kwargs) as proc:
        for _ in range(20):  # -vv may say more first
            line = read_line(proc.stderr, timeout=20).decode()
            match = re.search(r"listening on (\S+)", line)
            if match or not line:
                break
        if not match:
            raise RuntimeError(f"rtx did not say where it listens: {line!r}")
        yield proc, match.group(1)


def port_of(url):
    return int(re.search(r":(\d+)(/|$)", url).group(1))


def finish(proc, timeout=20):
    """Waits for rtx to exit (its stdin already closed); returns (stdout, stderr), with what
    read_line() read ahead of the stdout."""
    proc.wait(timeout=timeout)
    out = take_rest(proc.stdout) + proc.stdout.read()
    err = take_rest(proc.stderr) + proc.stderr.read()
    return out, err


def wait_for_line(stream, text, timeout=20):
    """Reads lines from `stream` until one contains `text` (e.g. a -vv line that says an
    event happened); returns it, or raises TimeoutError."""
    while True:
        line = read_line(stream, timeout=timeout)
        if not line:
            raise EOFError(f"stream ended before a line with {text!r}")
        if text.encode() in line:
            return line
