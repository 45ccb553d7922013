"""Start an RLHF round for a project, or retry a failed one from the step that failed.

    python manage.py run_round --project SLUG [--config JSON] [--queue]
    python manage.py run_round --project SLUG --retry ROUND_ID [--queue]

By default the training runs execute in this process, like train_reward; with --queue they go to
the `gpu` workers and the command returns once the round waits for its first run (each finished
run advances the round)."""

import argparse
import json

from django.core.management.base import BaseCommand, CommandError

from labeling.models import Project
from rounds.models import Round
from rounds.services import RoundError, round_retry, round_start


class Command(BaseCommand):
    help = "Run an RLHF round (quality, dataset, reward model, PPO, generation, tasks) or retry a failed one."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--project", required=True, help="The labeling project's slug.")
        parser.add_argument("--retry", type=int, metavar="ROUND_ID",
                            help="Resume this failed round from its failed step.")
        parser.add_argument("--config", help='Settings per step as JSON, e.g. \'{"reward": {"min_heldout": 20}, '
                            '"generate": {"k": 2}}\' (sections: reward, ppo, generate, enqueue).')
        parser.add_argument("--queue", action="store_true",
                            help="Send training runs to the gpu workers instead of executing them here.")

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project {options['project']!r}")
        try:
            if options["retry"] is not None:
                if options["config"]:
                    raise CommandError("--config applies to a new round; a retried round keeps its settings")
                rnd = Round.objects.filter(pk=options["retry"], project=project).first()
                if rnd is None:
                    raise CommandError(f"project {project.slug!r} has no round {options['retry']}")
                rnd = round_retry(round=rnd, execute_here=not options["queue"])
            else:
                config = self._config(options["config"])
                rnd = round_start(project=project, config=config, execute_here=not options["queue"])
        except RoundError as exc:
            raise CommandError(str(exc)) from None
        for step in rnd.steps.order_by("position"):
            self.stdout.write(f"  {step.position + 1}. {step.name:9} {step.status:9} "
                              f"{json.dumps(step.outputs)[:300] if step.outputs else step.error[:300]}")
        self.stdout.write(f"round {rnd.pk} (number {rnd.number}) of {project.slug}: {rnd.status}")
        if rnd.status == Round.Status.FAILED:
            raise CommandError(f"round {rnd.pk} {rnd.error}; fix it and run: python manage.py run_round "
                               f"--project {project.slug} --retry {rnd.pk}")

    @staticmethod
    def _config(text: str | None) -> dict | None:
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--config is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise CommandError("--config must be a JSON object of sections (reward, ppo, generate, enqueue)")
        return value
