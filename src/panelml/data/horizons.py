"""Target horizons in bars, and bar intervals such as ``5m``.

The rule for reading a horizon from a target's name (used when
``data.horizons`` has no entry for it):

* the name's last ``_``-separated part is a whole number with an optional unit:
  ``fwd_ret_5`` -> 5, ``fwd_ret_60m`` -> 60 minutes, ``fwd_vol_1d`` -> 1 day;
* no unit means bars: ``fwd_ret_5`` is 5 bars whatever the bar length;
* with a unit (``s``, ``m``/``min``, ``h``, ``d``, ``w``; ``m`` is minutes, never
  months) the duration is divided by ``data.bar_interval``: ``fwd_ret_60m`` with
  5m bars is 12 bars, ``fwd_vol_1d`` with 1h bars is 24 bars (calendar time, not
  trading hours). The division must be exact, and ``bar_interval`` must be set;
* a name without such a suffix (``y_up``, ``fwd_ret_5x``) gets horizon 1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fnmatch import fnmatchcase

from panelml.data.errors import DataError

_UNIT_SECONDS: dict[str, int] = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "d": 86_400,
    "w": 604_800,
}
_INTERVAL = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")
_NAME_SUFFIX = re.compile(r"_(\d+)([a-z]*)$")


def parse_interval(text: str) -> int:
    """Seconds in a bar interval such as ``5m``, ``1h`` or ``1d``.

    Raises ``ValueError`` naming the accepted forms when ``text`` is not one.
    """
    match = _INTERVAL.match(text.lower())
    if match is None or match.group(2) not in _UNIT_SECONDS or int(match.group(1)) < 1:
        raise ValueError(
            f"bar interval {text!r} is not understood; write a positive whole number "
            f"and a unit from {sorted(_UNIT_SECONDS)}, such as 5m, 1h or 1d"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def horizon_from_name(target: str, bar_interval: str | None) -> int | None:
    """The horizon in bars that ``target``'s name states, or None if it states none.

    See the module docstring for the rule. Raises ``DataError`` when the name
    gives a duration that needs ``bar_interval`` and it is unset, or when the
    duration is not a whole number of bars.
    """
    match = _NAME_SUFFIX.search(target)
    if match is None:
        return None
    count, unit = int(match.group(1)), match.group(2)
    if unit == "":
        return count if count >= 1 else None
    if unit not in _UNIT_SECONDS:
        return None
    if bar_interval is None:
        raise DataError(
            f"target {target!r} states its horizon as a duration ({count}{unit}) but "
            "data.bar_interval is not set: set data.bar_interval (such as 5m or 1d) or "
            f"give the horizon in bars under data.horizons ({target}: N)"
        )
    seconds = count * _UNIT_SECONDS[unit]
    bar = parse_interval(bar_interval)
    if seconds % bar != 0 or seconds == 0:
        raise DataError(
            f"target {target!r} has a horizon of {count}{unit}, which is not a whole number "
            f"of {bar_interval} bars (data.bar_interval): fix data.bar_interval or give the "
            f"horizon in bars under data.horizons ({target}: N)"
        )
    return seconds // bar


def resolve_horizon(
    target: str, horizons: Mapping[str, int], bar_interval: str | None
) -> tuple[int, bool]:
    """The horizon of ``target`` in bars, and whether it was stated (False: default 1).

    Order: an exact key of ``horizons``, the first glob key (in config order)
    that matches, the name (:func:`horizon_from_name`), else 1.
    """
    if target in horizons:
        return horizons[target], True
    for pattern, value in horizons.items():
        if fnmatchcase(target, pattern):
            return value, True
    parsed = horizon_from_name(target, bar_interval)
    if parsed is not None:
        return parsed, True
    return 1, False
