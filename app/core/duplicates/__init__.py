"""Near-duplicates: candidate pairs (``screening``), verified by time alignment
(``alignment``), grouped with the copy to keep (``finder``)."""

from app.core.duplicates.finder import (
    DuplicateFile,
    DuplicateGroup,
    Match,
    choose_keeper,
    find_duplicates,
)

__all__ = ["DuplicateFile", "DuplicateGroup", "Match", "choose_keeper", "find_duplicates"]
