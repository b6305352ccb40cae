"""Grade a learner's file exercise by exercise, with a time limit each, and report.

The learner's code runs in a worker process (worker.py), never in this one: an endless
loop, a crash or a call to `exit()` costs that process, and the checker carries on with
a new one for the exercises still to check.
"""

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass

from .checks import EXERCISES
from .source import LearnerFileError, read_cells, syntax_error

# what worker.py answers, and 'blocked' for an exercise whose prerequisite failed
PASSED, FAILED, NOT_STARTED, BLOCKED = 'passed', 'failed', 'not started', 'blocked'


@dataclass
class Result:
    number: int
    title: str
    status: str
    message: str = ''  # what went wrong, shown below the list of exercises
    reason: str = ''   # why it is blocked or not started, in a few words
    note: str = ''     # a remark on a pass


class _Stopped(Exception):
    """The worker ran out of time or died; the message says which, for the report."""


class _Worker:
    """One worker process running the learner's file, asked one exercise at a time."""

    def __init__(self, path, timeout):
        self.timeout = timeout
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ, MPLBACKEND='Agg', PYTHONIOENCODING='utf-8')
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'tapegrad.checker.worker', str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            env=env, text=True, encoding='utf-8')
        self.replies = queue.Queue()
        threading.Thread(target=self._read_replies, daemon=True).start()

    def _read_replies(self):
        for line in self.process.stdout:
            self.replies.put(json.loads(line))
        self.replies.put(None)  # the process has ended

    def receive(self, doing):
        """The next reply, or _Stopped if it takes longer than the limit or never comes."""
        try:
            reply = self.replies.get(timeout=self.timeout)
        except queue.Empty:
            self.stop()
            raise _Stopped(f"{doing} took longer than {self.timeout:g} s and was stopped. "
                           "Is there an endless loop, say a while loop whose condition "
                           "never changes?") from None
        if reply is None:
            death = self._death()
            self.stop()
            raise _Stopped(f"{doing} ended the Python process: {death}")
        return reply

    def ask(self, number):
        try:
            self.process.stdin.write(f"{number}\n")
            self.process.stdin.flush()
        except OSError:  # the process has died already: receive() says how
            pass
        return self.receive(f"Checking exercise {number}")

    def _death(self):
        code = self.process.wait()
        self.stderr.seek(0)
        last_words = self.stderr.read().decode('utf-8', 'replace').strip().splitlines()
        if code < 0:
            name = signal.Signals(-code).name
            text = f"it crashed ({name})"
            if name == 'SIGSEGV':
                text += " (very deep recursion does this once sys.setrecursionlimit is raised)"
        else:
            text = f"it exited with status {code} (did the code call exit()?)"
        # faulthandler's traceback of a crash starts with the line that was running
        running = [line.strip() for line in last_words if line.strip().startswith('File ')]
        return text + (f"; it was running {running[0]}" if running else '')

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.stderr.close()


def grade(path, timeout=10.0):
    """Check every exercise in the learner's file: (results, notes), or raise LearnerFileError.

    `notes` are the errors the learner's code raised while it was being run. A syntax
    error, or code that takes too long to run at all, raises LearnerFileError.
    """
    cells = read_cells(path)
    error = syntax_error(cells)
    if error:
        raise LearnerFileError(error)
    results, notes, worker = {}, [], None
    try:
        for exercise in EXERCISES:
            waiting = _waiting_for(exercise, results)
            if waiting:
                results[exercise.number] = waiting
                continue
            if worker is None:
                worker = _Worker(path, timeout)
                try:
                    notes = worker.receive("Running your file")['problems']
                except _Stopped as stopped:
                    worker = None
                    raise LearnerFileError(str(stopped)) from None
            try:
                reply = worker.ask(exercise.number)
            except _Stopped as stopped:
                worker = None  # a fresh process for the next exercise, if any runs
                reply = {'status': FAILED, 'message': str(stopped)}
            results[exercise.number] = Result(
                exercise.number, exercise.title, reply['status'], reply.get('message', ''),
                reply.get('reason', ''), reply.get('note') or '')
    finally:
        if worker is not None:
            worker.stop()
    return [results[e.number] for e in EXERCISES], notes


def _waiting_for(exercise, results):
    """A Result if an exercise that `exercise` needs has not passed, else None."""
    for need in exercise.needs:
        before = results[need]
        if before.status == NOT_STARTED:
            return Result(exercise.number, exercise.title, NOT_STARTED,
                          reason=f"exercise {need} comes first")
        if before.status != PASSED:
            cause = before.reason if before.status == BLOCKED else f"exercise {need} failed"
            return Result(exercise.number, exercise.title, BLOCKED, reason=cause)
    return None


def report(path, results, notes):
    """The report a person reads: one line per exercise, then what went wrong and why."""
    lines = [f"tapegrad check {path}", ""]
    width = max(len(r.title) for r in results) + 2
    for r in results:
        status = {FAILED: 'FAILED', BLOCKED: f"blocked ({r.reason})"}.get(r.status, r.status)
        lines.append(f"  {r.number}  {r.title:<{width}}{status}")
    for r in results:
        if r.message:
            lines += ["", f"Exercise {r.number} ({r.title}) {r.status}:"]
            lines += ['  ' + line if line else '' for line in r.message.splitlines()]
        elif r.note:
            lines += ["", f"Exercise {r.number} passed: {r.note}."]
    if notes:
        lines += ["", "While your code ran, it raised:"] + [f"  {note}" for note in notes]
        lines.append("The checker ran the other cells anyway, and graded what they defined."
                     if str(path).endswith('.ipynb') else
                     "The checker graded what the file had defined up to there.")
    counts = {status: sum(r.status == status for r in results)
              for status in (PASSED, FAILED, BLOCKED, NOT_STARTED)}
    lines += ["", ', '.join(f"{n} {status}" for status, n in counts.items() if n) + '.']
    upcoming = next((r for r in results if r.status in (FAILED, NOT_STARTED)), None)
    if upcoming and upcoming.status == FAILED:
        lines.append(f"Fix exercise {upcoming.number} first.")
    elif upcoming:
        reason = f" ({upcoming.reason})" if upcoming.reason else ''
        lines.append(f"Next: exercise {upcoming.number}, {upcoming.title}{reason}.")
    return '\n'.join(lines)


def check_path(path, timeout=10.0):
    """Grade the learner's `.py` or `.ipynb` file: (report text, exit status).

    The exit status is 0 when every exercise attempted passed (exercises not started yet
    don't count), and 1 when one failed or the file could not be run at all.
    """
    try:
        results, notes = grade(path, timeout)
    except LearnerFileError as error:
        return f"tapegrad check {path}\n\n{error}\nFix this first, then check again.", 1
    failed = any(r.status in (FAILED, BLOCKED) for r in results)
    return report(path, results, notes), 1 if failed else 0
