"""TRL's PPO (``trl.experimental.ppo``, trl==1.12.0) on a LoRA policy: the TRL side of the PPO benchmark.

Standalone (no Django, no project import); runs in its own bench-only virtualenv, never the service's .venv:

    python3 -m venv /work/trl-venv
    /work/trl-venv/bin/pip install torch==2.13.0          # first: the local CPU wheel
    /work/trl-venv/bin/pip install trl==1.12.0 transformers==5.23.0 peft==0.21.2 accelerate datasets
    python bench/policy_models.py --out /tmp/ppo-bench    # policy/, reward/, prompts.jsonl (either venv)
    /work/trl-venv/bin/python bench/policy_trl_ppo.py --policy /tmp/ppo-bench/policy \\
        --reward /tmp/ppo-bench/reward --prompts /tmp/ppo-bench/prompts.jsonl --steps 8 --batch-size 16 \\
        --mini-batch-size 8 --response-length 24 --ppo-epochs 2 --threads 2 --out /tmp/trl_ppo.json

trl 1.12.0 is the last release with ``trl.experimental.ppo`` (removed in 1.13).

What runs is TRL's own recipe: the policy is ``AutoModelForCausalLM`` wrapped by the trainer in a PEFT LoRA adapter
(``peft_config``; ``ref_model=None``, so the reference is the same model with the adapter disabled); the reward and
value models are ``AutoModelForSequenceClassification`` (num_labels=1) loaded from the reward folder as in TRL's
example script (the value model is trained in full, not LoRA, by the same optimizer and learning rate as the policy
adapter). Batch mapping, so that a gradient step sees exactly ``--mini-batch-size`` rollouts:
``per_device_train_batch_size=B``, ``gradient_accumulation_steps=1``, ``num_mini_batches=B/M``,
``total_episodes=N*B`` (so ``num_total_batches`` = N PPO updates). Sampling at temperature 1, stop token = eos,
``missing_eos_penalty`` unset, no eval, no sample generations, no saving, a log line per update.

Measured: wall time of ``trainer.train()`` only, episodes/s, the process's peak RSS (``ru_maxrss``, so model
loading counts too), and TRL's per-update logs (``objective/scores``, ``objective/kl``, ...), caught by a
``TrainerCallback.on_log``. Written as JSON to ``--out``; a one-line summary is printed.

What TRL 1.12 does (read from ppo_trainer.py; match it on our side for a like-for-like run):
- rollout log-probs come from ``generate``'s scores (logits / (T + 1e-7), top_k=0, top_p=1); the reference's from a
  plain forward with the adapter disabled, logits / (T + 1e-7); positions after the first EOS are padding
  (log-prob := 1 for both, so their KL is 0).
- per-token KL: k1 = logp - logp_ref, k3 = (r - 1) - log r with r = p_ref / p; reward_t = -kl_coef * kl_t, plus the
  score at index len+1 (the slot after the EOS) when it fits in the response, else at the last token; the value
  mask covers one token more than the policy mask. GAE(gamma, lam) over the whole response; advantages whitened
  once per rollout batch over valid tokens; rewards whitened only with whiten_rewards.
- losses: token-mean over the mini-batch; pg = max(-A r, -A clip(r, 1 +- cliprange)); vf = 0.5 * max of the
  squared errors with and without clipping the prediction to +-cliprange_value of the rollout value;
  loss = pg + vf_coef * vf. One AdamW (``optim`` adamw_torch_fused), one LR, linear decay to 0 over the updates;
  no gradient clipping (max_grad_norm is never applied), gradient_checkpointing is never applied either.
- logged: ``objective/kl`` = mean over sequences of the summed per-token KL (chosen estimator); ``objective/scores``
  = mean raw score of that update's rollouts (sampled before the update); ``objective/rlhf_reward`` = score +
  summed non-score reward.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Per-update TRL log keys kept in the JSON (short name -> TRL's key).
LOG_KEYS = {
    "scores": "objective/scores",
    "kl": "objective/kl",
    "non_score_reward": "objective/non_score_reward",
    "rlhf_reward": "objective/rlhf_reward",
    "entropy": "objective/entropy",
    "approxkl": "policy/approxkl_avg",
    "clipfrac": "policy/clipfrac_avg",
    "policy_loss": "loss/policy_avg",
    "value_loss": "loss/value_avg",
    "value_clipfrac": "val/clipfrac_avg",
    "ratio": "val/ratio",
    "num_eos_tokens": "val/num_eos_tokens",
    "lr": "lr",
    "eps": "eps",
}


def rss_mib() -> float:
    """Current resident set size (Linux /proc), MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KB


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", required=True, help="Causal LM folder (AutoModelForCausalLM) with its tokenizer.")
    ap.add_argument("--reward", required=True, help="Reward model folder (AutoModelForSequenceClassification, "
                    "num_labels=1) using the policy's tokenizer.")
    ap.add_argument("--value", default="", help="Value model folder; default: --reward (as TRL's example does).")
    ap.add_argument("--prompts", required=True, help='JSONL with {"prompt": "..."} per line.')
    ap.add_argument("--steps", type=int, default=8, help="PPO updates (total_episodes = steps * batch_size).")
    ap.add_argument("--batch-size", type=int, default=16, help="Rollouts per PPO update.")
    ap.add_argument("--mini-batch-size", type=int, default=8, help="Rollouts per gradient step (divides batch).")
    ap.add_argument("--response-length", type=int, default=24, help="max new tokens per rollout.")
    ap.add_argument("--ppo-epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-5, help="AdamW LR (policy LoRA and the full value model).")
    ap.add_argument("--lr-scheduler", default="linear", choices=["linear", "constant"],
                    help="TRL's default is linear decay to 0 over the N updates.")
    ap.add_argument("--kl-coef", type=float, default=0.05)
    ap.add_argument("--kl-estimator", default="k1", choices=["k1", "k3"])
    ap.add_argument("--vf-coef", type=float, default=0.1, help="TRL's default 0.1.")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--lora-alpha", type=int, default=0, help="0 = 2 * r.")
    ap.add_argument("--target-modules", default="c_attn",
                    help="Comma-separated LoRA targets (GPT-2's attention projection is c_attn).")
    ap.add_argument("--rollout-batch-size", type=int, default=0,
                    help="local_rollout_forward_batch_size (generation and scoring chunk); 0 = batch size.")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                    help="bf16 = accelerate autocast (only the trainer's training forward passes run under it).")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="JSON results file.")
    args = ap.parse_args(argv)
    if args.batch_size % args.mini_batch_size:
        ap.error("--mini-batch-size must divide --batch-size")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.precision == "bf16":
        # PPOTrainer builds its own Accelerator() without mixed_precision; it only reads this variable.
        os.environ["ACCELERATE_MIXED_PRECISION"] = "bf16"
    import torch

    torch.set_num_threads(args.threads)
    rss_start = rss_mib()

    import datasets
    import peft
    import transformers
    import trl
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
        TrainerCallback,
        set_seed,
    )
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    torch.set_num_threads(args.threads)  # again: some imports reset it
    set_seed(args.seed)
    rss_imports = rss_mib()

    tokenizer = AutoTokenizer.from_pretrained(args.policy, padding_side="left")
    if tokenizer.eos_token_id is None:
        raise SystemExit("the policy's tokenizer needs an eos token (stop token)")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.pad_token_id == tokenizer.eos_token_id:
        print("warning: pad == eos: TRL's PPO treats every generated EOS as padding (score read before it, no"
              " loss on it); give the tokenizer its own pad token", file=sys.stderr)
    reward_tok_dir = Path(args.reward)
    if (reward_tok_dir / "tokenizer_config.json").exists():
        if AutoTokenizer.from_pretrained(reward_tok_dir).get_vocab() != tokenizer.get_vocab():
            raise SystemExit("the reward model must use the policy's tokenizer (TRL passes it the policy's token ids)")

    dtype = torch.float32  # weights in fp32; --precision bf16 is autocast, as TrainingArguments(bf16=True) means
    policy = AutoModelForCausalLM.from_pretrained(args.policy, dtype=dtype)
    reward_model = AutoModelForSequenceClassification.from_pretrained(args.reward, num_labels=1, dtype=dtype)
    value_model = AutoModelForSequenceClassification.from_pretrained(args.value or args.reward, num_labels=1,
                                                                     dtype=dtype)
    for m in (policy, reward_model, value_model):
        if m.config.pad_token_id is None:
            m.config.pad_token_id = tokenizer.pad_token_id
    policy.generation_config.pad_token_id = tokenizer.pad_token_id

    prompts = [json.loads(line)["prompt"] for line in Path(args.prompts).read_text().splitlines() if line.strip()]
    if len(prompts) < args.batch_size:
        raise SystemExit(f"need at least --batch-size ({args.batch_size}) prompts, got {len(prompts)}")
    train_dataset = Dataset.from_dict({"prompt": prompts}).map(
        lambda batch: {"input_ids": tokenizer(batch["prompt"], padding=False)["input_ids"]},
        batched=True, remove_columns=["prompt"],
    )

    workdir = Path(tempfile.mkdtemp(prefix="trl-ppo-bench-"))
    n_mini = args.batch_size // args.mini_batch_size
    ppo_args = PPOConfig(
        output_dir=str(workdir),
        total_episodes=args.steps * args.batch_size,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=1,
        num_mini_batches=n_mini,
        num_ppo_epochs=args.ppo_epochs,
        local_rollout_forward_batch_size=args.rollout_batch_size or args.batch_size,
        learning_rate=args.lr,
        lr_scheduler_type=args.lr_scheduler,
        kl_coef=args.kl_coef,
        kl_estimator=args.kl_estimator,
        vf_coef=args.vf_coef,
        response_length=args.response_length,
        temperature=args.temperature,
        stop_token="eos",
        missing_eos_penalty=None,
        num_sample_generations=0,
        eval_strategy="no",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=args.seed,
        data_seed=args.seed,
        bf16=args.precision == "bf16",
        use_cpu=True,
        gradient_checkpointing=False,  # PPOTrainer never applies it anyway (it does not call Trainer.__init__)
        dataloader_num_workers=0,
    )
    lora = LoraConfig(
        task_type="CAUSAL_LM", r=args.lora_r, lora_alpha=args.lora_alpha or 2 * args.lora_r, lora_dropout=0.0,
        target_modules=[t.strip() for t in args.target_modules.split(",") if t.strip()], bias="none",
    )

    history: list[dict] = []

    class Capture(TrainerCallback):
        def on_log(self, _args, state, control, logs=None, **kwargs):
            entry = dict(logs or {})
            if "objective/scores" in entry:
                history.append(entry)
                print(f"  update {state.global_step}/{args.steps}: score {entry['objective/scores']:+.4f}"
                      f"  kl {entry['objective/kl']:+.4f}  value_loss {entry['loss/value_avg']:.4f}"
                      f"  eos {int(entry['val/num_eos_tokens'])}  {entry['eps']} eps", flush=True)

    set_seed(args.seed)
    trainer = PPOTrainer(
        args=ppo_args, processing_class=tokenizer, model=policy, ref_model=None, reward_model=reward_model,
        value_model=value_model, train_dataset=train_dataset, eval_dataset=None, peft_config=lora,
        callbacks=[Capture()],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    torch.set_num_threads(args.threads)
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    trainable_policy = sum(p.numel() for p in trainer.model.policy.parameters() if p.requires_grad)
    rss_before = rss_mib()

    load_before = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    load_after = os.getloadavg()[0]

    episodes = int(trainer.state.episode)
    result = {
        "episodes_per_s": episodes / seconds,
        "seconds": seconds,
        "episodes": episodes,
        "updates": int(trainer.state.global_step),
        "peak_rss_mib": peak_rss_mib(),
        "rss_mib": {"start": rss_start, "after_imports": rss_imports, "before_train": rss_before,
                    "after_train": rss_mib()},
        "cpu_seconds": cpu_seconds,  # user + sys of train(); ~= threads * seconds when the machine is not shared
        "load_avg_1min": {"before_train": load_before, "after_train": load_after},
        "scores": [e["objective/scores"] for e in history],
        "kl": [e["objective/kl"] for e in history],
        "metrics": {short: [e.get(key) for e in history] for short, key in LOG_KEYS.items()},
        "config": {
            "trainer": "trl.experimental.ppo.PPOTrainer",
            "policy": str(Path(args.policy).resolve()), "reward": str(Path(args.reward).resolve()),
            "value": str(Path(args.value or args.reward).resolve()), "prompts": str(Path(args.prompts).resolve()),
            "n_prompts": len(prompts),
            "steps": args.steps, "batch_size": args.batch_size, "mini_batch_size": args.mini_batch_size,
            "ppo_epochs": args.ppo_epochs, "response_length": args.response_length, "lr": args.lr,
            "lr_scheduler": args.lr_scheduler, "kl_coef": args.kl_coef, "kl_estimator": args.kl_estimator,
            "vf_coef": args.vf_coef, "temperature": args.temperature, "lora_r": lora.r,
            "lora_alpha": lora.lora_alpha, "target_modules": sorted(lora.target_modules),
            "precision": args.precision, "threads": args.threads, "seed": args.seed,
            "trainable_params": trainable, "trainable_policy_params": trainable_policy,
            "trainable_value_params": trainable - trainable_policy,
            "optimizer": type(getattr(trainer.optimizer, "optimizer", trainer.optimizer)).__name__,
            "ppo_config": {k: getattr(ppo_args, k) for k in (
                "num_mini_batches", "per_device_train_batch_size", "gradient_accumulation_steps", "batch_size",
                "mini_batch_size", "local_mini_batch_size", "num_total_batches", "total_episodes",
                "local_rollout_forward_batch_size", "num_ppo_epochs", "whiten_rewards", "kl_coef", "kl_estimator",
                "cliprange", "cliprange_value", "vf_coef", "gamma", "lam", "temperature", "response_length",
                "stop_token", "stop_token_id", "missing_eos_penalty", "learning_rate", "weight_decay",
                "adam_beta1", "adam_beta2", "adam_epsilon", "optim", "lr_scheduler_type", "max_grad_norm",
                "warmup_steps", "bf16", "seed")},
            "stop_token_id": trainer.stop_token_id,
            "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
            "versions": {"python": platform.python_version(), "torch": torch.__version__, "trl": trl.__version__,
                         "transformers": transformers.__version__, "peft": peft.__version__,
                         "accelerate": __import__("accelerate").__version__, "datasets": datasets.__version__},
        },
    }
    shutil.rmtree(workdir, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str) + "\n")
    s = result["scores"]
    print(f"TRL PPO: {episodes} episodes in {seconds:.1f}s = {result['episodes_per_s']:.2f} episodes/s;"
          f" cpu {cpu_seconds:.1f}s; peak RSS {result['peak_rss_mib']:.0f} MiB;"
          f" score {s[0]:+.3f} -> {s[-1]:+.3f} over {len(s)} updates;"
          f" {args.threads} threads, {args.precision} -> {args.out}")


if __name__ == "__main__":
    main()
