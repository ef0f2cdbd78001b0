"""rtx push send --parallel N against rtx serve's mock push service: N pushes in flight (N
HTTP/1.1 keep-alive connections, plain or to `rtx serve --tls`), every stdin line arrives
once, decrypted, and the records come out in input order whatever order the answers came
in. (rtx serve's push service reads the RFC 8030 headers only over HTTP/1.1 so far, so the
HTTP/2 path, streams on one connection, is not tested against it.)"""

import json
import ssl
import unittest
import urllib.request

from rtxtest import EXIT_OK, EXIT_USAGE, rtx
from test_push import EXIT_GONE, ServePush, new_keys


# The subscription and message listing requests of ServePush go to `rtx serve --tls`'s
# self-signed certificate.
urllib.request.install_opener(urllib.request.build_opener(
    urllib.request.HTTPSHandler(context=ssl._create_unverified_context())))


def lines_in(count):
    return "".join(f"line {i} {'y' * (i % 37)}\n" for i in range(count))


class PushParallelTest(unittest.TestCase):
    def send(self, sub, private, count, *flags):
        result = rtx("push", "send", json.dumps(sub), "--vapid-key", private, "--ttl", "60",
                     *flags, input=lines_in(count), timeout=120)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        return result

    def check_all_arrived_in_order(self, service, sub, count, stdout):
        """Every record is 201 with a Location; the message each Location names is the
        input line of the same position, and every line arrived exactly once."""
        expected = lines_in(count).splitlines()
        records = stdout.decode().splitlines()
        self.assertEqual(len(records), count)
        by_number = {m["id"]: m["payload"] for m in service.messages(sub)}
        self.assertEqual(sorted(by_number.values()), sorted(expected))
        prefix = sub["endpoint"] + "/messages/"
        for position, record in enumerate(records):
            status, reason, location = record.split(" ")
            self.assertEqual((status, reason), ("201", "Created"), record)
            self.assertTrue(location.startswith(prefix), record)
            self.assertEqual(by_number[int(location[len(prefix):])], expected[position])

    def test_tls_connections_keep_input_order(self):
        # Under --tls the endpoints are https:// and the VAPID audience is the https origin.
        public, private = new_keys()
        with ServePush("--tls") as service:
            sub = service.subscribe(applicationServerKey=public)
            self.assertTrue(sub["endpoint"].startswith("https://"), sub)
            result = self.send(sub, private, 200, "--parallel", "8", "-k", "--http1.1", "-v")
            self.check_all_arrived_in_order(service, sub, 200, result.stdout)
            # -v shows every response head.
            self.assertEqual(result.stderr.count(b"< HTTP/1.1 201"), 200)

    def test_http1_connections_keep_input_order(self):
        public, private = new_keys()
        with ServePush() as service:
            sub = service.subscribe(applicationServerKey=public)
            result = self.send(sub, private, 100, "--parallel", "4", "--http1.1")
            self.check_all_arrived_in_order(service, sub, 100, result.stdout)

    def test_retries_in_flight_still_come_out_in_order(self):
        # Every other push is answered 429 with Retry-After: 0 and sent again.
        public, private = new_keys()
        with ServePush("--push-fault", "429:0@0.5") as service:
            sub = service.subscribe(applicationServerKey=public)
            result = self.send(sub, private, 40, "--parallel", "6", "--http1.1", "--retry", "20")
            self.check_all_arrived_in_order(service, sub, 40, result.stdout)

    def test_a_failure_stops_the_run_and_what_was_sent_is_reported(self):
        public, private = new_keys()
        with ServePush("--push-fault", "410") as service:
            sub = service.subscribe(applicationServerKey=public)
            result = rtx("push", "send", json.dumps(sub), "--vapid-key", private,
                         "--parallel", "4", "--http1.1", input=lines_in(50))
            self.assertEqual(result.returncode, EXIT_GONE, result.stderr)
            records = result.stdout.decode().splitlines()
            # The pushes already in flight when the first 410 came back are reported too; no
            # new one starts after it.
            self.assertGreaterEqual(len(records), 1)
            self.assertLessEqual(len(records), 4)
            self.assertTrue(all(r == "410 Gone" for r in records), records)
            self.assertEqual(result.stderr.count(b"\n"), 1, result.stderr)

    def test_parallel_out_of_range_is_a_usage_error(self):
        for value in ("0", "101", "x"):
            with self.subTest(value=value):
                result = rtx("push", "send", '{"endpoint":"http://127.0.0.1:9/p","keys":{}}',
                             "--vapid-key", "x", "--parallel", value, "-m", "hi")
                self.assertEqual(result.returncode, EXIT_USAGE)
                self.assertEqual(result.stdout, b"")
                self.assertEqual(result.stderr.count(b"\n"), 1, result.stderr)
                self.assertIn(b"--parallel", result.stderr)


if __name__ == "__main__":
    unittest.main()
