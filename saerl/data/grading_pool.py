"""Grading with a per-item time limit from any thread.

math-verify bounds its own parsing and comparison with SIGALRM, which only works on a process's main
thread; elsewhere (OpenRLHF calls the reward function in worker threads of its vLLM actors) its
timeouts are off, and one pathological answer (``\\boxed{9^{9^{9^{9}}}}``: sympy never returns)
would block a training step forever. :func:`grade_limited` grades on the calling thread when that is
the main thread (math-verify's own limits apply), and otherwise in one of a few worker processes,
each grading on its own main thread: a worker that has not answered within the limit is killed and
replaced, and the item scores 0 with ``timed_out`` set, so callers can count it.

A time limit makes a verdict depend on the machine only for items that hit it; those are counted and
logged, never silently scored.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import select
import subprocess
import sys
import threading
from typing import IO, Any, NamedTuple

DEFAULT_LIMIT_S = 10.0
"""OUR CHOICE: twice math-verify's own 5 s limit per call, which a normal answer never nears."""
STARTUP_S = 120.0
"""How long a new worker may take to import its graders and say it is ready (not counted against
any item's limit: a worker replaced on a loaded node would otherwise time out the next item)."""
READY = "ready"
LIMIT_ENV = "SAERL_GRADE_TIMEOUT_S"
WORKERS_ENV = "SAERL_GRADE_WORKERS"


class Verdict(NamedTuple):
    correct: bool
    timed_out: bool = False


def grade_here(kind: str, completion: str, answer: str, unit: str = "") -> bool:
    """One verdict in this process: 'int' / 'math' graders, or 'benchmark' (a named benchmark's
    rules, with its answer unit). Never raises: anything malformed is wrong."""
    from saerl.data.grading import get_grader

    try:
        if kind == "benchmark":
            from saerl.data.benchmarks import grade
            from saerl.data.records import Record

            return bool(grade(completion, Record("", "", answer, meta={"unit": unit})))
        return bool(get_grader(kind)(completion, answer))
    except Exception:
        return False


def serve(stdin: IO[str], stdout: IO[str]) -> None:
    """A worker: imports its graders (one warm-up verdict), says it is ready, then one JSON request
    per line in, one verdict per line out, until stdin closes."""
    grade_here("math", "\\boxed{1}", "1")
    stdout.write(json.dumps(READY) + "\n")
    stdout.flush()
    for line in stdin:
        kind, completion, answer, unit = json.loads(line)
        stdout.write(json.dumps(grade_here(kind, completion, answer, unit)) + "\n")
        stdout.flush()


class _Worker:
    """A grading process (``python -m saerl.data.grading_pool``, not multiprocessing: a Ray or vLLM
    worker must be neither forked nor re-imported as a spawn parent)."""

    def __init__(self, startup_s: float = STARTUP_S) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "saerl.data.grading_pool"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], startup_s)
        line = self.proc.stdout.readline() if ready else ""
        if not line or json.loads(line) != READY:
            self.stop()
            raise RuntimeError(f"a grading worker did not start within {startup_s:.0f} s (got {line!r})")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def grade(self, request: tuple[str, str, str, str], limit_s: float) -> bool | None:
        """The verdict, or None when the worker did not answer in time (it is then dead)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], limit_s)
            line = self.proc.stdout.readline() if ready else ""
        except (OSError, ValueError):  # the worker died under us
            line = ""
        if line:
            return bool(json.loads(line))
        self.stop()
        return None

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


class GradingPool:
    """A few grading processes shared by every thread of this process, started on first use."""

    def __init__(self, workers: int, limit_s: float) -> None:
        self.limit_s = limit_s
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        for _ in range(workers):
            self._idle.put(None)  # started lazily: a pool nobody uses costs nothing
        self._all: list[_Worker] = []
        self._lock = threading.Lock()

    def grade(self, kind: str, completion: str, answer: str, unit: str = "") -> Verdict:
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive():
                worker = self._start()
            verdict = worker.grade((kind, completion, answer, unit), self.limit_s)
            if verdict is None:
                worker = None  # killed: the next caller starts a fresh one
                return Verdict(False, timed_out=True)
            return Verdict(verdict)
        finally:
            self._idle.put(worker)

    def _start(self) -> _Worker:
        worker = _Worker()
        with self._lock:
            self._all.append(worker)
        return worker

    def close(self) -> None:
        with self._lock:
            for worker in self._all:
                worker.stop()
            self._all.clear()


_POOL: GradingPool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> GradingPool:
    """This process's pool (limit and size from SAERL_GRADE_TIMEOUT_S / SAERL_GRADE_WORKERS)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            limit = float(os.environ.get(LIMIT_ENV) or DEFAULT_LIMIT_S)
            _POOL = GradingPool(int(os.environ.get(WORKERS_ENV) or 2), limit)
            atexit.register(_POOL.close)
        return _POOL


def grade_limited(kind: str, completion: Any, answer: Any, unit: str = "") -> Verdict:
    """A verdict within the time limit, from any thread (see the module docstring)."""
    if not isinstance(completion, str) or not isinstance(answer, str):
        return Verdict(False)
    if kind == "int" or threading.current_thread() is threading.main_thread():
        return Verdict(grade_here(kind, completion, answer, unit))  # a regex, or math-verify's limits
    return pool().grade(kind, completion, answer, unit)


if __name__ == "__main__":
    import logging

    from saerl.data import grading

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # "timeout is disabled", once per call
    grading.MATH_VERIFY_TIMEOUT_S = None  # the parent's limit is the one limit, and it is counted
    serve(sys.stdin, sys.stdout)
