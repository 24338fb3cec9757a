"""The supervisor: the one process the host talks to inside a sandbox container.

This file runs *inside* the container (the pool's bootstrap reads it from the first stdin line and
runs it as ``__main__``; ``argv[1]`` is the TTL in seconds), with the standard library only, so it must stay importable on any Python >= 3.9 and import nothing from rftgym.

Protocol: one JSON object per line on stdin (requests) and stdout (replies), each reply carrying
its request's ``id``. It starts the persistent interpreter, then prints ``{"ready": true}``. Requests:

* ``{"op": "exec", "code", "mode": "repl"|"script", "timeout", "cpu_time", "max_output"}``: run
  ``code``. ``repl`` runs it in a persistent interpreter (the *worker*) whose variables survive
  between calls (a last bare expression is echoed, as in a REPL); ``script`` runs it as a fresh
  ``python3 -c``. Reply: ``stdout``/``stderr`` (head and tail kept when longer than ``max_output``
  bytes, with ``stdout_truncated``/``stderr_truncated``), ``exception`` (the traceback, repl mode),
  ``exit_code``, ``timed_out``, ``oom_killed``, ``cpu_limited``, ``restarted`` (the repl's variables
  were lost: its process died), ``duration``.
* ``{"op": "write", "path", "data", "base64": bool}`` / ``{"op": "read", "path", "max_bytes"}``:
  files under the workdir.
* ``{"op": "ping"}``.

On a timeout it kills the whole process group, then every other process of the sandbox user
(``kill(-1)``), so nothing the code started survives. The container ends when stdin closes (the host
went away) or after TTL seconds, whichever comes first.
"""

import base64
import json
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time

WORKDIR = "/work"

# The persistent interpreter. Control requests arrive on the fd named by argv[1], one result line
# per request goes out on argv[2]; fd 1 and 2 are the output pipes the supervisor reads.
WORKER = r"""
import ast, json, os, resource, sys, traceback
ctl_in, ctl_out = os.fdopen(int(sys.argv[1]), "rb"), os.fdopen(int(sys.argv[2]), "wb")
namespace = {"__name__": "__main__", "__builtins__": __builtins__}
try:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")  # under memory pressure the code's process goes first, never the supervisor
except OSError:
    pass
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
PID = os.getpid()
for line in ctl_in:
    request = json.loads(line)
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(used.ru_utime + used.ru_stime + request["cpu_time"]) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
    error = None
    try:
        tree = ast.parse(request["code"], "<cell>")
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, "<cell>", "exec"), namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
            if value is not None:
                print(repr(value))
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: the session goes on
        lines = traceback.format_exception(type(e), e, e.__traceback__)
        error = lines[0] + "".join(l for l in lines[1:] if '"<cell>"' in l or not l.startswith("  File")) \
            if len(lines) > 1 else "".join(lines)
    if os.getpid() != PID:
        os._exit(0)  # a process the code forked got here: only the worker itself answers
    try:
        sys.stdout.flush(); sys.stderr.flush()
    except Exception:
        pass
    ctl_out.write(json.dumps({"seq": request["seq"], "exception": error}).encode() + b"\n"); ctl_out.flush()
"""


def _make_undumpable():
    """No other process of the same user may read this one's memory or fds (/proc/PID/mem, fd/)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass


class Capture:
    """Output of one stream, keeping the first and last ``limit // 2`` bytes."""

    def __init__(self, limit):
        self.half = max(limit // 2, 1)
        self.head, self.tail, self.total = bytearray(), bytearray(), 0

    def add(self, data):
        self.total += len(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            del self.tail[: -self.half]

    def text(self):
        head, tail = self.head.decode(errors="replace"), self.tail.decode(errors="replace")
        if self.total > len(self.head) + len(self.tail):
            cut = self.total - len(self.head) - len(self.tail)
            return f"{head}\n...[{cut} bytes truncated]...\n{tail}"
        return head + tail

    @property
    def truncated(self):
        return self.total > len(self.head) + len(self.tail)


def oom_kills():
    """The container cgroup's OOM-kill counter (cgroup v2 or v1), or -1 where it cannot be read."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except OSError:
            continue
    return -1


def kill_all(pgid=None, everyone=True):
    """Kill a process group and, with ``everyone``, every process of this user but the
    supervisor and init (what the code started in a new session too)."""
    targets = ([(os.killpg, pgid)] if pgid else []) + ([(os.kill, -1)] if everyone else [])
    for kill, target in targets:
        try:
            kill(target, signal.SIGKILL)
        except OSError:
            pass


def _limit_cpu(seconds):
    def apply():
        soft = int(seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


class Supervisor:
    def __init__(self):
        self.worker = None  # the repl's Popen, started on first use
        self.ctl_in = self.ctl_out = None
        self.seq = 0  # numbers the repl's requests, so a stale result line is never taken for a new one

    # ----- running code -----

    def start_worker(self):
        ctl_r, ctl_w = os.pipe()  # supervisor -> worker
        res_r, res_w = os.pipe()  # worker -> supervisor
        try:
            self.worker = subprocess.Popen(
                [sys.executable, "-I", "-u", "-c", WORKER, str(ctl_r), str(res_w)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(ctl_r, res_w),
                cwd=WORKDIR,
                start_new_session=True,
            )
        finally:
            os.close(ctl_r)
            os.close(res_w)
        self.ctl_in, self.ctl_out = os.fdopen(ctl_w, "wb"), res_r

    def exec(self, request):
        timeout = float(request.get("timeout", 10))
        cpu_time = float(request.get("cpu_time") or timeout)
        limit = int(request.get("max_output", 16384))
        out, err = Capture(limit), Capture(limit)
        oom_before = oom_kills()
        started = time.monotonic()
        restarted = False
        if request.get("mode", "repl") == "script":
            proc = subprocess.Popen(
                [sys.executable, "-I", "-u", "-c", request["code"]],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=WORKDIR,
                start_new_session=True,
                preexec_fn=_limit_cpu(cpu_time),
            )
            result, timed_out = self.pump(proc, None, out, err, started + timeout)
            kill_all(proc.pid, everyone=False)  # what the script left behind; the repl lives on
            proc.wait()
            exception = None
        else:
            if self.worker is None or self.worker.poll() is not None:
                restarted = self.worker is not None
                self.start_worker()
            proc = self.worker
            self.seq += 1
            self.ctl_in.write(
                json.dumps({"seq": self.seq, "code": request["code"], "cpu_time": cpu_time}).encode() + b"\n"
            )
            self.ctl_in.flush()
            result, timed_out = self.pump(proc, self.ctl_out, out, err, started + timeout)
            if result is None:  # timed out or died: the repl is gone, every process with it
                kill_all(proc.pid)
                proc.wait()
                self.worker = None
            exception = result.get("exception") if result else None
        code = proc.poll()
        died = code is not None and code < 0
        oom = died and oom_before >= 0 and oom_kills() > oom_before
        return {
            "stdout": out.text(),
            "stderr": err.text(),
            "stdout_truncated": out.truncated,
            "stderr_truncated": err.truncated,
            "exception": exception,
            "exit_code": code,
            "timed_out": timed_out,
            "oom_killed": oom,
            "cpu_limited": code == -signal.SIGXCPU,
            "restarted": restarted or (self.worker is None and request.get("mode", "repl") != "script"),
            "duration": time.monotonic() - started,
        }

    def pump(self, proc, result_fd, out, err, deadline):
        """Copy the process's output into the captures until its result line (repl) or its exit
        (script). Returns (the parsed result line or None, whether the deadline passed)."""
        streams = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
        for fd in streams:
            os.set_blocking(fd, False)
        pidfd = os.pidfd_open(proc.pid)
        pending = b""
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, True
                watch = list(streams) + [pidfd] + ([result_fd] if result_fd is not None else [])
                ready, _, _ = select.select(watch, [], [], left)
                for fd in ready:
                    if fd in streams:
                        self.drain(fd, streams)
                if result_fd is not None and result_fd in ready:
                    chunk = os.read(result_fd, 65536)
                    if not chunk:
                        return None, False
                    pending += chunk
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        result = json.loads(line)
                        if result.get("seq") == self.seq:
                            for fd in list(streams):
                                self.drain(fd, streams)
                            return result, False
                if pidfd in ready:  # exited: collect what is still in the pipes, and stop
                    proc.wait()
                    for fd in list(streams):
                        self.drain(fd, streams)
                    return None, False
        finally:
            os.close(pidfd)

    @staticmethod
    def drain(fd, streams):
        while fd in streams:
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            if not data:
                del streams[fd]
                return
            streams[fd].add(data)

    # ----- files -----

    @staticmethod
    def resolve(path):
        full = os.path.realpath(os.path.join(WORKDIR, path))
        if full != WORKDIR and not full.startswith(WORKDIR + "/"):
            raise ValueError(f"path {path!r} is outside {WORKDIR}")
        return full

    def write(self, request):
        path = self.resolve(request["path"])
        data = base64.b64decode(request["data"]) if request.get("base64") else request["data"].encode()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return {"bytes": len(data)}

    def read(self, request):
        limit = int(request.get("max_bytes", 1 << 20))
        with open(self.resolve(request["path"]), "rb") as f:
            data = f.read(limit + 1)
        return {"data": base64.b64encode(data[:limit]).decode(), "truncated": len(data) > limit}

    # ----- the loop -----

    def serve(self):
        self.start_worker()  # started before "ready", so an episode's first run finds it warm
        reply(ready=True)
        for line in sys.stdin.buffer:
            rid = None
            try:
                request = json.loads(line)
                rid = request.get("id")
                handler = {"exec": self.exec, "write": self.write, "read": self.read, "ping": lambda r: {}}[
                    request["op"]
                ]
                reply(id=rid, ok=True, **handler(request))
            except Exception as e:
                reply(id=rid, ok=False, error=f"{type(e).__name__}: {e}")
        kill_all()  # stdin closed: the host is gone


def reply(**fields):
    sys.stdout.buffer.write(json.dumps(fields).encode() + b"\n")
    sys.stdout.buffer.flush()


def main():
    ttl = float(sys.argv[1]) if len(sys.argv) > 1 else 3600.0
    _make_undumpable()
    os.chdir(WORKDIR)
    expire = threading.Timer(ttl, lambda: (kill_all(), os._exit(3)))
    expire.daemon = True
    expire.start()
    Supervisor().serve()


if __name__ == "__main__":
    main()
