"""(c) Real models on this CPU: the SmolLM2-135M-Instruct policy (manage.py prepare_models)
against all-MiniLM-L6-v2 reward models trained on ../shared/data/hh-rlhf-harmless/dev.jsonl.gz.

    .venv/bin/python bench/policy_real_cpu.py [--steps 30] [--threads 2]

The dialogues are cut in two halves by prompt hash. Reward model A trains on one half and is
PPO's reward; reward model B trains on the other half and only watches (the over-optimisation
guard). PPO trains on the first human turn of training-half dialogues; held-out prompts
(never trained on) are sampled before and after with the same seed and scored by both reward
models; KL to the reference is measured on the after-samples. Prints tables and a few samples.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from pathlib import Path

from reward_common import HH_DEV, prompt_fold, quiet_transformers, require, table

OUT = Path(__file__).resolve().parent / "out" / "policy_real"


def first_human_turn(dialogue: str) -> str:
    text = dialogue.split("\n\nHuman:", 1)[1]
    return text.split("\n\nAssistant:", 1)[0].strip()


def load_hh() -> tuple[list[dict], list[dict]]:
    """HH pairs as reward-engine records, split in two halves by prompt hash."""
    halves: tuple[list[dict], list[dict]] = ([], [])
    with gzip.open(require(HH_DEV), "rt") as fh:
        for line in fh:
            row = json.loads(line)
            cut = row["chosen"].rfind("\n\nAssistant:") + len("\n\nAssistant:")
            prompt = row["chosen"][:cut]
            chosen, rejected = row["chosen"][cut:].strip(), row["rejected"][cut:].strip()
            record = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
            halves[prompt_fold(prompt, 2)].append(record)
    return halves


def train_rm(records: list[dict], out: Path, base: str, threads: int, seed: int) -> str:
    from rewards.engine import RewardConfig, record_to_element, train_reward_model

    if (out / "reward_config.json").is_file():
        return str(out)
    elements = [record_to_element(r) for r in records]
    config = RewardConfig(base_model=base, output_dir=str(out), learning_rate=1e-3, num_epochs=2, pooling="mean",
                          target_modules=["query", "key", "value", "dense"], threads=threads, seed=seed,
                          max_length=256)
    t0 = time.perf_counter()
    train_reward_model(config, elements, None, progress=False)
    print(f"reward model {out.name}: {len(elements)} pairs in {time.perf_counter() - t0:.0f} s")
    return str(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--heldout-prompts", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--kl-coef", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=5e-5)
    args = ap.parse_args()
    quiet_transformers()
    import os

    import django
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    import torch

    from policy.engine import GenerationConfig, PPOConfig, generate_completions, train_ppo
    from policy.engine.adapters import load_for_generation
    from policy.engine.forward import response_logprobs
    from policy.engine.generate import encode_prompt, left_pad
    from policy.engine.reward_fn import reward_fn_from_folder
    from policy.services.models_prep import resolve_base_model
    from training.torch_setup import set_torch_threads

    set_torch_threads(args.threads)
    policy_base, rm_base = resolve_base_model(None), resolve_base_model(None, kind="reward")
    half_a, half_b = load_hh()
    OUT.mkdir(parents=True, exist_ok=True)
    rm_a = train_rm(half_a, OUT / "rm_a", rm_base, args.threads, seed=0)
    rm_b = train_rm(half_b, OUT / "rm_b", rm_base, args.threads, seed=1)
    score_a, score_b = reward_fn_from_folder(rm_a), reward_fn_from_folder(rm_b)
    prompts = sorted({first_human_turn(r["prompt"]) for r in half_a})
    random.Random(0).shuffle(prompts)
    heldout, train = prompts[: args.heldout_prompts], prompts[args.heldout_prompts:]
    print(f"prompts: {len(train)} train, {len(heldout)} held out (first human turns of half A)")

    config = PPOConfig(base_model=policy_base, output_dir=str(OUT / "ppo"), steps=args.steps,
                       batch_size=args.batch_size, mini_batch_size=max(1, args.batch_size // 2),
                       max_new_tokens=args.max_new_tokens, kl_coef=args.kl_coef, learning_rate=args.lr,
                       threads=args.threads, save_steps=0)
    t0 = time.perf_counter()
    result = train_ppo(config, train, score_a, heldout_reward_fn=score_b, progress=True)
    seconds = time.perf_counter() - t0
    hist = result.history
    every = max(1, len(hist) // 10)
    shown = [h for i, h in enumerate(hist) if i % every == 0 or i == len(hist) - 1]
    rows = [[h["step"], f"{h['reward_mean']:.3f}", f"{h['heldout_reward_mean']:.3f}", f"{h['kl']:.3f}",
             f"{h['entropy']:.2f}", f"{h['response_length']:.1f}", f"{h['episodes_per_s']:.2f}",
             f"{h['tokens_per_s']:.0f}"] for h in shown]
    print(table(rows, ["step", "RM A (train)", "RM B (held-out)", "KL", "entropy", "resp len", "episodes/s",
                       "gen tok/s"]))
    episodes = args.steps * args.batch_size
    print(f"ppo: {episodes} episodes in {seconds:.0f} s = {episodes / seconds:.2f} episodes/s")

    sampling = GenerationConfig(max_new_tokens=args.max_new_tokens, temperature=0.7, batch_size=16, seed=123)
    model, tokenizer, names = load_for_generation(policy_base, [str(OUT / "ppo")])
    outs = generate_completions(model, tokenizer, heldout, sampling, adapters=[None, names[0]])
    before = [c.text for c in outs if c.adapter is None]
    after = [c.text for c in outs if c.adapter is not None]
    report = []
    for label, texts in (("before (base)", before), ("after PPO", after)):
        a, b = score_a(heldout, texts), score_b(heldout, texts)
        report.append([label, f"{sum(a) / len(a):.3f}", f"{sum(b) / len(b):.3f}",
                       f"{sum(len(tokenizer(t)['input_ids']) for t in texts) / len(texts):.1f}"])
    # KL(policy || base) on the after-samples, per sequence (k1 summed over response tokens).
    kls = []
    with torch.no_grad():
        for prompt, text in zip(heldout, after, strict=True):
            p_ids = encode_prompt(tokenizer, prompt)
            r_ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            ids, mask = left_pad([p_ids + r_ids], tokenizer.pad_token_id)
            model.base_model.set_adapter(names[0])
            logp, _ = response_logprobs(model, ids, mask, len(r_ids), 0.7)
            with model.disable_adapter():
                ref, _ = response_logprobs(model, ids, mask, len(r_ids), 0.7)
            kls.append(float((logp - ref).sum()))
    print(table(report, ["held-out prompts", "RM A (train)", "RM B (held-out)", "mean tokens"]))
    print(f"KL(policy || reference) on held-out samples: {sum(kls) / len(kls):.3f} nats per response")
    for i in range(3):
        print(f"\n### prompt: {heldout[i]}\n- before: {before[i]}\n- after:  {after[i]}")


if __name__ == "__main__":
    main()
