"""What a person reads: the report on one submission, a line per submission for a class,
and the teacher's grades as CSV or HTML."""

import csv
import html
import io
import textwrap

from .exercises import EXERCISES
from .grade import BLOCKED, FAILED, NOT_STARTED, NOT_YOURS, PARTLY, PASSED


def status_text(result):
    """The status as the list of exercises shows it, with its reason in a few words."""
    if result.status == PASSED:
        if result.fallback:
            return "passed, with the checker's own training loop (see below)"
        return "passed (see the note below)" if result.note else "passed"
    if result.status == FAILED:
        return "FAILED"
    return f"{result.status}: {result.reason}" if result.reason else result.status


def text(submission):
    """The report on one file: one line per exercise, then what went wrong and why."""
    lines = [f"tapegrad check {submission.path}", ""]
    if submission.error:
        return '\n'.join(lines + [submission.error, "Fix this first, then check again."])
    results = submission.results
    width = max(len(r.title) for r in results) + 2
    for r in results:
        lines.append(f"  {r.number}  {r.title:<{width}}{status_text(r)}")
    for r in results:
        if r.message:
            lines += ["", f"Exercise {r.number} ({r.title}) {r.status}:"]
            lines += ['  ' + line if line else '' for line in r.message.splitlines()]
        elif r.note:
            note = f"Exercise {r.number} passed. Note: {r.note.rstrip('.')}."
            lines += ["", textwrap.fill(note, 88, subsequent_indent='  ')]
    if submission.imported:
        lines += ["", textwrap.fill(f"Your code imports {', '.join(submission.imported)}. That "
                                    "is fine for comparing answers; what is graded must be "
                                    "your own code.", 88)]
    if submission.problems:
        lines += ["", "While your code ran, it raised:"]
        lines += [f"  {problem}" for problem in submission.problems]
        lines.append("The checker ran the other cells anyway, and graded what they defined."
                     if submission.path.suffix == '.ipynb' else
                     "The checker graded what the file had defined up to there.")
    lines += ["", _counts(results) + '.']
    upcoming = next((r for r in results if r.status in (FAILED, NOT_STARTED, PARTLY)), None)
    if upcoming and upcoming.status == FAILED:
        lines.append(f"Fix exercise {upcoming.number} first.")
    elif upcoming:
        reason = f": {upcoming.reason}" if upcoming.reason else ''
        lines.append(f"Next: exercise {upcoming.number}, {upcoming.title}{reason}.")
    return '\n'.join(lines)


def _counts(results):
    counts = {status: sum(r.status == status for r in results)
              for status in (PASSED, FAILED, PARTLY, BLOCKED, NOT_STARTED, NOT_YOURS)}
    return ', '.join(f"{n} {status}" for status, n in counts.items() if n)


def summary(submissions):
    """One line per submission, for a class."""
    width = max(len(str(s.path)) for s in submissions) + 2
    lines = []
    for s in submissions:
        if s.error:
            verdict = "could not be run: " + s.error.splitlines()[0]
        else:
            verdict = _counts(s.results)
            failed = [str(r.number) for r in s.results if r.status == FAILED]
            if failed:
                verdict += f" (failed: {', '.join(failed)})"
        lines.append(f"{str(s.path):<{width}}{verdict}")
    return '\n'.join(lines)


def columns():
    return ['file'] + [f"{e.number} {e.title}" for e in EXERCISES] + ['passed']


def to_csv(submissions):
    """One row per submission: the file, each exercise's status, how many passed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(columns())
    for s in submissions:
        statuses = ([r.status for r in s.results] if not s.error else
                    ['could not be run'] * len(EXERCISES))
        writer.writerow([str(s.path)] + statuses + [s.passed])
    return out.getvalue()


_COLOURS = {PASSED: '#d7f5d7', FAILED: '#f8d0d0', BLOCKED: '#f8e3c4', PARTLY: '#fdf3c0',
            NOT_STARTED: '#eeeeee', NOT_YOURS: '#f0c8f0'}


def to_html(submissions):
    """A page a teacher can read: the table of statuses, then each submission's details."""
    e = html.escape
    rows = []
    for s in submissions:
        cells = ''.join(
            f'<td style="background:{_COLOURS.get(r.status, "#fff")}" title="{e(r.reason)}">'
            f'{e(r.status)}</td>' for r in s.results) if not s.error else \
            f'<td colspan="{len(EXERCISES)}">could not be run</td>'
        rows.append(f'<tr><td><a href="#s{len(rows)}">{e(str(s.path))}</a></td>{cells}'
                    f'<td>{s.passed}</td></tr>')
    head = ''.join(f'<th>{e(c)}</th>' for c in columns())
    details = [f'<h2 id="s{i}">{e(str(s.path))}</h2><pre>{e(text(s))}</pre>'
               for i, s in enumerate(submissions)]
    return ('<!doctype html>\n<html><head><meta charset="utf-8"><title>tapegrad check: grades'
            '</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:'
            'collapse}td,th{border:1px solid #bbb;padding:.3em .5em;font-size:90%}'
            'pre{background:#f6f6f6;padding:1em;overflow-x:auto}</style></head><body>'
            f'<h1>tapegrad check: {len(submissions)} submissions</h1>'
            f'<table><tr>{head}</tr>{"".join(rows)}</table>{"".join(details)}</body></html>\n')
