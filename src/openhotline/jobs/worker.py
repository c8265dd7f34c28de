"""`openhotline worker`: a Huey consumer over the durable job table."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from openhotline.jobs.queue import Queue, build_queue

if TYPE_CHECKING:
    from openhotline.bootstrap import Services

log = logging.getLogger("openhotline.jobs")


def _tick_loop(queue: Queue, every: float, stop: threading.Event) -> None:
    """Tick more often than Huey's one-minute periodic tasks, so new cases start promptly."""
    while not stop.wait(every):
        try:
            queue.tick()
        except Exception:  # a failed tick is retried on the next one
            log.exception("tick failed")


def run_worker(services: Services, *, workers: int = 2, once: bool = False) -> int:
    """Recover and dispatch jobs, then consume until stopped (or until idle with once)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = services.settings
    queue = build_queue(services)
    try:
        if once:
            return queue.drain()
        queue.tick()  # requeue what a killed worker left RUNNING, dispatch what is pending
        stop = threading.Event()
        ticker = threading.Thread(
            target=_tick_loop, args=(queue, settings.jobs_tick_seconds, stop), daemon=True
        )
        ticker.start()
        consumer = queue.huey.create_consumer(
            workers=workers, worker_type="thread", periodic=True, check_worker_health=True
        )
        try:
            consumer.run()
        finally:
            stop.set()
        return 0
    finally:
        services.close()
