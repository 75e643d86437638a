"""Pages over tables that grow for months."""
from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: an exact COUNT over millions of jobs would cost more than the page
    itself. Up to CAP the count is exact; past it, the count says CAP and the pages stop there
    (filters, or the API's `before`, reach further back)."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP].count()
