"""Grading a submission with hidden tests, in a fresh sandbox, with a verdict the code cannot forge.

The model's code never runs in the process that judges it. In a sandbox nothing else has touched:

* the *harness* (``HARNESS``, run as a script) reads the job file (per-run random marker, trusted
  task context, tests, submission), deletes it, and makes itself undumpable, so no other process
  of the sandbox user can read its memory, files or pipes;
* it starts a *candidate* process that runs the task context plus the submission; each call the
  tests make to the function crosses to that process as data (a tagged JSON encoding of plain
  Python values) and the return value comes back as data, rebuilt from built-in types;
* the tests, their ``assert``s and ``==`` run in the harness on those clean values, which prints
  the verdict on one line that starts with the marker.

So ``sys.exit(0)`` before the tests, patched ``assert``/``__eq__`` or builtins, printed fake
success, deleted or edited test files, a crash or a hang in the candidate each fail exactly the
tests they touch, and a verdict without the marker (or none at all) scores 0.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from rftgym.sandbox import SandboxDied, SandboxPool

#: Encoding of plain values between harness and candidate (shared by both).
CODEC = r"""
def encode(v):
    t = type(v)
    if v is None or t in (bool, int, str):
        return v
    if t is float:
        return {"f": repr(v)}
    if t is list:
        return [encode(x) for x in v]
    if t is tuple:
        return {"t": [encode(x) for x in v]}
    if t is dict:
        return {"d": [[encode(k), encode(x)] for k, x in v.items()]}
    if t in (set, frozenset):
        return {"s" if t is set else "fs": [encode(x) for x in v]}
    if t is bytes:
        return {"b": v.hex()}
    if t is complex:
        return {"c": [repr(v.real), repr(v.imag)]}
    raise TypeError("a value of type %s cannot be passed to or from the function" % t.__name__)

def decode(v):
    if isinstance(v, list):
        return [decode(x) for x in v]
    if not isinstance(v, dict):
        return v
    (k, x), = v.items()
    if k == "f":
        return float(x)
    if k == "c":
        return complex(float(x[0]), float(x[1]))
    if k == "b":
        return bytes.fromhex(x)
    if k == "d":
        return {decode(a): decode(b) for a, b in x}
    items = [decode(i) for i in x]
    return {"t": tuple, "s": set, "fs": frozenset}[k](items)
"""

#: The candidate: runs the submission, then answers calls. Its stdout and stderr go nowhere.
CANDIDATE = (
    CODEC
    + r"""
import json, os, sys, traceback
inp, out = os.fdopen(int(sys.argv[1]), "rb"), os.fdopen(int(sys.argv[2]), "wb")
try:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
except OSError:
    pass
def send(obj):
    out.write(json.dumps(obj).encode() + b"\n"); out.flush()
def failure(e):
    return "%s: %s" % (type(e).__name__, e)
namespace = {"__name__": "__main__"}
try:
    exec(compile(json.loads(inp.readline())["code"], "<solution>", "exec"), namespace)
    send({"ok": True})
except BaseException as e:
    send({"ok": False, "error": "the code failed to load: " + failure(e)})
for line in inp:
    request = json.loads(line)
    try:
        fn = namespace.get(request["fn"])
        if not callable(fn):
            raise NameError("the code defines no function %r" % request["fn"])
        send({"ok": True, "value": encode(fn(*decode(request["args"])))})
    except BaseException as e:
        send({"ok": False, "error": failure(e)})
"""
)

HARNESS = (
    CODEC
    + r'''
import ctypes, json, os, select, signal, subprocess, sys, time
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
with open("/work/.job.json") as f:
    job = json.load(f)
os.unlink("/work/.job.json")
CANDIDATE = job.pop("candidate")

class CandidateFailed(Exception):
    pass

class Candidate:
    """Calls into the candidate process; restarts it after a crash or a hang."""
    def __init__(self):
        self.proc = None
        self.setup_error = None
    def start(self):
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        self.proc = subprocess.Popen([sys.executable, "-I", "-c", CANDIDATE, str(to_r), str(from_w)],
                                     pass_fds=(to_r, from_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(to_r); os.close(from_w)
        self.inp, self.out, self.pending = os.fdopen(to_w, "wb"), from_r, b""
        try:
            reply = self.ask({"code": job["context"] + "\n" + job["solution"]})
        except CandidateFailed as e:  # loading is retried for no later test: it would fail the same way
            reply = {"ok": False, "error": "the code did not load: %s" % e}
        self.setup_error = None if reply["ok"] else reply["error"]
    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait(); self.inp.close(); os.close(self.out)
        self.proc = None
    def ask(self, request):
        deadline = time.monotonic() + job["call_timeout"]
        try:
            self.inp.write(json.dumps(request).encode() + b"\n"); self.inp.flush()
            while b"\n" not in self.pending:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.out], [], [], left)[0]:
                    raise CandidateFailed("timed out after %gs" % job["call_timeout"])
                chunk = os.read(self.out, 1 << 16)
                if not chunk:
                    raise CandidateFailed("the process running the code died")
                self.pending += chunk
        except (CandidateFailed, OSError) as e:
            self.stop()
            raise CandidateFailed(str(e))
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)
    def __call__(self, *args):
        if self.proc is None and not self.setup_error:
            self.start()
        if self.setup_error:
            raise CandidateFailed(self.setup_error)
        reply = self.ask({"fn": job["entry_point"], "args": encode(list(args))})
        if not reply["ok"]:
            raise CandidateFailed(reply["error"])
        return decode(reply["value"])

candidate = Candidate()
results = []
for index, test in enumerate(job["tests"]):
    namespace = {"__name__": "__rftgym_test__"}
    exec(compile(job["context"], "<context>", "exec"), namespace)
    namespace[job["entry_point"]] = namespace["candidate"] = candidate
    try:
        exec(compile(test, "<test %d>" % index, "exec"), namespace)
        results.append(None)
    except CandidateFailed as e:
        results.append(str(e)[:300])
    except AssertionError:
        results.append("wrong result: " + test.strip().splitlines()[-1][:200])
    except Exception as e:
        results.append(("%s: %s" % (type(e).__name__, e))[:300])
print(job["marker"] + json.dumps({"failures": results}))
'''
)


@dataclass
class Grade:
    """The verdict on one submission.

    Attributes:
        passed: Hidden tests passed.
        total: Hidden tests run.
        failures: One line per failed test (why it failed).
        error: Why there is no verdict at all (then ``passed`` is 0), else None.
    """

    passed: int
    total: int
    failures: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def score(self) -> float:
        """The fraction of hidden tests passed (0 without a verdict)."""
        return self.passed / self.total if self.total else 0.0


def grade(
    pool: SandboxPool,
    solution: str,
    tests: list[str],
    entry_point: str,
    context: str = "",
    call_timeout: float = 5.0,
    timeout: float = 60.0,
) -> Grade:
    """Run ``tests`` against ``solution`` in a fresh sandbox of ``pool`` (see the module docstring).

    Args:
        pool: Where the fresh sandbox comes from; it is destroyed afterwards.
        solution: The submitted code (it should define ``entry_point``).
        tests: Test snippets; each calls the function as ``entry_point(...)`` or ``candidate(...)``
            and fails by raising (``assert``).
        entry_point: Name of the function under test.
        context: Trusted code of the task (imports, helper functions), run before the tests and
            before the submission.
        call_timeout: Seconds one call of the function may take.
        timeout: Seconds the whole grading may take.
    """
    marker = secrets.token_hex(16)
    job = {
        "marker": marker,
        "solution": solution,
        "tests": tests,
        "entry_point": entry_point,
        "context": context,
        "call_timeout": call_timeout,
        "candidate": CANDIDATE,
    }
    sandbox = pool.acquire()  # an engine failure here is raised: it is no verdict on the code
    try:
        sandbox.write_file(".job.json", json.dumps(job))
        result = sandbox.run(HARNESS, timeout=timeout, mode="script")
    except SandboxDied as e:  # the code killed the grader's supervisor (os.kill(-1, 9)...)
        return Grade(0, len(tests), error=f"grading failed: {e}")
    finally:
        pool.release(sandbox)
    verdict = next((line[len(marker) :] for line in result.stdout.splitlines() if line.startswith(marker)), None)
    if verdict is None:
        why = "timed out" if result.timed_out else (result.stderr.strip().splitlines() or ["no verdict"])[-1]
        return Grade(0, len(tests), error=f"grading produced no verdict ({why})")
    failures = json.loads(verdict)["failures"]
    return Grade(sum(f is None for f in failures), len(tests), [f for f in failures if f is not None])
