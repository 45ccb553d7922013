"""Where a training run stands: status, progress, last metrics, the log's tail; --follow
prints it again whenever it changes, until the run finishes.

    python manage.py show_run RUN_ID [--follow]
"""

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from training.models import TrainingRun
from training.selectors import run_admin_path, run_summary


class Command(BaseCommand):
    help = "Show a training run's status, progress, last metrics and log; --follow until it finishes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", type=int, help="The run's id (train_reward --queue prints it).")
        parser.add_argument("--follow", action="store_true", help="Keep printing changes until the run finishes.")
        parser.add_argument("--interval", type=float, default=2.0, help="Seconds between checks with --follow.")

    def handle(self, *args, run_id: int, follow: bool, interval: float, **options) -> None:
        run = TrainingRun.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"no training run {run_id}")
        self.stdout.write(f"admin page: {run_admin_path(run)}")
        shown: list[str] = []
        while True:
            lines = run_summary(run)
            if lines != shown:
                self.stdout.write("\n".join(lines))
                shown = lines
            if not follow or run.status in TrainingRun.FINISHED:
                break
            time.sleep(max(0.1, interval))
            run.refresh_from_db()
        if run.status in (TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED) and follow:
            raise CommandError(f"run {run.pk} {run.status}")
