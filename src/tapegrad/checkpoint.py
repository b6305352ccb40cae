"""Checkpoints: a model's architecture and parameters (and optionally an optimiser's state
and a training run's progress) in one JSON file.

JSON, never pickle: loading a checkpoint reads numbers and names and runs no code. Floats
are written with Python's repr, which reads back to the same bits, so a resumed run is
bit-identical to one that never stopped. Files are written atomically: into a temporary
file beside the target, then renamed over it, so a crash mid-write leaves the previous
checkpoint whole. A SHA-256 checksum of the text before it catches any changed digit. Reading
checks every field before anything is built from it: the model a file describes must have
as many parameters as the file holds. Standard library only.
"""

import glob
import hashlib
import json
import math
import os
import re
import tempfile
from pathlib import Path

FORMAT = 'tapegrad-checkpoint'
VERSION = 2     # version 2 added the checksum
READS = (1, 2)
LONGEST_INTEGER = 30  # digits; longer integers are reported, never converted

# The settings of the models tapegrad knows (micrograd's classes have the same names).
SETTINGS = {
    'MLP': {'nin', 'nouts', 'act', 'out_act'},
    'Layer': {'nin', 'nout', 'act', 'nonlin'},
    'Neuron': {'nin', 'act', 'nonlin'},
}


class CheckpointError(ValueError):
    """A checkpoint file cannot be used; the message names the file and the problem."""


# ----------------------------------------------------------------------------------
# Writing


def write(path, model, optimizer=None, training=None, classes=None):
    """Write `model` (and the optimizer's state, `training` progress, the names of the
    classes its outputs stand for) atomically; return the path."""
    path = Path(path)
    document = {
        'format': FORMAT,
        'version': VERSION,
        'class': type(model).__name__,
        'model': model.config(),
        'parameters': [p.data for p in model.parameters()],
        'optimizer': None if optimizer is None else {
            'class': type(optimizer).__name__, 'state': optimizer.state_dict()},
        'training': training,
    }
    if classes is not None:
        document['classes'] = list(classes)
    _write_atomically(path, _text(document))
    return path


def _write_atomically(path, text):
    folder = path.parent if str(path.parent) else Path('.')
    _remove_stale_temporaries(folder, path.name)
    try:
        mode = path.stat().st_mode & 0o777   # overwriting keeps the file's permissions
    except FileNotFoundError:
        mode = 0o666 & ~_umask()             # a new file gets what open() would give it
    # the writer's process id in the name tells a later save whether the writer is gone
    handle, temporary = tempfile.mkstemp(prefix=f'.{path.name}.{os.getpid()}.', suffix='.tmp',
                                         dir=folder)
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and not error.filename:  # a full disk names no file
            raise OSError(error.errno, error.strerror or str(error), str(path)) from error
        raise


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_stale_temporaries(folder, name):
    """Delete the temporary files that writers killed mid-save (kill -9) left behind."""
    pattern = re.compile(re.escape(f'.{name}.') + r'(\d+)\.[^.]*\.tmp')
    for candidate in folder.glob(f'.{glob.escape(name)}.*.tmp'):
        match = pattern.fullmatch(candidate.name)
        if match and not _is_running(int(match[1])):
            candidate.unlink(missing_ok=True)


def _is_running(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


# The checksum is the last field, of the text before it: a digit changed by hand changes
# the checksum even where the new digits would read back as the same float.
_CHECKSUM = re.compile(r',\n "checksum": "([^"\n]*)"\n\}\s*$')


def _text(document):
    """The file's text: the document, then the SHA-256 of its text as the last field."""
    body = json.dumps({key: value for key, value in document.items() if key != 'checksum'},
                      indent=1)
    return body[:-2] + f',\n "checksum": "{_sha256(body)}"\n}}\n'


def _sha256(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def _checksum_matches(text):
    found = _CHECKSUM.search(text)
    return found is not None and found[1] == _sha256(text[:found.start()] + '\n}')


# ----------------------------------------------------------------------------------
# Reading


class _LongInteger(str):
    """An integer literal too long to convert: kept as its digits, reported by the checks."""


def _parse_int(digits):
    return int(digits) if len(digits.lstrip('-')) <= LONGEST_INTEGER else _LongInteger(digits)


def read(path):
    """The checkpoint's contents as a dict, every field checked; CheckpointError if not."""
    path = Path(path)
    try:
        text = path.read_text(encoding='utf-8')
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not a tapegrad checkpoint (not text)") from None
    if not text.strip():
        raise CheckpointError(f"{path}: the file is empty (was its writing interrupted?)")
    try:
        document = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: not valid JSON at line {error.lineno}, column "
                              f"{error.colno} ({error.msg}); the file is truncated or "
                              f"corrupted") from None
    except RecursionError:
        raise CheckpointError(f"{path}: {_deepest_field(text)} is nested too deeply; "
                              f"a checkpoint's fields are lists and tables a few levels "
                              f"deep") from None
    if not isinstance(document, dict) or document.get('format') != FORMAT:
        raise CheckpointError(f"{path}: not a tapegrad checkpoint (no \"format\": \"{FORMAT}\")")
    if document.get('version') not in READS:
        raise CheckpointError(f"{path}: checkpoint format version {_show(document.get('version'))}; "
                              f"this tapegrad reads versions {' and '.join(map(str, READS))}")
    _Fields(path).check(document)
    if document['version'] >= 2 and not _checksum_matches(text):
        raise CheckpointError(f"{path}: the checksum does not match the contents: the file "
                              f"was changed or corrupted after it was written")
    return document


class _Fields:
    """Checks of each field of a checkpoint document; an error names the file and the field."""

    def __init__(self, path):
        self.path = path

    def fail(self, field, problem):
        raise CheckpointError(f"{self.path}: \"{field}\" {problem}")

    def check(self, document):
        name = document.get('class')
        if not isinstance(name, str) or not name:
            self.fail('class', f"must name the model's class, such as \"MLP\"; got {_show(name)}")
        config = document.get('model')
        if not isinstance(config, dict):
            self.fail('model', f"must describe the architecture, got {_show(config)}")
        for key, value in config.items():
            if name in SETTINGS and key not in SETTINGS[name]:
                self.fail(f'model.{key}', f"is not a setting of {name} (those are "
                                          f"{', '.join(sorted(SETTINGS[name]))})")
            self.settings_value(f'model.{key}', value)
        parameters = document.get('parameters')
        self.numbers('parameters', parameters)
        if name in SETTINGS:
            self.size_matches(name, config, parameters)
        self.optimizer(document.get('optimizer'))
        self.training(document.get('training'))
        classes = document.get('classes')
        if classes is not None and (not isinstance(classes, list) or not all(
                isinstance(c, (str, int, float)) and not isinstance(c, _LongInteger) for c in classes)):
            self.fail('classes', f"must be a list of class names, got {_show(classes)}")
        if document['version'] >= 2 and not isinstance(document.get('checksum'), str):
            self.fail('checksum', f"is missing or not text: {_show(document.get('checksum'))}")

    def settings_value(self, field, value):
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.settings_value(f'{field}[{i}]', item)
        elif isinstance(value, _LongInteger) or not (
                value is None or isinstance(value, (str, bool, int))
                or isinstance(value, float) and math.isfinite(value)):
            self.fail(field, f"is {_show(value)}: not a setting (a number, name or list of numbers)")

    def whole(self, field, value, least=0):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            self.fail(field, f"must be a whole number >= {least}, got {_show(value)}")
        return value

    def number(self, field, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(field, f"is {_show(value)}: not a number")
        if not math.isfinite(value):
            self.fail(field, f"is {value}: not a finite number")

    def numbers(self, field, values):
        if not isinstance(values, list):
            self.fail(field, f"must be a list of numbers, got {_show(values)}")
        for i, value in enumerate(values):
            self.number(f'{field}[{i}]', value)

    def size_matches(self, name, config, parameters):
        """The described model's parameter count, checked before anything is built."""
        nin = self.whole('model.nin', config.get('nin'), least=1)
        if name == 'MLP':
            nouts = config.get('nouts')
            if not isinstance(nouts, list) or not nouts:
                self.fail('model.nouts', f"must be a list of layer sizes, got {_show(nouts)}")
            layers = [nin] + [self.whole(f'model.nouts[{i}]', n, least=1) for i, n in enumerate(nouts)]
        elif name == 'Layer':
            layers = [nin, self.whole('model.nout', config.get('nout'), least=1)]
        else:
            layers = [nin, 1]
        count = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(layers, layers[1:]))
        if count != len(parameters):
            described = ', '.join(f'{k}={_show(v)}' for k, v in config.items())
            raise CheckpointError(f"{self.path}: describes a {name}({described}) with "
                                  f"{count:,} parameters, but \"parameters\" holds "
                                  f"{len(parameters):,}")

    def optimizer(self, saved):
        if saved is None:
            return
        if not isinstance(saved, dict):
            self.fail('optimizer', f"must be null or a table of class and state, got {_show(saved)}")
        if not isinstance(saved.get('class'), str):
            self.fail('optimizer.class', f"must name the optimizer's class, got "
                                         f"{_show(saved.get('class'))}")
        state = saved.get('state')
        if not isinstance(state, dict):
            self.fail('optimizer.state', f"must be a table of settings, got {_show(state)}")
        for key, value in state.items():
            if isinstance(value, list):
                self.numbers(f'optimizer.state.{key}', value)
            elif value is not None and not isinstance(value, bool):
                self.number(f'optimizer.state.{key}', value)

    def training(self, progress):
        if progress is None:
            return
        if not isinstance(progress, dict):
            self.fail('training', f"must be null or a table of progress, got {_show(progress)}")
        step = self.whole('training.step', progress.get('step'))
        for key in ('seed', 'batch_size'):
            value = progress.get(key)
            if value is not None:
                self.whole(f'training.{key}', value)
        history = progress.get('history')
        if not isinstance(history, dict):
            self.fail('training.history', f"must hold the lists loss, accuracy and lr, got "
                                          f"{_show(history)}")
        for key in ('loss', 'accuracy', 'lr'):
            self.numbers(f'training.history.{key}', history.get(key))
        if len(history['loss']) != step:
            self.fail('training.history.loss', f"holds {len(history['loss'])} losses for "
                                               f"training.step {step}; they must agree")


def _show(value):
    """A value for an error message: short, and a long integer by its number of digits."""
    if isinstance(value, _LongInteger):
        return f"an integer of {len(value.lstrip('-'))} digits"
    if value is None:
        return 'null'
    text = json.dumps(value) if isinstance(value, (str, list, dict)) else repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def _deepest_field(text):
    """The top-level field under which `text` nests deepest (outside strings)."""
    depth, deepest, key, field = 0, 0, None, 'a field'
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        token = match[0]
        if token[0] == '"':
            if depth == 1:
                key = json.loads(token)
        elif token in '[{':
            depth += 1
            if depth > deepest:
                deepest, field = depth, key or field
        else:
            depth -= 1
    return f'"{field}"' if field != 'a field' else field


# ----------------------------------------------------------------------------------
# Restoring


def restore_parameters(path, model, document):
    """Copy the checkpoint's parameters into `model`, which must have its architecture."""
    saved, config = document['parameters'], document['model']
    params = model.parameters()
    if document.get('class') != type(model).__name__ or config != model.config() \
            or len(saved) != len(params):
        raise CheckpointError(f"{path}: holds a {document.get('class')}({_describe(config)}) "
                              f"with {len(saved)} parameters, not a {type(model).__name__}"
                              f"({_describe(model.config())}) with {len(params)}")
    for p, value in zip(params, saved):
        p.data = float(value)
        p.grad = 0.0


def restore_optimizer(path, optimizer, document):
    """Load the checkpoint's optimizer state into `optimizer` (same class and parameters)."""
    saved = document.get('optimizer')
    if saved is None:
        raise CheckpointError(f"{path}: holds no optimizer state; save it with "
                              f"model.save(path, optimizer=opt)")
    if saved.get('class') != type(optimizer).__name__:
        raise CheckpointError(f"{path}: holds the state of a {saved.get('class')} optimizer, "
                              f"not of a {type(optimizer).__name__}")
    try:
        optimizer.load_state_dict(saved['state'])
    except (ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"{path}: {error}") from None


def _describe(config):
    return ', '.join(f'{k}={v!r}' for k, v in config.items())
