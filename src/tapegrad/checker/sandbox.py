"""The child process that runs a learner's code, held at arm's length by the grader.

A `Sandbox` starts worker.py in a new Python with:

- resource limits, taken by the worker before the learner's code runs: address space
  (`memory` MiB), CPU seconds, the size of any file it writes, and no new processes
  (RLIMIT_NPROC, which the kernel does not apply to root). Run as root, the worker
  becomes the user nobody, if that user can read the Python it runs;
- its own session and process group, which `stop()` kills as a whole, along with any
  process that still carries the sandbox's mark in its environment (a child that left
  the group with setsid(), say);
- an environment made from scratch (a PATH, a UTF-8 locale, a home in the temporary
  folder): nothing from the teacher's shell;
- an empty temporary working folder, removed afterwards;
- its stdout and stderr captured through a pipe, of which the last `OUTPUT_CAP` bytes
  are kept: a learner who prints 600 MiB costs the grader 64 KiB;
- a channel of two pipes of its own for requests and replies, apart from its output.
  Each request carries a random nonce that the reply must repeat, and a reply may be
  at most `REPLY_CAP` bytes.

The learner's code runs in the same process as the worker's reporting code, so it
could answer in the worker's place; what it cannot do is write a verdict. The replies
are raw observations (this Value's data, that gradient), and the grader compares them
with answers it computes itself.
"""

import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import resource
import time
from collections import deque
from pathlib import Path

from .worker import LIMITS_FAILED

WORKER = Path(__file__).with_name('worker.py')
OUTPUT_CAP = 64 * 1024      # bytes of the learner's output kept, the last ones
REPLY_CAP = 4 * 2**20       # bytes of one reply
FILE_MIB = 16               # the largest file the learner's code may write
MEMORY_MIB = 1024           # default address-space limit
NOBODY = 65534


class Stopped(Exception):
    """The worker died or broke the protocol; the message says how."""


class TimedOut(Stopped):
    """The worker did not answer in time."""


class SetupFailed(Stopped):
    """The worker could not take its limits, so it ran none of the learner's code."""


class Sandbox:
    """One worker process running one learner's code; ask it with `load` and `probe`."""

    def __init__(self, memory_mib=MEMORY_MIB, cpu_seconds=60):
        self.folder = tempfile.mkdtemp(prefix='tapegrad-check-')
        self.mark = secrets.token_hex(16)
        become_nobody = os.getuid() == 0 and _python_readable_by_everyone()
        if become_nobody:
            os.chown(self.folder, NOBODY, NOBODY)
        request_read, self._requests = os.pipe()
        self._replies, reply_write = os.pipe()
        self._output, output_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, '-s', str(WORKER), str(request_read), str(reply_write),
                 str(int(memory_mib)), str(int(cpu_seconds)), str(FILE_MIB),
                 str(int(become_nobody))],
                stdin=subprocess.DEVNULL, stdout=output_write, stderr=output_write,
                pass_fds=(request_read, reply_write), cwd=self.folder,
                env=dict(clean_environment(self.folder), TAPEGRAD_SANDBOX=self.mark),
                start_new_session=True)
        finally:
            for fd in (request_read, reply_write, output_write):
                os.close(fd)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._replies, selectors.EVENT_READ, 'reply')
        self._selector.register(self._output, selectors.EVENT_READ, 'output')
        self._pending = b''
        self.output = deque()  # the learner's output, the last OUTPUT_CAP bytes of it
        self._output_size = 0
        self.memory_mib = memory_mib
        self.stopped = False

    def load(self, request, deadline):
        return self._ask({'load': request}, deadline)

    def probe(self, steps, observe, seed, deadline):
        return self._ask({'probe': {'steps': steps, 'observe': observe, 'seed': seed}},
                         deadline)

    def _ask(self, request, deadline):
        nonce = secrets.token_hex(16)
        message = (json.dumps(dict(request, nonce=nonce)) + '\n').encode('utf-8')
        try:
            _write_all(self._requests, message)
        except OSError:  # the worker has died already: _receive says how
            pass
        reply = self._receive(deadline)
        if not isinstance(reply, dict) or reply.get('nonce') != nonce:
            raise Stopped("the checker got a reply it had not asked for: did the code write "
                          "to the checker's channel?")
        return reply

    def _receive(self, deadline):
        """The next reply line, decoded; Stopped if it does not come by `deadline`."""
        while b'\n' not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimedOut()
            for key, _ in self._selector.select(left):
                chunk = os.read(key.fd, 65536)
                if key.data == 'output':
                    self._keep_output(chunk)
                    if not chunk:
                        self._selector.unregister(self._output)
                elif not chunk:
                    raise self._ended()
                else:
                    self._pending += chunk
                    if len(self._pending) > REPLY_CAP:
                        raise Stopped(f"the reply was longer than {REPLY_CAP // 2**20} MiB")
        line, self._pending = self._pending.split(b'\n', 1)
        try:
            return json.loads(line)
        except ValueError:
            raise Stopped("the checker got a reply it could not read: did the code write to "
                          "the checker's channel?") from None

    def _keep_output(self, chunk):
        self.output.append(chunk)
        self._output_size += len(chunk)
        while self._output_size - len(self.output[0]) >= OUTPUT_CAP:
            self._output_size -= len(self.output.popleft())

    def _ended(self):
        """The exception for a worker that has ended: how it died, or why it did not start."""
        text = self.death()
        first_words = b''.join(self.output).decode('utf-8', 'replace').split('\n', 1)[0]
        if first_words.startswith(LIMITS_FAILED + ': '):
            return SetupFailed(f"the checker could not set the worker's limits "
                               f"({first_words[len(LIMITS_FAILED) + 2:]}), so it stopped before "
                               "running any code: check --memory and --timeout against this "
                               "shell's limits (`ulimit -a`)")
        return Stopped(text)

    def death(self):
        """How the worker ended, for the report: its signal or exit status, and last words."""
        self.stop(drain=True)
        code = self.process.returncode
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:  # a real-time signal, say, which has no name
                name = f"signal {-code}"
            text = f"it crashed ({name})"
            if name == 'SIGSEGV':
                text += " (very deep recursion does this once sys.setrecursionlimit is raised)"
            elif name == 'SIGXCPU':
                text += " (it used up its CPU time)"
        else:
            text = f"it exited with status {code} (did the code call exit()?)"
        last_words = b''.join(self.output).decode('utf-8', 'replace').splitlines()
        if any('MemoryError' in line for line in last_words):
            text += f"; it ran out of memory (the limit is {self.memory_mib} MiB)"
        running = [line.strip() for line in last_words if line.strip().startswith('File ')]
        return text + (f"; it was running {running[0]}" if running else '')

    def stop(self, drain=False):
        """Kill the worker's whole process group, and remove its folder."""
        if self.stopped:
            return
        self.stopped = True
        if drain:  # the last words of a process that has ended are still in the pipe
            try:
                self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
            self._drain()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        _kill_marked(f"TAPEGRAD_SANDBOX={self.mark}".encode())
        for fd in (self._requests, self._replies, self._output):
            try:
                os.close(fd)
            except OSError:
                pass
        self._selector.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _drain(self):
        os.set_blocking(self._output, False)
        try:
            while chunk := os.read(self._output, 65536):
                self._keep_output(chunk)
        except OSError:
            pass


def _kill_marked(mark):
    """SIGKILL every process whose environment holds `mark`: what escaped the group."""
    for _ in range(3):  # again, for what forked while the last round was killing
        found = False
        for entry in os.scandir('/proc') if os.path.isdir('/proc') else ():
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/environ", 'rb') as environ:
                    if mark not in environ.read().split(b'\0'):
                        continue
                os.kill(int(entry.name), signal.SIGKILL)
                found = True
            except OSError:  # gone already, or not ours to read
                continue
        if not found:
            return


def hard_limit(limit):
    """This process's hard resource limit, which its workers inherit, or None if unlimited."""
    hard = resource.getrlimit(limit)[1]
    return None if hard == resource.RLIM_INFINITY or hard < 0 else hard


def _python_readable_by_everyone():
    """Whether the user nobody could run this Python: its folders open to all users."""
    paths = {sysconfig.get_paths()[key] for key in ('stdlib', 'platstdlib', 'purelib', 'platlib')}
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    for path in paths:
        path = Path(os.path.realpath(path))
        for folder in [path] + list(path.parents):
            try:
                if not folder.stat().st_mode & 0o001:
                    return False
            except OSError:
                return False
    return True


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def clean_environment(home):
    """What Python needs and nothing else from the teacher's shell."""
    return {
        'PATH': os.defpath,
        'LANG': 'C.UTF-8', 'LC_ALL': 'C.UTF-8',
        'HOME': home, 'TMPDIR': home, 'MPLCONFIGDIR': home,
        'PYTHONHASHSEED': '0',           # the same set orders, so the same verdicts
        'PYTHONIOENCODING': 'utf-8',
        'PYTHONDONTWRITEBYTECODE': '1',
        'MPLBACKEND': 'Agg',
        'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1',
    }

