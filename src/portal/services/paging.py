"""Pagination of peewee queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from peewee import ModelSelect


@dataclass(frozen=True)
class Page:
    items: list[Any]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def first_index(self) -> int:
        return 0 if self.total == 0 else (self.number - 1) * self.per_page + 1

    @property
    def last_index(self) -> int:
        return min(self.total, self.number * self.per_page)


def paginate(query: ModelSelect, number: int, per_page: int) -> Page:
    """Return page `number` (clamped to the pages there are) of `query`."""
    total = query.count()
    pages = max(1, -(-total // per_page))
    number = min(max(1, number), pages)
    items = list(query.paginate(number, per_page))
    return Page(items=items, number=number, per_page=per_page, total=total)
