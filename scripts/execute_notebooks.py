#!/usr/bin/env python3
"""Run the notebooks in notebooks/ top to bottom and save them with their outputs.

    uv run --extra all --group test python scripts/execute_notebooks.py            every notebook
    uv run --extra all --group test python scripts/execute_notebooks.py 03-training.ipynb

The committed notebooks carry their pictures and printed numbers, so a learner reading
them on a code-hosting site sees what they show. tests/test_notebooks.py runs them again
and fails when a printed output no longer matches the committed one: after changing a
notebook, or code whose output a notebook prints, run this script and commit the result.

Each notebook runs in a fresh kernel of this Python, in an empty temporary folder. The
saved file keeps the notebook's own metadata and drops per-run noise (execution times),
so re-running an unchanged notebook changes only its pictures' bytes, if anything.
"""

import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / 'notebooks'
CELL_TIMEOUT = 120  # seconds; each cell takes a few at most
ADDRESS = re.compile(r' at 0x[0-9a-f]+')
# matplotlib's figures at 72 dots an inch: the committed pictures stay small
SMALL_FIGURES = "import matplotlib as _mpl; _mpl.rcParams['figure.dpi'] = 72; del _mpl"


def execute(notebook, extra_cells=()):
    """Run `notebook` (an nbformat node, changed in place) with `extra_cells` appended.

    Returns the extra cells, executed (they are taken off the notebook again).
    """
    setup = nbformat.v4.new_code_cell(SMALL_FIGURES)
    notebook.cells.insert(0, setup)
    notebook.cells.extend(extra_cells)
    with tempfile.TemporaryDirectory() as workdir:
        client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name='python3',
                                resources={'metadata': {'path': workdir}})
        # a backend chosen for this process (MPLBACKEND=Agg) would keep the kernel from
        # drawing inline: let the kernel choose its own
        client.execute(env={k: v for k, v in os.environ.items() if k != 'MPLBACKEND'})
    notebook.cells.pop(0)
    extras = [notebook.cells.pop() for _ in extra_cells][::-1]
    for number, cell in enumerate((c for c in notebook.cells if c.cell_type == 'code'), start=1):
        cell.execution_count = number
        cell.metadata.pop('execution', None)
        cell.outputs = _steady(cell.outputs)
        for output in cell.outputs:
            if 'execution_count' in output:
                output['execution_count'] = number
    return extras


def _steady(outputs):
    """The outputs without what changes from run to run of the same code: a picture's
    plain-text stand-in that shows a memory address, and the split of printed text into
    chunks (which depends on timing)."""
    steady = []
    for output in outputs:
        data = output.get('data', {})
        if len(data) > 1 and ADDRESS.search(data.get('text/plain', '')):
            del data['text/plain']
        previous = steady[-1] if steady else None
        if (output.get('output_type') == 'stream' and previous is not None
                and previous.get('output_type') == 'stream'
                and previous.get('name') == output.get('name')):
            previous['text'] += output['text']
            continue
        steady.append(output)
    return steady


def printed(cell):
    """What a code cell printed, as text: its stdout and its plain-text results (not pictures).

    Memory addresses (`<... at 0x7f...>`) are left out: they change from run to run.
    """
    parts = []
    for output in cell.get('outputs', []):
        if output.get('output_type') == 'stream' and output.get('name') == 'stdout':
            parts.append(output['text'])
        elif output.get('output_type') == 'execute_result':
            data = output.get('data', {})
            if set(data) == {'text/plain'}:
                parts.append(data['text/plain'] + '\n')
    return ADDRESS.sub(' at 0x...', ''.join(parts))


def main(names):
    paths = [NOTEBOOKS / name for name in names] or sorted(NOTEBOOKS.glob('*.ipynb'))
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        metadata = dict(notebook.metadata)
        execute(notebook)
        notebook.metadata = nbformat.from_dict(metadata)
        nbformat.write(notebook, path)
        print(f"executed {path.relative_to(NOTEBOOKS.parent)} ({path.stat().st_size:,} bytes)")


if __name__ == '__main__':
    main(sys.argv[1:])
