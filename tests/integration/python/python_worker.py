#!/usr/bin/python3
"""A minimal Potluck worker, written from protocol/PROTOCOL.md alone (PLK/1).

It offers one task on one cpu slot:

    py.add   a: f32[n], b: f32[n]  ->  c: f32[n]   cost "n"     (c = a + b)

and speaks the whole protocol a worker needs: HELLO/WELCOME, heartbeats both ways, JOB with
PROGRESS and RESULT/FAILED, CANCEL, DISCONNECT in both directions, and reconnection with
back-off (Paranoid Pirate). Only the standard library and python3-zmq; no numpy.

    /usr/bin/python3 python_worker.py --endpoint tcp://127.0.0.1:5555 [--name py-1]

Logs go to stderr, one line per event. SIGTERM or SIGINT: DISCONNECT, then exit 0.
"""

import argparse
import json
import random
import signal
import socket
import struct
import sys
import time

import zmq

PROTOCOL_ID = b"PLK1"

HELLO, WELCOME, HEARTBEAT, JOB, PROGRESS, RESULT, FAILED, CANCEL, CANCELLED, RETURNED, DISCONNECT = range(1, 12)
COMMAND_NAMES = {1: "HELLO", 2: "WELCOME", 3: "HEARTBEAT", 4: "JOB", 5: "PROGRESS", 6: "RESULT", 7: "FAILED",
                 8: "CANCEL", 9: "CANCELLED", 10: "RETURNED", 11: "DISCONNECT"}

# PROTOCOL.md 7.1: name -> (struct code, bytes). f16/bf16 have no struct code we need here.
DTYPES = {"f32": ("f", 4), "f64": ("d", 8), "i32": ("i", 4), "i64": ("q", 8), "u8": ("B", 1), "i8": ("b", 1),
          "f16": ("e", 2), "bf16": (None, 2), "bool": ("B", 1)}
MAX_RANK = 16
MAX_ELEMENTS = 1 << 40
MAX_HEADER_BYTES = 1 << 20
MAX_PAYLOAD_FRAMES = 256

LIVENESS = 3                 # PROTOCOL.md 5.2: 3 silent intervals = dead
WELCOME_WAIT_S = 1.0         # 4.1: wait at least one second before another HELLO
BACKOFF_FIRST_S = 0.1        # 5.3: 100 ms doubling to 5 s, with jitter
BACKOFF_MAX_S = 5.0

TASK = {
    "name": "py.add",
    "backend": "cpu",
    "description": "c = a + b, element by element (Python reference worker)",
    "inputs": [{"name": "a", "spec": "f32[n]", "description": "left operand"},
               {"name": "b", "spec": "f32[n]", "description": "right operand"}],
    "outputs": [{"name": "c", "spec": "f32[n]"}],
    "params_schema": None,
    "cost": "n",
}


def log(message):
    sys.stderr.write("%s python_worker: %s\n" % (time.strftime("%H:%M:%S"), message))
    sys.stderr.flush()


class BadMessage(Exception):
    pass


def encode(command, header, payload=()):
    return [PROTOCOL_ID, bytes([command]), json.dumps(header, separators=(",", ":")).encode("utf-8")] + list(payload)


def decode(frames):
    """PROTOCOL.md 3.1 and 9: returns (command, header, payload) or raises BadMessage."""
    if len(frames) < 3:
        raise BadMessage("%d frames, at least 3 expected" % len(frames))
    if frames[0] != PROTOCOL_ID:
        raise BadMessage("frame 0 is not PLK1")
    if len(frames[1]) != 1:
        raise BadMessage("command frame is not one byte")
    command = frames[1][0]
    if command not in COMMAND_NAMES:
        raise BadMessage("unknown command %d" % command)
    if len(frames[2]) > MAX_HEADER_BYTES:
        raise BadMessage("header over 1 MiB")
    if len(frames) - 3 > MAX_PAYLOAD_FRAMES:
        raise BadMessage("too many payload frames")
    try:
        header = json.loads(frames[2].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise BadMessage("header is not JSON: %s" % e)
    if not isinstance(header, dict):
        raise BadMessage("header is not a JSON object")
    return command, header, frames[3:]


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def take_tensors(header, key, payload):
    """PROTOCOL.md 3.3.7 and 7.2: {name: (dtype, shape, bytes)}; raises BadMessage."""
    metas = header.get(key)
    if not isinstance(metas, list):
        raise BadMessage('"%s" is not a tensor list' % key)
    if len(metas) != len(payload):
        raise BadMessage("%d tensors listed but %d payload frames" % (len(metas), len(payload)))
    tensors = {}
    for meta, frame in zip(metas, payload):
        if not isinstance(meta, dict):
            raise BadMessage("a tensor list entry is not an object")
        name, dtype, shape = meta.get("name"), meta.get("dtype"), meta.get("shape")
        if not isinstance(name, str) or dtype not in DTYPES or not isinstance(shape, list):
            raise BadMessage("a tensor list entry needs name, a known dtype and shape")
        if len(shape) > MAX_RANK or not all(is_int(d) and d >= 0 for d in shape):
            raise BadMessage("tensor '%s' has a bad shape %r" % (name, shape))
        elements = 1
        for d in shape:
            elements *= d
        if elements > MAX_ELEMENTS:
            raise BadMessage("tensor '%s' is too large" % name)
        if len(frame) != elements * DTYPES[dtype][1]:
            raise BadMessage("tensor '%s' needs %d bytes, got %d" % (name, elements * DTYPES[dtype][1], len(frame)))
        if name in tensors:
            raise BadMessage("tensor '%s' is listed twice" % name)
        tensors[name] = (dtype, shape, frame)
    return tensors


class JobFailure(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


def run_add(inputs):
    """py.add: c = a + b over f32[n]. Inputs are found by name (PROTOCOL.md 3.3.3)."""
    for name in ("a", "b"):
        if name not in inputs:
            raise JobFailure("bad_request", "input '%s' is missing" % name)
        if inputs[name][0] != "f32" or len(inputs[name][1]) != 1:
            raise JobFailure("invalid_input", "input '%s' must be f32[n]" % name)
    n = inputs["a"][1][0]
    if inputs["b"][1][0] != n:
        raise JobFailure("invalid_input", "a and b differ in length")
    a = struct.unpack("<%df" % n, inputs["a"][2])
    b = struct.unpack("<%df" % n, inputs["b"][2])
    # A double sum rounded once to f32 equals the f32 sum (binary64 has more than 2*24+2 bits).
    c = struct.pack("<%df" % n, *[x + y for x, y in zip(a, b)])
    return [{"name": "c", "dtype": "f32", "shape": [n]}], [c]


class Worker:
    def __init__(self, endpoint, name, token=None):
        self.endpoint = endpoint
        self.name = name
        self.token = token
        self.context = zmq.Context()
        self.socket = None
        self.registered = False
        self.worker_id = None
        self.interval_s = 1.0
        self.last_sent = 0.0
        self.last_received = 0.0
        self.hello_sent_at = 0.0
        self.backoff_s = BACKOFF_FIRST_S
        self.reconnect_at = 0.0
        self.stopping = False
        self.heartbeats_received = 0
        self.bad_messages = 0
        self.jobs_done = 0

    # ------------------------------------------------------------------ socket
    def open_socket(self):
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(self.endpoint)

    def close_socket(self, linger_ms=0):
        if self.socket is not None:
            self.socket.setsockopt(zmq.LINGER, linger_ms)
            self.socket.close()
            self.socket = None

    def send(self, command, header, payload=()):
        try:
            self.socket.send_multipart(encode(command, header, payload), flags=zmq.NOBLOCK)
        except zmq.Again:
            log("could not send %s: the link is full or down" % COMMAND_NAMES[command])
            return False
        self.last_sent = time.monotonic()
        return True

    # ------------------------------------------------------------------ opening and closing
    def send_hello(self):
        if self.socket is None:
            self.open_socket()
        hello = {
            "name": self.name,
            "software": "potluck-python-worker/0.1",
            "hostname": socket.gethostname(),
            "devices": {"cpu": {"model": "python", "cores": 1, "memory_bytes": 0}, "gpus": []},
            "slots": [{"backend": "cpu", "device": "cpu"}],
            "plugins": [{"name": "py", "version": "0.1", "file": __file__, "tasks": [TASK]}],
            "load_errors": [],
        }
        if self.token:
            hello["token"] = self.token  # the donor's API token (3.3.1); never logged
        self.registered = False
        self.send(HELLO, hello)
        self.hello_sent_at = time.monotonic()
        log("HELLO sent to %s" % self.endpoint)

    def lose_daemon(self, why, renew_socket):
        """The registration ended (5.2, 4.3): back off, then HELLO again."""
        log("%s; HELLO again in %.0f ms" % (why, self.backoff_s * 1000))
        self.registered = False
        if renew_socket:
            self.close_socket()
        self.reconnect_at = time.monotonic() + random.uniform(self.backoff_s / 2, self.backoff_s)
        self.backoff_s = min(self.backoff_s * 2, BACKOFF_MAX_S)
        self.hello_sent_at = 0.0

    def on_welcome(self, header):
        if self.registered:
            # 4.1: a new registration; jobs of the old one are not ours (we hold none: jobs run
            # to completion before the next message is read).
            log("WELCOME while registered: a new registration")
        interval = header.get("heartbeat_interval_ms")
        self.interval_s = interval / 1000.0 if is_int(interval) and interval >= 10 else 1.0
        self.worker_id = header.get("worker_id")
        self.registered = True
        self.backoff_s = BACKOFF_FIRST_S
        log("registered as %s with %s (heartbeat %d ms)" % (self.worker_id, header.get("daemon"),
                                                           self.interval_s * 1000))

    def shutdown(self):
        if self.socket is not None and self.registered:
            self.send(DISCONNECT, {"reason": "worker shutting down"})
            log("DISCONNECT sent")
        self.close_socket(linger_ms=1000)  # let the DISCONNECT leave
        self.context.term()

    # ------------------------------------------------------------------ jobs
    def on_job(self, header, payload):
        job_id = header.get("job_id")
        if not is_int(job_id):
            self.bad_messages += 1
            log("dropped a JOB without an integer job_id")
            return
        if self.stopping:
            self.send(RETURNED, {"job_id": job_id, "reason": "worker is shutting down"})
            return
        task, backend = header.get("task"), header.get("backend")
        started = time.monotonic()
        try:
            if task != TASK["name"] or backend != TASK["backend"]:
                raise JobFailure("no_plugin", "this worker offers no task '%s' on backend '%s'" % (task, backend))
            try:
                inputs = take_tensors(header, "inputs", payload)
            except BadMessage as e:
                raise JobFailure("bad_request", str(e))
            self.send(PROGRESS, {"job_id": job_id, "fraction": 0.5, "message": "adding"})
            metas, frames = run_add(inputs)
        except JobFailure as e:
            log("job %d: FAILED %s: %s" % (job_id, e.code, e))
            self.send(FAILED, {"job_id": job_id, "code": e.code, "message": str(e)})
            return
        except Exception as e:  # the "plugin" broke
            log("job %d: FAILED plugin_error: %r" % (job_id, e))
            self.send(FAILED, {"job_id": job_id, "code": "plugin_error", "message": repr(e)})
            return
        elapsed_ms = int((time.monotonic() - started) * 1000)
        self.send(RESULT, {"job_id": job_id, "outputs": metas, "elapsed_ms": elapsed_ms}, frames)
        self.jobs_done += 1
        log("job %d: RESULT sent (attempt %s, %d ms)" % (job_id, header.get("attempt"), elapsed_ms))

    # ------------------------------------------------------------------ loop
    def on_message(self, frames):
        try:
            command, header, payload = decode(frames)
        except BadMessage as e:
            self.bad_messages += 1
            log("dropped a message that does not decode (%d so far): %s" % (self.bad_messages, e))
            return
        self.last_received = time.monotonic()  # any message counts as a heartbeat
        if command == WELCOME:
            self.on_welcome(header)
        elif command == DISCONNECT:
            # 4.3: the registration has ended. No job is held between messages, so there is
            # nothing to stop; "unknown worker" (daemon restarted, or we were declared dead)
            # may be answered with HELLO at once, anything else after a back-off.
            reason = header.get("reason")
            self.registered = False
            if isinstance(reason, str) and reason.startswith("unknown worker"):
                log("daemon says: %s; HELLO again" % reason)
                self.send_hello()
            else:
                self.lose_daemon("the daemon disconnected this worker (%s)" % reason, renew_socket=False)
        elif not self.registered:
            log("ignored %s before WELCOME" % COMMAND_NAMES[command])
        elif command == HEARTBEAT:
            self.heartbeats_received += 1
            if self.heartbeats_received in (1, 5):
                log("received %d heartbeats from the daemon" % self.heartbeats_received)
        elif command == JOB:
            self.on_job(header, payload)
        elif command == CANCEL:
            # 6.5: jobs run to completion before the next message is read, so any CANCEL is
            # for a job already answered: ignore it.
            log("CANCEL for job %s ignored: already answered" % header.get("job_id"))
        else:
            self.bad_messages += 1
            log("dropped %s, which only workers send" % COMMAND_NAMES[command])

    def run(self):
        self.send_hello()
        poller = zmq.Poller()
        while not self.stopping:
            now = time.monotonic()
            if self.socket is None or (not self.registered and self.hello_sent_at == 0.0):
                if now >= self.reconnect_at:
                    self.send_hello()
                else:
                    time.sleep(min(self.reconnect_at - now, 0.05))
                    continue
            if not self.registered and now - self.hello_sent_at >= WELCOME_WAIT_S:
                # 4.1 and 5.3: no WELCOME; a fresh socket, after a back-off.
                self.lose_daemon("no WELCOME within %.0f s" % WELCOME_WAIT_S, renew_socket=True)
                continue
            if self.registered:
                if now - self.last_received > LIVENESS * self.interval_s:
                    self.lose_daemon("the daemon was silent for %d intervals" % LIVENESS, renew_socket=True)
                    continue
                if now - self.last_sent >= self.interval_s:
                    self.send(HEARTBEAT, {})
            timeout_s = self.interval_s / 4 if self.registered else 0.05
            poller.register(self.socket, zmq.POLLIN)
            try:
                events = dict(poller.poll(timeout_s * 1000))
            except zmq.ZMQError as e:
                if e.errno == zmq.EINTR:
                    continue
                raise
            finally:
                poller.unregister(self.socket)
            if events.get(self.socket) == zmq.POLLIN:
                while self.socket is not None:
                    try:
                        frames = self.socket.recv_multipart(flags=zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.on_message(frames)
        self.shutdown()
        log("stopped after %d jobs" % self.jobs_done)


def main():
    parser = argparse.ArgumentParser(description="A minimal Potluck worker offering py.add (PLK/1).")
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5555", help="the daemon's worker endpoint")
    parser.add_argument("--name", default="py-" + socket.gethostname()[:40], help="worker name (1 to 64 bytes)")
    parser.add_argument("--token-file", help="file holding the donor's API token (donate scope)")
    args = parser.parse_args()
    token = None
    if args.token_file:
        with open(args.token_file) as f:
            token = f.read().strip()
    worker = Worker(args.endpoint, args.name, token)

    def stop(signum, _frame):
        log("signal %d: stopping" % signum)
        worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
