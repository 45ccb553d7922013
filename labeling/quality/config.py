"""Quality settings: one typed configuration (`QualityConfig`) for the service, `quality_eval` and
the bench. A project's `Project.quality_config` (JSON) is validated and merged over the defaults.

Only known keys are taken from the project; `filters` is merged key by key, so a project that
sets {"filters": {"length_bias": false}} keeps every other filter on. No Django here (the model
field's validator imports its exception lazily), so the pure pipeline and the bench can use it."""

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

HONEYPOT_KINDS = ("truncate", "off_topic", "shuffle")
METHODS = ("dawid-skene", "majority")
Method = Literal["dawid-skene", "majority"]


@dataclass(frozen=True)
class Filters:
    """Which filters may exclude judgments (a banned annotator's judgments are always excluded).

    `agreement` (raw agreement with the others' majority) is off by default: it is not corrected
    for chance, so its threshold means different things on different tasks, and the majority it
    compares with is the first thing spam corrupts; `reliability` measures the same evidence,
    chance-corrected, against the Dawid-Skene consensus. On UKPConvArg1 it flagged 39 real
    workers and no spammer on the real labels, and 103 real workers at 50 % injected spam
    (bench/README_quality.md)."""

    too_fast: bool = True
    gold: bool = True
    reliability: bool = True
    agreement: bool = False
    position_bias: bool = True
    length_bias: bool = True

    @classmethod
    def none(cls) -> "Filters":
        """Every filter off: nothing is excluded but by a ban or a reviewer."""
        return cls(**dict.fromkeys(FILTERS, False))


FILTERS = tuple(f.name for f in fields(Filters))


@dataclass(frozen=True)
class QualityConfig:
    filters: Filters = field(default_factory=Filters)
    # Speed: a judgment is too fast under the floor or faster than reading what was shown.
    floor_seconds: float = 3.0
    max_words_per_second: float = 10.0
    too_fast_share: float = 0.3  # an annotator with at least this share of too-fast judgments is flagged
    # Gold: share of served tasks that are gold (admin gold and honeypots), honeypot kinds made.
    gold_rate: float = 0.1
    honeypot_kinds: tuple[str, ...] = HONEYPOT_KINDS
    honeypot_judgments_wanted: int = 1000  # each annotator sees a honeypot at most once
    gold_min_n: int = 5  # judge gold accuracy only on at least this many gold judgments
    gold_min_accuracy: float = 0.7  # flagged when the upper end of the Wilson interval is below
    # Reliability (Dawid-Skene or majority for pairs, CrowdBT for rankings) and agreement.
    method: Method = "dawid-skene"
    # Whether "tie" can be a pair's true answer. False for a task whose truth always has a side:
    # a tie then reads as "could not tell" (an annotator's habit) and every item gets a or b.
    true_ties: bool = True
    min_labels: int = 10  # no annotator-level flag on fewer judgments
    min_informativeness: float = 0.15  # chance-corrected reliability below this flags the annotator
    min_loo_agreement: float = 0.4  # agreement with the others' consensus below this flags
    min_overlap: int = 10  # Cohen's kappa only for annotator pairs with this many common tasks
    # Bias: binomial tests against 0.5 (position) and the project's base rate (length).
    bias_alpha: float = 0.01
    min_bias_effect: float = 0.25  # and only when the share is this far from the expected rate
    # Recomputation after every N new judgments (0: only on demand).
    recompute_every: int = 50

    def as_json(self) -> dict[str, Any]:
        """The settings as the JSON a project stores (every key)."""
        value = asdict(self)
        value["honeypot_kinds"] = list(self.honeypot_kinds)
        return value

    def with_filters(self, **on: bool) -> "QualityConfig":
        """A copy with some filters switched: config.with_filters(length_bias=False)."""
        return replace(self, filters=replace(self.filters, **on))


DEFAULTS: dict[str, Any] = QualityConfig().as_json()


# What each key means (the admin's project form shows these with the defaults).
HELP: dict[str, str] = {
    "filters": "which filters may exclude judgments, each true or false: " + ", ".join(FILTERS)
               + " (a banned annotator's judgments are always excluded; agreement is off by default: "
               "reliability is the same evidence corrected for chance)",
    "floor_seconds": "a judgment made in fewer seconds than this is too fast",
    "max_words_per_second": "a judgment is also too fast if it means reading the words shown faster than this",
    "too_fast_share": "an annotator with at least this share of too-fast judgments is flagged (0-1)",
    "gold_rate": "share of served tasks that are gold tasks or honeypots (0-1)",
    "honeypot_kinds": "how honeypots are made from a sample: " + ", ".join(HONEYPOT_KINDS),
    "honeypot_judgments_wanted": "judgments a honeypot task collects (each annotator sees it at most once)",
    "gold_min_n": "gold accuracy is judged only from this many gold judgments of an annotator",
    "gold_min_accuracy": "flagged when the upper end of the 95% Wilson interval of gold accuracy is below this",
    "method": "how pairwise labels are aggregated to measure reliability: " + " or ".join(METHODS)
              + " (rankings always use CrowdBT)",
    "true_ties": "whether a tie (or both bad) can be a pair's true answer; false: a tie is read as 'could not "
                 "tell', every item is labelled a or b (for tasks whose truth always has a side)",
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
        elif key == "method":
            if item not in METHODS:
                errors.append(f"method must be one of {', '.join(METHODS)}, not {item!r}")
        elif key == "true_ties":
            if not isinstance(item, bool):
                errors.append(f"true_ties must be true or false, not {item!r}")
        else:
            errors += _number_errors(key, item)
    return errors


def _number_errors(key: str, item: object) -> list[str]:
    kind, low, high = _NUMBERS[key]
    is_number = isinstance(item, (int, float)) and not isinstance(item, bool)
    if not is_number or not math.isfinite(item) or (kind is int and isinstance(item, float) and not item.is_integer()):
        return [f"{key} must be {'a whole number' if kind is int else 'a number'}, not {item!r}"]
    if (low is not None and item < low) or (high is not None and item > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        return [f"{key} must be {bounds}, not {item!r}"]
    return []


def validate_quality_config(value: object) -> None:
    """Model-field validator: every problem at once, each naming the key and what it accepts."""
    from django.core.exceptions import ValidationError

    errors = config_errors(value)
    if errors:
        raise ValidationError(errors)


def config_from_json(value: object) -> QualityConfig:
    """The typed settings for a project's JSON. A value that fails validation (written around the
    model's validator) is ignored as a whole rather than half-applied: the defaults."""
    if config_errors(value):
        return QualityConfig()
    assert isinstance(value, dict)
    own = {key: item for key, item in value.items() if key != "filters"}
    for key, (kind, _, _) in _NUMBERS.items():
        if key in own:
            own[key] = kind(own[key])
    if "honeypot_kinds" in own:
        own["honeypot_kinds"] = tuple(own["honeypot_kinds"])
    return QualityConfig(filters=Filters(**value.get("filters", {})), **own)


_MEMO = "_quality_config_memo"


def quality_config(project: Any) -> QualityConfig:
    """The project's effective settings, validated once per project instance: later calls on the
    same instance reuse them while its `quality_config` is unchanged (one submit request reads
    them in judging and in assignment; both get one validation)."""
    raw = project.quality_config
    key = json.dumps(raw, sort_keys=True, default=repr)  # true and 1 differ here, unlike in ==
    memo = project.__dict__.get(_MEMO)
    if memo is not None and memo[0] == key:
        return memo[1]
    settings = config_from_json(raw)
    project.__dict__[_MEMO] = (key, settings)
    return settings
