"""Silent ``highspy.Highs`` instances.

HiGHS writes a banner (version, copyright) to the process's standard output from C the first time an instance is
created in a process, before any option can be set; an instance's own output is switched off through the option
``output_flag``. :func:`new_highs` creates the first instance with file descriptor 1 captured, so nothing reaches
the user's output, and returns every instance with ``output_flag`` off.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["new_highs"]

_BANNER_WRITTEN = False
_LOCK = threading.Lock()


def new_highs() -> Any:
    """A new ``highspy.Highs`` that writes nothing (``output_flag`` off; the process's banner captured)."""
    global _BANNER_WRITTEN
    import highspy

    if not _BANNER_WRITTEN:
        from pyomo.common.tee import capture_output

        with _LOCK:
            if not _BANNER_WRITTEN:
                with capture_output(capture_fd=True):  # the banner comes once per process, from C
                    h = highspy.Highs()
                _BANNER_WRITTEN = True
                h.setOptionValue("output_flag", False)
                return h
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h
