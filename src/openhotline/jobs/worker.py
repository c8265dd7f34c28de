"""`openhotline worker`: a Huey consumer over the durable job table."""

from __future__ import annotations

import logging

from openhotline.config import Settings
from openhotline.jobs.queue import build_queue
from openhotline.jobs.runtime import Runtime


def run_worker(settings: Settings, *, workers: int = 2, once: bool = False) -> int:
    """Recover and dispatch jobs, then consume until stopped (or until idle with once)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    rt = Runtime(settings)
    queue = build_queue(rt)
    try:
        if once:
            return queue.drain()
        queue.tick()  # requeue what a killed worker left RUNNING, dispatch what is pending
        consumer = queue.huey.create_consumer(
            workers=workers, worker_type="thread", periodic=True, check_worker_health=True
        )
        consumer.run()
        return 0
    finally:
        rt.close()
