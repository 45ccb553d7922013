"""Evaluate a saved reward adapter on a JSONL file of pairs; the last line is
``accuracy=0.xxxx n=N``.

    python manage.py eval_reward --adapter DIR --pairs FILE.jsonl
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from rewards.engine import DataError, drop_ties, evaluate_reward_model, load_reward_model, read_elements
from training.torch_setup import setup_torch


class Command(BaseCommand):
    help = "Held-out accuracy, accuracy by agreement, calibration and reward stats of a reward adapter."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--adapter", required=True, help="Folder written by train_reward.")
        parser.add_argument("--pairs", required=True, help="JSONL (.gz allowed) of {prompt?, chosen, rejected}.")
        parser.add_argument("--base-model", help="Override the base model recorded with the adapter.")
        parser.add_argument("--batch-size", type=int, default=32, help="Elements per forward pass.")
        parser.add_argument("--threads", type=int, default=0, help="Torch threads (0 = one per core).")
        parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            elements = drop_ties(read_elements(options["pairs"]))
        except DataError as exc:
            raise CommandError(str(exc)) from None
        if not elements:
            raise CommandError(f"{options['pairs']}: no untied comparisons to evaluate")
        device, precision = setup_torch(options["threads"], "auto", options["precision"])
        try:
            rm = load_reward_model(options["adapter"], base_model=options.get("base_model"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot load reward model from {options['adapter']}: {exc}") from None
        rm.model.to(device)
        metrics = evaluate_reward_model(rm, elements, batch_size=options["batch_size"], device=device,
                                        precision=precision, progress=not options["no_progress"])
        for key in ("ece", "mean_prob_correct", "reward_mean", "reward_std"):
            self.stdout.write(f"{key}={metrics[key]:.4f}")
        if metrics["accuracy_by_agreement"]:
            self.stdout.write("accuracy_by_agreement=" + json.dumps(metrics["accuracy_by_agreement"]))
        self.stdout.write(f"accuracy_ci95={metrics['accuracy_low']:.4f}-{metrics['accuracy_high']:.4f}")
        self.stdout.write(f"accuracy={metrics['accuracy']:.4f} n={metrics['n']}")
