"""Which replay runs a tape: numba's compiled loops, NumPy's, or NumPy's until numba's are ready.

numba compiles its loops the first time a machine uses them, which takes seconds;
`cache=True` keeps the machine code, and later processes load it in about 0.3 s. With
the default backend a run never waits for the compiling: if numba's cache does not
hold the loops yet, a separate process compiles them into it, and the tape replays with
NumPy meanwhile, moving to numba's loops at the first call after that process is done.
The two replays give the same bits, so the move changes no number.

    backend='numba'   numba's loops; the first call compiles or loads them, and waits
    backend='numpy'   the NumPy replay only
    backend=None      numba's loops where numba is installed, NumPy's until they are compiled
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

from .replay import NumpyReplay

BACKENDS = ('numba', 'numpy')


def default_backend():
    """'numba' where numba is installed (the `fast` extra), else 'numpy'."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return 'numpy'
    return 'numba'


class Backend:
    """The replay class to build tapes with, as chosen by `backend` (see the module doc)."""

    def __init__(self, backend=None):
        if backend not in (None,) + BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))} or None "
                             f"(numba when installed); got {backend!r}")
        self.requested = backend
        self.name = backend or default_backend()
        self.waits = False  # replaying with NumPy until the compiling process is done
        if backend is None and self.name == 'numba':
            from .replay_numba import is_cached
            if not is_cached():
                self.waits = COMPILER.start()
                self.name = 'numba' if self.waits else 'numpy'

    @property
    def active(self):
        """'numba' or 'numpy': the replay that new replays, and the last call, use."""
        return 'numpy' if self.name == 'numpy' or self.waits else 'numba'

    @property
    def replay_class(self):
        if self.active == 'numpy':
            return NumpyReplay
        from .replay_numba import NumbaReplay
        return NumbaReplay

    def upgraded(self):
        """True once, at the first check after numba's loops got compiled: rebuild the replays."""
        if self.waits and COMPILER.done():
            self.waits = False
            if COMPILER.ok:
                return True
            self.name = 'numpy'
        return False


class _Compiler:
    """The process that compiles numba's loops into its cache: at most one per process."""

    command = [sys.executable, '-c', 'from tapegrad.tape.replay_numba import warm_up; warm_up()']

    def __init__(self):
        self.process, self.ok, self.warned = None, False, False

    def start(self):
        """Start compiling, if not yet started; False if no process could be started."""
        if self.process is None:
            # the child must import this very tapegrad, whose source the cache is keyed by
            root = str(Path(__file__).resolve().parents[2])
            env = dict(os.environ)
            env['PYTHONPATH'] = os.pathsep.join(p for p in (root, env.get('PYTHONPATH')) if p)
            try:
                self.process = subprocess.Popen(
                    self.command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
            except OSError as error:
                warnings.warn(f"could not start compiling numba's loops ({error}); the tape "
                              f"replays with NumPy", RuntimeWarning, stacklevel=3)
                return False
        return True

    def done(self):
        """Has the process ended? (Then self.ok says whether the loops got compiled.)"""
        code = self.process.poll()
        if code is None:
            return False
        self.ok = code == 0
        if not self.ok and not self.warned:  # the first replay to notice says so, once
            self.warned = True
            warnings.warn(f"compiling numba's loops failed (exit code {code}); the tape "
                          f"replays with NumPy. backend='numba' shows numba's error",
                          RuntimeWarning, stacklevel=4)
        return True

    def wait(self, timeout=None):
        """Block until the compiling process has ended; True if the loops got compiled."""
        return self.process is not None and self.process.wait(timeout) == 0


COMPILER = _Compiler()
