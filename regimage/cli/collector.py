"""The cyclic garbage collector, paused while the command line starts.

The imports make hundreds of thousands of objects that live until exit, and collecting them again
and again cost about 4 % of a warm run's instructions (scripts/bench). The console script pauses
the collector (:func:`pause`); once the library is imported, :func:`start_up_over` freezes what
start-up made (later collections skip it) and lets the collector run for what the command makes
(an audit runs for long). A program that calls :func:`regimage.cli.core.main` itself is left alone.
"""

from __future__ import annotations

import gc

__all__ = ["pause", "start_up_over"]


class _State:
    """Whether :func:`pause` paused the collector (and :func:`start_up_over` is still to come)."""

    paused = False


def pause() -> None:
    """Pause the cyclic collector until :func:`start_up_over`."""
    gc.disable()
    _State.paused = True


def start_up_over() -> None:
    """Start-up is done: freeze what it made and resume the collector, if :func:`pause` paused it."""
    if _State.paused:
        gc.freeze()
        gc.enable()
        _State.paused = False
