"""What an unfinished run has left to do, as the journal tells it and the engine takes it."""

from __future__ import annotations

from dataclasses import dataclass, field

from bulkupdate.api.wire import ErrorObject


@dataclass(slots=True)
class ResumeState:
    """What an unfinished journal says is left to do."""

    chunks_read: int  # the input's first chunks, whose every entry is recorded
    queued: list[str] = field(default_factory=list)
    retry: list[tuple[str, int, list[str], tuple[ErrorObject, ...]]] = field(default_factory=list)
    active_jobs: list[tuple[str, list[str]]] = field(default_factory=list)
    posts: list[tuple[int, str, list[str]]] = field(default_factory=list)  # post, sent_at, values
    known_jobs: set[str] = field(default_factory=set)  # every job the run created
    histories: dict[str, tuple[int, list[str], tuple[ErrorObject, ...]]] = field(
        default_factory=dict
    )  # attempts so far, their jobs, last errors: numbers in a running job or a post
