"""The child process of `tapegrad check`: it runs a learner's code and reports what it sees.

    python -s worker.py REQUEST_FD REPLY_FD MEMORY_MIB CPU_SECONDS FILE_MIB BECOME_NOBODY

This file is run as a script and imports only the standard library, so the learner's code
starts in an interpreter holding none of tapegrad. Before any of that code runs, the
worker takes the limits it was given (address space, CPU time, file size, and no new
processes), and becomes the user nobody when the grader, running as root, says so.

It answers requests from the grader (sandbox.py), one JSON line each way, and never
judges anything: the verdicts are the grader's. Each request carries a nonce that the
reply must repeat, so a line that the learner's code writes to the channel before it
is asked is not taken for an answer. Requests:

- `{"load": {"cells": [[label, code], ...], "module": name, "loop": [cell, line, loss]}}`
  runs the cells in one namespace and answers with the errors they raised, what the
  names the exercises ask for are (and where their code comes from), the modules that
  got imported, and, if the grader named a training loop, the loss after each of its
  rounds;
- `{"probe": {"steps": [code, ...], "observe": expression, "seed": n}}` runs the steps in
  a copy of that namespace and answers with the expression's value, or with the error
  that a step raised.
"""

import ast
import builtins
import faulthandler
import json
import math
import os
import random
import resource
import sys
import traceback

NOBODY = 65534
PROBE_FILE = '<tapegrad check>'  # where the grader's probe code is compiled from
LIMITS_FAILED = "tapegrad check: the worker could not take its limits"  # its first words then


def take_limits(memory_mib, cpu_seconds, file_mib, become_nobody):
    """Limits that the learner's code cannot raise again (soft and hard alike)."""
    for limit, value in ((resource.RLIMIT_AS, memory_mib * 2**20),
                         (resource.RLIMIT_CPU, cpu_seconds),
                         (resource.RLIMIT_FSIZE, file_mib * 2**20),
                         (resource.RLIMIT_NPROC, 0),  # no fork(), no threads
                         (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))
    if become_nobody:  # root ignores RLIMIT_NPROC and may read and write anything
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


class Learner:
    """The namespace that the learner's cells ran in, and the labels of those cells."""

    def __init__(self, module_name):
        self.namespace = {'__name__': module_name, '__builtins__': builtins}
        self.labels = set()
        self.losses = []

    def describe(self, error, step=None):
        """The error, the learner's line it came from, and whether it is a stub."""
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        frames = [f for f in _frames(error.__traceback__) if f.f_code.co_filename in self.labels]
        where = None
        if frames:
            frame, line = frames[-1], _line(error.__traceback__, frames[-1])
            where = {'function': frame.f_code.co_qualname, 'label': frame.f_code.co_filename,
                     'line': line}
            text += f" (in {frame.f_code.co_name}, {frame.f_code.co_filename}, line {line})"
        return {'type': type(error).__name__, 'text': text[:2000], 'where': where, 'step': step,
                'stub': isinstance(error, NotImplementedError),
                'recursion': isinstance(error, RecursionError),
                'memory': isinstance(error, MemoryError)}

    def load(self, cells, loop):
        problems = []
        for index, (label, code) in enumerate(cells):
            self.labels.add(label)
            try:
                tree = ast.parse(code, label)
                if loop and loop[0] == index:
                    tree = _record_losses(tree, loop[1], loop[2])
                exec(compile(tree, label, 'exec'), self.namespace)
            except BaseException as error:  # SystemExit too: it is their code that exits
                problems.append(self.describe(error))
        return problems

    def record_loss(self, loss):
        """Called at the end of each round of the learner's training loop."""
        data = getattr(loss, 'data', loss)
        try:
            self.losses.append(float(data))
        except (TypeError, ValueError):
            self.losses.append(repr(data)[:80])

    def origin(self, obj):
        """'learner' for code the learner wrote, else the module that it comes from."""
        if isinstance(obj, type):
            for cls in obj.__mro__:
                if cls.__module__ == 'builtins' or self._written_here(cls):
                    continue
                if cls.__module__.split('.')[0] not in sys.stdlib_module_names:
                    return cls.__module__
            return 'learner'
        code = getattr(obj, '__code__', None)
        if code is not None and code.co_filename in self.labels:
            return 'learner'
        return getattr(obj, '__module__', None) or type(obj).__module__

    def _written_here(self, cls):
        functions = [v for v in vars(cls).values() if hasattr(v, '__code__')]
        if functions:
            return any(f.__code__.co_filename in self.labels for f in functions)
        return cls.__module__ == self.namespace['__name__']

    def names(self, wanted):
        """What each wanted name is: its kind, where its code comes from, its attributes."""
        found = {}
        for name in wanted:
            if name not in self.namespace:
                continue
            obj = self.namespace[name]
            kind = 'class' if isinstance(obj, type) else 'function' if callable(obj) else 'other'
            origin = self.origin(obj) if kind != 'other' else 'learner'
            found[name] = {'kind': kind, 'origin': origin,
                           'attributes': sorted(dir(obj)) if kind == 'class' else []}
        return found

    def probe(self, steps, observe, seed):
        random.seed(seed)
        env = dict(self.namespace)
        env.update(see=self.see, data_of=_data_of, math=math, random=random)
        for step, code in enumerate(steps):
            try:
                exec(compile(code, PROBE_FILE, 'exec'), env)
            except BaseException as error:
                return {'error': self.describe(error, step)}
        try:
            return {'result': eval(compile(observe, PROBE_FILE, 'eval'), env)}
        except BaseException as error:
            return {'error': self.describe(error, len(steps))}

    def see(self, x):
        """A learner's object as plain data: whether it is their Value, its data and grad."""
        value_class = self.namespace.get('Value')
        seen = {'value': isinstance(value_class, type) and isinstance(x, value_class),
                'type': type(x).__name__, 'repr': _repr(x)}
        for field in ('data', 'grad'):
            if hasattr(x, field):
                seen[field] = _number(getattr(x, field))
        return seen


def _frames(tb):
    while tb is not None:
        yield tb.tb_frame
        tb = tb.tb_next


def _line(tb, frame):
    line = None
    while tb is not None:
        if tb.tb_frame is frame:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _repr(x):
    try:
        return repr(x)[:200]
    except Exception as error:  # a broken __repr__ is the learner's to see
        return f"<repr raised {type(error).__name__}: {error}>"[:200]


def _number(x):
    """A float if x is a real number (bools and other objects by their repr)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    return {'repr': _repr(x), 'type': type(x).__name__}


def _data_of(x):
    return _number(getattr(x, 'data', x))


def _record_losses(tree, line, loss_name):
    """The cell with `__tapegrad_loss__(<loss>)` added at the end of the loop at `line`."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.While)) and node.lineno == line:
            call = ast.parse(f"__tapegrad_loss__({loss_name})").body[0]
            ast.copy_location(call, node.body[-1])
            ast.fix_missing_locations(call)
            for child in ast.walk(call):
                ast.copy_location(child, node.body[-1])
            node.body.append(call)
            break
    return tree


def main(request_fd, reply_fd, memory_mib, cpu_seconds, file_mib, become_nobody):
    try:
        take_limits(memory_mib, cpu_seconds, file_mib, become_nobody)
    except (OSError, ValueError, OverflowError) as error:  # say so, rather than run unlimited
        print(f"{LIMITS_FAILED}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        os._exit(1)
    faulthandler.enable(file=sys.stderr)  # a crash still names the line it died on
    requests = os.fdopen(request_fd, 'r', encoding='utf-8')
    replies = os.fdopen(reply_fd, 'w', encoding='utf-8')
    sys.path[0] = os.getcwd()  # the temporary folder, not this package's
    sys.stdin = open(os.devnull, encoding='utf-8')
    learner = None

    def reply(nonce, message):
        replies.write(json.dumps(dict(message, nonce=nonce)) + '\n')
        replies.flush()

    for line in requests:
        request = json.loads(line)
        if 'load' in request:
            load = request['load']
            random.seed(0)  # the learner's own randomness is the same at every check
            learner = Learner(load['module'])
            learner.namespace['__tapegrad_loss__'] = learner.record_loss
            before = set(sys.modules)
            problems = learner.load(load['cells'], load.get('loop'))
            imported = sorted({name.split('.')[0] for name in set(sys.modules) - before})
            reply(request['nonce'], {'problems': problems, 'names': learner.names(load['names']),
                                     'imported': imported, 'losses': learner.losses})
        else:
            probe = request['probe']
            reply(request['nonce'], learner.probe(probe['steps'], probe['observe'], probe['seed']))


if __name__ == '__main__':
    main(*(int(arg) for arg in sys.argv[1:7]))
