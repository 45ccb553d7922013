"""Sample completions from a base model and any number of LoRA adapters, all in the same batches.

    python manage.py generate --prompts FILE.jsonl [--base-model PATH_OR_ID] [--adapter DIR ...] --k K
        [--max-new-tokens N] [--seed S] --out FILE.jsonl

    python manage.py generate --project SLUG --prompts N --k K [--strategy fewest|all] [--compare-previous]

Offline, each output line is {"prompt", "response", "adapter", "generation"} and the last line
printed is `generated=N`. The database form samples the project's active policy (the base when it
has none; with --compare-previous also its parent, side by side) on N prompts and puts the samples
into the labeling queue.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from policy.management.common import project_or_error, report_run
from training import cli

_SPECIAL = {"seed", "max_new_tokens"}


class Command(BaseCommand):
    help = "Generate completions from a policy (offline to a JSONL file, or into a project's labeling queue)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from policy.engine import GenerationConfig

        parser.add_argument("--prompts", required=True, help="Offline: a JSONL file of {\"prompt\"}. With --project:"
                            " how many of the project's prompts to sample for.")
        parser.add_argument("--project", help="Generate into this project's labeling queue (database mode).")
        parser.add_argument("--base-model", help="Local path or hub id of a causal LM; default: the prepared"
                            " SmolLM2-135M-Instruct (or, with --project, the active policy's base).")
        parser.add_argument("--adapter", action="append", default=[], help="A policy adapter folder; repeat for"
                            " several (all share each batch). None: the base model.")
        parser.add_argument("--k", type=int, default=1, help="Completions per prompt and adapter. Default: 1.")
        parser.add_argument("--max-new-tokens", type=int, default=None, help="Default: 64.")
        parser.add_argument("--seed", type=int, default=None, help="Default: 0.")
        parser.add_argument("--out", help="Output JSONL (offline mode).")
        parser.add_argument("--strategy", choices=["fewest", "all"], default="fewest",
                            help="With --project: which prompts (fewest samples first, or all in order).")
        parser.add_argument("--compare-previous", action="store_true",
                            help="With --project: the active policy and its parent side by side (vN against vN-1).")
        parser.add_argument("--queue", action="store_true", help="With --project: send the batch to a worker.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")
        cli.add_config_arguments(parser, GenerationConfig, skip=_SPECIAL, title="sampling (GenerationConfig)")

    def config(self, options: dict[str, Any]) -> dict[str, Any]:
        from policy.engine import GenerationConfig

        values = cli.config_values(options, GenerationConfig, skip=_SPECIAL)
        for key in _SPECIAL:
            if options.get(key) is not None:
                values[key] = options[key]
        cli.config_from_options(values, GenerationConfig)  # CommandError on a bad value
        return values

    def handle(self, *args: Any, **options: Any) -> None:
        if options["k"] < 1:
            raise CommandError("--k must be at least 1")
        if options.get("project"):
            return self.handle_project(options)
        if not options.get("out"):
            raise CommandError("--out is required (or --project SLUG)")
        from policy.engine import GenerationConfig, PolicyDataError, generate_completions, read_prompts_file
        from policy.engine.adapters import load_for_generation
        from policy.services.models_prep import ModelPrepError, resolve_base_model
        from training.torch_setup import setup_torch

        try:
            base = resolve_base_model(options.get("base_model"))
            prompts = read_prompts_file(options["prompts"])
        except (ModelPrepError, PolicyDataError) as exc:
            raise CommandError(str(exc)) from None
        for folder in options["adapter"]:
            if not (Path(folder) / "adapter_config.json").is_file():
                raise CommandError(f"--adapter {folder}: not a PEFT adapter folder (no adapter_config.json)")
        config = GenerationConfig(**self.config(options))
        setup_torch(settings.TORCH_THREADS)
        try:
            model, tokenizer, names = load_for_generation(base, options["adapter"])
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot load the model: {exc}") from None
        label = dict(zip(names, options["adapter"], strict=False))
        bar = None
        if not options["no_progress"]:
            from tqdm import tqdm

            bar = tqdm(total=len(prompts) * options["k"] * len(names), desc="generate", unit="sample")
        completions = generate_completions(model, tokenizer, prompts, config, adapters=names, k=options["k"],
                                           on_batch=(lambda n, _r: bar.update(n)) if bar else None)
        if bar is not None:
            bar.close()
        out = Path(options["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as fh:
            for c in completions:
                fh.write(json.dumps({"prompt": prompts[c.prompt_index], "response": c.text,
                                     "adapter": label.get(c.adapter) if c.adapter else None,
                                     "generation": {**config.to_dict(), "seed": c.seed, "k": c.k,
                                                    "base_model": base, "ended_with_eos": c.ended}},
                                    ensure_ascii=False) + "\n")
        self.stdout.write(f"wrote {out}")
        self.stdout.write(f"generated={len(completions)}")

    def handle_project(self, options: dict[str, Any]) -> None:
        from policy.services.runs import PolicyRunError, generation_run_create, policy_run_execute_here

        project = project_or_error(options["project"])
        try:
            limit = int(options["prompts"])
        except ValueError:
            raise CommandError("with --project, --prompts is a number of prompts") from None
        if limit < 1:
            raise CommandError("--prompts must be at least 1")
        try:
            run = generation_run_create(project=project, k=options["k"], prompts=options["strategy"], limit=limit,
                                        compare_previous=options["compare_previous"], config=self.config(options),
                                        base_model=options.get("base_model") or "", enqueue=options["queue"])
        except PolicyRunError as exc:
            raise CommandError(str(exc)) from None
        run = report_run(self, run, queue=options["queue"], progress=not options["no_progress"],
                         execute=policy_run_execute_here)
        if not options["queue"]:
            m = run.final_metrics
            self.stdout.write(f"samples_created={m['samples_created']} tasks_created={m['tasks_created']} "
                              f"skipped_prompts={m['skipped_prompts']}")
            self.stdout.write(f"generated={m['completions']}")
