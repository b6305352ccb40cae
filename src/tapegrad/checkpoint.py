"""Checkpoints: a model's architecture and parameters (and optionally an optimiser's state
and a training run's progress) in one JSON file.

JSON, never pickle: loading a checkpoint reads numbers and names and runs no code. Floats
are written with Python's repr, which reads back to the same bits, so a resumed run is
bit-identical to one that never stopped. Files are written atomically: into a temporary
file beside the target, then renamed over it, so a crash mid-write leaves the previous
checkpoint whole. Standard library only.
"""

import json
import math
import os
import tempfile
from pathlib import Path

FORMAT = 'tapegrad-checkpoint'
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file cannot be used; the message names the file and the problem."""


def write(path, model, optimizer=None, training=None):
    """Write `model` (and the optimizer's state, and `training` progress) atomically."""
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
    text = json.dumps(document, indent=1)
    folder = path.parent if str(path.parent) else Path('.')
    handle, temporary = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read(path):
    """The checkpoint's contents as a dict, checked for format, version and shape."""
    path = Path(path)
    try:
        text = path.read_text(encoding='utf-8')
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not a tapegrad checkpoint (not text)") from None
    if not text.strip():
        raise CheckpointError(f"{path}: the file is empty (was its writing interrupted?)")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: not valid JSON at line {error.lineno}, column "
                              f"{error.colno} ({error.msg}); the file is truncated or "
                              f"corrupted") from None
    if not isinstance(document, dict) or document.get('format') != FORMAT:
        raise CheckpointError(f"{path}: not a tapegrad checkpoint (no \"format\": \"{FORMAT}\")")
    if document.get('version') != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {document.get('version')!r}; "
                              f"this tapegrad reads version {VERSION}")
    parameters = document.get('parameters')
    if not isinstance(parameters, list) or not all(
            isinstance(p, (int, float)) and not isinstance(p, bool) for p in parameters):
        raise CheckpointError(f"{path}: \"parameters\" must be a list of numbers")
    if not all(math.isfinite(p) for p in parameters):
        raise CheckpointError(f"{path}: some parameters are not finite numbers")
    if not isinstance(document.get('model'), dict):
        raise CheckpointError(f"{path}: \"model\" must describe the architecture")
    return document


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
