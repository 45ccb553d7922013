"""Per-project quality settings: `Project.quality_config` merged over these defaults.

Only known keys are taken from the project; `filters` is merged key by key, so a project that
sets {"filters": {"length_bias": false}} keeps every other filter on."""

from typing import Any

from django.core.exceptions import ValidationError

FILTERS = ("too_fast", "gold", "reliability", "agreement", "position_bias", "length_bias")
HONEYPOT_KINDS = ("truncate", "off_topic", "shuffle")

DEFAULTS: dict[str, Any] = {
    # Which filters may exclude judgments (banned annotators are always excluded).
    "filters": dict.fromkeys(FILTERS, True),
    # Speed: a judgment is too fast under the floor or faster than reading what was shown.
    "floor_seconds": 3.0,
    "max_words_per_second": 10.0,
    "too_fast_share": 0.3,  # an annotator with at least this share of too-fast judgments is flagged
    # Gold: share of served tasks that are gold (admin gold and honeypots), honeypot kinds made.
    "gold_rate": 0.1,
    "honeypot_kinds": list(HONEYPOT_KINDS),
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


# What each key means (the admin's project form shows these with the defaults).
HELP: dict[str, str] = {
    "filters": "which filters may exclude judgments, each true or false: " + ", ".join(FILTERS)
               + " (a banned annotator's judgments are always excluded)",
    "floor_seconds": "a judgment made in fewer seconds than this is too fast",
    "max_words_per_second": "a judgment is also too fast if it means reading the words shown faster than this",
    "too_fast_share": "an annotator with at least this share of too-fast judgments is flagged (0-1)",
    "gold_rate": "share of served tasks that are gold tasks or honeypots (0-1)",
    "honeypot_kinds": "how honeypots are made from a sample: " + ", ".join(HONEYPOT_KINDS),
    "honeypot_judgments_wanted": "judgments a honeypot task collects (each annotator sees it at most once)",
    "gold_min_n": "gold accuracy is judged only from this many gold judgments of an annotator",
    "gold_min_accuracy": "flagged when the upper end of the 95% Wilson interval of gold accuracy is below this",
    "min_labels": "no annotator-level flag on fewer judgments (reliability: on fewer judgments of tasks shared "
                  "with others)",
    "min_informativeness": "chance-corrected reliability (Dawid-Skene / CrowdBT) below this flags the annotator "
                           "(-1 to 1; 0 = labels carry no information)",
    "min_loo_agreement": "agreement with the other annotators' consensus below this flags (0-1)",
    "min_overlap": "Cohen's kappa only for pairs of annotators with this many tasks in common",
    "bias_alpha": "significance level of the position and length bias tests",
    "min_bias_effect": "and a bias flag only when the share is this far from the expected rate (0-0.5)",
    "recompute_every": "recompute quality after this many new judgments (0: only on demand; clean exports and "
                       "training snapshots recompute first when anything changed)",
}


def config_help_rows() -> list[tuple[str, str, str]]:
    """(key, default as JSON, meaning) for every setting, in DEFAULTS order."""
    import json

    return [(key, json.dumps(value), HELP[key]) for key, value in DEFAULTS.items()]


# key -> (type, lowest, highest); None = unbounded on that side.
_NUMBERS: dict[str, tuple[type, float | None, float | None]] = {
    "floor_seconds": (float, 0, None),
    "max_words_per_second": (float, 0.1, None),
    "too_fast_share": (float, 0, 1),
    "gold_rate": (float, 0, 1),
    "honeypot_judgments_wanted": (int, 0, None),
    "gold_min_n": (int, 1, None),
    "gold_min_accuracy": (float, 0, 1),
    "min_labels": (int, 1, None),
    "min_informativeness": (float, -1, 1),
    "min_loo_agreement": (float, 0, 1),
    "min_overlap": (int, 2, None),
    "bias_alpha": (float, 1e-9, 0.5),
    "min_bias_effect": (float, 0, 0.5),
    "recompute_every": (int, 0, None),
}


def config_errors(value: object) -> list[str]:
    """What is wrong with a project's `quality_config`, one message per problem (empty: valid)."""
    if not isinstance(value, dict):
        return [f"must be a JSON object, not {type(value).__name__}"]
    errors = []
    for key, item in value.items():
        if key not in DEFAULTS:
            errors.append(f"unknown key {key!r}; known keys: {', '.join(DEFAULTS)}")
        elif key == "filters":
            if not isinstance(item, dict):
                errors.append(f"filters must be an object of {{filter: true|false}} for {', '.join(FILTERS)}")
                continue
            errors += [f"filters: unknown filter {name!r}; known: {', '.join(FILTERS)}"
                       for name in item if name not in FILTERS]
            errors += [f"filters.{name} must be true or false" for name, on in item.items()
                       if name in FILTERS and not isinstance(on, bool)]
        elif key == "honeypot_kinds":
            if not isinstance(item, list) or any(kind not in HONEYPOT_KINDS for kind in item):
                errors.append(f"honeypot_kinds must be a list drawn from {', '.join(HONEYPOT_KINDS)}")
        else:
            errors += _number_errors(key, item)
    return errors


def _number_errors(key: str, item: object) -> list[str]:
    kind, low, high = _NUMBERS[key]
    is_number = isinstance(item, (int, float)) and not isinstance(item, bool)
    if not is_number or (kind is int and isinstance(item, float) and not item.is_integer()):
        return [f"{key} must be {'a whole number' if kind is int else 'a number'}, not {item!r}"]
    if (low is not None and item < low) or (high is not None and item > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        return [f"{key} must be {bounds}, not {item!r}"]
    return []


def validate_quality_config(value: object) -> None:
    """Model-field validator: every problem at once, each naming the key and what it accepts."""
    errors = config_errors(value)
    if errors:
        raise ValidationError(errors)


def quality_config(project: Any) -> dict[str, Any]:
    """The project's effective settings (a fresh dict). A stored config that fails validation
    (written around the model's validator) is ignored as a whole rather than half-applied."""
    own = project.quality_config if not config_errors(project.quality_config) else {}
    merged = {key: own.get(key, value) for key, value in DEFAULTS.items()}
    filters = dict(DEFAULTS["filters"])
    if isinstance(own.get("filters"), dict):
        filters.update({k: bool(v) for k, v in own["filters"].items() if k in FILTERS})
    merged["filters"] = filters
    merged["honeypot_kinds"] = list(merged["honeypot_kinds"])
    return merged
