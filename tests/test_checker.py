"""`tapegrad check` and `tapegrad exercises`, graded against known answers.

The checker must pass correct engines (our solutions, and a learner's engine written in
micrograd's style, tests/checker_cases/engine.py), say "not started" for untouched
stubs, and report each classic mistake against the exercise it belongs to, naming the
symptom. Each broken engine is engine.py with one mistake made, shown as the edit.
"""

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tapegrad.checker import check_path, write_exercises
from tapegrad.checker.checks import EXERCISES

CASES = Path(__file__).parent / 'checker_cases'
ENGINE = (CASES / 'engine.py').read_text()

ITERATIVE_ORDER = ENGINE[ENGINE.index('        topo, visited = [], set()\n'):
                         ENGINE.index('        self.grad = 1.0\n')]
RECURSIVE_ORDER = '''        topo, visited = [], set()

        def build(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build(child)
                topo.append(v)
        build(self)
'''

# name: (text in engine.py, its replacement, the exercise that fails, words the report must hold)
MISTAKES = {
    'plus_equals': ("            self.grad += out.grad\n            other.grad += out.grad",
                    "            self.grad = out.grad\n            other.grad = out.grad",
                    4, ["a.grad is 1.0; expected 2.0", "use = instead of +="]),
    'mul_derivative': ("            self.grad += other.data * out.grad",
                       "            self.grad += self.data * out.grad",
                       4, ["a.grad is 2.0; expected 3.0", "That is a.data"]),
    'no_radd': ("    def __radd__(self, other):\n        return self + other\n", "",
                2, ["TypeError", "sum()", "define __radd__"]),
    'recursive_order': (ITERATIVE_ORDER, RECURSIVE_ORDER,
                        4, ["recursed too deep on a 2,000-node chain", "RecursionError",
                            "with a loop"]),
    'order_not_reversed': ("        for node in reversed(topo):", "        for node in topo:",
                           4, ["a.grad is 0.0", "walk the topological order in reverse"]),
    'tanh_of_input': ("            self.grad += (1 - t ** 2) * out.grad",
                      "            self.grad += (1 - self.data ** 2) * out.grad",
                      5, ["b = a.tanh()", "That is 1 - x**2 of the input"]),
    'layer_drops_neuron': ("        out = [n(x) for n in self.neurons]",
                           "        out = [n(x) for n in self.neurons[:-1]]",
                           7, ["out has 3 values; expected 4", "skip a neuron"]),
    'no_zero_grad': ("        model.zero_grad()\n        loss.backward()",
                     "        loss.backward()",
                     8, ["At step 2 the loss", "call model.zero_grad()"]),
}


def statuses(report):
    """{exercise number: status} from the report's list of exercises."""
    found = {}
    for e in EXERCISES:
        line = next(line for line in report.splitlines()
                    if line.startswith(f"  {e.number}  {e.title}"))
        found[e.number] = line[len(f"  {e.number}  {e.title}"):].strip()
    return found


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope='module')
def notebooks(tmp_path_factory):
    return write_exercises(tmp_path_factory.mktemp('course'))


def test_solutions_pass_every_exercise(notebooks):
    report, status = check_path(notebooks[1])
    assert set(statuses(report).values()) == {'passed'}, report
    assert status == 0


def test_untouched_exercises_are_all_not_started(notebooks):
    report, status = check_path(notebooks[0])
    assert set(statuses(report).values()) == {'not started'}, report
    assert 'Next: exercise 0' in report
    assert status == 0  # nothing attempted, nothing failed


def test_exercise_notebooks_are_valid_and_differ_only_in_code(notebooks):
    exercises, solutions = (nbformat.read(path, as_version=4) for path in notebooks)
    for notebook in (exercises, solutions):
        nbformat.validate(notebook)
    assert [c.source for c in exercises.cells if c.cell_type == 'markdown'] == \
        [c.source for c in solutions.cells if c.cell_type == 'markdown']
    stubs = ''.join(c.source for c in exercises.cells if c.cell_type == 'code')
    # every exercise but 3 (whose code goes into the cells of 1 and 2) has stubs of its own
    assert {int(n) for n in re.findall(r'NotImplementedError\("Exercise (\d)', stubs)} == \
        set(range(9)) - {3}
    assert 'NotImplementedError' not in ''.join(c.source for c in solutions.cells
                                                if c.cell_type == 'code')


def test_exercises_are_not_written_over_a_learners_work(notebooks):
    with pytest.raises(FileExistsError, match='may hold your work'):
        write_exercises(notebooks[0].parent)


def test_a_learners_engine_file_passes_and_its_prints_stay_out(tmp_path):
    report, status = check_path(CASES / 'engine.py')
    assert set(statuses(report).values()) == {'passed'}, report
    assert status == 0
    assert 'loading' not in report and 'step loss' not in report


@pytest.mark.parametrize('mistake', MISTAKES)
def test_a_mistake_is_reported_against_its_exercise(mistake, tmp_path):
    old, new, exercise, words = MISTAKES[mistake]
    assert ENGINE.count(old) == 1
    report, status = check_path(write(tmp_path, f'{mistake}.py', ENGINE.replace(old, new)))
    found = statuses(report)
    assert found[exercise] == 'FAILED', report
    assert all(found[n] == 'passed' for n in range(exercise)), report
    assert all(found[n] == f'blocked (exercise {exercise} failed)'
               for n in range(exercise + 1, len(EXERCISES))), report
    details = report[report.index(f"Exercise {exercise} ("):]
    for phrase in words:
        assert phrase in details, report
    assert status == 1


def test_a_syntax_error_is_reported_with_its_line(tmp_path):
    path = write(tmp_path, 'typo.py', "import math\n\ndef numerical_derivative(f, x h=1e-6):\n"
                                      "    return 0\n")
    report, status = check_path(path)
    assert 'syntax error in typo.py, line 3' in report
    assert 'def numerical_derivative(f, x h=1e-6):' in report
    assert status == 1


def test_an_endless_loop_in_one_exercise_is_stopped(tmp_path):
    looping = ENGINE.replace("        self.grad = 1.0\n        for node in reversed(topo):",
                             "        while True:\n            pass\n"
                             "        for node in reversed(topo):")
    report, status = check_path(write(tmp_path, 'loops.py', looping), timeout=1.0)
    found = statuses(report)
    assert [found[n] for n in range(5)] == ['passed'] * 4 + ['FAILED'], report
    assert 'took longer than 1 s' in report
    assert status == 1


def test_an_endless_loop_while_loading_is_stopped(tmp_path):
    report, status = check_path(write(tmp_path, 'hangs.py', "while True:\n    pass\n"),
                                timeout=1.0)
    assert 'Running your file took longer than 1 s' in report
    assert status == 1


def test_odd_exceptions_and_exits_are_reported(tmp_path):
    odd = ENGINE.replace("    def __rmul__(self, other):\n        return self * other",
                         "    def __rmul__(self, other):\n        raise KeyError('odd')")
    report, status = check_path(write(tmp_path, 'odd.py', odd))
    assert statuses(report)[2] == 'FAILED'
    assert "KeyError: 'odd' (in __rmul__, odd.py, line" in report

    quits = ENGINE.replace("    def __repr__(self):\n",
                           "    def __repr__(self):\n        import os; os._exit(3)\n")
    report, status = check_path(write(tmp_path, 'quits.py', quits))
    found = statuses(report)
    assert found[0] == 'passed' and found[1] == 'FAILED', report
    assert 'ended the Python process: it exited with status 3' in report
    assert status == 1


def test_a_notebook_runs_every_cell_and_the_last_definition_wins(tmp_path):
    cells = [
        "%matplotlib inline\n!pip install nothing",
        "class Value:\n    def __init__(self, data):\n"
        "        raise NotImplementedError('Exercise 1: __init__')",
        "print('a print the report must not show')\nraise RuntimeError('a cell that fails')",
        ENGINE,
    ]
    notebook = {'cells': [{'cell_type': 'code', 'source': text, 'metadata': {},
                           'outputs': [], 'execution_count': None} for text in cells]
                + [{'cell_type': 'markdown', 'source': '# notes', 'metadata': {}}],
                'metadata': {}, 'nbformat': 4, 'nbformat_minor': 4}
    report, status = check_path(write(tmp_path, 'mine.ipynb', json.dumps(notebook)))
    assert set(statuses(report).values()) == {'passed'}, report
    assert ('RuntimeError: a cell that fails (in <module>, mine.ipynb, code cell 3, line 2)'
            in report)
    assert 'must not show' not in report
    assert status == 0


def test_a_stub_defined_after_the_work_is_explained(tmp_path):
    stub_last = ENGINE + ("\n\nclass Value:\n    def __init__(self, data, _children=(), _op=''):\n"
                          "        raise NotImplementedError('Exercise 3: keep _prev and _op')\n")
    report, status = check_path(write(tmp_path, 'stub_last.py', stub_last))
    found = statuses(report)
    assert found[1] == 'not started' and found[2] == 'not started', report
    assert 'the last definition counts' in report


def test_both_notebooks_run_in_jupyter_without_errors(notebooks):
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        NotebookClient(notebook, timeout=60, kernel_name='python3',
                       resources={'metadata': {'path': str(path.parent)}}).execute()
    printed = ''.join(out.get('text', '') for cell in notebook.cells if cell.cell_type == 'code'
                      for out in cell.outputs)  # of the solutions, run last
    assert '24.7041\n138.8338 645.5773\n' in printed  # micrograd's README numbers


def test_a_tanh_network_as_in_karpathys_video_passes_too(tmp_path):
    video_style = ENGINE
    for old, new in [("def __init__(self, nin, nonlin=True):", "def __init__(self, nin):"),
                     ("        self.nonlin = nonlin\n", ""),
                     ("return act.relu() if self.nonlin else act", "return act.tanh()"),
                     ("Layer(sz[i], sz[i + 1], nonlin=i != len(nouts) - 1)",
                      "Layer(sz[i], sz[i + 1])")]:
        assert video_style.count(old) == 1
        video_style = video_style.replace(old, new)
    report, status = check_path(write(tmp_path, 'video.py', video_style))
    assert set(statuses(report).values()) == {'passed'}, report
