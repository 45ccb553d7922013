from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        import labeling.api.schema  # noqa: F401 - registers the token security scheme with drf-spectacular
        import labeling.quality.tasks  # noqa: F401 - registers the Celery task labeling.recompute_quality
        from labeling.services.roles import roles_ensure

        post_migrate.connect(roles_ensure, sender=self)
