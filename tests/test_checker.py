"""`tapegrad check` and `tapegrad exercises`, graded against known answers.

The references are code that nobody here wrote or that is written to a known outcome:
the course's own solution (tests/checker_cases/course_solution.py, assembled from the
exercise notebook in the seeds), micrograd 0.1.0's engine.py and nn.py from PyPI, our
exercise notebook with its solutions pasted in, a learner's engine written in micrograd's
style (tests/checker_cases/engine.py) and that engine with one classic mistake made.
Then the checker is attacked: library code passed off as the learner's, forged replies,
and code that allocates, forks, snoops and shouts.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tapegrad import cli
from tapegrad.checker import EXERCISES, check_path, command, grade_all, write_exercises
from tapegrad.checker.report import to_csv, to_html
from tapegrad.checker.sandbox import Sandbox, Stopped
from tapegrad.checker.source import read_cells, syntax_error

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'benchmarks'))
from reference import fetch_micrograd  # noqa: E402

CASES = Path(__file__).parent / 'checker_cases'
ENGINE = (CASES / 'engine.py').read_text()
FINITE_DIFFERENCE = "def numerical_derivative(f, x, h=1e-6):\n    return (f(x + h) - f(x)) / h\n"

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
    """{exercise number: status as the report's list shows it}."""
    found = {}
    for e in EXERCISES:
        line = next(line for line in report.splitlines()
                    if line.startswith(f"  {e.number}  {e.title}"))
        found[e.number] = line[len(f"  {e.number}  {e.title}"):].strip()
    return found


def depends_on(number):
    """The exercises that need `number`, directly or through another."""
    found = set()
    for e in EXERCISES:
        if any(n == number or n in found for n in e.needs):
            found.add(e.number)
    return found


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope='module')
def notebooks(tmp_path_factory):
    return write_exercises(tmp_path_factory.mktemp('course'))


# ----------------------------------------------------------------------------------
# Fair to correct code: the course's own, micrograd's, ours


def test_the_course_solution_passes_all_nine_with_a_note_on_its_recursion():
    report, status = check_path(CASES / 'course_solution.py')
    found = statuses(report)
    assert all(s.startswith('passed') for s in found.values()), report
    assert found[4] == 'passed (see the note below)', report
    assert 'builds its order by recursion' in report and 'RecursionError' in report
    assert 'FAILED' not in report and status == 0
    # exercise 8 ran the course's own training loop, the one at the end of the file
    assert re.search(r"your training loop \(course_solution\.py, line \d+\) lowered loss "
                     r"from [\d.]+ to [\d.e-]+ in 50 rounds", ' '.join(report.split())), report


def test_micrograd_0_1_0_fails_nothing_and_says_what_it_lacks(tmp_path):
    package = fetch_micrograd('0.1.0') / 'micrograd'
    nn = (package / 'nn.py').read_text()
    assert nn.count("from micrograd.engine import Value\n") == 1
    engine_and_nn = (package / 'engine.py').read_text() + nn.replace(
        "from micrograd.engine import Value\n", "")
    report, status = check_path(write(tmp_path, 'micrograd_0_1_0.py', engine_and_nn))
    found = statuses(report)
    assert 'FAILED' not in report, report
    assert found[0] == 'not started: there is no function numerical_derivative'
    assert [found[n] for n in (1, 2, 3, 6, 7)] == ['passed'] * 5, report
    assert found[4] == 'passed (see the note below)'  # its build_topo is recursive
    assert found[5] == ('partly done: there is no tanh or exp; -a and a - b, a / b, a ** k, '
                        'relu() pass')
    assert found[8] == "passed, with the checker's own training loop (see below)"
    assert "the checker trained your MLP with its own loop" in report
    assert status == 0


def test_the_exercise_notebook_with_the_solutions_pasted_in_passes_all_nine(notebooks, tmp_path):
    exercises, solutions = (nbformat.read(path, as_version=4) for path in notebooks)
    answers = iter(c.source for c in solutions.cells if c.cell_type == 'code')
    for cell in exercises.cells:
        if cell.cell_type == 'code':
            cell.source = next(answers)
    path = tmp_path / 'exercises.ipynb'
    nbformat.write(exercises, path)
    report, status = check_path(path)
    assert set(statuses(report).values()) == {'passed'}, report
    assert status == 0


def test_untouched_exercises_are_all_not_started_and_say_why(notebooks):
    report, status = check_path(notebooks[0])
    found = statuses(report)
    assert found[0] == ('not started: numerical_derivative (exercises.ipynb, code cell 1, '
                        'line 8) still raises NotImplementedError'), report
    assert found[1].startswith('not started: Value.__init__ (exercises.ipynb, code cell 2')
    assert found[2] == 'not started: exercise 1 comes first'
    assert all(s.startswith('not started: ') for s in found.values()), report
    assert status == 0  # nothing attempted, nothing failed


def test_a_learners_engine_file_passes_and_its_prints_stay_out():
    report, status = check_path(CASES / 'engine.py')
    assert set(statuses(report).values()) == {'passed'}, report
    assert status == 0
    assert 'loading' not in report and 'step loss' not in report


def test_a_recursive_order_passes_with_a_note_on_how_to_write_it_as_a_loop(tmp_path):
    assert ENGINE.count(ITERATIVE_ORDER) == 1
    report, status = check_path(write(tmp_path, 'recursive.py',
                                      ENGINE.replace(ITERATIVE_ORDER, RECURSIVE_ORDER)))
    assert statuses(report)[4] == 'passed (see the note below)', report
    assert 'a chain 2,000 Values deep it raised RecursionError' in report
    assert 'build the\n  order with a loop' in report or 'build the order with a loop' in report
    assert status == 0


def test_the_first_half_of_the_lecture_is_graded_where_it_can_be():
    """Exercise 2 fails (a + 2); 3 and 4 do not need numbers and are graded; 5 does."""
    report, status = check_path(CASES / 'lecture_first_half.py')
    found = statuses(report)
    assert found[0] == 'not started: there is no function numerical_derivative'
    assert found[1] == 'passed' and found[2] == 'FAILED' and found[3] == 'passed', report
    assert found[4] == 'passed (see the note below)', report
    assert found[5] == 'blocked: exercise 2 failed', report
    assert found[6] == 'not started: there is no class Module or Neuron', report
    assert found[7] == 'not started: there is no class Layer or MLP', report
    assert "A plain number has no .data" in report


@pytest.mark.parametrize('mistake', MISTAKES)
def test_a_mistake_is_reported_against_its_exercise_and_blocks_only_what_needs_it(mistake,
                                                                                tmp_path):
    old, new, exercise, words = MISTAKES[mistake]
    assert ENGINE.count(old) == 1
    report, status = check_path(write(tmp_path, f'{mistake}.py', ENGINE.replace(old, new)))
    found = statuses(report)
    assert found[exercise] == 'FAILED', report
    blocked = depends_on(exercise)
    for number, seen in found.items():
        if number in blocked:
            assert seen == f'blocked: exercise {exercise} failed', report
        elif number != exercise:
            assert seen == 'passed', report
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
                                timeout=0.5)
    assert 'Running your file took longer than 1.5 s' in report
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
    assert found[2] == 'blocked: exercise 1 failed'
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


def test_only_lines_that_start_a_statement_are_magics(tmp_path):
    """A `%` or `!` inside brackets or a string is Python, as Jupyter runs it."""
    cells = ["slope = 2.0\nprint('slope %.3f'\n      % slope)\nratio = (slope\n"
             "         != 1.0)",
             "text = '''\n%s per step\n!'''\nwide = 3 \\\n    % 2",
             "%matplotlib inline\nif True:\n    !pip install nothing\n    %time x = 1\n"
             "x = [1,\n     2]\n!ls"]
    notebook = {'cells': [{'cell_type': 'code', 'source': text, 'metadata': {},
                           'outputs': [], 'execution_count': None} for text in cells],
                'metadata': {}, 'nbformat': 4, 'nbformat_minor': 4}
    read = read_cells(write(tmp_path, 'magic.ipynb', json.dumps(notebook)))
    assert syntax_error(read) is None
    assert [cell.code for cell in read[:2]] == cells[:2]  # plain Python: left as it is
    assert read[2].code.splitlines() == [
        'pass  # matplotlib inline', 'if True:', '    pass  # pip install nothing',
        '    pass  # time x = 1', 'x = [1,', '     2]', 'pass  # ls']


def test_a_stub_defined_after_the_work_is_explained(tmp_path):
    stub_last = ENGINE + ("\n\nclass Value:\n    def __init__(self, data, _children=(), _op=''):\n"
                          "        raise NotImplementedError('Exercise 3: keep _prev and _op')\n")
    report, status = check_path(write(tmp_path, 'stub_last.py', stub_last))
    found = statuses(report)
    assert found[1].startswith('not started: Value.__init__ (stub_last.py, line'), report
    assert 'Value is defined 2 times' in found[1] and 'the last definition counts' in found[1]
    assert found[2] == 'not started: exercise 1 comes first'


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


def test_a_training_loop_that_does_not_lower_the_loss_fails(tmp_path):
    course = (CASES / 'course_solution.py').read_text()
    update = "        p.data += -learning_rate * p.grad\n"
    assert course.count(update) == 1
    report, status = check_path(write(tmp_path, 'uphill.py', course.replace(
        update, "        p.data += learning_rate * p.grad\n")))
    assert statuses(report)[8] == 'FAILED', report
    assert re.search(r"Your training loop \(uphill\.py, line \d+\) did not lower loss",
                     ' '.join(report.split())), report
    assert status == 1


# ----------------------------------------------------------------------------------
# Library code is not the learner's


@pytest.mark.parametrize('cheat, libraries', [
    ("from tapegrad import numerical_derivative\nfrom micrograd.engine import Value\n"
     "from micrograd.nn import Module, Neuron, Layer, MLP\n", {'tapegrad', 'micrograd'}),
    ("from tapegrad import numerical_derivative, Value\n"
     "from tapegrad.nn import Module, Neuron, Layer, MLP\n", {'tapegrad'}),
    ("import micrograd.engine, micrograd.nn\nimport tapegrad\n"
     "numerical_derivative = tapegrad.numerical_derivative\n"
     "class Value(micrograd.engine.Value):\n    pass\n"
     "Module, Neuron, Layer, MLP = (micrograd.nn.Module, micrograd.nn.Neuron, micrograd.nn.Layer,"
     " micrograd.nn.MLP)\n", {'tapegrad', 'micrograd'}),
    ("exec('from micrograd.engine import Value')\nexec('from micrograd.nn import *')\n"
     "exec('from tapegrad import numerical_derivative')\n", {'tapegrad', 'micrograd'}),
], ids=['the-three-lines', 'tapegrad', 'subclass-and-attributes', 'hidden-in-exec'])
def test_library_code_passed_off_as_ones_own_does_not_pass(cheat, libraries, tmp_path):
    report, status = check_path(write(tmp_path, 'cheat.py', cheat))
    found = statuses(report)
    assert not any(s.startswith('passed') for s in found.values()), report
    assert all(s.startswith('not yours: uses ') for s in found.values()), report
    # run, `micrograd` is tapegrad's drop-in package: its Value is tapegrad's
    assert found[1] in {f"not yours: uses {library}'s Value, not your own"
                        for library in libraries}, report
    assert found[0] == "not yours: uses tapegrad's numerical_derivative, not your own"
    assert status == 1


def test_comparing_with_pytorch_is_allowed(tmp_path):
    report, status = check_path(write(tmp_path, 'compares.py', "import torch\n" + ENGINE))
    assert set(statuses(report).values()) == {'passed'}, report
    assert 'Your code imports torch' in report


# ----------------------------------------------------------------------------------
# Forged verdicts: the worker reports observations, the grader decides


FORGERIES = {
    'replace-grade': '''
import sys
import tapegrad.checker.grade, tapegrad.checker.worker
def grade(*args, **kwargs):
    return {'status': 'passed'}
for module in (tapegrad.checker.grade, tapegrad.checker.worker, sys.modules['__main__']):
    module.grade = grade
worker = sys.modules['__main__']
worker.Learner.probe = lambda self, *args: {'status': 'passed', 'result': True}
worker.Learner.names = lambda self, wanted: {n: {'kind': 'class', 'origin': 'learner',
                                                 'attributes': ['backward']} for n in wanted}
''',
    'replace-checks': '''
from tapegrad.checker.exercises import EXERCISES
for exercise in EXERCISES:
    object.__setattr__(exercise, 'check', lambda learner: None)
import tapegrad.checker.framework as framework
framework.check_snippet = lambda *args, **kwargs: None
framework.run_parts = lambda parts: None
''',
    'fake-lines-then-exit': '''
import json, os
lines = [json.dumps({'status': 'passed', 'number': n}) for n in range(9)]
lines += [json.dumps({'problems': [], 'names': {}, 'imported': [], 'losses': [], 'nonce': ''})]
for fd in range(3, 64):
    try:
        os.write(fd, ('\\n'.join(lines) + '\\n').encode())
    except OSError:
        pass
os._exit(0)
''',
}


@pytest.mark.parametrize('forgery', FORGERIES)
def test_forged_verdicts_do_not_pass(forgery, tmp_path):
    alone = write(tmp_path, f'{forgery}.py', FORGERIES[forgery])
    report, _ = check_path(alone)
    assert not any(s.startswith('passed') for s in statuses_or_none(report).values()), report
    # before an engine whose backward() is wrong: exercise 4 and what needs it still fail
    old, new, exercise, _ = MISTAKES['plus_equals']
    report, status = check_path(write(tmp_path, f'{forgery}_engine.py',
                                      FORGERIES[forgery] + ENGINE.replace(old, new)))
    found = statuses_or_none(report)
    assert not any(found.get(n, '').startswith('passed') for n in depends_on(4) | {4}), report
    assert status == 1


def statuses_or_none(report):
    """The statuses, or {} when the file could not be run at all."""
    return statuses(report) if "  0  numerical_derivative" in report else {}


def test_fake_lines_then_exit_are_reported_as_such(tmp_path):
    report, status = check_path(write(tmp_path, 'fake.py', FORGERIES['fake-lines-then-exit']))
    assert "a reply it had not asked for" in report or "it exited with status 0" in report
    assert status == 1


# ----------------------------------------------------------------------------------
# Isolation: limits, process group, environment, working folder, output


def test_a_3_gib_allocation_is_stopped_by_the_limit_and_reported(tmp_path):
    report, status = check_path(write(tmp_path, 'big.py', FINITE_DIFFERENCE
                                      + "block = bytearray(3 * 2**30)\n"))
    assert 'MemoryError (in <module>, big.py, line 3) (the checker allows 1024 MiB' in report
    assert statuses(report)[0] == 'passed'  # what the file defined before it is still graded


LEAVES_THE_GROUP = 'os.setsid()\n    if os.fork():\n        os._exit(0)\n    '


@pytest.mark.parametrize('escape', ['', LEAVES_THE_GROUP], ids=['fork', 'fork-setsid-fork'])
def test_a_forked_child_does_not_outlive_the_check(escape, tmp_path):
    evidence = tmp_path / 'evidence'
    evidence.mkdir()
    os.chmod(evidence, 0o777)  # writable by the learner's code, whichever user it runs as
    forks = f'''
import os, time
if os.fork() == 0:
    {escape}time.sleep(2)
    open({str(evidence / 'survived')!r}, 'w').write('still here')
    os._exit(0)
''' + FINITE_DIFFERENCE
    report, status = check_path(write(tmp_path, 'forks.py', forks))
    assert statuses(report)[0] == 'passed', report
    time.sleep(3)
    assert not (evidence / 'survived').exists()


def test_the_teachers_environment_is_invisible_to_learner_code(tmp_path, monkeypatch):
    monkeypatch.setenv('SECRET_TOKEN', 'teachers-secret-1234')
    snoops = ("import os\n" + FINITE_DIFFERENCE +
              "raise RuntimeError('environment: ' + ' '.join(sorted(os.environ)) + ' '"
              " + os.environ.get('SECRET_TOKEN', 'no secret'))\n")
    report, _ = check_path(write(tmp_path, 'snoops.py', snoops))
    assert 'teachers-secret-1234' not in report and 'SECRET_TOKEN' not in report
    shown = re.search(r"environment: (.*) no secret", report).group(1).split()
    assert set(shown) <= {'HOME', 'LANG', 'LC_ALL', 'MKL_NUM_THREADS', 'MPLBACKEND',
                          'MPLCONFIGDIR', 'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'PATH',
                          'PYTHONDONTWRITEBYTECODE', 'PYTHONHASHSEED', 'PYTHONIOENCODING',
                          'TAPEGRAD_SANDBOX', 'TMPDIR'}, shown


def test_learner_code_works_in_a_temporary_folder_that_is_removed(tmp_path):
    writes = ("import os\nopen('left_behind.txt', 'w').write('x')\nWHERE = os.getcwd()\n"
              "raise RuntimeError('ran in ' + WHERE)\n")
    report, _ = check_path(write(tmp_path, 'writes.py', writes))
    folder = re.search(r"ran in (\S+)", report).group(1)
    assert 'tapegrad-check-' in folder and not Path(folder).exists()
    assert not (tmp_path / 'left_behind.txt').exists()


def test_600_mib_on_stderr_does_not_grow_the_grader(tmp_path):
    loud = "import sys\nchunk = 'x' * 2**20\nfor _ in range(600):\n    sys.stderr.write(chunk)\n"
    measure = ("import resource, sys\nfrom tapegrad.checker import check_path\n"
               "report, _ = check_path(sys.argv[1])\nprint(report)\n"
               "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    peaks = {}
    for name, prelude in (('quiet', ''), ('loud', loud)):
        path = write(tmp_path, f'{name}.py', prelude + FINITE_DIFFERENCE)
        done = subprocess.run([sys.executable, '-c', measure, str(path)], capture_output=True,
                              text=True, check=True, timeout=120)
        report, peak_kib = done.stdout.rsplit('\n', 2)[0], int(done.stdout.split()[-1])
        assert statuses(report)[0] == 'passed', report
        peaks[name] = peak_kib / 1024
    # the grader keeps the last 64 KiB of the output: it grows by no more than noise
    assert peaks['loud'] < peaks['quiet'] + 16, peaks


@pytest.mark.parametrize('value', ['nan', 'inf', '0', '-1'])
def test_a_time_limit_must_be_positive_and_finite(value, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(['check', 'anything.py', '--timeout', value])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert f"argument --timeout: the time limit must be a positive, finite number of " \
           f"seconds; got '{value}'" in error


def test_a_time_limit_has_an_upper_bound(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(['check', 'anything.py', '--timeout', '1e300'])
    assert stopped.value.code == 2
    assert ("argument --timeout: the time limit must be at most 3600 seconds (an hour) per "
            "exercise; got '1e300'") in capsys.readouterr().err


@pytest.mark.parametrize('memory', ['99999999999999', '63'])
def test_memory_outside_what_the_worker_can_take_is_one_clear_error(memory, capsys):
    assert cli.main(['check', str(CASES / 'engine.py'), '--memory', memory]) == 1
    assert (f"--memory must be a whole number of MiB from 64 to 134217728 (128 TiB); got "
            f"{memory}") in capsys.readouterr().err


def _hard_limit(limit, value):
    import resource
    return lambda: resource.setrlimit(limit, (value, value))


@pytest.mark.parametrize('limit, option, words', [
    ('RLIMIT_AS', ['--memory', '4096'],
     "--memory 4096 is above the limit on memory that this shell set (2929 MiB: `ulimit -v "
     "3000000`), which the checker cannot raise; give --memory 2929 or less"),
    ('RLIMIT_CPU', ['--timeout', '10'],
     "--timeout 10 gives the worker 125 s of CPU time, above the limit that this shell set "
     "(100 s: `ulimit -t 100`), which the checker cannot raise; give --timeout 7.9 or less"),
], ids=['ulimit-v', 'ulimit-t'])
def test_a_limit_above_the_shells_hard_limit_is_one_clear_error(limit, option, words,
                                                                tmp_path):
    import resource
    value = 3_000_000 * 1024 if limit == 'RLIMIT_AS' else 100
    done = subprocess.run([sys.executable, '-m', 'tapegrad', 'check', str(CASES / 'engine.py')]
                          + option, capture_output=True, text=True, timeout=120,
                          preexec_fn=_hard_limit(getattr(resource, limit), value))
    assert done.returncode == 1, done.stdout
    assert done.stderr == f"tapegrad: error: {words}\n"


def test_a_worker_that_cannot_take_its_limits_says_so_before_any_code_runs():
    sandbox = Sandbox(memory_mib=2**45)  # past what setrlimit takes: checked before, normally
    try:
        with pytest.raises(Stopped) as stopped:
            sandbox.load({'cells': [], 'names': [], 'module': 'm', 'loop': None},
                         time.monotonic() + 30)
    finally:
        sandbox.stop()
    assert "the checker could not set the worker's limits (OverflowError" in str(stopped.value)
    assert "before running any code" in str(stopped.value)
    assert "exit()" not in str(stopped.value)


# ----------------------------------------------------------------------------------
# A class at once


def test_a_folder_of_three_submissions_gives_a_csv_of_three_rows(tmp_path, notebooks):
    folder = tmp_path / 'class'
    folder.mkdir()
    write(folder, 'alice.py', ENGINE)
    write(folder, 'bob.py', ENGINE.replace("        for node in reversed(topo):",
                                           "        for node in topo:"))
    (folder / 'carol.ipynb').write_bytes(notebooks[0].read_bytes())
    csv_path, html_path = tmp_path / 'grades.csv', tmp_path / 'grades.html'
    status = cli.main(['check', str(folder), '--report', str(csv_path), '--report',
                       str(html_path)])
    assert status == 1  # bob fails exercise 4
    rows = csv_path.read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith('file,0 numerical_derivative,')
    assert rows[1] == f"{folder / 'alice.py'}," + 'passed,' * 9 + '9'
    assert rows[2] == (f"{folder / 'bob.py'}," + 'passed,' * 4 + 'failed,' + 'blocked,' * 4
                       + '4')
    assert rows[3] == f"{folder / 'carol.ipynb'}," + 'not started,' * 9 + '0'
    page = html_path.read_text()
    assert 'walk the topological order' in page and page.count('<tr>') == 4
    # deterministic: grading again gives the same sheet
    again = [folder / name for name in ('alice.py', 'bob.py', 'carol.ipynb')]
    assert to_csv(grade_all(again)) == csv_path.read_text()
    assert '<table>' in to_html(grade_all(again[:1]))


# A forged answer to "load", with the nonce read from the worker's own frame: bad types
FORGED_LOAD_REPLY = '''
import json, os, sys
frame = sys._getframe()
while 'replies' not in frame.f_locals:
    frame = frame.f_back
replies, nonce = frame.f_locals['replies'], frame.f_locals['request']['nonce']
replies.write(json.dumps({'problems': 5, 'names': [], 'imported': 7, 'losses': None,
                          'nonce': nonce}) + '\\n')
replies.flush()
os._exit(0)
'''
BREAKS_THE_GRADING = {
    'forged.py': (FORGED_LOAD_REPLY, "TypeError"),
    'realtime_signal.py': ("import os\nos.kill(os.getpid(), 40)\n",
                           "Running your file ended the Python process: it crashed (signal 40)"),
    'deep.py': ("x = " + "1 + " * 100_000 + "1\n",
                "deep.py cannot be compiled: it nests too deeply for Python (RecursionError"),
    'numbers.ipynb': (json.dumps({'cells': [{'cell_type': 'code', 'source': [1, 2]}]}),
                      "code cell 1 has a 'source' that is not text"),
}


def test_a_file_that_breaks_the_grading_gets_its_own_error_and_the_class_goes_on(tmp_path):
    paths = [write(tmp_path, name, text) for name, (text, _) in BREAKS_THE_GRADING.items()]
    graded = grade_all(paths + [write(tmp_path, 'alice.py', ENGINE)])
    for submission, (_, error) in zip(graded, BREAKS_THE_GRADING.values()):
        assert error in submission.error, submission.error
        assert not submission.results
    assert graded[-1].passed == len(EXERCISES) and not graded[-1].error
    assert "could not finish grading forged.py" in graded[0].error


def test_grades_are_written_as_files_finish(tmp_path, monkeypatch):
    """A grader killed halfway (say by a learner's os.kill(os.getppid(), ...)) keeps the
    grades of the files that were done."""
    paths = [write(tmp_path, f'{name}.py', FINITE_DIFFERENCE) for name in ('a', 'b', 'c')]

    def killed_after_one(files, timeout, memory_mib, jobs, on_done):
        on_done(1, grade_all([files[1]])[0])
        raise KeyboardInterrupt

    monkeypatch.setattr(command, 'grade_all', killed_after_one)
    sheet = tmp_path / 'grades.csv'
    with pytest.raises(KeyboardInterrupt):
        command.run([str(p) for p in paths], 10.0, 1024, 2, [str(sheet)])
    rows = sheet.read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith(f"{paths[1]},passed,")


@pytest.mark.parametrize('report, words', [
    ('grades.xlsx', "--report {}: the grades are written as .csv or .html; give a file "
                    "name that ends in one of them"),
    ('nosuch/grades.csv', "--report {}: cannot write there"),
    ('a_folder.csv', "--report {}: cannot write there (Is a directory)"),
])
def test_a_report_that_cannot_be_written_stops_before_grading(report, words, tmp_path,
                                                              monkeypatch):
    monkeypatch.setattr(command, 'grade_all', lambda *args, **kwargs: pytest.fail("graded"))
    destination = tmp_path / report
    if report == 'a_folder.csv':
        destination.mkdir()
    with pytest.raises(ValueError) as error:
        command.run([str(write(tmp_path, 'a.py', FINITE_DIFFERENCE))], 10.0, 1024, 2,
                    [str(destination)])
    assert words.format(destination) in str(error.value)


# ----------------------------------------------------------------------------------
# The exercise notebooks themselves


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


def test_both_notebooks_run_in_jupyter_without_errors(notebooks):
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        NotebookClient(notebook, timeout=60, kernel_name='python3',
                       resources={'metadata': {'path': str(path.parent)}}).execute()
    printed = ''.join(out.get('text', '') for cell in notebook.cells if cell.cell_type == 'code'
                      for out in cell.outputs)  # of the solutions, run last
    assert '24.7041\n138.8338 645.5773\n' in printed  # micrograd's README numbers


def test_the_checks_rebuild_neurons_with_one_table_of_activations():
    from tapegrad.checker.exercises import e6_neuron, network
    assert e6_neuron.ACTIVATIONS is network.ACTIVATIONS
