"""How the page writes values: numbers (4 significant digits, an em dash for None), HTML escaping, JSON safe to
embed in a <script> element, safe link targets, and the small readers of a report dict (dig, as_dict, dicts)."""

from __future__ import annotations

import html
import json
import math
from typing import Any
from urllib.parse import urlsplit

DASH = "\u2014"

LE = "\u2264"


def esc(value: Any) -> str:
    """HTML-escape anything (quotes too, so the result is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def num(value: Any) -> float | None:
    """A finite number, or None (bools, strings, NaN and infinities are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def format_number(value: Any) -> str:
    """How the page writes a number: 1,283 / 139.1 / 10.72 / 0.423 (4 significant digits); None -> an em dash."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "\u221e" if value > 0 else "-\u221e"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return "0" if value == 0 else f"{value:.4g}"


def fnum(value: Any) -> str:
    """format_number of a value that should be a number (anything else reads as a dash)."""
    return format_number(num(value))


def dig(obj: Any, *path: Any) -> Any:
    for key in path:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def pct(value: Any) -> float | None:
    v = num(value)
    return None if v is None else 100 * v


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def json_safe(obj: Any) -> Any:
    """JSON that JSON.parse reads: NaN -> null, infinities -> the strings "Infinity" / "-Infinity"."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


_SCRIPT_ESCAPES = (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def script_json(obj: Any) -> str:
    """JSON for a <script type="application/json"> element: no '<', '>' or '&' left to end the element early."""
    text = json.dumps(json_safe(obj), ensure_ascii=False, separators=(",", ":"), default=str)
    for raw, escaped in _SCRIPT_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def pretty_json(obj: Any) -> str:
    return esc(json.dumps(json_safe(obj), indent=2, ensure_ascii=False, default=str))


def safe_href(href: Any) -> str | None:
    """A link target from the caller: relative paths, http(s) and file URLs only (no javascript:, data:...)."""
    text = str(href).strip()
    if not text:
        return None
    return text if urlsplit(text).scheme.lower() in ("", "http", "https", "file") else None
