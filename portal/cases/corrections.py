"""What changed between a corrected decision and the one it replaces, side by side.

No database access: takes the two presented pages (``present_case``), returns rows for the
template in the current locale.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.cases.presentation import CasePage


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Changes:
    """The data whose value changed, and the considerations whose weight changed."""

    data: list[Change]
    considerations: list[Change]
    outcome: Change | None


def what_changed(new: CasePage, old: CasePage) -> Changes:
    before = {row.key: row for row in old.data_points}
    data = [
        Change(row.label, before[row.key].value, row.value)
        for row in new.data_points
        if row.key in before and before[row.key].value != row.value
    ]
    old_blocks = {block.key: block for block in old.considerations}
    considerations = [
        Change(block.label, old_blocks[block.key].sentence, block.sentence)
        for block in new.considerations
        if block.key in old_blocks and old_blocks[block.key].sentence != block.sentence
    ]
    outcome = Change("", old.outcome, new.outcome) if old.outcome != new.outcome else None
    return Changes(data, considerations, outcome)
