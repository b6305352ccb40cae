"""The process that runs a learner's code for `tapegrad check`, apart from the checker.

`python -m tapegrad.checker.worker PATH` runs the learner's file or notebook once, answers
one JSON line `{"problems": [...]}` (errors raised while running it), then reads exercise
numbers from stdin, one a line, and answers each with one JSON line: `{"status": "passed"
| "failed" | "not started", "message": ..., "note": ...}`. The parent (grade.py) enforces
the time limits and survives this process hanging or dying.

The answers travel over a copy of the original stdout. The learner's code gets /dev/null
for stdin and stdout, so its prints stay out of the report and `input()` finds nothing;
stderr stays the parent's, which keeps a crash's last words.
"""

import faulthandler
import json
import os
import re
import sys
from pathlib import Path

from . import checks
from .checks import EXERCISES, Failed, NotStarted, describe
from .source import read_cells


def load(cells, module_name):
    """Run the cells in one namespace; returns it and the errors raised, described.

    A cell that raises does not stop the next one, as when a person runs a notebook's
    cells one by one; a `.py` file is a single cell.
    """
    namespace = {'__name__': module_name, '__builtins__': __builtins__}
    problems = []
    for cell in cells:
        checks.learner_files.add(cell.label)
        try:
            exec(compile(cell.code, cell.label, 'exec'), namespace)
        except BaseException as error:  # SystemExit and KeyboardInterrupt too: it's their code
            problems.append(describe(error))
    return namespace, problems


def grade(number, namespace):
    """The outcome of one exercise's check, as a JSON-ready dict."""
    try:
        note = EXERCISES[number].check(namespace)
        return {'status': 'passed', 'note': note}
    except Failed as failure:
        return {'status': 'failed', 'message': str(failure)}
    except NotStarted as reason:
        return {'status': 'not started', 'reason': str(reason)}
    except NotImplementedError as stub:
        return _stub_outcome(number, stub)
    except BaseException as error:  # the learner's code did something odd outside a case
        return {'status': 'failed', 'message': f"Checking this raised {describe(error)}"}


def _stub_outcome(number, stub):
    """A stub was reached: the exercise's own means not started; a later one's means a
    later definition replaced the learner's work (the last definition is what counts)."""
    found = re.search(r'exercise\s*(\d+)', str(stub), re.IGNORECASE)
    owner = int(found.group(1)) if found else number
    if owner <= number:
        return {'status': 'not started'}
    return {'status': 'not started',
            'message': f"This reached the stub of exercise {owner}: {describe(stub)}. When a "
                       "class is defined more than once, the last definition counts: finish "
                       f"exercise {owner}, or define it last."}


def _silence_learner():
    """Keep copies of stdin and stdout for the conversation with the parent, then give the
    learner's code /dev/null in their place."""
    requests = os.fdopen(os.dup(0), 'r', encoding='utf-8')
    replies = os.fdopen(os.dup(1), 'w', encoding='utf-8')
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    sys.stdin = open(os.devnull, encoding='utf-8')
    sys.stdout = open(os.devnull, 'w', encoding='utf-8')
    sys.stderr = open(os.devnull, 'w', encoding='utf-8')
    return requests, replies


def main(path):
    faulthandler.enable(file=sys.__stderr__)  # a segfault still names the line it died on
    requests, replies = _silence_learner()
    path = Path(path).resolve()
    os.chdir(path.parent)  # the learner's code may read files next to it, or import them
    sys.path.insert(0, str(path.parent))
    module_name = '__main__' if path.suffix == '.ipynb' else path.stem
    namespace, problems = load(read_cells(path), module_name)

    def reply(message):
        replies.write(json.dumps(message) + '\n')
        replies.flush()

    reply({'problems': problems})
    for line in requests:
        reply(grade(int(line), namespace))


if __name__ == '__main__':
    main(sys.argv[1])
