"""How a training run stops cleanly: SIGTERM and Ctrl-C become a request to stop after the step (and save).

:class:`StopSignals` is the context manager :mod:`pixelsound.train` runs its loop in.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class StopSignals:
    """Turn SIGTERM and the first Ctrl-C into a request to stop after the current step (and save).

    A second Ctrl-C quits: at once (KeyboardInterrupt) when ``busy()`` is false, else ``quit`` is set so the
    loop quits, and saves, as soon as the step in progress is done; a third one raises at once. Handlers are
    only installed in the main thread.
    """

    def __init__(self, busy: Callable[[], bool] = lambda: False) -> None:
        self.received: int | None = None
        self.quit = False
        self.busy = busy
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, frame: object) -> None:
        if self.received is not None and signum == signal.SIGINT:
            if self.quit or not self.busy():
                raise KeyboardInterrupt
            self.quit = True
            log.warning("SIGINT: quitting after this step (Ctrl-C again to quit without saving)")
            return
        self.received = signum
        log.warning(
            "%s: stopping after this step (Ctrl-C again to quit at once)", signal.Signals(signum).name
        )
