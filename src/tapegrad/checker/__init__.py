"""`tapegrad check` and `tapegrad exercises`: grade a learner's own micrograd, exercise by exercise.

`check_path(path, timeout=10.0)` grades a `.py` file or `.ipynb` notebook and returns the
report and the exit status; `write_exercises(directory)` writes `exercises.ipynb`, for a
learner to start from, and `solutions.ipynb` beside it, and returns their paths.
"""

from .grade import check_path
from .notebook import write_exercises

__all__ = ['check_path', 'write_exercises']
