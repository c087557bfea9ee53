"""A function called one item at a time in a child process, which is killed when a call runs past its
time limit. Signals cannot do this: `signal.alarm` works only in a process's main thread, and its
handler waits until C code (lxml parsing a huge page) returns; killing a process works everywhere.

The child is started (spawned: no inherited threads or locks) on the first call and waited for before
the clock starts; after a timeout or a crash the next call starts a fresh one.
"""

from __future__ import annotations

import multiprocessing as mp
import weakref
from collections.abc import Callable
from typing import Any

START_TIMEOUT_S = 300.0  # importing the function's modules in a fresh interpreter, on a loaded machine


class CallTimeout(Exception):
    """The call ran past the time limit; the child was killed."""


class CallCrashed(Exception):
    """The child died during the call (killed for memory, or a crash in C code)."""


class CallFailed(Exception):
    """The function raised; the message is the child's exception."""


class Sandbox:
    def __init__(self, fn: Callable[[Any], Any], timeout_s: float, warmup: Any = None):
        self.fn, self.timeout_s = fn, timeout_s  # fn must pickle: a module-level function or a partial of one
        self.warmup = warmup  # called once in a new child before the clock starts (imports, caches)
        self.process = None
        self.conn = None
        self._finalizer = None

    def __call__(self, item: Any) -> Any:
        if self.process is None or not self.process.is_alive():
            self._start()
        try:
            self.conn.send(item)
            if not self.conn.poll(self.timeout_s):
                self.close()
                raise CallTimeout(f"no result within {self.timeout_s:g} s")
            ok, value = self.conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            self.process.join(5)  # reap it, to report how it ended
            code = self.process.exitcode
            self.close()
            raise CallCrashed(f"the child process died (exit code {code})") from None
        if not ok:
            raise CallFailed(value)
        return value

    def _start(self) -> None:
        self.close()
        ctx = mp.get_context("spawn")
        self.conn, child_end = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child_end, self.fn, self.warmup), daemon=True,
                                   name="extract-sandbox")
        self.process.start()
        child_end.close()  # so that the child's death reads as EOF here
        self._finalizer = weakref.finalize(self, _stop, self.process, self.conn)
        try:
            ready = self.conn.poll(START_TIMEOUT_S) and self.conn.recv() == "ready"
        except EOFError:  # the warm-up failed; the child printed why on stderr
            ready = False
        if not ready:
            self.process.join(1)
            code = self.process.exitcode
            self.close()
            raise RuntimeError(f"the sandbox child process did not start (exit code {code}; "
                               f"{START_TIMEOUT_S:g} s allowed): see its error above")

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self.process = self.conn = self._finalizer = None


def _stop(process, conn) -> None:
    conn.close()
    if process.is_alive():
        process.kill()
    process.join(5)


def _serve(conn, fn: Callable[[Any], Any], warmup: Any) -> None:
    if warmup is not None:
        fn(warmup)
    conn.send("ready")
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        try:
            conn.send((True, fn(item)))
        except Exception as err:  # reported to the parent, which decides what it means
            conn.send((False, f"{type(err).__name__}: {err}"))
