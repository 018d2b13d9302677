"""The project's error type for bad input.

Everything that reads something from outside the program -- a data file, a saved
model, an argument typed by a user -- raises :class:`DataError` when that input is
malformed.  Callers (the command line, the Streamlit app) can then catch one type
and show its message, which always says *what* is wrong and *where*.
"""


class DataError(ValueError):
    """The one project error for malformed input (data files, model files, arguments).

    It subclasses :class:`ValueError` because bad input *is* a bad value; code that
    already catches ``ValueError`` keeps working.  The message is meant for people:
    it names the file (or argument) and the exact place of the problem, e.g.
    ``"train.csv: row 17: expected 785 columns, found 784"``.
    """
