"""The one backend a process uses, chosen from settings on first use (or set by tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Chosen(Generic[T]):
    """`get` chooses the value once with `choose`; `set` replaces it (None: choose again on
    the next `get`); `take` forgets it and hands back what there was."""

    def __init__(self, choose: Callable[[], T]) -> None:
        self.choose = choose
        self.value: T | None = None

    def get(self) -> T:
        if self.value is None:
            self.value = self.choose()
        return self.value

    def set(self, value: T | None) -> None:
        self.value = value

    def take(self) -> T | None:
        value, self.value = self.value, None
        return value
