from datetime import timedelta

from django.core.management.base import BaseCommand, CommandParser

from config.jobs import jobs_resend_queued, requeue_after
from training.services import runs_requeue_stale


class Command(BaseCommand):
    help = ("Put runs left 'running' by a worker that died back on the queue, and send again queued work "
            "(training runs, quality recomputations) whose message was lost. Workers do this at start and "
            "the beat task preflab.sweep_queued_work every PREFLAB_SWEEP_EVERY_SECONDS; this is for cron.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, default=None, metavar="SECONDS",
                            help="re-send work queued longer ago than this (default PREFLAB_REQUEUE_AFTER_SECONDS, "
                                 f"{int(requeue_after().total_seconds())})")

    def handle(self, *args, older_than: int | None = None, **options) -> None:
        ids = runs_requeue_stale()
        self.stdout.write(f"requeued {len(ids)} run(s): {ids}" if ids else "no stale runs")
        bound = None if older_than is None else timedelta(seconds=older_than)
        for kind, resent in jobs_resend_queued(older_than=bound).items():
            self.stdout.write(f"sent again {len(resent)} queued {kind}: {resent}" if resent else f"no lost {kind}")
