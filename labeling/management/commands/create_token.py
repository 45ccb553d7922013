from django.core.management.base import BaseCommand, CommandError

from labeling.models import Project
from labeling.services.tokens import token_create


class Command(BaseCommand):
    help = "Make an API token for one project and print its key (shown only this once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project", help="The project's slug.")
        parser.add_argument("--name", default="api", help="A label for the token.")

    def handle(self, *args, project: str, name: str, **options) -> None:
        found = Project.objects.filter(slug=project).first()
        if found is None:
            known = ", ".join(Project.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No project {project!r}. Known projects: {known}.")
        _, key = token_create(project=found, name=name)
        self.stdout.write(key)
