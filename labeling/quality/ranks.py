"""Ranks of samples within one judgment, and the consensus of several: one rule for the quality
pass (Kendall tau against the others), the exports (rankings in consensus order, pair votes)
and training snapshots. No Django: judgments come in as (choice, ranking) values."""

from collections.abc import Hashable, Mapping, Sequence

BOTH_BAD = "both_bad"


def ranks_of(
    sample_ids: Sequence[Hashable], choice: str, ranking: Sequence[Sequence[Hashable]] | None
) -> dict[Hashable, int]:
    """Rank of each sample in one judgment (0 = best; tied samples share a rank). A ranking is
    groups of sample ids best first; a pairwise choice is "a" (the first of `sample_ids`), "b",
    or a tie ("tie", and "both_bad" counts as one for ordering)."""
    if ranking:
        return {sample_id: rank for rank, group in enumerate(ranking) for sample_id in group}
    first, second = sample_ids[0], sample_ids[1]
    if choice == "a":
        return {first: 0, second: 1}
    if choice == "b":
        return {first: 1, second: 0}
    return {first: 0, second: 0}


def mean_ranks(sample_ids: Sequence[Hashable], judged: Sequence[Mapping[Hashable, int]]) -> list[float]:
    """Mean rank of each sample (in `sample_ids` order) over judgments' rank maps (Borda)."""
    return [sum(ranks[s] for ranks in judged) / len(judged) for s in sample_ids]


def consensus_order(
    sample_ids: Sequence[Hashable], judged: Sequence[Mapping[Hashable, int]]
) -> tuple[list[Hashable], list[int], dict[Hashable, float]]:
    """Samples by mean rank, best first (equal means keep `sample_ids` order); the 1-based rank of
    each in that order (equal means share a rank); and each sample's mean rank."""
    means = dict(zip(sample_ids, mean_ranks(sample_ids, judged) if judged else [0.0] * len(sample_ids),
                     strict=True))
    position = {s: i for i, s in enumerate(sample_ids)}
    order = sorted(sample_ids, key=lambda s: (means[s], position[s]))
    ranks, current = [], 0
    for index, sample_id in enumerate(order):
        if index == 0 or means[sample_id] != means[order[index - 1]]:
            current = index + 1
        ranks.append(current)
    return order, ranks, means
