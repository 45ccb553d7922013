"""Filters for the run and round pages."""

import json
from typing import Any

from django import template

register = template.Library()


@register.filter(name="as_json")
def as_json(value: Any) -> str:
    """Settings, inputs and outputs as indented JSON (escaped by the template like any text)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)
