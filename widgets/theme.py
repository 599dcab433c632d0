"""Light and dark themes: one set of colours feeds the palette, the style sheet and the delegates.

:class:`Theme` holds named colours; :meth:`Theme.apply` sets the Fusion style, a matching
``QPalette`` and ``resources/themes/base.qss`` with the ``$names`` filled in. Delegates read the
same :class:`Theme` object (handed to them by the window), so a theme switch repaints everything
consistently. Channel and flag colours are chosen to be readable on both backgrounds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from importlib import resources
from string import Template

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from console.domain import Channel, FlagKind
from console.triage.flagbits import bit

THEMES = ("light", "dark")

CHANNEL_COLORS: dict[str, str] = {
    Channel.X: "#14171A",
    Channel.FACEBOOK: "#1877F2",
    Channel.INSTAGRAM: "#E1306C",
    Channel.MESSENGER: "#0A7CFF",
    Channel.WHATSAPP: "#25D366",
    Channel.SMS: "#F59E0B",
    Channel.EMAIL: "#6366F1",
    Channel.PHONE: "#0D9488",
}

FLAG_LABELS: dict[FlagKind, str] = {
    FlagKind.ESCALATING: "Escalating",
    FlagKind.BREACH: "Late",
    FlagKind.REPEAT: "Repeat",
    FlagKind.DUPLICATES: "Duplicates",
    FlagKind.HIGH_REACH: "High reach",
}

#: The badges of a narrow inbox row (the tooltip and the customer card name them in full).
FLAG_SHORT_LABELS: dict[FlagKind, str] = {
    FlagKind.ESCALATING: "Esc",
    FlagKind.BREACH: "Late",
    FlagKind.REPEAT: "Rep",
    FlagKind.DUPLICATES: "Dup",
    FlagKind.HIGH_REACH: "Reach",
}

#: Order in which flag badges are shown: the most urgent first.
FLAG_ORDER = (
    FlagKind.BREACH,
    FlagKind.ESCALATING,
    FlagKind.REPEAT,
    FlagKind.DUPLICATES,
    FlagKind.HIGH_REACH,
)


def flags_in_order(mask: int) -> list[FlagKind]:
    """The flags of a ``flag_mask``, the most urgent first (:data:`FLAG_ORDER`)."""
    return [kind for kind in FLAG_ORDER if mask & bit(kind)]


@dataclass(frozen=True, slots=True)
class Theme:
    name: str
    window: str
    panel: str
    base: str
    alt_base: str
    text: str
    muted: str
    border: str
    hover: str
    scroll: str
    accent: str
    accent_soft: str
    accent_strong: str
    accent_text: str
    selection: str
    selection_text: str
    danger: str
    danger_soft: str
    warning: str
    warning_soft: str
    success: str
    inbound_bubble: str
    outbound_bubble: str
    note_bubble: str
    flag_escalating: str
    flag_breach: str
    flag_repeat: str
    flag_duplicates: str
    flag_high_reach: str

    def color(self, name: str) -> QColor:
        return QColor(str(getattr(self, name)))

    def flag_color(self, kind: FlagKind | str) -> QColor:
        return QColor(str(getattr(self, f"flag_{FlagKind(kind)}")))

    @property
    def is_dark(self) -> bool:
        return self.name == "dark"

    def palette(self) -> QPalette:
        p = QPalette()
        role = QPalette.ColorRole
        pairs = {
            role.Window: self.window,
            role.WindowText: self.text,
            role.Base: self.base,
            role.AlternateBase: self.alt_base,
            role.Text: self.text,
            role.Button: self.base,
            role.ButtonText: self.text,
            role.Highlight: self.selection,
            role.HighlightedText: self.selection_text,
            role.ToolTipBase: self.base,
            role.ToolTipText: self.text,
            role.PlaceholderText: self.muted,
            role.Mid: self.border,
            role.Link: self.accent,
            role.BrightText: self.danger,
        }
        for r, value in pairs.items():
            p.setColor(r, QColor(value))
        for r in (role.Text, role.WindowText, role.ButtonText):
            p.setColor(QPalette.ColorGroup.Disabled, r, QColor(self.muted))
        return p

    def stylesheet(self) -> str:
        source = resources.files("resources").joinpath("themes/base.qss").read_text("utf-8")
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return Template(source).safe_substitute(values)

    def apply(self, app: QApplication) -> None:
        app.setStyle("Fusion")
        app.setPalette(self.palette())
        app.setStyleSheet(self.stylesheet())


LIGHT = Theme(
    name="light",
    window="#F4F5F7",
    panel="#FAFBFC",
    base="#FFFFFF",
    alt_base="#F7F8FA",
    text="#1F2430",
    muted="#6B7280",
    border="#E2E5EA",
    hover="#EEF1F5",
    scroll="#C9CED6",
    accent="#0F766E",
    accent_soft="#E0F2EF",
    accent_strong="#0B5E58",
    accent_text="#FFFFFF",
    selection="#D5ECE9",
    selection_text="#10302D",
    danger="#C8463D",
    danger_soft="#FBE9E7",
    warning="#C77C0E",
    warning_soft="#FFF4E0",
    success="#2E9E6A",
    inbound_bubble="#FFFFFF",
    outbound_bubble="#E3F2EF",
    note_bubble="#FFF6D6",
    flag_escalating="#D4453B",
    flag_breach="#9F1D35",
    flag_repeat="#C77C0E",
    flag_duplicates="#7C4DCC",
    flag_high_reach="#2563EB",
)

DARK = Theme(
    name="dark",
    window="#15181D",
    panel="#1B1F26",
    base="#20252D",
    alt_base="#242A33",
    text="#E6E8EC",
    muted="#9AA3B2",
    border="#323946",
    hover="#2A313C",
    scroll="#4A5262",
    accent="#2DB3A5",
    accent_soft="#173B38",
    accent_strong="#7FDCD2",
    accent_text="#0C1F1D",
    selection="#214B47",
    selection_text="#F0FBFA",
    danger="#F0675C",
    danger_soft="#3A2022",
    warning="#F0A83A",
    warning_soft="#3A2E1A",
    success="#4CC38A",
    inbound_bubble="#252B34",
    outbound_bubble="#1D3A37",
    note_bubble="#3A3420",
    flag_escalating="#F0675C",
    flag_breach="#FF7A93",
    flag_repeat="#F0A83A",
    flag_duplicates="#B08CFF",
    flag_high_reach="#6EA8FF",
)


def theme_named(name: str) -> Theme:
    return DARK if name == "dark" else LIGHT
