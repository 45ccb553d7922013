"""(d) baseline: how far does the frozen backbone alone get on HH harmless, and how much does the
held-out fold move the number? A logistic regression on the difference of frozen all-MiniLM-L6-v2
sentence embeddings (chosen - rejected, mean-pooled, dialogue cut to its last 600 characters +
response), scored by 10-fold cross-validation by prompt over all 1,800 pairs (the folds of
reward_hh_accuracy.py --folds; fold 0 is the standard 10% held-out split). Data:
../shared/data/hh-rlhf-harmless/dev.jsonl.gz (source: github.com/anthropics/hh-rlhf @ 354e5c3,
harmless-base/test.jsonl.gz, MIT).

    .venv/bin/python bench/reward_hh_probe.py
"""

from __future__ import annotations

from reward_common import HH_DEV, Timer, load_avg, minilm_path, prompt_fold, quiet_transformers, require, table


def main() -> None:
    quiet_transformers()
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    from rewards.engine import read_elements

    torch.set_num_threads(2)
    elements = [e for e in read_elements(require(HH_DEV)) if len(e.responses) == 2]
    encoder = SentenceTransformer(minilm_path(), device="cpu")
    encoder.max_seq_length = 256
    texts = []
    for e in elements:
        c = e.comparisons[0]
        texts += [e.prompt[-600:] + e.responses[c.winner], e.prompt[-600:] + e.responses[c.loser]]
    with Timer() as embed:
        x = encoder.encode(texts, batch_size=64, convert_to_numpy=True)
    chosen, rejected = x[0::2], x[1::2]

    def correct(train_idx, test_idx):
        diff = np.concatenate([chosen[train_idx] - rejected[train_idx], rejected[train_idx] - chosen[train_idx]])
        y = np.r_[np.ones(len(train_idx)), np.zeros(len(train_idx))]
        clf = LogisticRegression(C=0.1, max_iter=2000, fit_intercept=False).fit(diff, y)
        return clf.decision_function(chosen[test_idx] - rejected[test_idx]) > 0

    idx = np.arange(len(elements))
    fold = np.array([prompt_fold(e.prompt, 10) for e in elements])
    pooled = np.zeros(len(elements), dtype=bool)
    rows = []
    for f in range(10):
        test = idx[fold == f]
        pooled[test] = correct(idx[fold != f], test)
        name = f"fold {f}" + (" (the standard split)" if f == 0 else "")
        rows.append([name, len(test), f"{pooled[test].mean():.4f}"])
    first_half = np.isin(fold, range(5))
    rows.append(["folds 0-4 pooled", int(first_half.sum()), f"{pooled[first_half].mean():.4f}"])
    rows.append(["10 folds pooled", len(elements), f"{pooled.mean():.4f}"])
    print(table(rows, ["held-out set", "pairs", "probe accuracy"]))
    print(f"embedding {len(texts)} texts took {embed.seconds:.0f}s; load average {load_avg()}")


if __name__ == "__main__":
    main()
