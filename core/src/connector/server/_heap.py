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

#: What was frozen already when this module was imported: the interpreter's own (Python 3.12 starts
#: with a few hundred objects frozen), or what a caller froze before importing the service.
_FROZEN_AT_IMPORT = gc.get_freeze_count()


def freeze_loaded_heap() -> bool:
    """Freeze every object alive now, unless something froze more since import; returns whether it froze.

    A process whose own code froze its heap since (``gc.freeze()`` before a fork, another service
    in the same process) keeps its freeze as it made it: this neither adds to it nor, later, undoes it.
    """
    if gc.get_freeze_count() > _FROZEN_AT_IMPORT:
        logger.info("the heap is frozen already (%d objects): left as it is", gc.get_freeze_count())
        return False
    gc.freeze()
    logger.info("froze the loaded heap: %d objects no longer scanned by the cyclic GC", gc.get_freeze_count())
    return True


def unfreeze_heap() -> None:
    """Give every frozen object back to the collector (the service that froze them stops).

    Python has no partial unfreeze: what was frozen at import goes back too, which only means the
    collector scans it again.
    """
    gc.unfreeze()
