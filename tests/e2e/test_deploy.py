"""deploy/k8s, checked without a cluster: the Indexed Job's structure (kubectl's client-side
dry run needs an API server, so it cannot run in CI), the command each pod runs parsed by
rtx itself, the collect script's syntax, and the Dockerfile's stages. What has run on a real
cluster is said in deploy/k8s/README.md."""
import json
import os
import shlex
import subprocess
import tempfile
import unittest

import yaml

from rtxtest import EXIT_OK, free_port, rtx

DEPLOY = os.path.join(os.path.dirname(__file__), "../../deploy/k8s")


class JobManifestTest(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(DEPLOY, "bench-job.yaml")) as f:
            self.docs = list(yaml.safe_load_all(f))
        self.job = self.docs[0]
        self.pod = self.job["spec"]["template"]["spec"]
        self.container = self.pod["containers"][0]
        self.env = {e["name"]: e["value"] for e in self.container["env"]}

    def test_is_an_indexed_job_with_every_shard_at_once(self):
        self.assertEqual(len(self.docs), 1)
        self.assertEqual(self.job["apiVersion"], "batch/v1")
        self.assertEqual(self.job["kind"], "Job")
        spec = self.job["spec"]
        self.assertEqual(spec["completionMode"], "Indexed")
        shards = int(self.env["SHARDS"])
        self.assertEqual(spec["completions"], shards)
        self.assertEqual(spec["parallelism"], shards)
        self.assertEqual(self.pod["restartPolicy"], "Never")
        self.assertEqual(spec["backoffLimit"], 0)
        for key in ("name", "image", "command", "args"):
            self.assertIn(key, self.container)

    def test_each_pod_runs_its_shard(self):
        script = self.container["args"][0]
        self.assertEqual(self.container["command"], ["/bin/sh", "-c"])
        self.assertIn('--shard "$JOB_COMPLETION_INDEX/$SHARDS"', script)
        self.assertIn('--start-at "$START_AT"', script)
        self.assertRegex(self.env["START_AT"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # The command line, with the values a pod would have, is one rtx accepts and runs:
        # a small test (3 connections over 50 shards, so this pod's share is none) against
        # a closed port, starting now, writing its report where the pod's cat reads it.
        command = script.split(";")[0].split(">&2")[0]
        command = (command.replace("$JOB_COMPLETION_INDEX", "3")
                   .replace("$SHARDS", self.env["SHARDS"])
                   .replace("$START_AT", "+0s")
                   .replace("$TARGET", f"ws://127.0.0.1:{free_port()}/echo"))
        args = shlex.split(command)
        self.assertEqual(args[:2], ["rtx", "bench"])
        args[args.index("--conns") + 1] = "3"
        args[args.index("--duration") + 1] = "1s"
        with tempfile.TemporaryDirectory() as tmp:
            report = os.path.join(tmp, "report.json")
            args[args.index("--json") + 1] = report
            result = rtx(*args[1:], timeout=60)
            self.assertEqual(result.returncode, EXIT_OK, result.stderr.decode())
            with open(report) as f:
                parsed = json.load(f)
        self.assertEqual(parsed["shard"], f"3/{self.env['SHARDS']}")
        self.assertEqual(parsed["connections"], 0)
        subprocess.run(["sh", "-n", "-c", script], check=True)

    def test_collect_script_and_dockerfile(self):
        subprocess.run(["bash", "-n", os.path.join(DEPLOY, "collect.sh")], check=True)
        with open(os.path.join(DEPLOY, "Dockerfile")) as f:
            lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        stages = [l for l in lines if l.startswith("FROM ")]
        self.assertEqual(stages, ["FROM debian:12 AS build", "FROM debian:12-slim"])
        self.assertIn('ENTRYPOINT ["/usr/local/bin/rtx"]', lines)
        # rtx finds its modules at bin/../lib/rtx (lib/core/module.cpp).
        for module in ("rtx-webrtc.so", "rtx-http.so"):
            self.assertIn(f"COPY --from=build /src/build/cmd/{module} "
                          f"/usr/local/lib/rtx/{module}", lines)


if __name__ == "__main__":
    unittest.main()
