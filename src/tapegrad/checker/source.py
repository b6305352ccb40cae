"""Read a learner's `.py` file or `.ipynb` notebook as code cells, and read that code.

A `.py` file is one cell. A notebook gives its code cells in order; IPython-only lines
(`%matplotlib inline`, `!pip install ...`) become `pass` so that the rest still runs as
plain Python and keeps its line numbers. As in IPython, such a line starts a statement:
a `%` or `!` that begins a line inside brackets or a string is Python's.

`analyse` reads the code without running it, here in the grader: which of the names the
exercises grade are imported from a library, where each is defined, and which loop is
the learner's own training loop.
"""

import ast
import io
import json
import re
import sys
import tokenize
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
    return [Cell(f"{path.name}, code cell {number}",
                 _python_only(_joined(cell.get('source', ''), f"{path}, code cell {number}")))
            for number, cell in enumerate(code_cells, start=1)]


def _joined(source, where):
    """A cell's source: Jupyter writes it as a string or as a list of strings."""
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return ''.join(source)
    if not isinstance(source, str):
        raise LearnerFileError(f"{where} has a 'source' that is not text: {source!r:.80}; "
                               "open the notebook in Jupyter and save it again")
    return source


def _python_only(code):
    lines = code.split('\n')
    for number, line in enumerate(lines):
        if _IPYTHON_LINE.match(line) and _starts_a_statement(lines[:number]):
            lines[number] = _IPYTHON_LINE.sub(r'\1pass  # ', line)
    return '\n'.join(lines)


def _starts_a_statement(before):
    """Whether the line after the lines `before` starts a statement: it is not inside
    brackets, a string or a line continued with a backslash."""
    try:
        for _ in tokenize.generate_tokens(io.StringIO('\n'.join(before) + '\n').readline):
            pass
    except tokenize.TokenError:  # "EOF in multi-line statement" or "... string"
        return False
    except SyntaxError:  # the code before is broken (say, its indentation): a magic anyway
        return True
    return True


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
        except (RecursionError, MemoryError) as error:  # Python's parser gave up
            return (f"{cell.label} cannot be compiled: it nests too deeply for Python "
                    f"({type(error).__name__}: {error}); split a long expression, such as "
                    "a sum of thousands of terms, into several lines")
    return None


# ----------------------------------------------------------------------------------
# Reading the code without running it


@dataclass(frozen=True)
class Analysis:
    libraries: dict    # name -> the library module it is imported from
    definitions: dict  # name -> [(cell label, line)] of each `class`/`def` of that name
    loop: tuple        # (cell index, cell label, line, loss name) of the training loop, or ()


def analyse(cells, names):
    """What the code says about `names`, and its last loop that calls `<loss>.backward()`."""
    modules, bound, definitions, loop = {}, {}, {}, ()
    for index, cell in enumerate(cells):
        for node in _top_level(ast.parse(cell.code, cell.label).body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    name = alias.asname or alias.name.split('.')[0]
                    modules[name] = alias.name if alias.asname else alias.name.split('.')[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name == '*':
                        bound.update({n: node.module for n in names})
                    else:
                        modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                        bound[alias.asname or alias.name] = node.module
            elif isinstance(node, ast.ClassDef):
                library = next(filter(None, (_library(base, modules) for base in node.bases)),
                               None)
                bound[node.name] = library or 'learner'
                definitions.setdefault(node.name, []).append((cell.label, node.lineno))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                bound[node.name] = 'learner'
                definitions.setdefault(node.name, []).append((cell.label, node.lineno))
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        bound[target.id] = _library(node.value, modules) or 'learner'
            if isinstance(node, (ast.For, ast.While)):
                loss = _backward_receiver(node)
                if loss:
                    loop = (index, cell.label, node.lineno, loss)
    libraries = {name: bound[name] for name in names
                 if bound.get(name, 'learner') != 'learner' and _not_stdlib(bound[name])}
    return Analysis(libraries, definitions, loop)


def _top_level(body):
    """The statements that run once when the cell runs: into if/with/try, not into loops
    (a training loop is the outermost one) nor def/class."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.With, ast.Try)):
            for field in ('body', 'orelse', 'finalbody'):
                yield from _top_level(getattr(node, field, []))
            for handler in getattr(node, 'handlers', []):
                yield from _top_level(handler.body)


def _library(expression, modules):
    """The module that `expression` (a name, or an attribute of one) comes from, if any."""
    root = expression
    while isinstance(root, ast.Attribute):
        root = root.value
    if isinstance(root, ast.Call):
        return None
    if isinstance(root, ast.Name) and root.id in modules:
        return modules[root.id].rsplit('.', 1)[0] if root is expression else modules[root.id]
    return None


def _not_stdlib(module):
    return module.split('.')[0] not in sys.stdlib_module_names


def _backward_receiver(loop):
    for node in ast.walk(loop):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == 'backward' and isinstance(node.func.value, ast.Name)):
            return node.func.value.id
    return None
