"""Command-line options from a config dataclass: one --option per field, typed from its default,
with the field's help text. Shared by the reward and policy training commands."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from django.core.management.base import CommandError

LIST_FIELDS = {"target_modules", "modules_to_save"}


def _list_of_str(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_config_arguments(
    parser: argparse.ArgumentParser, config_class: type, *, skip: set[str] = frozenset(), title: str = ""
) -> None:
    group = parser.add_argument_group(title or f"settings ({config_class.__name__})")
    for f in dataclasses.fields(config_class):
        if f.name in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        flag = "--" + f.name.replace("_", "-")
        helptext = f.metadata.get("help", "").replace("%", "%%")
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=helptext)
        elif f.name in LIST_FIELDS:
            group.add_argument(flag, type=_list_of_str, default=None, help=helptext + " Comma-separated.")
        elif isinstance(default, int | float):
            group.add_argument(flag, type=type(default), default=None, help=f"{helptext} Default: {default}.")
        else:
            group.add_argument(flag, type=str, default=None, help=f"{helptext} Default: {default!r}.")


def config_values(options: dict[str, Any], config_class: type, *, skip: set[str] = frozenset()) -> dict[str, Any]:
    """The fields the user set on the command line."""
    return {f.name: options[f.name] for f in dataclasses.fields(config_class)
            if options.get(f.name) is not None and f.name not in skip}


def config_from_options(options: dict[str, Any], config_class: type, *, skip: set[str] = frozenset(),
                        **fixed: Any) -> Any:
    try:
        return config_class(**config_values(options, config_class, skip=skip), **fixed)
    except (TypeError, ValueError) as exc:
        raise CommandError(f"bad settings: {exc}") from None
