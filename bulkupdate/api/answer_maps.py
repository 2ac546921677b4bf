"""Memory for large answers: one map, read into again once its last answer is let go.

A page of jobs runs to 15-20 MB. Read into an anonymous memory map of its announced
length (``client._read``) it is held once, not as its chunks and then their join, and
handed back to the system when dropped, where glibc would keep freed blocks of that size
on the process's heap. But every fresh map costs the kernel a zeroed page for each 4 KB
of it, and that was 6% of the CPU of a run that settles its jobs from pages (about 0.3 s
per million numbers). So the last map is kept and the next large answer is read into it
again, unless part of the answer it holds is still in use: a job's lists are slices of
its answer (``wire.Job``). A map with any view of it alive is exported and refuses to be
resized; that refusal is the test, and such a map is left to its views, which free it
when the last of them goes.
"""

from __future__ import annotations

import mmap

# Where the kernel can, it gives a map all its pages at once, at half the CPU of a fault
# for each page as it is first written (Linux's MAP_POPULATE).
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)


class AnswerMaps:
    """Hands out a map for each large answer, the last one again when it is free."""

    __slots__ = ("_spare",)

    def __init__(self) -> None:
        self._spare: mmap.mmap | None = None

    def __repr__(self) -> str:
        size = "none" if self._spare is None else f"{len(self._spare)} bytes"
        return f"<AnswerMaps spare={size}>"

    def take(self, size: int) -> mmap.mmap:
        """A map of at least ``size`` bytes, at its start, for one answer; it is the
        caller's alone until handed back (``give_back``)."""
        spare, self._spare = self._spare, None
        if spare is not None and _resized(spare, size):
            spare.seek(0)
            return spare
        if _POPULATE:
            return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _POPULATE)
        return mmap.mmap(-1, size)

    def give_back(self, buffer: mmap.mmap) -> None:
        """An answer has been read into ``buffer``: the next one may use it, once every
        view of this one is gone."""
        self._spare = buffer

    def release(self) -> None:
        """No more answers will come: the spare map goes back to the system (once no
        view of its last answer is left)."""
        self._spare = None


def _resized(buffer: mmap.mmap, size: int) -> bool:
    """Grow ``buffer`` to ``size`` bytes if it is smaller (never shrink it: pages vary by
    a few percent, and each page it gave back would be zeroed again); False if a view of
    its last answer still holds it."""
    try:
        buffer.resize(max(size, len(buffer)))
    except BufferError:
        return False  # exported: its last answer is still in use
    except (OSError, SystemError, ValueError):
        return False  # a system without mremap(2) cannot resize an anonymous map
    return True
