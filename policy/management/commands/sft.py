"""Supervised fine-tuning of a LoRA policy adapter.

    python manage.py sft --data FILE.jsonl [--base-model PATH_OR_ID] --out DIR

Each line is {"prompt": text or chat turns, "response": text} or {"messages": [..., assistant turn]}.
The base defaults to the prepared SmolLM2-135M-Instruct (manage.py prepare_models). Every field
of SFTConfig is an option (--lora-r, --learning-rate, ...). With --project SLUG the adapter is
also registered as the project's policy (a run, trained here or with --queue on a worker).
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from policy.management.common import project_or_error, report_run
from training import cli

_SPECIAL = {"base_model", "output_dir"}


class Command(BaseCommand):
    help = "Fine-tune a LoRA policy adapter on {prompt, response} or {messages} JSONL (SFT)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from policy.engine import SFTConfig

        parser.add_argument("--data", required=True, help="JSONL (.gz allowed) of {prompt, response} or {messages}.")
        parser.add_argument("--base-model", help="Local path or hub id of a causal LM; default: the prepared"
                            " SmolLM2-135M-Instruct.")
        parser.add_argument("--out", help="Output folder for the adapter and checkpoints (offline mode).")
        parser.add_argument("--project", help="Register the adapter as this project's policy (database mode).")
        parser.add_argument("--queue", action="store_true", help="With --project: send the run to a worker.")
        parser.add_argument("--resume", action="store_true", help="Continue from the newest checkpoint in --out.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")
        cli.add_config_arguments(parser, SFTConfig, skip=_SPECIAL, title="training settings (SFTConfig)")

    def handle(self, *args: Any, **options: Any) -> None:
        from policy.engine import PolicyDataError, SFTConfig, read_sft_file, train_sft
        from policy.services.models_prep import ModelPrepError, resolve_base_model

        try:
            base = resolve_base_model(options.get("base_model"))
        except ModelPrepError as exc:
            raise CommandError(str(exc)) from None
        if options.get("project"):
            return self.handle_project(options, base)
        if not options.get("out"):
            raise CommandError("--out is required (or --project SLUG)")
        try:
            examples = read_sft_file(options["data"])
        except PolicyDataError as exc:
            raise CommandError(str(exc)) from None
        config = cli.config_from_options(options, SFTConfig, skip=_SPECIAL, base_model=base, output_dir=options["out"])
        self.stderr.write(f"sft on {len(examples)} examples; base {base}")
        try:
            result = train_sft(config, examples, resume=options["resume"], progress=not options["no_progress"])
        except (OSError, ValueError, RuntimeError) as exc:
            raise CommandError(f"training failed: {exc}") from None
        first, last = result.history[0]["loss"], result.history[-1]["loss"]
        self.stdout.write(f"saved adapter to {result.output_dir}")
        self.stdout.write(f"steps={result.steps} loss_first={first:.4f} loss_last={last:.4f}")

    def handle_project(self, options: dict[str, Any], base: str) -> None:
        from policy.engine import SFTConfig
        from policy.services.runs import PolicyRunError, policy_run_execute_here, sft_run_create

        project = project_or_error(options["project"])
        config = {**cli.config_values(options, SFTConfig, skip=_SPECIAL), "base_model": base}
        try:
            run = sft_run_create(project=project, data_path=options["data"], config=config, enqueue=options["queue"])
        except PolicyRunError as exc:
            raise CommandError(str(exc)) from None
        report_run(self, run, queue=options["queue"], progress=not options["no_progress"],
                   execute=policy_run_execute_here)
