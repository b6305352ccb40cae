"""`tapegrad check PATH...`: one file's report, or a class's summary and grade sheets."""

from pathlib import Path

from . import report
from .grade import grade_all, validate_limits, validate_timeout

SKIPPED_FOLDERS = {'.ipynb_checkpoints', '__pycache__', '.git', '.venv'}


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
    """Grade the files: (what to print, exit status)."""
    validate_limits(validate_timeout(timeout), memory_mib)
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1; got {jobs}")
    files = submissions(paths)
    graded = grade_all(files, timeout, memory_mib, jobs)
    single = len(files) == 1 and not Path(paths[0]).is_dir()
    lines = [report.text(graded[0]) if single else report.summary(graded)]
    for destination in map(Path, reports):
        writer = {'.csv': report.to_csv, '.html': report.to_html}.get(destination.suffix)
        if writer is None:
            raise ValueError(f"--report {destination}: expected a .csv or .html file name")
        destination.write_text(writer(graded), encoding='utf-8')
        lines.append(f"wrote {destination}")
    return '\n'.join(lines), 1 if any(s.failed for s in graded) else 0
