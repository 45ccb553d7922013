"""Order a pairwise project's open tasks by the reward model's uncertainty (least sure first), or
by its ensemble's disagreement (most disputed first).

    python manage.py prioritise_tasks --project SLUG [--model ID] [--by uncertainty|disagreement]
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from labeling.models import Project
from rewards.models import RewardModel
from rewards.selectors import reward_model_active
from rewards.services.priority import CRITERIA, tasks_prioritise


class Command(BaseCommand):
    help = ("Set task priorities from a reward model's uncertainty (or its ensemble's disagreement) so the "
            "least-sure (most disputed) pairs are labeled first.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", required=True, help="Project slug (pairwise).")
        parser.add_argument("--model", type=int, help="Reward model id (default: the project's active model).")
        parser.add_argument("--by", choices=CRITERIA, default="uncertainty",
                            help="uncertainty (default) or disagreement (an ensemble's members' spread).")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project {options['project']!r}")
        if options.get("model"):
            model = RewardModel.objects.filter(pk=options["model"]).first()
            if model is None:
                raise CommandError(f"no reward model {options['model']}")
        else:
            model = reward_model_active(project=project)
            if model is None:
                raise CommandError(f"project {project.slug!r} has no active reward model; pass --model")
        try:
            count = tasks_prioritise(project, model, by=options["by"])
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"set the priority of {count} open task(s) from reward model {model.pk}'s {options['by']}")
