"""PPO of a LoRA policy against a reward model.

    python manage.py train_policy --prompts FILE.jsonl --reward-model RM_DIR [--base-model PATH_OR_ID]
        --out DIR [--init-adapter DIR] [--steps N]

    python manage.py train_policy --project SLUG [--queue] [--steps N]

Offline, each prompts line is {"prompt": text or chat turns}; the reward model is a folder written
by train_reward; the base defaults to the prepared SmolLM2-135M-Instruct. The last line printed is
`steps=N reward_first=X reward_last=Y kl=Z`. The database form trains on the project's prompts
against its active reward model, from its active policy, and registers the new policy.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from policy.management.common import project_or_error, report_run
from training import cli

_SPECIAL = {"base_model", "output_dir", "init_adapter", "steps"}


class Command(BaseCommand):
    help = "Train a LoRA policy with PPO against a reward model (offline files, or a project's data)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from policy.engine import PPOConfig

        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--prompts", help="JSONL (.gz allowed) of {\"prompt\": text or chat turns}.")
        source.add_argument("--project", help="Train on a project's prompts and active reward model (database).")
        parser.add_argument("--reward-model", help="Reward-model folder (train_reward's output); offline mode.")
        parser.add_argument("--heldout-reward-model", help="A second reward model, not trained on (a folder offline,"
                            " a registry id with --project): its reward is logged beside the training reward"
                            " (over-optimisation shows as the two curves parting).")
        parser.add_argument("--base-model", help="Local path or hub id of a causal LM; default: the prepared"
                            " SmolLM2-135M-Instruct.")
        parser.add_argument("--out", help="Output folder for the adapter and checkpoints (offline mode).")
        parser.add_argument("--init-adapter", help="Start from this policy adapter (e.g. an SFT one); it is also the"
                            " KL reference unless --reference base.")
        parser.add_argument("--steps", type=int, default=None, help="PPO steps. Default: 20.")
        parser.add_argument("--queue", action="store_true", help="With --project: send the run to a worker.")
        parser.add_argument("--resume", action="store_true", help="Continue from the newest checkpoint in --out.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")
        cli.add_config_arguments(parser, PPOConfig, skip=_SPECIAL, title="PPO settings (PPOConfig)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["steps"] is not None and options["steps"] < 1:
            raise CommandError("--steps must be at least 1")
        if options.get("project"):
            return self.handle_project(options)
        for flag in ("reward_model", "out"):
            if not options.get(flag):
                raise CommandError(f"--{flag.replace('_', '-')} is required with --prompts")
        from policy.engine import PolicyDataError, PPOConfig, read_prompts_file, train_ppo
        from policy.engine.reward_fn import reward_fn_from_folder
        from policy.services.models_prep import ModelPrepError, resolve_base_model

        try:
            base = resolve_base_model(options.get("base_model"))
            prompts = read_prompts_file(options["prompts"])
        except (ModelPrepError, PolicyDataError) as exc:
            raise CommandError(str(exc)) from None
        fixed = {"base_model": base, "output_dir": options["out"], "init_adapter": options.get("init_adapter") or ""}
        if options["steps"] is not None:
            fixed["steps"] = options["steps"]
        config = cli.config_from_options(options, PPOConfig, skip=_SPECIAL, **fixed)
        try:
            reward = reward_fn_from_folder(options["reward_model"])
            heldout = (reward_fn_from_folder(options["heldout_reward_model"])
                       if options.get("heldout_reward_model") else None)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot load the reward model: {exc}") from None
        self.stderr.write(f"ppo on {len(prompts)} prompts for {config.steps} steps; base {base}")
        try:
            result = train_ppo(config, prompts, reward, heldout_reward_fn=heldout, resume=options["resume"],
                               progress=not options["no_progress"])
        except (OSError, ValueError, RuntimeError) as exc:
            raise CommandError(f"training failed: {exc}") from None
        summary = result.summary()
        self.stdout.write(f"saved adapter to {result.output_dir}")
        if "heldout_reward_first" in summary:
            self.stdout.write(f"heldout_reward_first={summary['heldout_reward_first']:.4f} "
                              f"heldout_reward_last={summary['heldout_reward_last']:.4f}")
        self.stdout.write(f"steps={result.steps} reward_first={summary['reward_first']:.4f} "
                          f"reward_last={summary['reward_last']:.4f} kl={summary['kl']:.4f}")

    def handle_project(self, options: dict[str, Any]) -> None:
        from policy.engine import PPOConfig
        from policy.services.runs import PolicyRunError, policy_run_execute_here, ppo_run_create

        project = project_or_error(options["project"])
        config = cli.config_values(options, PPOConfig, skip=_SPECIAL)
        if options["steps"] is not None:
            config["steps"] = options["steps"]
        if options.get("base_model"):
            config["base_model"] = options["base_model"]
        heldout = None
        if options.get("heldout_reward_model"):
            from rewards.models import RewardModel

            value = options["heldout_reward_model"]
            heldout = RewardModel.objects.filter(pk=int(value)).first() if value.isdigit() else None
            if heldout is None:
                raise CommandError(f"--heldout-reward-model {value}: no reward model with that id")
        try:
            run = ppo_run_create(project=project, config=config, heldout_reward_model=heldout,
                                 enqueue=options["queue"])
        except PolicyRunError as exc:
            raise CommandError(str(exc)) from None
        run = report_run(self, run, queue=options["queue"], progress=not options["no_progress"],
                         execute=policy_run_execute_here)
        if not options["queue"]:
            m = run.final_metrics
            self.stdout.write(f"policy {m.get('policy_model')} registered"
                              f" ({'active' if m.get('activated') else 'not active'})")
            self.stdout.write(f"steps={run.config.get('steps', PPOConfig.steps)} reward_first={m['reward_first']:.4f} "
                              f"reward_last={m['reward_last']:.4f} kl={m['kl']:.4f}")
