"""`tapegrad check` and `tapegrad exercises`: grade a learner's own micrograd, exercise by exercise.

`check_path(path)` grades one `.py` file or `.ipynb` notebook and returns the report and
the exit status; `grade_all(paths)` grades a class's files side by side (report.py
writes their CSV and HTML); `write_exercises(directory)` writes `exercises.ipynb`, for a
learner to start from, and `solutions.ipynb` beside it.

The learner's code runs in a sandboxed worker process (sandbox.py, worker.py); each
exercise's check (exercises/) runs here and decides the verdict from what the worker
observed.
"""

from .exercises import EXERCISES
from .grade import grade, grade_all, validate_timeout
from .notebook import write_exercises
from .report import text as report_text
from .sandbox import MEMORY_MIB


def check_path(path, timeout=10.0, memory_mib=MEMORY_MIB):
    """Grade the learner's `.py` or `.ipynb` file: (report text, exit status).

    The exit status is 0 when every exercise attempted passed (exercises not started yet
    don't count), and 1 when one failed, is not the learner's own, or the file could not
    be run at all.
    """
    submission = grade(path, timeout, memory_mib)
    return report_text(submission), 1 if submission.failed else 0


__all__ = ['EXERCISES', 'check_path', 'grade', 'grade_all', 'validate_timeout',
           'write_exercises']
