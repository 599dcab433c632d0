"""Triage settings: every threshold of the triage rules, typed, with the defaults of DESIGN.md.

A supervisor changes them with ``agent-console triage settings --set KEY=VALUE`` (or the GUI's
settings page through :func:`save_settings`). Each field is stored as its own JSON value under the key
``triage.<field>`` in the workspace's ``settings`` table, so a workspace written by an older version
simply falls back to the defaults for fields it does not have. After a change, run a triage rebuild
(:func:`console.triage.engine.rebuild`): stored flags are not recomputed by themselves.

Times are seconds; scores and weights are plain floats (flag scores live in [0, 1]).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any

from console.domain import Channel
from console.errors import ConsoleError
from console.storage.db import Workspace
from console.storage.triage_repo import load_prefixed_settings, store_settings

PREFIX = "triage."
HOUR = 3600
DAY = 24 * HOUR

#: First-response targets for accounts without ``accounts.response_target_s`` (DESIGN.md, social care).
DEFAULT_TARGETS: dict[str, int] = {
    str(Channel.X): HOUR,
    str(Channel.SMS): HOUR,
    str(Channel.WHATSAPP): HOUR,
    str(Channel.MESSENGER): HOUR,
    str(Channel.FACEBOOK): 4 * HOUR,
    str(Channel.INSTAGRAM): 4 * HOUR,
    str(Channel.EMAIL): DAY,
    str(Channel.PHONE): DAY,
}


class InvalidSettingError(ConsoleError):
    """A triage setting was given a value of the wrong type or out of range."""


@dataclass(frozen=True, slots=True)
class TriageSettings:
    """The triage rules' thresholds. Field docs say what each one changes."""

    # -- repeat ---------------------------------------------------------------------------------
    #: conversations a customer must start within ``repeat_window_s`` to be flagged ``repeat``
    repeat_min_conversations: int = 2
    repeat_window_s: int = 7 * DAY
    #: only starts this recent (relative to the clock) count; None = the whole history
    repeat_lookback_s: int | None = None

    # -- escalating -----------------------------------------------------------------------------
    escalation_threshold: float = 0.5
    #: recent = inbound messages within this long before the customer's latest inbound message
    escalation_window_s: int = 7 * DAY
    escalation_max_messages: int = 20
    #: only customers whose latest inbound message is this recent (clock) count; None = any time
    escalation_lookback_s: int | None = None
    #: messages closer together than this count as one "write" (a thought split over several posts)
    burst_gap_s: int = 300
    #: a sentiment drop smaller than this is not called falling
    sentiment_min_drop: float = 0.5
    #: ... and the later message must be at least this negative
    sentiment_negative_below: float = -0.25
    weight_sentiment: float = 0.35
    weight_faster: float = 0.15
    weight_chasing: float = 0.2
    weight_public_move: float = 0.35
    weight_words: float = 0.3
    weight_shouting: float = 0.15
    weight_waiting: float = 0.15
    #: chasing, waiting and faster describe one unanswered run: together they add at most this
    unanswered_cap: float = 0.3
    #: a customer whose latest message scores at least this has calmed down: not escalating
    escalation_calm_above: float = 0.5

    # -- duplicates and same issue ----------------------------------------------------------------
    #: near-identical (same words in any order, numbers ignored) posts join a group within this window
    near_window_s: int = 7 * DAY
    #: near-identical matching needs this many distinct words (exact matching needs none)
    near_min_tokens: int = 4
    #: near-identical matching only compares texts up to this long (normalised characters)
    near_max_chars: int = 400
    #: groups always form; the ``duplicates`` flag needs a normalised text at least this long,
    duplicates_flag_min_chars: int = 10
    #: ... this many posts of the group within ``duplicates_flag_window_s``,
    duplicates_min_posts: int = 2
    duplicates_flag_window_s: int = 7 * DAY
    #: ... and a text less positive than this (repeated thanks are no complaint)
    duplicates_positive_above: float = 0.5
    #: a same-issue group (an outage) is one text posted by this many customers,
    same_issue_min_customers: int = 3
    #: ... at least this long (normalised characters),
    same_issue_min_chars: int = 15
    #: ... that many of them within this window of one another (the same words weeks apart are
    #: no outage),
    same_issue_window_s: int = DAY
    #: ... and not a courtesy: posts whose average sentiment is above this ("thanks, it works
    #: now!") are no issue
    same_issue_positive_above: float = 0.3

    # -- high reach -----------------------------------------------------------------------------
    high_reach_followers: int = 10_000

    # -- deadlines ------------------------------------------------------------------------------
    #: per channel, for accounts without their own ``response_target_s``
    default_targets: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_TARGETS))

    # -- language -------------------------------------------------------------------------------
    #: texts with fewer letters keep language None (the customer's language stands in)
    language_min_letters: int = 12

    # -- priority -------------------------------------------------------------------------------
    priority_escalating: float = 30.0
    priority_repeat: float = 15.0
    priority_duplicates: float = 10.0
    priority_reach: float = 10.0
    priority_tier: float = 5.0
    priority_deadline: float = 20.0
    priority_overdue: float = 10.0

    def target_for(self, channel: str, account_target: int | None) -> int:
        if account_target is not None and account_target > 0:
            return int(account_target)
        return int(self.default_targets.get(channel, DAY))

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_FIELDS = {f.name: f for f in fields(TriageSettings)}
_DEFAULTS = TriageSettings()


def _coerce(name: str, value: Any) -> Any:
    """``value`` as the type of field ``name``, or InvalidSettingError saying what was wrong."""
    default = getattr(_DEFAULTS, name)
    if name == "default_targets":
        if not isinstance(value, dict):
            raise InvalidSettingError(f"triage.{name} must be an object of channel: seconds")
        out = dict(DEFAULT_TARGETS)
        for channel, seconds in value.items():
            if channel not in DEFAULT_TARGETS:
                raise InvalidSettingError(f"triage.{name}: unknown channel {channel!r}")
            out[channel] = _positive_int(name, seconds)
        return out
    if value is None:
        if name.endswith("lookback_s"):
            return None
        raise InvalidSettingError(f"triage.{name} cannot be empty")
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidSettingError(f"triage.{name} must be a number, not {value!r}")
        if value < 0:
            raise InvalidSettingError(f"triage.{name} must not be negative")
        return float(value)
    return _positive_int(name, value, allow_zero=True)


def _positive_int(name: str, value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise InvalidSettingError(f"triage.{name} must be a whole number, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidSettingError(f"triage.{name} must be positive")
    return int(value)


def load_settings(ws: Workspace) -> TriageSettings:
    """The workspace's triage settings (defaults for anything unset or unreadable)."""
    stored = load_prefixed_settings(ws, PREFIX)
    values: dict[str, Any] = {}
    for key, raw in stored.items():
        name = key[len(PREFIX) :]
        if name not in _FIELDS:
            continue
        try:
            values[name] = _coerce(name, json.loads(raw))
        except (InvalidSettingError, ValueError):
            continue  # a damaged value must not stop triage: the default stands
    return dataclasses.replace(_DEFAULTS, **values) if values else TriageSettings()


def save_settings(ws: Workspace, changes: dict[str, Any]) -> TriageSettings:
    """Validate and store ``changes`` (field name -> value); returns the new settings."""
    unknown = sorted(set(changes) - set(_FIELDS))
    if unknown:
        raise InvalidSettingError(
            f"unknown triage setting(s): {', '.join(unknown)}; known: {', '.join(sorted(_FIELDS))}"
        )
    coerced = {name: _coerce(name, value) for name, value in changes.items()}
    store_settings(ws, {PREFIX + name: json.dumps(value) for name, value in coerced.items()})
    return load_settings(ws)


def parse_assignment(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from the command line; VALUE is JSON when it parses, else a string."""
    key, sep, raw = text.partition("=")
    if not sep:
        raise InvalidSettingError(f"expected KEY=VALUE, got {text!r}")
    key = key.strip().removeprefix(PREFIX)
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key, value
