"""The template manager: the library on the left, the selected template's editor on the right.

:class:`TemplatesDialog` lists every template (filtered as you type), and edits one at a time: name,
shortcut, description, tags, and its variants per language and channel (a small table, with the
text of the selected variant below it). A live preview renders the selected variant for a sample
customer on the variant's channel, with its length by that channel's rule and any problem the
template has (unknown variable, syntax slip, Python internals: the same checks as sending). New,
Duplicate, Delete, Import… and Export… (TOML files, see :mod:`console.templates`), Save (Ctrl+S).

:class:`TemplateListModel` is the list model shared with the composer's template picker.

Open it with ``show()`` or ``open()``; it emits ``changed()`` after every save, delete or import so
the composer can reload its picker. All queries are single-table reads of a few dozen rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.domain import CHANNEL_LABELS, Channel
from console.errors import ConsoleError, TemplateError
from console.limits import rule_for
from console.storage import templates_repo as repo
from console.storage.db import Workspace
from console.templates import (
    LANGUAGE_NAMES,
    SAMPLE_CONTEXT,
    VARIABLES,
    Template,
    Variant,
    apply_signature,
    check_text,
    dumps_templates,
    language_name,
    loads_templates,
    make_template,
    matching,
    render_text,
    variables,
)
from widgets.tablemodel import ColumnsModel

Index = QModelIndex | QPersistentModelIndex
Clock = Callable[[], int]
TemplateRole = Qt.ItemDataRole.UserRole + 1


class TemplateListModel(QAbstractListModel):
    """Templates as a list: ``/shortcut  Name`` (the template itself under ``TemplateRole``)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.templates: list[Template] = []
        self.language: str | None = None  # the customer's: rows without it say so
        self._labels: list[str] = []

    def set_templates(self, templates: Sequence[Template], language: str | None = None) -> None:
        self.beginResetModel()
        self.templates = list(templates)
        self.language = language
        self._labels = [self._label(t) for t in self.templates]
        self.endResetModel()

    def _label(self, t: Template) -> str:
        label = f"{t.shortcut}   {t.name}" if t.shortcut else t.name
        languages = {x for x in t.languages() if x}
        if self.language and languages and self.language not in languages:
            label += f"   · no {language_name(self.language)}"
        return label

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.templates)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.templates):
            return None
        t = self.templates[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._labels[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:
            langs = ", ".join(language_name(x) for x in t.languages() if x) or "any language"
            return f"{t.description}\n{langs}" if t.description else langs
        if role == TemplateRole:
            return t
        return None

    def template_at(self, row: int) -> Template | None:
        return self.templates[row] if 0 <= row < len(self.templates) else None


class VariantsModel(ColumnsModel):
    """The variants of the template being edited: language and channel (the text is below)."""

    headers = ("Language", "Channel", "Text")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.variants: list[Variant] = []

    def set_variants(self, variants: Sequence[Variant]) -> None:
        self.beginResetModel()
        self.variants = list(variants)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.variants)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.variants):
            return None
        v = self.variants[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            if index.column() == 0:
                return language_name(v.language) if v.language else "Default language"
            if index.column() == 1:
                return CHANNEL_LABELS[Channel(v.channel)] if v.channel else "Any channel"
            return " ".join(v.text.split())[:80]
        return None

    def replace(self, row: int, variant: Variant) -> None:
        self.variants[row] = variant
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.headers) - 1))

    def add(self, variant: Variant) -> int:
        row = len(self.variants)
        self.beginInsertRows(QModelIndex(), row, row)
        self.variants.append(variant)
        self.endInsertRows()
        return row

    def remove(self, row: int) -> None:
        if 0 <= row < len(self.variants):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.variants[row]
            self.endRemoveRows()


def _combo(items: Sequence[tuple[str, str | None]]) -> QComboBox:
    box = QComboBox()
    for label, value in items:
        box.addItem(label, value)
    return box


class TemplatesDialog(QDialog):
    """The template manager (see the module docstring). Signals: ``changed()``."""

    changed = Signal()

    def __init__(
        self,
        ws: Workspace,
        clock: Clock,
        *,
        signature: str = SAMPLE_CONTEXT.agent_signature,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ws = ws
        self.clock = clock
        self.signature = signature
        self.setWindowTitle("Reply templates")
        self.setObjectName("templatesDialog")
        self.resize(1040, 680)
        self.setStyleSheet(
            "#templatesDialog QListView::item { padding: 4px 6px; }"
            " #templatesDialog QPlainTextEdit { font-family: monospace; }"
            " #templatesDialog #templatePreview { font-family: sans-serif; }"
        )
        self.current: Template | None = None
        self._loading = False
        self._dirty = False
        self._file_dialog: QFileDialog | None = None
        self._build()
        repo.install_stock_templates(ws, clock())
        self.reload()

    # -- building --------------------------------------------------------------------------------

    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(14, 12, 14, 12)
        split = QSplitter(Qt.Orientation.Horizontal)
        root.addWidget(split, 1)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 8, 0)
        self.search = QLineEdit(placeholderText="Find a template…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.list_model = TemplateListModel(self)
        self.list = QListView()
        self.list.setModel(self.list_model)
        self.list.setUniformItemSizes(True)
        self.list.selectionModel().currentRowChanged.connect(self._picked)
        lv.addWidget(self.search)
        lv.addWidget(self.list, 1)
        row = QHBoxLayout()
        for label, slot in (
            ("New", self.new_template),
            ("Duplicate", self.duplicate_template),
            ("Delete", self.delete_template),
        ):
            button = QPushButton(label)
            button.setAutoDefault(False)
            button.clicked.connect(slot)
            row.addWidget(button)
        lv.addLayout(row)
        row = QHBoxLayout()
        for label, slot in (("Import…", self.import_file), ("Export…", self.export_file)):
            button = QPushButton(label)
            button.setAutoDefault(False)
            button.clicked.connect(slot)
            row.addWidget(button)
        lv.addLayout(row)
        split.addWidget(left)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(8, 0, 0, 0)
        form = QFormLayout()
        self.name = QLineEdit()
        self.shortcut = QLineEdit(placeholderText="/refund")
        self.description = QLineEdit()
        self.tags = QLineEdit(placeholderText="billing, refund")
        for label, field in (
            ("Name", self.name),
            ("Shortcut", self.shortcut),
            ("Description", self.description),
            ("Tags", self.tags),
        ):
            form.addRow(label, field)
            field.textEdited.connect(self._touched)
        rv.addLayout(form)

        rv.addWidget(QLabel("Variants (the customer's language and channel pick one)"))
        self.variants = VariantsModel(self)
        self.variant_view = QTableView()
        self.variant_view.setModel(self.variants)
        self.variant_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.variant_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.variant_view.verticalHeader().hide()
        self.variant_view.verticalHeader().setDefaultSectionSize(26)
        self.variant_view.setWordWrap(False)
        self.variant_view.horizontalHeader().setStretchLastSection(True)
        self.variant_view.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents
        )
        self.variant_view.setMaximumHeight(150)
        self.variant_view.selectionModel().currentRowChanged.connect(self._variant_picked)
        rv.addWidget(self.variant_view)

        vrow = QHBoxLayout()
        self.language = _combo(
            [("Default language", None), *((n, c) for c, n in LANGUAGE_NAMES.items())]
        )
        self.channel = _combo([("Any channel", None), *((c.label, c.value) for c in Channel)])
        self.language.currentIndexChanged.connect(self._variant_edited)
        self.channel.currentIndexChanged.connect(self._variant_edited)
        add = QPushButton("Add variant")
        add.clicked.connect(self.add_variant)
        remove = QPushButton("Remove variant")
        remove.clicked.connect(self.remove_variant)
        for w in (QLabel("Language"), self.language, QLabel("Channel"), self.channel):
            vrow.addWidget(w)
        vrow.addStretch(1)
        vrow.addWidget(add)
        vrow.addWidget(remove)
        rv.addLayout(vrow)

        self.text = QPlainTextEdit()
        self.text.setPlaceholderText(
            "Hi {{ customer.first_name }}, … — variables: " + ", ".join(list(VARIABLES)[:6]) + "…"
        )
        self.text.setToolTip("Variables:\n" + "\n".join(f"{k}: {v}" for k, v in VARIABLES.items()))
        self.text.textChanged.connect(self._variant_edited)
        rv.addWidget(self.text, 2)

        self.problems = QLabel()
        self.problems.setObjectName("errorBanner")
        self.problems.setWordWrap(True)
        self.problems.hide()
        rv.addWidget(self.problems)
        preview_title = QLabel("Preview for a sample customer (Maria Rossi, order A-10442)")
        preview_title.setObjectName("muted")
        rv.addWidget(preview_title)
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setObjectName("templatePreview")
        rv.addWidget(self.preview, 1)
        self.preview_length = QLabel()
        self.preview_length.setObjectName("muted")
        rv.addWidget(self.preview_length)

        brow = QHBoxLayout()
        self.status = QLabel()
        self.status.setObjectName("muted")
        brow.addWidget(self.status, 1)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(self.revert)
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("primary")
        self.save_button.setToolTip("Save (Ctrl+S)")
        self.save_button.clicked.connect(self.save)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        for b in (self.revert_button, self.save_button, close):
            brow.addWidget(b)
        rv.addLayout(brow)
        split.addWidget(right)
        split.setSizes([300, 740])
        QShortcut(QKeySequence.StandardKey.Save, self, activated=self.save)
        QShortcut(QKeySequence.StandardKey.Find, self, activated=self.search.setFocus)

    # -- the list --------------------------------------------------------------------------------

    def reload(self, select: str | None = None) -> None:
        self._all = repo.list_templates(self.ws)
        self._filter(
            self.search.text(), select=select or (self.current.name if self.current else None)
        )

    def _filter(self, query: str, select: str | None = None) -> None:
        shown = matching(self._all, query) if query.strip() else self._all
        self.list_model.set_templates(shown)
        names = [t.name for t in shown]
        row = names.index(select) if select in names else (0 if shown else -1)
        if row >= 0:
            self.list.setCurrentIndex(self.list_model.index(row, 0))
        else:
            self._show(None)

    def _picked(self, current: QModelIndex, _previous: QModelIndex) -> None:
        template = self.list_model.template_at(current.row())
        if template is not None and (self.current is None or template.id != self.current.id):
            self._show(template)

    # -- the editor ------------------------------------------------------------------------------

    def _show(self, template: Template | None) -> None:
        self._loading = True
        self.current = template
        self.name.setText(template.name if template else "")
        self.shortcut.setText(template.shortcut or "" if template else "")
        self.description.setText(template.description if template else "")
        self.tags.setText(", ".join(template.tags) if template else "")
        self.variants.set_variants(template.variants if template else [])
        self._loading = False
        self._dirty = False
        if template and template.variants:
            self.variant_view.selectRow(0)
            self._variant_picked(self.variants.index(0, 0), QModelIndex())
        else:
            self._load_variant(None)
        self._status("")

    def _load_variant(self, variant: Variant | None) -> None:
        self._loading = True
        self.language.setCurrentIndex(
            max(0, self.language.findData(variant.language if variant else None))
        )
        self.channel.setCurrentIndex(
            max(0, self.channel.findData(variant.channel if variant else None))
        )
        self.text.setPlainText(variant.text if variant else "")
        self._loading = False
        self._preview()

    def _variant_picked(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = current.row()
        self._load_variant(
            self.variants.variants[row] if 0 <= row < len(self.variants.variants) else None
        )

    def _current_variant_row(self) -> int:
        return self.variant_view.currentIndex().row()

    def _variant_edited(self) -> None:
        if self._loading:
            return
        row = self._current_variant_row()
        if 0 <= row < len(self.variants.variants):
            self.variants.replace(
                row,
                Variant(
                    self.text.toPlainText(), self.language.currentData(), self.channel.currentData()
                ),
            )
        self._touched()
        self._preview()

    def _touched(self) -> None:
        if not self._loading:
            self._dirty = True
            self._status("Unsaved changes (Ctrl+S to save)")

    def _status(self, text: str) -> None:
        self.status.setText(text)

    def _preview(self) -> None:
        text = self.text.toPlainText()
        channel = self.channel.currentData() or Channel.X.value
        problems = check_text(text)
        rendered = ""
        if not problems and text.strip():
            ctx = dataclasses.replace(
                SAMPLE_CONTEXT, channel=channel, agent_signature=self.signature
            )
            try:
                rendered = apply_signature(
                    render_text(text, variables(ctx)), self.signature, channel
                )
            except TemplateError as exc:
                problems = [str(exc)]
        self.problems.setText("\n".join(problems))
        self.problems.setVisible(bool(problems))
        self.preview.setPlainText(rendered)
        rule = rule_for(channel)
        report = rule.measure(rendered)
        state = f"{rule.label}: {report.short()}"
        if report.is_over:
            state += f" — {report.over_by} over the limit"
        self.preview_length.setText(state if rendered else "")

    def _edited_template(self) -> Template:
        tags = [t for t in self.tags.text().split(",") if t.strip()]
        return make_template(
            self.name.text(),
            self.variants.variants,
            shortcut=self.shortcut.text(),
            description=self.description.text(),
            tags=tags,
            id=self.current.id if self.current else None,
        )

    # -- actions ---------------------------------------------------------------------------------

    def save(self) -> bool:
        try:
            template = self._edited_template()
            for variant in template.variants:
                problems = check_text(variant.text)
                if problems:
                    raise TemplateError(f"{variant.describe()}: {problems[0]}")
            if template.id is None:
                saved = repo.create(self.ws, template, self.clock())
            else:
                saved = repo.update(self.ws, template, self.clock())
        except ConsoleError as exc:
            self._status("")
            self.problems.setText(str(exc))
            self.problems.show()
            return False
        self.current = saved
        self._dirty = False
        self.reload(select=saved.name)
        self._status(f"Saved “{saved.name}”")
        self.changed.emit()
        return True

    def revert(self) -> None:
        if self.current is not None and self.current.id is not None:
            self._show(repo.get(self.ws, self.current.id))
        else:
            self.reload()

    def new_template(self) -> None:
        name = repo.free_name(self.ws, "New template").replace(" (copy)", "")
        if repo.get_by_name(self.ws, name) is not None:
            name = repo.free_name(self.ws, "New template")
        draft = Template(name=name, variants=(Variant("Hi {{ customer.first_name }}, ", "en"),))
        self.search.clear()
        self._show(draft)
        self._dirty = True
        self.name.setFocus()
        self.name.selectAll()
        self._status("New template: fill it in, then Save")

    def duplicate_template(self) -> None:
        if self.current is None or self.current.id is None:
            return
        copy = repo.duplicate(self.ws, self.current.id, self.clock())
        self.current = copy
        self.reload(select=copy.name)
        self._status(f"Duplicated as “{copy.name}” (give it a shortcut)")
        self.changed.emit()

    def delete_template(self) -> None:
        if self.current is None or self.current.id is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete template",
            f"Delete “{self.current.name}”? Replies already sent keep their text.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        template_id = self.current.id

        def done(result: int) -> None:
            if result == QMessageBox.StandardButton.Yes:
                self.delete_now(template_id)

        box.finished.connect(done)
        box.open()

    def delete_now(self, template_id: int) -> None:
        repo.delete(self.ws, template_id)
        self.current = None
        self.reload()
        self._status("Deleted")
        self.changed.emit()

    def add_variant(self) -> None:
        used = {v.key() for v in self.variants.variants}
        language = next((c for c in LANGUAGE_NAMES if (c, None) not in used), None)
        row = self.variants.add(Variant("", language, None))
        self.variant_view.selectRow(row)
        self._variant_picked(self.variants.index(row, 0), QModelIndex())
        self.text.setFocus()
        self._touched()

    def remove_variant(self) -> None:
        row = self._current_variant_row()
        if row < 0:
            return
        self.variants.remove(row)
        if self.variants.variants:
            self.variant_view.selectRow(min(row, len(self.variants.variants) - 1))
        else:
            self._load_variant(None)
        self._touched()

    def import_file(self) -> None:
        self._open_file_dialog(QFileDialog.AcceptMode.AcceptOpen, self.import_path)

    def export_file(self) -> None:
        self._open_file_dialog(QFileDialog.AcceptMode.AcceptSave, self.export_path)

    def _open_file_dialog(self, mode: QFileDialog.AcceptMode, then: Callable[[Path], Any]) -> None:
        dialog = QFileDialog(self, "Templates file", "", "Templates (*.toml);;All files (*)")
        dialog.setAcceptMode(mode)
        dialog.setDefaultSuffix("toml")
        if mode == QFileDialog.AcceptMode.AcceptOpen:
            dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda path: then(Path(path)))
        self._file_dialog = dialog
        dialog.open()

    def import_path(self, path: Path) -> dict[str, list[str]] | None:
        try:
            templates = loads_templates(path.read_text(encoding="utf-8"), where=path.name)
            outcome = repo.import_templates(self.ws, templates, self.clock())
        except (OSError, ConsoleError) as exc:
            self.problems.setText(f"Import failed: {exc}")
            self.problems.show()
            return None
        self.reload()
        self._status(
            f"Imported {path.name}: {len(outcome['created'])} new, {len(outcome['updated'])} updated"
        )
        self.changed.emit()
        return outcome

    def export_path(self, path: Path) -> int:
        templates = repo.list_templates(self.ws)
        try:
            path.write_text(dumps_templates(templates), encoding="utf-8")
        except OSError as exc:
            self.problems.setText(f"Export failed: {exc}")
            self.problems.show()
            return 0
        self._status(f"Exported {len(templates)} templates to {path.name}")
        return len(templates)
