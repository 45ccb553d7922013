"""One JSON parser for every body the API and the annotator pages accept: the DRF parser class
(settings REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]) and `json_body_parse` for plain Django views.

It refuses with a 400 that names the field by its path (`[3].samples[0].text`):
- strings or keys that are not Unicode text: a lone surrogate (the JSON escape "\\ud800" decodes
  to one in Python; PostgreSQL refuses it, SQLite stores it and every later read of the row fails)
  or NUL (U+0000, which PostgreSQL refuses in text and jsonb);
- nesting deeper than settings.API_MAX_JSON_DEPTH (10,000 `[` raised RecursionError);
- NaN, Infinity and numbers too large for a float, which are not JSON or not storable;
and any other malformed body, with the parser's message, instead of a 500.
"""

import json
import math
import re
from typing import Any

from django.conf import settings
from rest_framework.parsers import JSONParser

from config.errors import AppError

# Only these escapes can put NUL or a surrogate into a decoded string: raw NUL is refused by the
# strict parser and raw surrogate bytes are not UTF-8. Without one, strings need no scan.
_RISKY_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
SURROGATE = re.compile("[\ud800-\udfff]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class JSONBodyError(AppError):
    """A body that is refused; `path` names the place (empty for the body as a whole)."""

    def __init__(self, message: str, path: tuple = (), status: int = 400):
        self.path = path
        self.where = path_text(path)
        super().__init__(f"{self.where}: {message}" if path else message, status=status)
        if path:
            self.errors = [self.error_entry()]

    def error_entry(self) -> dict[str, Any]:
        """The entry for the "errors" list of the API's error shape: like the ingestion and score
        errors, `index` is the position in a top-level list and `field` the path inside it."""
        if self.path and isinstance(self.path[0], int):
            return {"index": self.path[0], "field": path_text(self.path[1:]), "message": self.message}
        return {"index": None, "field": self.where, "message": self.message}


def path_text(path: tuple) -> str:
    """`[3].samples[0].text` for (3, "samples", 0, "text")."""
    out = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{json.dumps(part)}]")  # ASCII escapes: a bad key is shown, not sent raw
    return "".join(out)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def json_body_parse(raw: bytes | str, *, max_depth: int | None = None) -> Any:
    """The decoded body, or JSONBodyError naming what is wrong and where."""
    max_depth = max_depth or settings.API_MAX_JSON_DEPTH
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONBodyError(f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise JSONBodyError(f"the JSON is nested more than {max_depth} levels deep") from None
    except ValueError as exc:  # JSONDecodeError, NaN, an integer of more than 4,300 digits
        raise JSONBodyError(f"JSON parse error - {exc}") from None
    check_strings = bool(_RISKY_ESCAPE.search(raw))
    if check_strings or raw.count(b"[") + raw.count(b"{") > max_depth:
        json_value_check(data, max_depth=max_depth, check_strings=check_strings)
    return data


def _string_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character (U+0000), which is not allowed"
    if not value.isascii() and (found := SURROGATE.search(value)):
        return (f"contains a lone surrogate (U+{ord(found.group()):04X}), which is not valid Unicode text; "
                "send valid UTF-8 (a surrogate escape must be half of a pair)")
    return None


def json_value_check(data: Any, *, max_depth: int, check_strings: bool = True) -> None:
    """Walk a decoded value without recursion: nesting depth, and every string and key."""
    if check_strings and isinstance(data, str) and (problem := _string_problem(data)):
        raise JSONBodyError(problem)
    stack: list[tuple[Any, int, tuple]] = [(data, 1, ())]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict):
            pairs = value.items()
        elif isinstance(value, list):
            pairs = enumerate(value)
        else:
            continue
        if depth > max_depth:
            raise JSONBodyError(f"nested more than {max_depth} levels deep", path)
        for key, child in pairs:
            if check_strings and isinstance(key, str) and (problem := _string_problem(key)):
                raise JSONBodyError(f"a key {problem}", (*path, key))
            if isinstance(child, dict | list):
                stack.append((child, depth + 1, (*path, key)))
            elif check_strings and isinstance(child, str) and (problem := _string_problem(child)):
                raise JSONBodyError(problem, (*path, key))


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, through json_body_parse; its errors are AppErrors (config/errors.py)."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.INGEST_MAX_BODY_BYTES
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if length and str(length).isdigit() and int(length) > limit:
            raise JSONBodyError(f"The body is larger than {limit} bytes.", status=413)
        return json_body_parse(stream.read() if stream is not None else b"")
