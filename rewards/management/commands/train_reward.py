"""Train a LoRA reward model offline from a JSONL file of pairs or rankings.

    python manage.py train_reward --pairs FILE.jsonl --base-model PATH_OR_ID --out DIR

    python manage.py train_reward --project SLUG --base-model PATH_OR_ID [--queue]

The second form freezes the project's clean labels into a PreferenceDataset, makes a
TrainingRun on it and trains it here with progress bars (or, with --queue, sends it to a
worker), then prints the held-out accuracy and the registered reward model.

Each line is {"prompt"?, "chosen", "rejected"} (no prompt: the shared prefix of chosen and
rejected is the prompt) or {"prompt", "responses": [...], "ranks": [...]}. Every field of
RewardConfig is an option (``--lora-r``, ``--batch-size``, ...), with its help text.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from rewards.engine import DataError, Element, RewardConfig, read_elements, split_by_prompt, train_reward_model
from training import cli

# Fields set by dedicated options rather than the generic --field-name ones.
_SPECIAL = {"base_model", "output_dir"}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_config_arguments(parser, RewardConfig, skip=_SPECIAL, title="training settings (RewardConfig)")


def config_from_options(options: dict[str, Any], **fixed: Any) -> RewardConfig:
    return cli.config_from_options(options, RewardConfig, skip=_SPECIAL, **fixed)


class Command(BaseCommand):
    help = "Train a LoRA reward model from a JSONL file of preference pairs (offline, no database)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--pairs", help="JSONL (.gz allowed) of {prompt?, chosen, rejected} or rankings.")
        source.add_argument("--project", help="Train from a labeling project's clean labels (database mode).")
        parser.add_argument("--base-model", help="Local path or hub id of the base model (required unless"
                            " --from-active, which uses the active model's own base).")
        parser.add_argument("--from-active", action="store_true",
                            help="With --project: fine-tune the project's active reward model (its adapter and head)"
                            " on the new labels instead of starting a fresh adapter; it becomes the parent.")
        parser.add_argument("--out", help="Output folder for the adapter and checkpoints (required with --pairs).")
        parser.add_argument("--queue", action="store_true",
                            help="With --project: send the run to a worker instead of training here.")
        parser.add_argument("--eval-pairs", help="Held-out JSONL; default: split --eval-fraction off by prompt.")
        parser.add_argument("--eval-fraction", type=float, default=0.1, help="Held-out share by prompt (0 = none).")
        parser.add_argument("--resume", action="store_true", help="Continue from the newest checkpoint in --out.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")
        add_config_arguments(parser)

    def load_elements(self, options: dict[str, Any]) -> tuple[list[Element], list[Element]]:
        """(train, held-out) elements. The --project (database) mode plugs in here."""
        if options.get("project"):
            return self.load_project_elements(options["project"], options)
        try:
            elements = read_elements(options["pairs"])
            if options.get("eval_pairs"):
                return elements, read_elements(options["eval_pairs"])
        except DataError as exc:
            raise CommandError(str(exc)) from None
        if options["eval_fraction"] > 0:
            return split_by_prompt(elements, options["eval_fraction"], seed=options.get("seed") or 0)
        return elements, []

    def load_project_elements(self, slug: str, options: dict[str, Any]) -> tuple[list[Element], list[Element]]:
        """Database mode: freeze the project's clean labels into elements."""
        from rewards.services.snapshot import dataset_elements

        return dataset_elements(self.snapshot_project(slug, options))

    def snapshot_project(self, slug: str, options: dict[str, Any]):
        from labeling.models import Project
        from rewards.services.snapshot import SnapshotError, dataset_snapshot

        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project {slug!r}")
        try:
            return dataset_snapshot(project=project, seed=options.get("seed") or 0,
                                    eval_fraction=options["eval_fraction"])
        except SnapshotError as exc:
            raise CommandError(str(exc)) from None

    def handle_project(self, options: dict[str, Any]) -> None:
        """Snapshot, create a TrainingRun, then queue it or train it here."""
        from labeling.models import Project
        from rewards.models import RewardModel
        from rewards.selectors import reward_model_active
        from rewards.services.runs import (
            RunConfigError,
            reward_run_create,
            reward_run_execute_here,
            reward_run_settings,
        )

        parent = None
        if options["from_active"]:
            project = Project.objects.filter(slug=options["project"]).first()
            if project is None:
                raise CommandError(f"no project {options['project']!r}")
            parent = reward_model_active(project=project)
            if parent is None:
                raise CommandError(f"project {options['project']!r} has no active reward model to fine-tune")
        elif not options.get("base_model"):
            raise CommandError("--base-model is required (or --from-active)")
        if options.get("out"):
            self.stderr.write("--out is ignored with --project: runs write to ARTIFACT_DIR/runs/<run id>")
        config = cli.config_values(options, RewardConfig, skip=_SPECIAL)
        run_settings = {"base_model": options.get("base_model") or "", "config": config, "fine_tune_from": parent}
        try:
            reward_run_settings(**run_settings)  # before the snapshot, so a refused request leaves nothing
        except RunConfigError as exc:
            raise CommandError(str(exc)) from None
        dataset = self.snapshot_project(options["project"], options)
        self.stderr.write(f"dataset {dataset.pk} ({dataset.content_hash[:12]}): {json.dumps(dataset.stats)}")
        run = reward_run_create(dataset=dataset, enqueue=options["queue"], **run_settings)
        if options["queue"]:
            self.stdout.write(f"queued training run {run.pk} (dataset {dataset.pk})")
            return
        run = reward_run_execute_here(run=run, progress=not options["no_progress"])
        if run.status != "succeeded":
            raise CommandError(f"training run {run.pk} {run.status}: {run.error[-2000:]}")
        accuracy = run.final_metrics.get("eval_accuracy")
        self.stdout.write(f"run {run.pk} succeeded; held-out accuracy="
                          + (f"{accuracy:.4f}" if isinstance(accuracy, float) else "n/a (no held-out prompts)"))
        model = RewardModel.objects.filter(run=run).first()
        if model is not None:
            self.stdout.write(f"reward model {model.pk} at {model.adapter_path} "
                              f"({'activated' if model.is_active else 'not activated'})")

    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("project"):
            return self.handle_project(options)
        if not options.get("out"):
            raise CommandError("--out is required with --pairs")
        if not options.get("base_model"):
            raise CommandError("--base-model is required with --pairs")
        if options["from_active"]:
            raise CommandError("--from-active needs --project; with --pairs use --init-adapter DIR")
        train, held = self.load_elements(options)
        if not train:
            raise CommandError("no training pairs left after the held-out split")
        config = config_from_options(options, base_model=options["base_model"], output_dir=options["out"])
        self.stderr.write(f"training on {len(train)} elements, {len(held)} held out; base {config.base_model}")
        try:
            result = train_reward_model(config, train, held or None, resume=options["resume"],
                                        progress=not options["no_progress"])
        except (OSError, ValueError) as exc:
            raise CommandError(f"training failed: {exc}") from None
        for key, value in result.metrics.items():
            if not isinstance(value, dict):
                self.stdout.write(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}")
        if result.metrics.get("eval_accuracy_by_agreement"):
            self.stdout.write("eval_accuracy_by_agreement=" + json.dumps(result.metrics["eval_accuracy_by_agreement"]))
        self.stdout.write(f"saved adapter to {result.output_dir}")
