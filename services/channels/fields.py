"""How an adapter describes the settings and secrets an account of its kind needs.

Each adapter class declares ``SETTING_FIELDS`` (stored in the workspace) and ``SECRET_FIELDS``
(stored in the OS keyring), either as plain names or as :class:`FieldSpec` values; the account
dialog builds its form from them and ``account add --set`` checks and converts values with
:func:`coerce_settings`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from console.errors import AccountError

FieldValue = str | int | float | bool


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One setting or secret of an account.

    ``type`` is ``"text"``, ``"int"`` or ``"bool"``; ``choices`` limits a text field; a field with
    a ``default`` need not be given; ``required`` ones must.
    """

    name: str
    label: str = ""
    type: str = "text"
    default: FieldValue | None = None
    required: bool = False
    choices: tuple[str, ...] = ()
    help: str = ""

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def coerce(self, value: Any) -> FieldValue | None:
        """The value as this field's type (text from a command line or a form is converted)."""
        if value is None or value == "":
            return None
        if self.type == "int":
            return _as_int(self.name, value)
        if self.type == "bool":
            return _as_bool(self.name, value)
        text = str(value).strip()
        if self.choices and text not in self.choices:
            raise AccountError(
                f"{self.name} must be one of {', '.join(self.choices)}, not {text!r}"
            )
        return text


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise AccountError(f"{name} must be a whole number, not {value!r}")
    try:
        return int(str(value).strip())
    except ValueError:
        raise AccountError(f"{name} must be a whole number, not {value!r}") from None


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise AccountError(f"{name} must be true or false, not {value!r}")


def field_specs(declared: Iterable[Any]) -> tuple[FieldSpec, ...]:
    """Plain names or :class:`FieldSpec` values (or anything with a ``name``) as specs."""
    specs: list[FieldSpec] = []
    for item in declared:
        if isinstance(item, FieldSpec):
            specs.append(item)
        elif isinstance(item, str):
            specs.append(FieldSpec(item))
        else:
            specs.append(
                FieldSpec(
                    str(item.name),
                    label=str(getattr(item, "label", "") or ""),
                    help=str(getattr(item, "help", "") or ""),
                )
            )
    return tuple(specs)


def coerce_settings(
    specs: Iterable[FieldSpec], values: Mapping[str, Any], *, partial: bool = False
) -> dict[str, FieldValue]:
    """Check ``values`` against ``specs``: unknown names, choices, types and, unless ``partial``
    (an edit of some values), that every required field is there."""
    by_name = {s.name: s for s in specs}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        known = ", ".join(by_name) or "none"
        raise AccountError(f"unknown setting(s) {', '.join(unknown)}; this kind has: {known}")
    clean: dict[str, FieldValue] = {}
    for name, value in values.items():
        coerced = by_name[name].coerce(value)
        if coerced is not None:
            clean[name] = coerced
    if not partial:
        missing = [s.name for s in by_name.values() if s.required and s.name not in clean]
        if missing:
            raise AccountError(f"missing required setting(s): {', '.join(missing)}")
    return clean
