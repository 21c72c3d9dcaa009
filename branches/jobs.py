"""Handing work to the job queue from the ground floor.

The queue's plumbing belongs to the portal; it registers its `enqueue` here when it starts (PortalConfig.ready),
so branches never imports the floor above. Without one (or when the queue is away) `enqueue` says False and
the caller does the work in the request instead.
"""

ENQUEUE = []


def enqueue(task, **kwargs) -> bool:
    return bool(ENQUEUE) and ENQUEUE[0](task, **kwargs)
