"""Headless Debian Chromium driven over the DevTools protocol, from the Python standard library.

Chromium is started with --remote-debugging-pipe: it reads protocol commands from its fd 3 and
writes replies and events to its fd 4, each message a JSON object followed by a NUL byte. This
needs neither node nor a WebSocket client, so the browser tests run on a fresh Debian 12 with
only its own python3 and chromium packages (playwright-core needs Node.js 20; Debian 12 ships
18).

    with Chromium() as browser:
        page = browser.new_page()
        page.navigate("http://127.0.0.1:8080/websocket.html")
        page.wait_for("document.getElementById('state').textContent === 'open'")
        page.evaluate("window.send('hello')")
"""

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

# Root in a container needs --no-sandbox; the rest keep Chromium off the (closed) network and
# away from services a minimal machine lacks (GPU, /dev/shm of a useful size, a session bus).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-pipe", "about:blank"]


class BrowserError(Exception):
    """The browser died, answered a command with an error, or a wait timed out."""


def available():
    """True when the Chromium binary exists (scripts/install-deps.sh --with-tests installs it)."""
    return os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)


class Chromium:
    """One headless browser process with a throwaway profile; a context manager."""

    def __init__(self, timeout=30, extra_flags=()):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="rtx-chromium-")
        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()

        def child_pipes():
            # The protocol's fixed descriptors: 3 for commands in, 4 for messages out. dup2
            # clears close-on-exec on them; every other descriptor of ours has it set (Python
            # opens all with O_CLOEXEC), so close_fds=False leaks nothing else.
            # Both are first moved above 4, so that neither dup2 can overwrite the other's
            # source, and dup2 never sees equal descriptors (it would keep close-on-exec).
            command_in = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
            message_out = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
            os.dup2(command_in, 3)
            os.dup2(message_out, 4)

        self.process = subprocess.Popen(  # noqa: SIM115 (stopped in close)
            [CHROMIUM, *extra_flags, *FLAGS, f"--user-data-dir={self.profile}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            close_fds=False, preexec_fn=child_pipes)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.buffer = b""
        self.next_id = 0
        self.events = []  # (session id, method, params) of events no handler took
        self.handlers = {}  # (session id, method) -> function(params)
        self.responses = {}  # command id -> reply, until its send() takes it

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            if self.process.poll() is None:
                try:
                    self.send("Browser.close", timeout=5)
                except (BrowserError, OSError):
                    pass
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            for fd in (self.to_browser, self.from_browser):
                try:
                    os.close(fd)
                except OSError:
                    pass
            if self.process.stderr:
                self.process.stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    def stderr_tail(self):
        """What the browser said on stderr, once it has exited (for a failure message)."""
        if self.process.poll() is None or not self.process.stderr:
            return ""
        return self.process.stderr.read().decode(errors="replace")[-2000:]

    def _read_message(self, deadline):
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("timed out waiting for the browser")
            ready, _, _ = select.select([self.from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.from_browser, 65536)
            if not chunk:
                raise BrowserError(f"chromium exited ({self.process.poll()}): "
                                   f"{self.stderr_tail()}")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def _dispatch(self, message):
        if "id" in message:
            self.responses[message["id"]] = message
            return
        key = (message.get("sessionId"), message.get("method"))
        handler = self.handlers.get(key)
        if handler:
            handler(message.get("params", {}))
        else:
            self.events.append((*key, message.get("params", {})))

    def send(self, method, params=None, session=None, timeout=None):
        """Sends one command and returns its result. Events that arrive meanwhile go to their
        handler (which may send commands of its own) or are kept in self.events."""
        self.next_id += 1
        command_id = self.next_id
        command = {"id": command_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        os.write(self.to_browser, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while command_id not in self.responses:
            self._dispatch(self._read_message(deadline))
        message = self.responses.pop(command_id)
        if "error" in message:
            raise BrowserError(f"{method}: {message['error'].get('message')}")
        return message.get("result", {})

    def pump(self, seconds):
        """Reads and dispatches events for up to `seconds`."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self._dispatch(self._read_message(deadline))
        except BrowserError:
            if self.process.poll() is not None:
                raise

    def new_page(self):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        return Page(self, session["sessionId"])


class Page:
    """One tab, reached through its flat-mode session."""

    def __init__(self, browser, session):
        self.browser = browser
        self.session = session
        self.send("Page.enable")
        self.send("Runtime.enable")

    def send(self, method, params=None, timeout=None):
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def take_events(self, method):
        """Removes and returns the params of every event `method` this page has had so far."""
        mine = [e for e in self.browser.events if e[0] == self.session and e[1] == method]
        self.browser.events = [e for e in self.browser.events if e not in mine]
        return [params for _, _, params in mine]

    def add_init_script(self, source):
        """Runs `source` in every document this page loads, before the page's own scripts."""
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": source})

    def navigate(self, url, timeout=30):
        """Loads `url` and returns once its load event has fired (the DOM is complete)."""
        self.take_events("Page.loadEventFired")
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"navigate {url}: {result['errorText']}")
        deadline = time.monotonic() + timeout
        while not self.take_events("Page.loadEventFired"):
            if time.monotonic() > deadline:
                raise BrowserError(f"navigate {url}: no load event in {timeout} s")
            self.browser.pump(0.05)

    def evaluate(self, expression):
        """The value of a JavaScript expression (promises awaited), as JSON-decoded Python;
        BrowserError if it throws."""
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression}: {text}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout=30):
        """Polls `expression` until it is truthy and returns its value. While it throws (the
        page's script has not run yet) it counts as false; BrowserError on timeout, naming
        the last exception if there was one."""
        deadline = time.monotonic() + timeout
        last_error = None
        while True:
            try:
                value = self.evaluate(expression)
                if value:
                    return value
            except BrowserError as error:
                last_error = error
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out after {timeout} s waiting for: {expression}"
                                   + (f" (last: {last_error})" if last_error else ""))
            self.browser.pump(0.05)

    def block_requests(self, allow_prefix):
        """Fails every request whose URL does not start with `allow_prefix`; returns the list
        (filled as the page runs) of the URLs it refused."""
        refused = []

        def on_paused(params):
            url = params["request"]["url"]
            if url.startswith(allow_prefix):
                self.send("Fetch.continueRequest", {"requestId": params["requestId"]})
            else:
                refused.append(url)
                self.send("Fetch.failRequest", {"requestId": params["requestId"],
                                                "errorReason": "BlockedByClient"})

        self.browser.handlers[(self.session, "Fetch.requestPaused")] = on_paused
        self.send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
        return refused
