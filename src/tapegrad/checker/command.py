"""`tapegrad check PATH...`: one file's report, or a class's summary and grade sheets."""

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from . import report
from .grade import grade_all, validate_limits, validate_timeout

SKIPPED_FOLDERS = {'.ipynb_checkpoints', '__pycache__', '.git', '.venv'}
REPORT_WRITERS = {'.csv': report.to_csv, '.html': report.to_html}


def submissions(paths):
    """The .py and .ipynb files named, and those in the folders named, sorted in each."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob('*') if p.suffix in ('.py', '.ipynb')
                            and p.is_file() and not SKIPPED_FOLDERS & set(p.parts)
                            and not p.name.startswith('.'))
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path} does not exist: name a .py file, an .ipynb "
                                    "notebook, or a folder of them")
    if not found:
        raise FileNotFoundError(f"no .py or .ipynb files in {', '.join(map(str, paths))}")
    return found


def run(paths, timeout, memory_mib, jobs, reports=()):
    """Grade the files: (what to print, exit status). Each report file is rewritten as each
    file is done, so that grades are kept if the grading is stopped halfway."""
    validate_limits(validate_timeout(timeout), memory_mib)
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1; got {jobs}")
    files = submissions(paths)
    writers = {Path(destination): report_writer(destination) for destination in reports}
    graded = [None] * len(files)

    def write_reports(index, submission):
        graded[index] = submission
        for destination, writer in writers.items():
            _replace(destination, writer([s for s in graded if s is not None]))

    grade_all(files, timeout, memory_mib, jobs, on_done=write_reports)
    single = len(files) == 1 and not Path(paths[0]).is_dir()
    lines = [report.text(graded[0]) if single else report.summary(graded)]
    lines += [f"wrote {destination}" for destination in writers]
    return '\n'.join(lines), 1 if any(s.failed for s in graded) else 0


def report_writer(destination):
    """What writes the grades to `destination`, once it is sure it can be written there."""
    destination = Path(destination)
    writer = REPORT_WRITERS.get(destination.suffix.lower())
    if writer is None:
        raise ValueError(f"--report {destination}: the grades are written as "
                         f"{' or '.join(REPORT_WRITERS)}; give a file name that ends in one of "
                         "them, such as grades.csv")
    try:
        if destination.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        with tempfile.NamedTemporaryFile(dir=destination.parent, prefix=f".{destination.name}."):
            pass  # it is written as such a file, then renamed
    except OSError as error:
        raise ValueError(f"--report {destination}: cannot write there "
                         f"({error.strerror or error}); give a file in a folder that exists "
                         "and that you can write to") from None
    return writer


def _replace(destination, text):
    """Write `text` to `destination` whole: a reader sees the old file or the new one."""
    file = tempfile.NamedTemporaryFile('w', encoding='utf-8', dir=destination.parent,
                                       prefix=f".{destination.name}.", delete=False)
    try:
        with file:
            file.write(text)
        os.replace(file.name, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(file.name)
        raise
