"""Train a LoRA reward model offline from a JSONL file of pairs or rankings.

    python manage.py train_reward --pairs FILE.jsonl [--base-model PATH_OR_ID] --out DIR

    python manage.py train_reward --project SLUG [--base-model PATH_OR_ID] [--queue]

Without --base-model both train on the offline all-MiniLM-L6-v2 folder that `make setup`
prepares (var/models/all-minilm-l6-v2). A hub id is checked first: when the hub cannot be
reached and the model is not cached, the command fails within seconds naming that default.

The second form brings the project's label quality up to date, freezes its clean labels into a
PreferenceDataset, makes a TrainingRun on it and trains it here with progress bars (or, with
--queue, sends it to a worker and says where to watch it), then prints the held-out accuracy with
its 95% interval, the registered reward model and whether it was activated, and why. That workflow
lives in rewards.services.project_training (an RLHF round calls it too); this command parses the
options, prints, and trains here.

Several GPUs, one run: `torchrun --nproc_per_node N manage.py train_reward --pairs ... --out DIR`.
Each rank takes 1/N of every batch (--batch-size stays the global batch) and the gradients are
summed across ranks; rank 0 alone prints, checkpoints, evaluates and saves (training/distributed.py).
--project is refused there: N processes would each snapshot the database.

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
from training.distributed import dist_context

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
        parser.add_argument("--base-model", help="Local path or hub id of the base model. Default: the offline"
                            " all-MiniLM-L6-v2 prepared by `make setup` (var/models/all-minilm-l6-v2); with"
                            " --from-active, the active model's own base.")
        parser.add_argument("--from-active", action="store_true",
                            help="With --project: fine-tune the project's active reward model (its adapter and head)"
                            " on the new labels instead of starting a fresh adapter; it becomes the parent.")
        parser.add_argument("--out", help="Output folder for the adapter and checkpoints (required with --pairs).")
        parser.add_argument("--queue", action="store_true",
                            help="With --project: send the run to a worker instead of training here.")
        parser.add_argument("--min-heldout", type=int, default=None,
                            help="With --project: held-out comparisons a new model needs before it is activated"
                            " automatically (default: PREFLAB_REWARD_MIN_HELDOUT, 50; 0 = no minimum).")
        parser.add_argument("--eval-pairs", help="Held-out JSONL; default: split --eval-fraction off by prompt.")
        parser.add_argument("--eval-fraction", type=float, default=0.1, help="Held-out share by prompt (0 = none).")
        parser.add_argument("--resume", action="store_true", help="Continue from the newest checkpoint in --out.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")
        add_config_arguments(parser)

    def load_elements(self, options: dict[str, Any]) -> tuple[list[Element], list[Element]]:
        """(train, held-out) elements of the --pairs file (and --eval-pairs, or a split by prompt)."""
        try:
            elements = read_elements(options["pairs"])
            if options.get("eval_pairs"):
                return elements, read_elements(options["eval_pairs"])
        except DataError as exc:
            raise CommandError(str(exc)) from None
        if options["eval_fraction"] > 0:
            return split_by_prompt(elements, options["eval_fraction"], seed=options.get("seed") or 0)
        return elements, []

    def handle_project(self, options: dict[str, Any]) -> None:
        """The project workflow (rewards.services.project_training), then queue or train here."""
        from rewards.services.project_training import (
            ProjectTrainingError,
            project_for_training,
            project_training_start,
        )

        if options["min_heldout"] is not None and options["min_heldout"] < 0:
            raise CommandError("--min-heldout must be 0 or more")
        if options.get("out"):
            self.stderr.write("--out is ignored with --project: runs write to ARTIFACT_DIR/runs/<run id>")
        try:
            started = project_training_start(
                project=project_for_training(slug=options["project"]),
                base_model=options.get("base_model") or "",
                config=cli.config_values(options, RewardConfig, skip=_SPECIAL),
                from_active=options["from_active"],
                min_heldout=options["min_heldout"],
                eval_fraction=options["eval_fraction"],
                seed=options.get("seed") or 0,
                enqueue=options["queue"],
                report=self.stderr.write,
            )
        except ProjectTrainingError as exc:
            raise CommandError(str(exc)) from None
        if options["queue"]:
            self.report_queued(started.run, started.dataset)
            return
        self.train_here(started.run, options)

    def report_queued(self, run: Any, dataset: Any) -> None:
        from training.selectors import run_admin_path

        self.stdout.write(f"queued training run {run.pk} (dataset {dataset.pk}); a worker on the `gpu` queue takes it"
                          " (`make run` starts one)")
        self.stdout.write(f"  watch it: python manage.py show_run {run.pk} --follow")
        self.stdout.write(f"        or: http://127.0.0.1:8000{run_admin_path(run)} (the admin under `make run`)")

    def train_here(self, run: Any, options: dict[str, Any]) -> None:
        from rewards.models import RewardModel
        from rewards.services.registry import accuracy_summary
        from rewards.services.runs import reward_run_execute_here

        try:
            run = reward_run_execute_here(run=run, progress=not options["no_progress"])
        except (OSError, ValueError, RuntimeError) as exc:
            raise CommandError(f"training run {run.pk} failed: {exc}") from None
        if run.status != "succeeded":
            raise CommandError(f"training run {run.pk} {run.status}: {run.error[-2000:]}")
        metrics = run.final_metrics
        accuracy = metrics.get("eval_accuracy")
        self.stdout.write(f"run {run.pk} succeeded; held-out accuracy="
                          + accuracy_summary(accuracy if isinstance(accuracy, float) else None, metrics.get("eval_n")))
        model = RewardModel.objects.filter(run=run).first()
        if model is not None:
            reason = (model.metrics.get("comparison") or {}).get("reason", "").removeprefix("not activated: ")
            self.stdout.write(f"reward model {model.pk} at {model.adapter_path} "
                              f"({'activated' if model.is_active else 'not activated'}"
                              + (f": {reason}" if reason else "") + ")")

    def handle(self, *args: Any, **options: Any) -> None:
        ctx = dist_context()
        if options.get("project"):
            if ctx.enabled:
                raise CommandError("--project cannot run under torchrun (each rank would snapshot the database);"
                                   " export the pairs and use --pairs, or --queue the run to a gpu worker")
            return self.handle_project(options)
        from rewards.services.runs import RunConfigError, reward_base_model

        if not options.get("out"):
            raise CommandError("--out is required with --pairs")
        if options["from_active"]:
            raise CommandError("--from-active needs --project; with --pairs use --init-adapter DIR")
        if options["queue"] or options["min_heldout"] is not None:
            raise CommandError("--queue and --min-heldout need --project")
        try:
            base_model = reward_base_model(options.get("base_model"))
        except RunConfigError as exc:
            raise CommandError(str(exc)) from None
        train, held = self.load_elements(options)
        if not train:
            raise CommandError("no training pairs left after the held-out split")
        config = config_from_options(options, base_model=base_model, output_dir=options["out"])
        if ctx.is_main:
            self.stderr.write(f"training on {len(train)} elements, {len(held)} held out; base {config.base_model}"
                              + (f"; {ctx.world_size} ranks" if ctx.enabled else ""))
        try:
            result = train_reward_model(config, train, held or None, resume=options["resume"],
                                        progress=not options["no_progress"])
        except (OSError, ValueError, RuntimeError) as exc:
            raise CommandError(f"training failed: {exc}") from None
        if not ctx.is_main:  # rank 0 reports for the run
            return
        for key, value in result.metrics.items():
            if not isinstance(value, dict):
                self.stdout.write(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}")
        if result.metrics.get("distributed"):
            self.stdout.write("distributed=" + json.dumps(result.metrics["distributed"]))
        if result.metrics.get("eval_accuracy_by_agreement"):
            self.stdout.write("eval_accuracy_by_agreement=" + json.dumps(result.metrics["eval_accuracy_by_agreement"]))
        from rewards.services.registry import accuracy_summary

        if held:
            accuracy = result.metrics.get("eval_accuracy")
            self.stdout.write("held-out accuracy=" + accuracy_summary(
                accuracy if isinstance(accuracy, float) and accuracy == accuracy else None,
                result.metrics.get("eval_n")))
        self.stdout.write(f"saved adapter to {result.output_dir}")
