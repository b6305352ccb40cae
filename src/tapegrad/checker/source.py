"""Read a learner's `.py` file or `.ipynb` notebook as a list of code cells.

A `.py` file is one cell. A notebook gives its code cells in order; IPython-only lines
(`%matplotlib inline`, `!pip install ...`) become `pass` so that the rest still runs as
plain Python and keeps its line numbers.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

_IPYTHON_LINE = re.compile(r'^(\s*)[%!]')


class LearnerFileError(Exception):
    """The file cannot be read as Python code; the message says why."""


@dataclass(frozen=True)
class Cell:
    label: str  # where the code came from, as a person says it: "nb.ipynb, code cell 3"
    code: str


def read_cells(path):
    """The code of a `.py` file or `.ipynb` notebook, as a list of Cells."""
    path = Path(path)
    if path.suffix not in ('.py', '.ipynb'):
        raise LearnerFileError(f"{path}: expected a .py file or an .ipynb notebook")
    try:
        text = path.read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as error:
        raise LearnerFileError(f"cannot read {path}: {error}") from None
    if path.suffix == '.py':
        return [Cell(path.name, text)]
    try:
        cells = json.loads(text)['cells']
        code_cells = [cell for cell in cells if cell.get('cell_type') == 'code']
    except (ValueError, KeyError, TypeError, AttributeError):
        raise LearnerFileError(f"{path} is not a Jupyter notebook (no JSON with a list of "
                               "cells)") from None
    return [Cell(f"{path.name}, code cell {number}", _python_only(_joined(cell.get('source', ''))))
            for number, cell in enumerate(code_cells, start=1)]


def _joined(source):
    return source if isinstance(source, str) else ''.join(source)


def _python_only(code):
    return '\n'.join(_IPYTHON_LINE.sub(r'\1pass  # ', line) for line in code.split('\n'))


def syntax_error(cells):
    """The first syntax error in `cells`, described with its place, or None."""
    for cell in cells:
        try:
            compile(cell.code, cell.label, 'exec')
        except SyntaxError as error:
            where = f"{cell.label}, line {error.lineno}" if error.lineno else cell.label
            text = f"syntax error in {where}: {error.msg}"
            if error.text and error.text.strip():
                line = error.text.rstrip('\n')
                text += f"\n    {line.strip()}"
                if error.offset:
                    caret = error.offset - 1 - (len(line) - len(line.lstrip()))
                    text += '\n    ' + ' ' * max(caret, 0) + '^'
            return text
        except ValueError as error:  # source code containing null bytes
            return f"{cell.label} cannot be compiled: {error}"
    return None
