#!/usr/bin/python3
"""Integration test: the real potluckd with python_worker.py, a worker written from
protocol/PROTOCOL.md alone.

Starts potluckd on free ports (HTTP port 0, workers tcp://127.0.0.1:*, read back from its log
line) with a temp data folder and a 200 ms heartbeat, starts the Python worker against it,
and checks through the HTTP API that the worker registers with its task, that a py.add job
comes back bit-exact, that the daemon validates submissions with the worker's declaration,
that heartbeats keep the worker registered, and that a stopping worker says DISCONNECT.

Needs POTLUCK_BUILD_DIR (set by CTest). Exits 0 on success, 1 with a message on failure.
Every process it starts is killed and reaped at the end, also on failure. No fixed sleeps:
every wait polls for its event with a deadline.
"""

import base64
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
HEARTBEAT_MS = 200
POLL_S = 0.02


class TestFailure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def read(path):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


class Harness:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []  # (name, Popen, log path)
        self.base_url = None

    def start(self, name, argv):
        log_path = os.path.join(self.tmp, name + ".log")
        log_file = open(log_path, "wb")
        proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log_file.close()
        self.procs.append((name, proc, log_path))
        return proc, log_path

    def alive_or_fail(self):
        for name, proc, log_path in self.procs:
            if proc.poll() is not None and not getattr(proc, "expected_exit", False):
                raise TestFailure("%s exited early with status %s" % (name, proc.returncode))

    def wait_until(self, what, predicate, timeout_s):
        """Polls `predicate` until it returns a true value; fails after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.alive_or_fail()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TestFailure("timed out after %.0f s waiting for %s" % (timeout_s, what))
            time.sleep(POLL_S)

    def stop(self, name, proc, timeout_s):
        proc.expected_exit = True
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s did not exit within %.0f s of SIGTERM" % (name, timeout_s))

    def cleanup(self):
        for name, proc, _ in self.procs:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sys.stderr.write("warning: %s (pid %d) could not be reaped\n" % (name, proc.pid))

    def dump_logs(self):
        for name, _, log_path in self.procs:
            text = read(log_path)
            sys.stderr.write("----- %s log (last 60 lines) -----\n" % name)
            sys.stderr.write("\n".join(text.splitlines()[-60:]) + "\n")

    # ------------------------------------------------------------------ HTTP
    def http(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        if method != "GET":
            headers["Authorization"] = "Bearer " + self.token
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text.decode(errors="replace")


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def run(h, build_dir):
    potluckd = os.path.join(build_dir, "bin", "potluckd")
    check(os.access(potluckd, os.X_OK), "potluckd not found at %s: build the potluckd target first" % potluckd)

    # ---- the daemon, on ports it picks; its log line says which
    data_dir = os.path.join(h.tmp, "data")
    daemon, daemon_log = h.start("potluckd", [potluckd, "--http", "127.0.0.1:0", "--workers", "tcp://127.0.0.1:*",
                                              "--data-dir", data_dir, "--heartbeat-ms", str(HEARTBEAT_MS)])
    line = re.compile(r"potluckd listening on (http://127\.0\.0\.1:\d+) .*workers on (tcp://127\.0\.0\.1:\d+)")
    match = h.wait_until("potluckd's 'listening' log line", lambda: line.search(read(daemon_log)), 30)
    h.base_url, workers_endpoint = match.group(1), match.group(2)
    print("potluckd: %s, workers on %s" % (h.base_url, workers_endpoint))

    # ---- the worker
    # The operator's token, written by potluckd at its first start: the worker donates with it
    # and the test submits with it.
    token_file = os.path.join(data_dir, "admin-token")
    h.token = read(token_file).strip()
    worker, worker_log = h.start("python_worker", ["/usr/bin/python3", os.path.join(HERE, "python_worker.py"),
                                                   "--endpoint", workers_endpoint, "--name", "py-test",
                                                   "--token-file", token_file])

    def registered_worker():
        status, body = h.http("GET", "/api/v1/workers")
        check(status == 200, "GET /api/v1/workers answered %s: %s" % (status, body))
        for w in body["workers"]:
            if w["name"] == "py-test":
                return w
        return None

    w = h.wait_until("the Python worker in GET /api/v1/workers", registered_worker, 30)
    tasks_of_worker = [t for p in w["plugins"] for t in p["tasks"]]
    check(tasks_of_worker == ["py.add@cpu"], "worker's tasks are %r, expected ['py.add@cpu']" % tasks_of_worker)
    check(w["plugins"][0]["name"] == "py", "worker's plugin is %r" % w["plugins"][0])
    check(w["slots"] == {"cpu": 1}, "worker's slots are %r, expected {'cpu': 1}" % w["slots"])
    check(w["software"].startswith("potluck-python-worker/"), "worker's software is %r" % w["software"])
    worker_id = w["id"]
    print("worker registered as %s" % worker_id)

    status, body = h.http("GET", "/api/v1/tasks")
    check(status == 200, "GET /api/v1/tasks answered %s" % status)
    task = next((t for t in body["tasks"] if t["name"] == "py.add"), None)
    check(task is not None, "GET /api/v1/tasks does not list py.add: %r" % body)
    check([(i["name"], i["spec"]) for i in task["inputs"]] == [("a", "f32[n]"), ("b", "f32[n]")],
          "py.add inputs are %r" % task["inputs"])
    check([(o["name"], o["spec"]) for o in task["outputs"]] == [("c", "f32[n]")], "py.add outputs are %r" % task["outputs"])
    check(task["cost"] == "n", "py.add cost is %r" % task["cost"])
    check(task["workers"] == 1, "py.add has %r workers, expected 1" % task["workers"])
    check([b["backend"] for b in task["backends"]] == ["cpu"], "py.add backends are %r" % task["backends"])

    # ---- a job, checked bit for bit
    a = [1.5, 0.1, -2.25, 3e6, 1e-30, 0.0]
    b = [0.25, 0.2, 2.25, -1.0, 1.0, -0.0]
    expected = [f32(f32(x) + f32(y)) for x, y in zip(a, b)]
    status, body = h.http("POST", "/api/v1/jobs", {
        "task": "py.add",
        "inputs": {"b": {"dtype": "f32", "shape": [len(b)], "data": b},  # not in declaration order
                   "a": {"dtype": "f32", "shape": [len(a)], "data": a}}})
    check(status == 202, "POST /api/v1/jobs answered %s: %s" % (status, body))
    job_id = body["id"]

    def terminal_job():
        status, job = h.http("GET", "/api/v1/jobs/%d" % job_id)
        check(status == 200, "GET /api/v1/jobs/%d answered %s" % (job_id, status))
        return job if job["state"] in ("succeeded", "failed", "cancelled") else None

    job = h.wait_until("job %d to finish" % job_id, terminal_job, 30)
    check(job["state"] == "succeeded", "job %d ended %s: %r" % (job_id, job["state"], job.get("error")))
    check(job["worker"] == "py-test", "job ran on %r" % job["worker"])
    check(job["attempt"] == 1, "job took %r attempts" % job["attempt"])
    c = job["result"]["outputs"]["c"]
    check(c["dtype"] == "f32" and c["shape"] == [len(a)], "output c is %s%r" % (c["dtype"], c["shape"]))
    got = [f32(v) for v in c["data"]]
    check(struct.pack("<%df" % len(got), *got) == struct.pack("<%df" % len(expected), *expected),
          "c = %r, expected %r" % (c["data"], expected))
    status, raw = h.http("GET", "/api/v1/jobs/%d?encoding=b64" % job_id)
    c_bytes = base64.b64decode(raw["result"]["outputs"]["c"]["b64"])
    check(c_bytes == struct.pack("<%df" % len(expected), *expected),
          "c as bytes is %s, expected %s" % (c_bytes.hex(), struct.pack("<%df" % len(expected), *expected).hex()))
    print("job %d: c = %r" % (job_id, c["data"]))

    # ---- the daemon checks submissions against the worker's declaration
    status, body = h.http("POST", "/api/v1/jobs", {
        "task": "py.add", "inputs": {"a": {"dtype": "f32", "shape": [3], "data": [1, 2, 3]},
                                     "b": {"dtype": "f32", "shape": [2], "data": [1, 2]}}})
    check(status == 422 and body["error"]["code"] == "invalid_input", "mismatched inputs answered %s: %r" % (status, body))
    check("'n' is 3 from 'a'" in body["error"]["message"], "mismatch message is %r" % body["error"]["message"])
    status, body = h.http("POST", "/api/v1/jobs", {
        "task": "py.add", "params": {"x": 1}, "inputs": {"a": {"dtype": "f32", "shape": [1], "data": [1]},
                                                         "b": {"dtype": "f32", "shape": [1], "data": [1]}}})
    check(status == 422 and body["error"]["code"] == "invalid_params", "params answered %s: %r" % (status, body))

    # ---- heartbeats: 5 from the daemon is over 3 intervals; the worker must still be the same
    # registration, so its own heartbeats reached the daemon.
    h.wait_until("5 daemon heartbeats in the worker's log",
                 lambda: "received 5 heartbeats from the daemon" in read(worker_log), 30)
    w = registered_worker()
    check(w is not None and w["id"] == worker_id,
          "after 5 heartbeat intervals the worker is %r, expected still %s" % (w and w["id"], worker_id))
    check("HELLO again" not in read(worker_log), "the worker lost its registration:\n" + read(worker_log))

    # ---- a stopping worker says DISCONNECT, and the daemon forgets it
    code = h.stop("python_worker", worker, 15)
    check(code == 0, "python_worker exited with %s" % code)
    h.wait_until("potluckd to log the worker's DISCONNECT",
                 lambda: "(py-test) disconnected: worker shutting down" in read(daemon_log), 15)
    h.wait_until("the worker to leave GET /api/v1/workers", lambda: registered_worker() is None, 15)

    code = h.stop("potluckd", daemon, 20)
    check(code == 0, "potluckd exited with %s" % code)


def main():
    build_dir = os.environ.get("POTLUCK_BUILD_DIR")
    if not build_dir:
        sys.stderr.write("FAIL: POTLUCK_BUILD_DIR is not set (CTest sets it)\n")
        return 1
    with tempfile.TemporaryDirectory(prefix="potluck-pyworker-") as tmp:
        h = Harness(tmp)
        try:
            run(h, build_dir)
        except TestFailure as e:
            h.cleanup()
            h.dump_logs()
            sys.stderr.write("FAIL: %s\n" % e)
            return 1
        except BaseException:
            h.cleanup()
            h.dump_logs()
            raise
        h.cleanup()
    print("PASS: python worker")
    return 0


if __name__ == "__main__":
    sys.exit(main())
