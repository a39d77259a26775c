"""A small progress hook interface; the CLI draws it with rich, the API stores it on the job."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def phase(self, name: str, total: int | None) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def observe(self, ttft_ms: float | None, ok: bool) -> None:
        """One request of an open-loop run ended: its TTFT from arrival (None when it has no token yet)."""


class NullProgress:
    def phase(self, name: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def observe(self, ttft_ms: float | None, ok: bool) -> None:
        pass


def observer(progress: Progress):
    """progress.observe, or None for a Progress written before it existed (a plug-in's own)."""
    return getattr(progress, "observe", None)


class Forwarding:
    """A Progress that passes every call on to another (inner); a wrapper overrides only what it changes."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner

    def phase(self, name: str, total: int | None) -> None:
        self.inner.phase(name, total)

    def advance(self, n: int = 1) -> None:
        self.inner.advance(n)

    def observe(self, ttft_ms: float | None, ok: bool) -> None:
        observe = observer(self.inner)
        if observe is not None:
            observe(ttft_ms, ok)
