"""The supervisor's triage rules: thresholds and response targets, then a rebuild with progress.

:class:`TriageSettingsDialog` edits the thresholds people actually tune (repeat window, escalation
threshold, duplicate posts, high reach, response targets per channel, priority weights); every
other field stays reachable with ``agent-console triage settings --set``. "Save and rebuild" emits
``saved(dict)`` with the changed fields only; the window stores them and runs the rebuild as a
background job, because stored flags are not recomputed by themselves.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from console.domain import CHANNEL_LABELS, Channel
from console.triage.settings import TriageSettings

DAY = 86_400

#: (field, label, unit): unit "days"/"hours"/"minutes" shows seconds in that unit.
FIELDS: list[tuple[str, list[tuple[str, str, str]]]] = [
    (
        "Repeat complainants",
        [
            ("repeat_min_conversations", "Conversations started", "count"),
            ("repeat_window_s", "… within", "days"),
        ],
    ),
    (
        "Escalating customers",
        [
            ("escalation_threshold", "Flag at a score of", "score"),
            ("escalation_window_s", "Look back over", "days"),
        ],
    ),
    (
        "Duplicate posts and same issue",
        [
            ("duplicates_min_posts", "Same post this many times", "count"),
            ("duplicates_flag_window_s", "… within", "days"),
            ("same_issue_min_customers", "Same issue: customers", "count"),
            ("same_issue_window_s", "… within", "hours"),
        ],
    ),
    ("Reach", [("high_reach_followers", "High reach from followers", "count")]),
    (
        "Priority weights",
        [
            ("priority_escalating", "Escalating", "weight"),
            ("priority_repeat", "Repeat", "weight"),
            ("priority_duplicates", "Duplicates", "weight"),
            ("priority_reach", "Reach", "weight"),
            ("priority_deadline", "Deadline near", "weight"),
            ("priority_overdue", "Overdue", "weight"),
        ],
    ),
]
UNITS = {"days": DAY, "hours": 3600, "minutes": 60}


class TriageSettingsDialog(QDialog):
    saved = Signal(dict)

    def __init__(self, settings: TriageSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Triage rules")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.settings = settings
        self.editors: dict[str, tuple[Any, str]] = {}
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Thresholds of the flags and of priority. Saving recomputes every customer's flags"
            " in the background; the inbox stays usable meanwhile."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        columns = QHBoxLayout()
        left, right = QVBoxLayout(), QVBoxLayout()
        for i, (title, items) in enumerate(FIELDS):
            box = QGroupBox(title)
            form = QFormLayout(box)
            for name, label, unit in items:
                editor = self._editor(getattr(settings, name), unit)
                editor.setObjectName(f"setting_{name}")
                form.addRow(label, editor)
                self.editors[name] = (editor, unit)
            (left if i < 3 else right).addWidget(box)
        targets = QGroupBox("Response targets (minutes, for accounts without their own)")
        form = QFormLayout(targets)
        for channel in Channel:
            seconds = settings.default_targets.get(str(channel), DAY)
            editor = self._editor(seconds, "minutes")
            editor.setObjectName(f"target_{channel}")
            form.addRow(CHANNEL_LABELS[channel], editor)
            self.editors[f"target:{channel}"] = (editor, "minutes")
        right.addWidget(targets)
        left.addStretch(1)
        right.addStretch(1)
        columns.addLayout(left)
        columns.addLayout(right)
        layout.addLayout(columns)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Save).setText("Save and rebuild")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    @staticmethod
    def _editor(value: Any, unit: str) -> Any:
        if unit in ("score", "weight"):
            box = QDoubleSpinBox()
            box.setDecimals(2)
            box.setRange(0.0, 1.0 if unit == "score" else 100.0)
            box.setSingleStep(0.05 if unit == "score" else 1.0)
            box.setValue(float(value))
            return box
        spin = QSpinBox()
        if unit in UNITS:
            spin.setRange(1, 100_000)
            spin.setSuffix(f" {unit}")
            spin.setValue(max(1, round(int(value) / UNITS[unit])))
        else:
            spin.setRange(1, 100_000_000)
            spin.setValue(int(value))
        return spin

    def changes(self) -> dict[str, Any]:
        """The fields whose value differs from the current settings."""
        out: dict[str, Any] = {}
        targets = dict(self.settings.default_targets)
        for name, (editor, unit) in self.editors.items():
            value = editor.value()
            if unit in UNITS:
                value = int(value) * UNITS[unit]
            if name.startswith("target:"):
                targets[name.split(":", 1)[1]] = int(value)
                continue
            current = getattr(self.settings, name)
            if unit in UNITS and abs(int(current) - value) < UNITS[unit]:
                continue  # unchanged up to the unit shown
            if value != current:
                out[name] = value
        if targets != self.settings.default_targets:
            out["default_targets"] = targets
        return out

    def accept(self) -> None:
        self.saved.emit(self.changes())
        super().accept()
