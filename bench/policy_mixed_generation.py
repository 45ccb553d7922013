"""(d) Mixed-adapter generation: 4 LoRA adapters in one batch (PEFT's adapter_names) against a
loop that generates for one adapter at a time, on the same base, prompts and settings.

    .venv/bin/python bench/policy_mixed_generation.py [--adapters 4] [--prompts 8] [--threads 2]

Greedy decoding with a fixed number of new tokens (EOS ignored), so both ways produce the same
number of tokens. The adapters are random (rank 16 on the attention projections); their weights
do not change the cost. Reports generated tokens/s both ways and the ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from reward_common import quiet_transformers, table

PROMPTS = ["Name a prime number.", "What is the capital of France?", "Give me a tip for sleeping well.",
           "Describe the sea in one sentence.", "How do I boil an egg?", "Why is the sky blue?",
           "Suggest a name for a cat.", "What is 12 times 7?", "Write a haiku about rain.",
           "What does a bee do?", "List three fruits.", "Explain gravity to a child."]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapters", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--base", default="")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    quiet_transformers()
    import django

    django.setup()
    import torch
    from transformers import GenerationConfig as HFGen

    from policy.engine import PPOConfig, save_adapter
    from policy.engine.adapters import POLICY, attach_policy, load_causal_base, load_for_generation
    from policy.engine.generate import BASE, encode_prompt, left_pad
    from policy.services.models_prep import resolve_base_model
    from training.torch_setup import set_torch_threads

    set_torch_threads(args.threads)
    base_path = args.base or resolve_base_model(None)
    folders = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.adapters):
            base, tok, _ = load_causal_base(base_path, device=args.device)
            model = attach_policy(base, PPOConfig(base_model=base_path, seed=i))
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.data.normal_(0, 0.01)
            saved = save_adapter(model, POLICY, f"{tmp}/a{i}", tokenizer=tok, meta={"base_model": base_path})
            folders.append(str(saved))
            del model, base
        model, tok, names = load_for_generation(base_path, folders, device=args.device)
        device = next(model.parameters()).device
        encoded = [encode_prompt(tok, p) for p in (PROMPTS * 4)[: args.prompts]]
        gen = HFGen(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False,
                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)

        def run(rows: list[list[int]], adapter_names: list[str]) -> int:
            ids, mask = left_pad(rows, tok.pad_token_id, device)
            with torch.no_grad():
                out = model.generate(input_ids=ids, attention_mask=mask, generation_config=gen,
                                     adapter_names=adapter_names)
            return (out.shape[1] - ids.shape[1]) * out.shape[0]

        def mixed() -> int:
            rows = [e for e in encoded for _ in names]
            return run(rows, [n for _ in encoded for n in names])

        def looped() -> int:
            return sum(run(encoded, [n] * len(encoded)) for n in names)

        run(encoded[:2], [names[0], BASE])  # warm-up
        results = {}
        for label, fn in (("mixed batch", mixed), ("one adapter at a time", looped)):
            best = 0.0
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                tokens = fn()
                best = max(best, tokens / (time.perf_counter() - t0))
            results[label] = best
    rows = [[k, f"{v:.0f}"] for k, v in results.items()]
    rows.append(["mixed / loop", f"{results['mixed batch'] / results['one adapter at a time']:.2f}"])
    print(f"{args.adapters} adapters x {args.prompts} prompts x {args.new_tokens} tokens on {device}, "
          f"{args.threads} threads, best of {args.repeats}")
    print(table(rows, ["way", "generated tokens/s"]))


if __name__ == "__main__":
    main()
