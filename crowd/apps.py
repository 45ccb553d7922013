from django.apps import AppConfig


class CrowdConfig(AppConfig):
    """The crowd API: external and simulated annotators list open tasks and post judgments over
    the project-token API. Builds on labeling (its models, judging service and API standards);
    labeling does not import it."""

    name = "crowd"
    verbose_name = "Crowd API"
