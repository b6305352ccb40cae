"""Which replay runs a tape: numba's compiled loops, NumPy's, or NumPy's until numba's are ready.

numba's loops run many times faster than NumPy's replay, but they are not there at once:
importing numba takes most of a second, and the first time a machine uses the loops
numba compiles them, which takes seconds (`cache=True` keeps the machine code; later
processes load it). With the default backend a run does not wait for that: a thread of
this process imports numba and loads the loops (on a machine that has never compiled
them, it first has a separate process compile them into numba's cache), while the tape
replays with NumPy; at the first call after they are ready, the replays move to numba's
loops. The two replays give the same bits, so the move changes no number. (One
exception: a step so big that NumPy's replay of it takes longer than loading the loops
waits for them to load, though not for them to compile: see WAIT_FOR_LOOPS.)

    backend='numba'   numba's loops; the first call imports, compiles or loads them, and waits
    backend='numpy'   the NumPy replay only
    backend=None      numba's loops where numba is installed, NumPy's until they are ready

With the default backend, NumPy also replays where numba cannot: when its cache folder
cannot be written, or compiling fails (one RuntimeWarning says so), and for a tape with
an op that numba's loops have no formula for. numba is imported only where it will run.

The compiling process: one per machine at a time (a second one waits for the first and
then finds the cache warm), started detached, so that it outlives a short script and the
next run starts on numba; it writes nothing but numba's cache.
"""

import importlib.util
import os
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

from .replay import NumpyReplay

BACKENDS = ('numba', 'numpy')

# A step this big (parameters x samples: the wide MLP(2, [256, 256, 1]) on 1,000 points
# is 66 million) takes longer on NumPy's replay than loading numba's loops from its cache
# (half a second): after tracing one, the default backend waits for the loops.
WAIT_FOR_LOOPS = 20_000_000


def numba_installed():
    """Is numba importable? (Asked without importing it: that alone takes most of a second.)"""
    if 'numba' in sys.modules:
        return sys.modules['numba'] is not None
    return importlib.util.find_spec('numba') is not None


def default_backend():
    """'numba' where numba is installed (the `fast` extra), else 'numpy'."""
    return 'numba' if numba_installed() else 'numpy'


def _numba_loops():
    """The numba replay module, or a message saying why it cannot be used here."""
    try:
        from . import replay_numba
    except RuntimeError as error:  # numba's "cannot cache function ...": no writable cache
        return None, (f"numba cannot keep its compiled loops ({error}); the tape replays with "
                      f"NumPy (same numbers, slower). Set NUMBA_CACHE_DIR to a writable folder "
                      f"to use numba")
    return replay_numba, None


class Backend:
    """Builds the replays of tapes as chosen by `backend` (see the module doc)."""

    def __init__(self, backend=None):
        if backend not in (None,) + BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))} or None "
                             f"(numba when installed); got {backend!r}")
        self.requested = backend
        self.name = backend or default_backend()
        self.waits = False  # replaying with NumPy until the loader has numba's loops ready
        if backend == 'numba':
            loops, why = _numba_loops()
            if loops is None:
                raise RuntimeError(why)
        elif self.name == 'numba':
            # the loader starts after the first call: importing numba in a thread slows
            # down the one that traces and takes the first step
            self.waits, self.calls = True, 0

    @property
    def active(self):
        """'numba' or 'numpy': the replay that new replays, and the last call, use."""
        return 'numpy' if self.name == 'numpy' or self.waits else 'numba'

    def replay(self, tape, batch, flat=True):
        """A replay of `tape` over `batch` samples on the active backend (`flat`: a batch
        of one in numba's one-sample layout, rather than as rows of one sample).

        A tape with an op that numba's loops lack replays with NumPy, unless numba was
        asked for by name: then MissingKernel says which op.
        """
        if self.active == 'numpy':
            return NumpyReplay(tape, batch)
        from .replay_numba import MissingKernel, NumbaReplay
        try:
            return NumbaReplay(tape, batch, flat)
        except MissingKernel as error:
            if self.requested == 'numba':
                raise
            warnings.warn(f"{error}: this tape replays with NumPy (same numbers, slower)",
                          RuntimeWarning, stacklevel=4)
            return NumpyReplay(tape, batch)

    def traced(self, work):
        """Called after tracing a new tape of `work` (parameters x samples) a step. For a big
        one, wait for numba's loops rather than replay a slow first step with NumPy; not
        where they must be compiled first (seconds), as NumPy's steps run meanwhile.
        True if they are now ready: rebuild the replays."""
        if not self.waits or work < WAIT_FOR_LOOPS:
            return False
        LOADER.start()
        LOADER.wait_unless_compiling()
        self.calls = max(self.calls, 1)
        return self.upgraded()

    def upgraded(self):
        """True once, at the first check after numba's loops are ready: rebuild the replays.

        Called at the start of every call of a compiled function or step."""
        if not self.waits:
            return False
        self.calls += 1
        if self.calls == 2:
            LOADER.start()
        if LOADER.done():
            self.waits = False
            if LOADER.ok:
                return True
            self.name = 'numpy'
            LOADER.warn_once()
        return False


class _Loader:
    """numba's loops made ready in a thread of this process (see the module doc)."""

    def __init__(self):
        self.thread, self.ok, self.why, self.warned = None, False, None, False
        self.finished, self.compiling = threading.Event(), threading.Event()
        self.lock = threading.Lock()

    def start(self):
        """Start making the loops ready, if not yet started; True (it is under way)."""
        with self.lock:
            if self.thread is None:
                # not a daemon: a script that ends first waits for the import to finish
                # rather than stop in the middle of it
                self.thread = threading.Thread(target=self._run, name='tapegrad numba loops')
                self.thread.start()
        return True

    def _run(self):
        try:
            loops, self.why = _numba_loops()
            if loops is None:
                return
            if not loops.is_cached():
                self.compiling.set()
                if not COMPILER.start():
                    self.why = (f"could not start compiling numba's loops ({COMPILER.error}); "
                                f"the tape replays with NumPy")
                    return
                if not COMPILER.wait():
                    self.why = (f"compiling numba's loops failed (exit code {COMPILER.status}); "
                                f"the tape replays with NumPy. backend='numba' shows numba's error")
                    return
            loops.warm_up()  # loads every loop from the cache, for the types the replays use
            self.ok = True
        except Exception as error:  # noqa: BLE001 - reported, and NumPy replays instead
            self.why = (f"numba's loops could not be loaded ({type(error).__name__}: {error}); "
                        f"the tape replays with NumPy")
        finally:
            self.finished.set()

    def done(self):
        return self.finished.is_set()

    def wait(self, timeout=None):
        """Block until the loops are ready or known not to be; True if they are ready."""
        self.finished.wait(timeout)
        return self.ok

    def wait_unless_compiling(self):
        """wait(), but only while the loops are imported and loaded, not compiled."""
        while not self.finished.wait(0.02):
            if self.compiling.is_set():
                return False
        return self.ok

    def warn_once(self):
        if not self.warned:  # the first replay to notice says so, once
            self.warned = True
            warnings.warn(self.why, RuntimeWarning, stacklevel=4)


class _Compiler:
    """The process that compiles numba's loops into its cache: at most one per process."""

    code = 'from tapegrad.tape.backend import compile_once; compile_once()'

    def __init__(self):
        self.pid, self.status, self.error = None, None, None

    def start(self):
        """Start compiling, if not yet started; False if no process could be started."""
        if self.pid is None:
            # the child must import this very tapegrad, whose source the cache is keyed by
            root = str(Path(__file__).resolve().parents[2])
            env = dict(os.environ)
            env['PYTHONPATH'] = os.pathsep.join(p for p in (root, env.get('PYTHONPATH')) if p)
            try:
                # posix_spawn rather than subprocess.Popen: the process may outlive this one
                # on purpose, and a Popen object would complain about that at exit
                self.pid = os.posix_spawn(
                    sys.executable, [sys.executable, '-c', self.code], env,
                    file_actions=[(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0)
                                  for fd in (0, 1, 2)],
                    setsid=True)
            except (OSError, AttributeError) as error:  # AttributeError: no posix_spawn (Windows)
                self.error = error
                return False
        return True

    def wait(self):
        """Block until the compiling process has ended; True if the loops got compiled.
        False at once if the program ends meanwhile: a script never waits at its exit for
        the loops it will not use (the process goes on compiling them for the next run)."""
        if self.pid is None:
            return False
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
            elif not threading.main_thread().is_alive():  # the program is ending
                return False
            else:
                time.sleep(0.05)
        return self.status == 0


COMPILER = _Compiler()
LOADER = _Loader()


def compile_once():
    """The compiling process's work: fill numba's cache, unless another process is doing it.

    A lock file (one per cache folder and source) lets one process compile at a time; a
    second one waits for the lock, then finds the loops cached and has nothing to do.
    """
    import fcntl

    from . import replay_numba
    lock = Path(tempfile.gettempdir()) / f"tapegrad-numba-{replay_numba.cache_key()}.lock"
    with open(lock, 'w') as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # waits while another process compiles
        if not replay_numba.is_cached():
            replay_numba.warm_up()
