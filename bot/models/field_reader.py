"""Typed access to decoded JSON objects, with errors that name the field.

Used for bundle manifests (and by export/ for checkpoint JSON), so a bad file is reported as
``manifest.json: field intent.oos.threshold: expected a number, got 'high'`` rather than a
``KeyError`` deep inside a loader.

Example::

    fields = FieldReader(json.loads(text), "", lambda reason: ValueError(f"{path}: {reason}"))
    fields.mapping("oos").number("threshold")
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


class FieldReader:
    """One JSON object at ``where`` (a dotted path); ``error`` turns a reason into the exception."""

    def __init__(self, data: object, where: str, error: Callable[[str], Exception]) -> None:
        if not isinstance(data, dict):
            place = f"field {where.rstrip('.')}" if where else "top level"
            raise error(f"{place}: expected an object, got {type(data).__name__}")
        self.data = data
        self.where = where
        self.error = error

    def _fail(self, key: str, expected: str, value: object) -> Exception:
        shown = repr(value) if len(repr(value)) < 60 else type(value).__name__
        return self.error(f"field {self.where}{key}: expected {expected}, got {shown}")

    def _get(self, key: str) -> object:
        if key not in self.data:
            raise self.error(f"field {self.where}{key}: missing")
        return self.data[key]

    def keys(self) -> list[str]:
        return [str(k) for k in self.data]

    def __iter__(self) -> Iterator[str]:
        """The keys of the object, as ``for key in fields`` reads them."""
        return iter(self.keys())

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if self.data.get(key) is not None else None

    def integer(self, key: str) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "an integer", value)
        return value

    def optional_integer(self, key: str) -> int | None:
        return self.integer(key) if self.data.get(key) is not None else None

    def number(self, key: str) -> float:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(key, "a number", value)
        return float(value)

    def optional_number(self, key: str) -> float | None:
        return self.number(key) if self.data.get(key) is not None else None

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = self.text(key)
        if value not in options:
            raise self._fail(key, f"one of {list(options)}", value)
        return value

    def texts(self, key: str) -> list[str]:
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, "a list of strings", value)
        return list(value)

    def mapping(self, key: str) -> FieldReader:
        return FieldReader(self._get(key), f"{self.where}{key}.", self.error)

    def build(self, make: Callable[[], T]) -> T:
        """Run a constructor that validates its values; its ``ValueError`` names this object."""
        try:
            return make()
        except ValueError as error:
            raise self.error(f"field {self.where.rstrip('.') or 'top level'}: {error}") from None
