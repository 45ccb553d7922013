"""Per-project quality settings: `Project.quality_config` merged over these defaults.

Only known keys are taken from the project; `filters` is merged key by key, so a project that
sets {"filters": {"length_bias": false}} keeps every other filter on."""

from typing import Any

FILTERS = ("too_fast", "gold", "reliability", "agreement", "position_bias", "length_bias")

DEFAULTS: dict[str, Any] = {
    # Which filters may exclude judgments (banned annotators are always excluded).
    "filters": dict.fromkeys(FILTERS, True),
    # Speed: a judgment is too fast under the floor or faster than reading what was shown.
    "floor_seconds": 3.0,
    "max_words_per_second": 10.0,
    "too_fast_share": 0.3,  # an annotator with at least this share of too-fast judgments is flagged
    # Gold: share of served tasks that are gold (admin gold and honeypots), honeypot kinds made.
    "gold_rate": 0.1,
    "honeypot_kinds": ["truncate", "off_topic", "shuffle"],
    "honeypot_judgments_wanted": 1000,  # each annotator sees a honeypot at most once
    "gold_min_n": 5,  # judge gold accuracy only on at least this many gold judgments
    "gold_min_accuracy": 0.7,  # flagged when the upper end of the Wilson interval is below
    # Reliability (Dawid-Skene for pairs, CrowdBT for rankings) and agreement.
    "min_labels": 10,  # no annotator-level flag on fewer judgments
    "min_informativeness": 0.15,  # chance-corrected reliability below this flags the annotator
    "min_loo_agreement": 0.4,  # agreement with the others' consensus below this flags
    "min_overlap": 10,  # Cohen's kappa only for annotator pairs with this many common tasks
    # Bias: binomial tests against 0.5 (position) and the project's base rate (length).
    "bias_alpha": 0.01,
    "min_bias_effect": 0.25,  # and only when the share is this far from the expected rate
    # Recomputation after every N new judgments (0: only on demand).
    "recompute_every": 50,
}


def quality_config(project: Any) -> dict[str, Any]:
    """The project's effective settings (a fresh dict)."""
    own = project.quality_config if isinstance(project.quality_config, dict) else {}
    merged = {key: own.get(key, value) for key, value in DEFAULTS.items()}
    filters = dict(DEFAULTS["filters"])
    if isinstance(own.get("filters"), dict):
        filters.update({k: bool(v) for k, v in own["filters"].items() if k in FILTERS})
    merged["filters"] = filters
    merged["honeypot_kinds"] = list(merged["honeypot_kinds"])
    return merged
