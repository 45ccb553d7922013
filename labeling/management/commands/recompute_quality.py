"""Recompute a project's label-quality decisions now, in this process, and print where they stand.

    python manage.py recompute_quality --project SLUG [--force]
"""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Project
from labeling.quality.selectors import quality_summary
from labeling.quality.services import quality_recompute


class Command(BaseCommand):
    help = ("Recompute quality filters, annotator statistics and agreement for one project; print the "
            "judgments kept and excluded (by filter) and the flagged annotators.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="the project's slug")
        parser.add_argument("--force", action="store_true", help="recompute even if nothing changed")

    def handle(self, *args, project: str, force: bool, **options) -> None:
        found = Project.objects.filter(slug=project).first()
        if found is None:
            raise CommandError(f"no project with the slug {project!r}")
        result = quality_recompute(project_id=found.pk, force=force)
        if result.skipped:
            self.stdout.write(f"{project}: nothing changed since the last computation (use --force to redo it)")
        else:
            self.stdout.write(f"{project}: recomputed in {result.seconds:.1f} s, {result.changed} decisions changed")
        for line in quality_summary(project=found).lines():
            self.stdout.write(f"  {line}")
