"""Thin Celery entry points for rounds (default queue: the training runs themselves go to `gpu`)."""

import logging

from celery import shared_task

from rounds.services import round_advance, rounds_start_due, rounds_sweep

logger = logging.getLogger(__name__)


@shared_task(name="rounds.advance", ignore_result=True)
def advance_round(round_id: int) -> None:
    """Execute a round's next steps (up to the first run it waits for)."""
    round_advance(round_id=round_id)


@shared_task(name="rounds.check_triggers", ignore_result=True)
def check_triggers() -> None:
    """Beat: wake rounds whose run ended unnoticed, and start rounds due by new clean labels."""
    woken = rounds_sweep()
    started = [r.pk for r in rounds_start_due()]
    if woken or started:
        logger.warning("rounds: advanced %s, started %s", woken, started)
