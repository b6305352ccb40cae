"""Reference implementations the benchmarks compare against, fetched from PyPI on demand."""

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CACHE = Path(tempfile.gettempdir()) / 'tapegrad-reference'


def fetch_micrograd(version='0.1.0'):
    """A folder holding the real micrograd package: put it first on PYTHONPATH.

    Installed with --target into a folder of its own, because tapegrad ships a `micrograd`
    drop-in of the same name.
    """
    target = CACHE / f'micrograd-{version}'
    if (target / 'micrograd' / 'engine.py').exists():
        return target
    args = ['install', '--no-deps', '--target', str(target), f'micrograd=={version}']
    if importlib.util.find_spec('pip'):
        command = [sys.executable, '-m', 'pip'] + args
    elif shutil.which('uv'):
        command = ['uv', 'pip'] + args + ['--python', sys.executable]
    else:
        raise RuntimeError("fetching micrograd needs pip or uv; install one (pip install uv)")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"could not install micrograd {version} from PyPI into {target}:\n"
                           f"{done.stderr}")
    return target
