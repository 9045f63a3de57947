"""Stripe's form encoding for v1: ``a[b][0][c]=x`` bracket keys, decoded back into nested data.

The SDK flattens nested params into ``application/x-www-form-urlencoded`` pairs (dicts as
``metadata[invoice]=1``, lists always indexed as ``payment_method_types[0]=card``, booleans as
``true``/``false``, ``None`` omitted). GET requests carry the same encoding in the query string, where
``expand[]=x`` (the unindexed form) is also accepted, as Stripe does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from .errors import StripeError, parameter_invalid, parameter_missing, parameter_unknown

Params = dict[str, Any]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def parse_form(body: str) -> Params:
    """Decode a form-encoded body or query string into nested dicts and lists."""
    return decode_pairs(parse_qsl(body, keep_blank_values=True))


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> Params:
    """Build nested params from bracketed keys; dicts whose keys are all indices become lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise parameter_invalid(key, f"Invalid parameter name: {key}")
        parts = [match.group(1), *_SEGMENT.findall(match.group(2))]
        _insert(root, parts, value, key)
    return _listify(root)


def _insert(node: dict[str, Any], parts: list[str], value: str, key: str) -> None:
    for depth, part in enumerate(parts):
        if part == "":  # "expand[]" appends
            part = str(len(node))
        last = depth == len(parts) - 1
        if last:
            if isinstance(node.get(part), dict):
                raise parameter_invalid(key, f"Invalid value for {key}: expected a hash.")
            node[part] = value
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise parameter_invalid(key, f"Invalid hash for {key}.")
        node = child


def _listify(node: dict[str, Any]) -> Any:
    converted = {k: _listify(v) if isinstance(v, dict) else v for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def reject_unknown(params: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    """Fail like Stripe on any parameter the endpoint does not accept."""
    allowed_set = set(allowed)
    for name in params:
        if name not in allowed_set:
            raise parameter_unknown(_name(prefix, name))


def _name(prefix: str, name: str) -> str:
    return f"{prefix}[{name}]" if prefix else name


def required(params: Mapping[str, Any], name: str, prefix: str = "") -> Any:
    """Return a required parameter or raise Stripe's ``parameter_missing``."""
    value = params.get(name)
    if value is None or value == "":
        raise parameter_missing(_name(prefix, name))
    return value


def as_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Parse an integer the way Stripe validates amounts and quantities (minor units, no decimals)."""
    try:
        number = int(str(value), 10)
    except ValueError:
        raise parameter_invalid(name, f"Invalid integer: {value}", "parameter_invalid_integer")
    if minimum is not None and number < minimum:
        raise parameter_invalid(
            name, f"This value must be greater than or equal to {minimum}.", "parameter_invalid_integer"
        )
    return number


def as_bool(value: Any, name: str) -> bool:
    """Parse Stripe's ``true``/``false`` booleans."""
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise parameter_invalid(name, f"Invalid boolean: {value}")


def as_str(value: Any, name: str, *, max_length: int | None = None) -> str:
    """A string parameter (not a hash or an array), optionally length-limited."""
    if not isinstance(value, str):
        raise parameter_invalid(name, f"Invalid string: {value!r}")
    if max_length is not None and len(value) > max_length:
        raise parameter_invalid(name, f"Invalid string: must be at most {max_length} characters")
    return value


def as_dict(value: Any, name: str) -> dict[str, Any]:
    """A hash parameter."""
    if not isinstance(value, dict):
        raise parameter_invalid(name, f"Invalid hash for {name}.")
    return value


def as_list(value: Any, name: str) -> list[Any]:
    """An array parameter (indexed keys, as the SDK sends them)."""
    if not isinstance(value, list):
        raise parameter_invalid(name, f"Invalid array for {name}.")
    return value


def metadata(value: Any, name: str = "metadata") -> dict[str, str]:
    """Stripe metadata: at most 50 string keys of up to 40 characters, values up to 500; empty values unset."""
    if value is None or value == "":
        return {}
    data = as_dict(value, name)
    if len(data) > 50:
        raise parameter_invalid(name, "Invalid metadata: metadata can have up to 50 keys.")
    result: dict[str, str] = {}
    for key, item in data.items():
        if len(key) > 40:
            raise parameter_invalid(f"{name}[{key}]", "Invalid metadata: keys must be at most 40 characters.")
        text = as_str(item, f"{name}[{key}]")
        if len(text) > 500:
            raise parameter_invalid(
                f"{name}[{key}]", "Invalid metadata: values must be at most 500 characters."
            )
        if text != "":
            result[key] = text
    return result


def expand_paths(params: Mapping[str, Any]) -> list[str]:
    """The ``expand`` parameter as a list of dotted paths."""
    value = params.get("expand")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [as_str(item, "expand") for item in as_list(value, "expand")]


__all__ = [
    "Params",
    "StripeError",
    "as_bool",
    "as_dict",
    "as_int",
    "as_list",
    "as_str",
    "decode_pairs",
    "expand_paths",
    "metadata",
    "parse_form",
    "reject_unknown",
    "required",
]
