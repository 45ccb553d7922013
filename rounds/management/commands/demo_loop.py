"""The RLHF loop demo, offline on the embedded defaults:

    python manage.py demo_loop [--simulate N] [--rounds R] [--project SLUG] [--seed S]
                               [--policy-base PATH] [--reward-base PATH] [--config JSON]

Creates (or reuses) the demo project with the prompts shipped in rounds/demo_prompts.json, samples
the base policy (round 0), lets N simulated annotators judge the open tasks through the crowd
service, then runs R rounds through the rounds service, printing one line of figures per round.
The logic lives in rounds.demo."""

import argparse
import json
import time

from django.core.management.base import BaseCommand, CommandError

from rounds.demo import DEMO_SLUG, DemoError, RoundReport, demo_loop


class Command(BaseCommand):
    help = "Run the RLHF loop demo: round-0 samples, a simulated crowd judging through the crowd API, R rounds."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--simulate", type=int, default=6, metavar="N",
                            help="Simulated annotators (a quarter of them spammers). Default 6.")
        parser.add_argument("--rounds", type=int, default=2, metavar="R", help="Rounds to run. Default 2.")
        parser.add_argument("--project", default=DEMO_SLUG, help=f"The demo project's slug (default {DEMO_SLUG}).")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the simulation and the sampling.")
        parser.add_argument("--policy-base", default="", help="Causal LM base (default: the prepared SmolLM2).")
        parser.add_argument("--reward-base", default="", help="Reward-model base (default: the prepared MiniLM).")
        parser.add_argument("--config", help="Round settings laid over the demo's (rounds.demo.DEMO_ROUND_CONFIG), "
                            'e.g. \'{"ppo": {"config": {"steps": 10}}}\'.')

    def handle(self, *args, **options) -> None:
        overrides = None
        if options["config"]:
            try:
                overrides = json.loads(options["config"])
            except json.JSONDecodeError as exc:
                raise CommandError(f"--config is not JSON: {exc}") from None
            if not isinstance(overrides, dict):
                raise CommandError("--config must be a JSON object of sections (reward, ppo, generate, enqueue)")
        started = time.monotonic()

        def on_round(report: RoundReport) -> None:
            self.stdout.write(report.line() + f" | {time.monotonic() - started:.0f} s so far")

        try:
            result = demo_loop(simulate=options["simulate"], rounds=options["rounds"], slug=options["project"],
                               policy_base=options["policy_base"], reward_base=options["reward_base"],
                               overrides=overrides, seed=options["seed"], write=self.stdout.write, on_round=on_round)
        except DemoError as exc:
            raise CommandError(str(exc)) from None
        failed = [r for r in result.rounds if r.status != "succeeded"]
        if failed:
            r = failed[0]
            raise CommandError(f"round {r.round_id} {r.error}; fix it and run: python manage.py run_round "
                               f"--project {result.project.slug} --retry {r.round_id}")
        self.stdout.write(f"demo done: {len(result.rounds)} round(s) in {time.monotonic() - started:.0f} s")
