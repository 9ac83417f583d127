"""The loaded heap, frozen once every connector has loaded: the cyclic GC stops rescanning it.

A served process keeps what its imports made (flytekit and its plugins: over 100,000 objects) for
its whole life. Python's oldest-generation collection scans every tracked object, so each one
costs tens of milliseconds there, and lands on whichever call allocated last. ``gc.freeze()``
moves the objects alive now out of the collector's generations; the calls' own garbage is
collected as before, and reference counting still frees frozen objects no longer used.

No collection first: at that point it finds almost nothing (63 objects with flytekit loaded) and
would stop the event loop for about 100 ms, just as the first calls arrive; ``freeze`` takes
microseconds.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger("connector.server")


def freeze_loaded_heap() -> bool:
    """Freeze every object alive now, unless something is frozen already; returns whether it froze.

    A process whose own code froze its heap (``gc.freeze()`` before a fork, another service in the
    same process) keeps its freeze as it made it: this neither adds to it nor, later, undoes it.
    """
    if gc.get_freeze_count():
        logger.info("the heap is frozen already (%d objects): left as it is", gc.get_freeze_count())
        return False
    gc.freeze()
    logger.info("froze the loaded heap: %d objects no longer scanned by the cyclic GC", gc.get_freeze_count())
    return True


def unfreeze_heap() -> None:
    """Give the frozen objects back to the collector (the service that froze them stops)."""
    gc.unfreeze()
