"""Errors that training and evaluation raise for a user's mistake.

::

    ValueError
     └── TrainingInputError   bad input: a file, row or field the user can fix

The CLI turns a ``TrainingInputError`` into one line on stderr and exit status 1; any other
exception is a bug and keeps its traceback.
"""
from __future__ import annotations


class TrainingInputError(ValueError):
    """Input the user can fix; the message names the file, row or field."""
