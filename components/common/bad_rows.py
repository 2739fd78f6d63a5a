"""Row-level robustness for the data stages: a bad row is counted and skipped, never fatal alone.

Real exports hold a few broken rows (invalid encoding, a 10 MB value, binary junk, only
punctuation, only characters the vocab lacks). One of them must not stop a six-hour run, but a
source where many rows are broken is a wrong query or a wrong file: more than
`--max_bad_fraction` of the rows bad stops the stage with the counts and the first bad row of
each kind, so the user can look at it.
"""

import logging

from components.common.cli import check_range
from components.common.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_MAX_BAD_FRACTION = 0.01
MAX_BAD_FRACTION_HELP = ("stop when more than this share of the rows are bad (invalid "
                         "encoding, oversized, binary junk, no text, only [UNK]); fewer are "
                         "counted, logged and skipped")


def check_max_bad_fraction(value):
    check_range("max_bad_fraction", value, 0, 1)


class BadRows:
    """Counts of skipped rows per reason, with where the first row of each reason was."""

    def __init__(self, max_bad_fraction=DEFAULT_MAX_BAD_FRACTION, unit="rows"):
        check_max_bad_fraction(max_bad_fraction)
        self.max_bad_fraction = max_bad_fraction
        self.unit = unit
        self.counts = {}
        self.first = {}

    @property
    def total(self):
        return sum(self.counts.values())

    def skip(self, reason, where, count=1):
        """Count `count` bad rows of `reason`; `where` describes the first one (file, row, …)."""
        if not count:
            return
        if reason not in self.first:
            self.first[reason] = where
            log.warning("skipping a bad row (%s): %s", reason, where)
        self.counts[reason] = self.counts.get(reason, 0) + count

    def merge(self, counts, first):
        """Add counts and first examples gathered elsewhere (e.g. in a worker process)."""
        for reason, count in counts.items():
            self.skip(reason, first.get(reason, "?"), count)

    def check(self, rows_seen, source):
        """Raise a UserError with the counts when the bad rows exceed the allowed share."""
        if self.total == 0 or self.total <= self.max_bad_fraction * rows_seen:
            if self.total:
                log.warning("skipped %d bad %s of %d (%s)", self.total, self.unit, rows_seen,
                            self.describe())
            return
        first_reason = next(iter(self.first))
        raise UserError(
            f"{self.total} of {rows_seen} {self.unit} are bad ({self.describe()}), more than "
            f"--max_bad_fraction={self.max_bad_fraction}; first {first_reason}: "
            f"{self.first[first_reason]}", where=source,
            fix="fix the input (or the query), or raise --max_bad_fraction to skip them")

    def describe(self):
        return ", ".join(f"{count} {reason}" for reason, count in self.counts.items())
