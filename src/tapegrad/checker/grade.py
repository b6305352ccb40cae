"""Grade submissions exercise by exercise: the verdicts, decided here in the grader.

For each file: read its cells, read its code (source.py), run it in a sandbox
(sandbox.py), then for each exercise in order decide, in this order,

1. not yours, when a name it grades (Value, MLP, ...) comes from a library;
2. not started or blocked, when an exercise it needs has not passed;
3. what its check says (exercises/): passed, failed, not started, partly done or blocked.

A check that runs out of time or kills the worker fails that exercise only: the next one
gets a fresh worker. Several files are graded side by side, each in its own worker; a file
that breaks its grading in any other way gets an error of its own, and the others are
graded as usual.
"""

import math
import numbers
import resource
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .exercises import EXERCISES
from .framework import Blocked, Failed, Fallback, Learner, NotStarted, PartlyDone, Stub
from .sandbox import MEMORY_MIB, Sandbox, SetupFailed, Stopped, TimedOut, hard_limit
from .source import LearnerFileError, analyse, read_cells, syntax_error

PASSED, FAILED, NOT_STARTED = 'passed', 'failed', 'not started'
PARTLY, BLOCKED, NOT_YOURS = 'partly done', 'blocked', 'not yours'
LOAD_FACTOR = 3  # running the learner's file may take this many times one exercise's limit
CPU_SPARE = 5  # seconds of CPU time a worker gets beyond its time limits
MAX_SECONDS = 3600  # an hour per exercise at most: no check needs more; 1e300 s overflowed a clock
MIN_MEMORY_MIB, MAX_MEMORY_MIB = 64, 2**27  # what Python needs; what a 64-bit process addresses
AUTOGRAD_LIBRARIES = ('tapegrad', 'micrograd', 'torch', 'jax', 'autograd', 'tinygrad',
                      'tensorflow', 'mxnet')
FUNCTIONS = ('numerical_derivative', 'train')
NAMES = tuple(dict.fromkeys(name for e in EXERCISES for name in e.names)) + ('Value',)


@dataclass
class Result:
    number: int
    title: str
    status: str
    reason: str = ''   # why it is not started, partly done, blocked or not yours
    message: str = ''  # what went wrong, shown below the list of exercises
    note: str = ''     # a remark on a pass
    fallback: bool = False  # passed with the checker's own training loop


@dataclass
class Submission:
    path: Path
    results: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # what the code raised while it ran
    imported: list = field(default_factory=list)  # autograd libraries it imported
    error: str = ''  # why it could not be graded at all

    @property
    def passed(self):
        return sum(r.status == PASSED for r in self.results)

    @property
    def failed(self):
        return bool(self.error) or any(r.status in (FAILED, BLOCKED, NOT_YOURS)
                                       for r in self.results)


def validate_timeout(timeout):
    """`timeout` as a float, or ValueError naming it: positive, and an hour at most.

    `tapegrad.validate.real_number` does not fit: a limit of 0 s is not one, and the
    command line gives text ('1e300'), which the message quotes as it was typed.
    """
    try:
        seconds = float(timeout)
    except (TypeError, ValueError, OverflowError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"the time limit must be a positive, finite number of seconds; got "
                         f"{timeout!r}")
    if seconds > MAX_SECONDS:
        raise ValueError(f"the time limit must be at most {MAX_SECONDS} seconds (an hour) per "
                         f"exercise; got {timeout!r}")
    return seconds


def validate_limits(timeout, memory_mib):
    """ValueError unless a worker can take the limits that `timeout` (seconds, valid) and
    `memory_mib` give it. A worker inherits this process's hard limits (a shell's
    `ulimit -v` or `ulimit -t`) and cannot raise them: if it tried, every file would fail."""
    if isinstance(memory_mib, bool) or not isinstance(memory_mib, numbers.Integral) \
            or not MIN_MEMORY_MIB <= memory_mib <= MAX_MEMORY_MIB:
        raise ValueError(f"--memory must be a whole number of MiB from {MIN_MEMORY_MIB} to "
                         f"{MAX_MEMORY_MIB} (128 TiB); got {memory_mib!r}")
    hard = hard_limit(resource.RLIMIT_AS)
    if hard is not None and memory_mib * 2**20 > hard:
        raise ValueError(f"--memory {memory_mib} is above the limit on memory that this shell "
                         f"set ({hard // 2**20} MiB: `ulimit -v {hard // 1024}`), which the "
                         f"checker cannot raise; give --memory {hard // 2**20} or less")
    cpu, hard = _cpu_seconds(timeout), hard_limit(resource.RLIMIT_CPU)
    if hard is not None and cpu > hard:
        most = math.floor((hard - CPU_SPARE) / (len(EXERCISES) + LOAD_FACTOR) * 10) / 10
        fix = (f"give --timeout {most:g} or less" if most > 0 else
               f"raise it with `ulimit -t {cpu}` first")
        raise ValueError(f"--timeout {timeout:g} gives the worker {cpu} s of CPU time, above "
                         f"the limit that this shell set ({hard} s: `ulimit -t {hard}`), which "
                         f"the checker cannot raise; {fix}")


def _cpu_seconds(timeout):
    """The CPU time of one worker: loading the file, then every exercise, and a spare."""
    return int(timeout * (len(EXERCISES) + LOAD_FACTOR)) + CPU_SPARE


def grade(path, timeout=10.0, memory_mib=MEMORY_MIB):
    """Grade one `.py` file or `.ipynb` notebook: a Submission."""
    timeout = validate_timeout(timeout)
    validate_limits(timeout, memory_mib)
    path = Path(path)
    try:
        cells = read_cells(path)
        error = syntax_error(cells)
        if error:
            raise LearnerFileError(error)
        return _Grading(path, cells, timeout, memory_mib).run()
    except LearnerFileError as error:
        return Submission(path, error=str(error))
    except Exception as error:  # one file must never stop the grading of the others
        return Submission(path, error=(
            f"The checker could not finish grading {path.name}: {type(error).__name__}: "
            f"{error}.\nEither the answers from the process running the code were not what "
            "the checker asked for (does the code change the checker's worker, or write to "
            "its channel?), or tapegrad check has a bug: if the code does neither, please "
            "report it with this file. The other files were graded as usual."))


def grade_all(paths, timeout=10.0, memory_mib=MEMORY_MIB, jobs=None, on_done=None):
    """Grade many files side by side, `jobs` at a time: their Submissions, in order.

    `on_done(index, submission)`, if given, is called in this thread as each file is done.
    """
    timeout = validate_timeout(timeout)
    validate_limits(timeout, memory_mib)
    graded = [None] * len(paths)
    with ThreadPoolExecutor(max_workers=jobs or 2) as pool:
        running = {pool.submit(grade, path, timeout, memory_mib): index
                   for index, path in enumerate(paths)}
        for done in as_completed(running):
            graded[running[done]] = done.result()
            if on_done is not None:
                on_done(running[done], graded[running[done]])
    return graded


class _Grading:
    """The grading of one file: its sandbox (replaced if it dies) and the results so far."""

    def __init__(self, path, cells, timeout, memory_mib):
        self.path, self.timeout, self.memory_mib = path, timeout, memory_mib
        self.analysis = analyse(cells, NAMES)
        loop = self.analysis.loop
        self.request = {'cells': [[c.label, c.code] for c in cells], 'names': list(NAMES),
                        'module': '__main__' if path.suffix == '.ipynb' else path.stem,
                        'loop': [loop[0], loop[2], loop[3]] if loop else None}
        self.learner = None

    def start(self, doing):
        sandbox = Sandbox(self.memory_mib, _cpu_seconds(self.timeout))
        try:
            loaded = sandbox.load(self.request, _deadline(self.timeout * LOAD_FACTOR))
            loop = self.analysis.loop
            self.learner = Learner(sandbox, loaded, loop[1:] if loop else (), self.timeout)
        except TimedOut:
            sandbox.stop()
            raise Stopped(f"{doing} took longer than {self.timeout * LOAD_FACTOR:g} s and was "
                          "stopped. Is there an endless loop, say a while loop whose "
                          "condition never changes?") from None
        except SetupFailed:  # no code of the learner's ran: their file is not to blame
            sandbox.stop()
            raise
        except Stopped as stopped:
            sandbox.stop()
            raise Stopped(f"{doing} ended the Python process: {stopped}") from None
        except BaseException:
            sandbox.stop()
            raise
        return loaded

    def stop(self):
        if self.learner is not None:
            self.learner.sandbox.stop()
            self.learner = None

    def run(self):
        try:
            loaded = self.start("Running your file")
        except Stopped as stopped:
            raise LearnerFileError(str(stopped)) from None
        try:
            submission = Submission(self.path,
                                    problems=[self._problem(p) for p in loaded['problems']],
                                    imported=[m for m in loaded['imported']
                                              if m in AUTOGRAD_LIBRARIES])
            names = loaded['names']
            results = {}
            for exercise in EXERCISES:
                results[exercise.number] = (self._not_yours(exercise, names)
                                            or _absent(exercise, names)
                                            or _waiting_for(exercise, results)
                                            or self._check(exercise))
        finally:
            self.stop()
        submission.results = [results[e.number] for e in EXERCISES]
        return submission

    def _problem(self, error):
        text = error['text']
        if error.get('memory'):
            text += f" (the checker allows {self.memory_mib} MiB of memory)"
        return text

    def _not_yours(self, exercise, names):
        found = {}
        for name in exercise.names:
            origin = self.analysis.libraries.get(name) or names.get(name, {}).get('origin')
            if origin and origin != 'learner':
                found.setdefault(origin.split('.')[0], []).append(name)
        if not found:
            return None
        reason = '; '.join(f"uses {library}'s {' and '.join(names)}, not your own"
                           for library, names in found.items())
        return Result(exercise.number, exercise.title, NOT_YOURS, reason=reason)

    def _check(self, exercise):
        number, title = exercise.number, exercise.title
        try:
            if self.learner is None:
                self.start(f"Running your file again for exercise {number}")
            self.learner.restart_clock()
            note = exercise.check(self.learner)
            return Result(number, title, PASSED, note=note or '',
                          fallback=isinstance(note, Fallback))
        except Failed as failure:
            return Result(number, title, FAILED, message=str(failure))
        except Stub as stub:
            return Result(number, title, NOT_STARTED, reason=self._stub_reason(stub))
        except NotStarted as reason:
            return Result(number, title, NOT_STARTED, reason=str(reason))
        except PartlyDone as reason:
            return Result(number, title, PARTLY, reason=str(reason))
        except Blocked as reason:
            return Result(number, title, BLOCKED, reason=str(reason))
        except TimedOut:
            self.stop()
            return Result(number, title, FAILED, message=(
                f"Checking exercise {number} took longer than {self.timeout:g} s and was "
                "stopped. Is there an endless loop, say a while loop whose condition never "
                "changes?"))
        except Stopped as stopped:
            self.stop()
            text = str(stopped)
            if not (text.startswith('Running your file') or isinstance(stopped, SetupFailed)):
                text = f"Checking exercise {number} ended the Python process: {text}"
            return Result(number, title, FAILED, message=text)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
            # the observations come from the learner's process: malformed ones fail
            return Result(number, title, FAILED, message=(
                f"The answers from the process running your code were not what the checker "
                f"asked for ({type(error).__name__}: {error}). Does the code change the "
                "checker's worker?"))

    def _stub_reason(self, stub):
        reason = str(stub)
        owner = (stub.function or '').split('.')[0]
        places = self.analysis.definitions.get(owner, [])
        if len(places) > 1:
            where = ', '.join(f"{label} line {line}" for label, line in places)
            reason += (f"; {owner} is defined {len(places)} times ({where}) and the last "
                       "definition counts")
        return reason


def _deadline(seconds):
    return time.monotonic() + seconds


def _absent(exercise, names):
    """A Result if none of the names that `exercise` grades is defined, else None."""
    if any(name in names for name in exercise.names):
        return None
    kinds = [('function ' if name in FUNCTIONS else 'class ') + name for name in exercise.names]
    if len(kinds) == 2 and kinds[0].split()[0] == kinds[1].split()[0]:
        kinds[1] = kinds[1].split()[1]
    return Result(exercise.number, exercise.title, NOT_STARTED,
                  reason=f"there is no {' or '.join(kinds)}")


def _waiting_for(exercise, results):
    """A Result if an exercise that `exercise` needs has not passed, else None."""
    for need in exercise.needs:
        before = results[need]
        if before.status in (PASSED, NOT_YOURS):
            continue
        if before.status in (NOT_STARTED, PARTLY):
            return Result(exercise.number, exercise.title, NOT_STARTED,
                          reason=f"exercise {need} comes first")
        cause = before.reason if before.status == BLOCKED else f"exercise {need} failed"
        return Result(exercise.number, exercise.title, BLOCKED, reason=cause)
    return None
