"""Documentation stays in step with the binary: man pages, completions, --help examples."""
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import unittest

from rtxtest import RTX, SOURCE_DIR, Serve, popen_rtx, rtx


def subcommands():
    help_text = rtx("--help").stdout.decode()
    section = help_text.split("Subcommands:", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in section.strip().splitlines()]


def nested(name):
    """The subcommands of a subcommand (`rtx mqtt` has sub and pub), as its --help lists them."""
    help_text = rtx(name, "--help").stdout.decode()
    if "Subcommands:" not in help_text:
        return []
    section = help_text.split("Subcommands:", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in section.strip().splitlines()]


def command_lines():
    """Every command line that has a --help: [name] and [name, nested] for nested ones."""
    return [[name, *rest] for name in subcommands() for rest in [[]] + [[n] for n in nested(name)]]


def read(*parts):
    with open(os.path.join(SOURCE_DIR, *parts), encoding="utf-8") as f:
        return f.read()


COMPLETIONS = {"bash": "rtx.bash", "zsh": "_rtx", "fish": "rtx.fish"}

DEFAULT_PORTS = {"tcp-echo": 7070, "http": 8080, "mqtt": 1883}


def example_lines(*args):
    """The command lines under "Examples:" in `rtx ARGS --help`, without their comments."""
    text = rtx(*args, "--help").stdout.decode()
    lines = []
    for line in text.split("Examples:", 1)[1].splitlines():
        if not line.strip():
            if lines:
                break  # a blank line ends the examples
            continue
        if not line.startswith("  "):
            continue  # a heading such as "With rtx serve running ...:"
        command = re.split(r"\s+#\s", line.strip(), maxsplit=1)[0].strip()
        if command and not command.startswith("#"):
            lines.append(command)
    return lines


def find_example(lines, prefix):
    found = [line for line in lines if line.startswith(prefix)]
    if not found:
        raise AssertionError(f"no example starts with {prefix!r} in {lines}")
    return found[0]


def run_example(command, serve, timeout=30):
    """Runs an example command line in bash against `serve`: default ports become the ports
    it bound, and `rtx` the binary under test."""
    for name, port in DEFAULT_PORTS.items():
        if name in serve.endpoints:
            command = command.replace(f"127.0.0.1:{port}", serve.address(name))
    command = re.sub(r"(^|[|;&]\s*)rtx ", lambda m: m.group(1) + shlex.quote(RTX) + " ", command)
    return subprocess.run(["bash", "-c", command], capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


class DocsTest(unittest.TestCase):
    def test_there_are_subcommands(self):
        self.assertIn("tcp", subcommands())
        self.assertIn("serve", subcommands())

    def test_every_subcommand_has_a_man_page(self):
        for name in subcommands():
            with self.subTest(command=name):
                page = read("man", f"rtx-{name}.1")
                self.assertTrue(re.search(rf'^\.TH\s+"?RTX\\?-{name.upper()}"?\s+1', page, re.M),
                                f"man/rtx-{name}.1 has no .TH RTX-{name.upper()} 1 line")
                self.assertTrue(".SH EXAMPLES" in page, f"rtx-{name}.1 has no EXAMPLES")
                overview = read("man", "rtx.1").replace("\\-", "-")
                self.assertTrue(f"rtx-{name}" in overview, f"rtx.1 does not mention rtx-{name}")

    def test_every_subcommand_is_in_every_completion_file(self):
        for shell, filename in COMPLETIONS.items():
            text = read("completions", filename)
            for name in subcommands():
                with self.subTest(shell=shell, command=name):
                    self.assertRegex(text, rf"\b{name}\b")

    def test_checked_in_completions_match_the_cli(self):
        for shell, filename in COMPLETIONS.items():
            with self.subTest(shell=shell):
                generated = rtx("--completions", shell).stdout.decode()
                self.assertEqual(read("completions", filename), generated,
                                 f"regenerate: rtx --completions {shell} > completions/{filename}")

    def test_every_option_is_in_its_man_page(self):
        for args in command_lines():
            name = args[0]
            page = read("man", f"rtx-{name}.1").replace("\\-", "-")
            help_text = rtx(*args, "--help").stdout.decode()
            for option in set(re.findall(r"^\s+(?:-\w,)?(--[\w-]+)", help_text, re.M)):
                if option == "--help":
                    continue
                with self.subTest(command=args, option=option):
                    self.assertTrue(option in page, f"{option} missing from rtx-{name}.1")

    def test_nested_subcommands_are_found(self):
        self.assertEqual(nested("mqtt"), ["sub", "pub"])
        self.assertEqual(nested("tcp"), [])

    def test_help_ends_with_examples(self):
        for args in [[]] + command_lines():
            with self.subTest(command=args):
                result = rtx(*args, "--help")
                self.assertEqual(result.returncode, 0)
                text = result.stdout.decode()
                self.assertIn("Examples:", text)
                examples = text.split("Examples:", 1)[1]
                self.assertIn("rtx ", examples)

    def test_usage_errors_point_at_the_help_of_their_command(self):
        # A mistake inside `rtx ws` is explained by `rtx ws --help`, not the top-level list;
        # both CLI11's parse errors and the checks a subcommand makes after parsing.
        cases = [(args, [*args, "--no-such-flag"]) for args in command_lines()]
        cases += [(["ws"], ["ws", "http://127.0.0.1:1/"]),
                  (["tcp"], ["tcp", "--raw", "--json", "127.0.0.1:1"]),
                  (["mqtt", "sub"], ["mqtt", "sub", "-t", "x", "-q", "7", "mqtt://127.0.0.1:1"]),
                  (["serve"], ["serve", "--no-tcp", "--no-http", "--no-mqtt"]),
                  ([], ["--no-such-flag"])]
        for command, args in cases:
            with self.subTest(args=args):
                result = rtx(*args, input="")
                self.assertEqual(result.returncode, 2, result.stderr)
                [line] = result.stderr.decode().splitlines()
                self.assertTrue(line.startswith("rtx: error: "), line)
                self.assertTrue(line.endswith(f"; see '{' '.join(['rtx', *command])} --help'"),
                                line)

    def test_serve_is_summed_up_with_every_listener(self):
        summary = [line for line in rtx("--help").stdout.decode().splitlines()
                   if line.strip().startswith("serve ")]
        self.assertEqual(len(summary), 1)
        for listener in ("TCP echo", "SSE", "WebSocket", "MQTT"):
            with self.subTest(listener=listener):
                self.assertIn(listener, summary[0])

    @unittest.skipUnless(shutil.which("curl"), "no curl")
    def test_top_level_examples_work(self):
        lines = example_lines()
        with Serve("--tcp-port", "0", "--http-port", "0", expect=4) as serve:
            echo = run_example(find_example(lines, "echo hello | rtx tcp"), serve)
            self.assertEqual((echo.returncode, echo.stdout), (0, b"hello\n"), echo.stderr)
            # Publish, then a subscriber that reads it back: no race between the two.
            publish = run_example(find_example(lines, "curl -d hi "), serve)
            self.assertEqual(publish.returncode, 0, publish.stderr)
            stream = run_example(find_example(lines, "rtx stream "), serve)
            self.assertEqual((stream.returncode, stream.stdout), (0, b"hi\n"), stream.stderr)
        for client in ("rtx tcp ", "rtx ws ", "rtx sse ", "rtx serve "):
            with self.subTest(example=client):
                self.assertTrue(any(client in line for line in lines), lines)

    @unittest.skipUnless(shutil.which("curl"), "no curl")
    def test_serve_examples_work_against_every_listener(self):
        lines = example_lines("serve")
        with Serve("--tcp-port", "0", "--http-port", "0", "--mqtt-port", "0", expect=5) as serve:
            echo = run_example(find_example(lines, "echo hi | rtx tcp"), serve)
            self.assertEqual((echo.returncode, echo.stdout), (0, b"hi\n"), echo.stderr)
            publish = run_example(find_example(lines, "curl -d hello "), serve)
            self.assertEqual(publish.returncode, 0, publish.stderr)
            retained = run_example(find_example(lines, "rtx mqtt pub "), serve)
            self.assertEqual(retained.returncode, 0, retained.stderr)
            sub = run_example(find_example(lines, "rtx mqtt sub "), serve)
            self.assertEqual((sub.returncode, sub.stdout), (0, b"hi\n"), sub.stderr)
        find_example(lines, "rtx ws ws://")

    def test_serve_free_port_example_leaves_every_default_port_alone(self):
        example = shlex.split(find_example(example_lines("serve"), "rtx serve --tcp-port 0"))
        # Hold MQTT's default port, as a running broker would: the example must not need it.
        holder = socket.socket()
        self.addCleanup(holder.close)
        try:
            holder.bind(("127.0.0.1", DEFAULT_PORTS["mqtt"]))
            holder.listen(1)
        except OSError:
            pass  # in use already: just as good
        with Serve(*example[2:], expect=5) as serve:
            self.assertEqual(set(serve.endpoints), {"tcp-echo", "http", "ws", "ws-echo", "mqtt"})
            for name, url in serve.endpoints.items():
                with self.subTest(endpoint=name):
                    port = int(re.search(r":(\d+)(/|$)", url.split("://", 1)[1]).group(1))
                    self.assertNotIn(port, (0, *DEFAULT_PORTS.values()))

    def test_man_page_names_every_record_key_for_its_protocols(self):
        # What each client writes with --json, against rtx serve: messages, an open and a
        # close with a protocol code (a WebSocket close, an HTTP 404, an MQTT SUBACK refusal).
        with Serve("--tcp-port", "0", "--http-port", "0", "--mqtt-port", "0", expect=5) as serve:
            http, mqtt = serve.url("http"), serve.url("mqtt")
            runs = {
                "tcp": [["tcp", "--json", "--count", "1", serve.address()]],
                "ws": [["ws", "--json", "--count", "1", serve.url("ws-echo")],
                       ["ws", "--json", "--count", "1", "--binary", serve.url("ws-echo")]],
                "sse": [["sse", "--json", "--no-reconnect", f"{http}/nope"]],
                "stream": [["stream", "--json", f"{http}/nope"]],
                "poll": [["poll", "--json", f"{http}/nope"]],
                "mqtt": [["mqtt", "sub", "--json", "--count", "1", mqtt, "-t", "docs/keys"],
                         ["mqtt", "sub", "--json", "-V", "5", mqtt, "-t", "$share//docs"]],
            }
            self.assertEqual(rtx("mqtt", "pub", mqtt, "-t", "docs/keys", "-m", "x", "-r")
                             .returncode, 0)
            keys = {}  # key -> protocols whose records have it
            first_keys = set()
            for protocol, commands in runs.items():
                for args in commands:
                    # stdin stays open: the clients that read it end by --count, after the echo.
                    with popen_rtx(*args) as proc:
                        proc.stdin.write(b"hi\n")
                        proc.stdin.flush()
                        proc.wait(timeout=30)
                        stdout, stderr = proc.stdout.read(), proc.stderr.read()
                    records = [json.loads(line) for line in stdout.splitlines()]
                    self.assertTrue(records, (args, stderr))
                    for record in records:
                        first_keys.add(tuple(record)[:9])
                        for key in record:
                            keys.setdefault(key, set()).add(protocol)
        self.assertEqual(len(first_keys), 1, first_keys)  # the same nine, in the same order
        common = set(next(iter(first_keys)))
        self.assertTrue({"opcode", "qos", "code", "by_peer"} <= set(keys), keys)

        section = read("man", "rtx.1").split(".SS NDJSON records", 1)[1].split("\n.S", 1)[0]
        entries = {}  # key -> the text of its .TP entry
        for chunk in section.split("\n.TP\n")[1:]:
            tag, _, body = chunk.partition("\n")
            body = re.split(r"\n\.(?:PP|TP)\b", body, maxsplit=1)[0].replace("\\-", "-")
            for word in re.findall(r"[a-z_]+", re.sub(r"^\.\w+", "", tag)):
                entries[word] = body
        for key, protocols in sorted(keys.items()):
            with self.subTest(key=key):
                self.assertTrue(key in entries, f"man rtx does not describe the key {key!r}")
                if key in common:
                    continue
                for protocol in protocols:
                    self.assertRegex(entries[key], rf"\brtx {protocol}\b",
                                     f"man rtx: {key!r} does not name rtx {protocol}")

    def test_exit_code_table_is_documented(self):
        header = read("lib", "core", "exit_code.hpp")
        codes = re.findall(r"^\s+(\w+) = (\d+),", header, re.M)
        self.assertGreater(len(codes), 10)
        page = read("man", "rtx.1")
        exit_section = page.split(".SH EXIT STATUS", 1)[1].split("\n.SH ", 1)[0]
        for name, number in codes:
            with self.subTest(code=name):
                self.assertRegex(exit_section, rf"(?m)^\.?B?\s*{number}\b|^{number}\b|\b{number}\b")

    @unittest.skipUnless(shutil.which("groff") or shutil.which("man"), "no groff/man")
    def test_man_pages_render_without_warnings(self):
        for page in sorted(os.listdir(os.path.join(SOURCE_DIR, "man"))):
            with self.subTest(page=page):
                result = subprocess.run(["groff", "-man", "-ww", "-z",
                                         os.path.join(SOURCE_DIR, "man", page)],
                                        capture_output=True)
                self.assertEqual(result.stderr, b"")

    def test_cmake_install_puts_docs_in_place(self):
        build_dir = os.environ.get("RTX_BUILD_DIR")
        if not build_dir:
            self.skipTest("RTX_BUILD_DIR not set (run through ctest)")
        with tempfile.TemporaryDirectory() as prefix:
            subprocess.run(["cmake", "--install", build_dir, "--prefix", prefix], check=True,
                           capture_output=True)
            for path in ["bin/rtx", "lib/rtx/rtx-webrtc.so", "lib/rtx/rtx-http.so",
                         "share/man/man1/rtx.1", "share/man/man1/rtx-tcp.1",
                         "share/man/man1/rtx-serve.1",
                         "share/bash-completion/completions/rtx",
                         "share/zsh/vendor-completions/_rtx",
                         "share/fish/vendor_completions.d/rtx.fish"]:
                with self.subTest(path=path):
                    self.assertTrue(os.path.exists(os.path.join(prefix, path)))
            # The installed rtx finds its modules (bin/../lib/rtx): --version asks the HTTP
            # module for libcurl's version.
            version = subprocess.run([os.path.join(prefix, "bin/rtx"), "--version"],
                                     capture_output=True, text=True, check=True).stdout
            self.assertRegex(version, r"\nlibcurl \d+\.\d+")


if __name__ == "__main__":
    unittest.main()
