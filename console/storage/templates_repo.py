"""Every SQL statement about reply templates (the ``templates`` table).

The ``variants`` column holds JSON: ``{"variants": [{"language", "channel", "text"}, ...],
"tags": [...]}`` (a bare list of variants is read too). Names are unique (case-insensitively in
practice: :func:`get_by_name` ignores case); shortcuts are unique when set.

:func:`install_stock_templates` adds the stock templates shipped in ``resources/templates`` once:
names already present are left alone, and a stock template the team deleted is not brought back
(the installed names are remembered in the ``templates.stock`` setting).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from console.errors import NotFoundError, TemplateError
from console.storage.db import Workspace
from console.templates import Template, Variant, make_template, stock_templates

STOCK_SETTING = "templates.stock"

_COLUMNS = "id, name, shortcut, description, variants"


def _encode(template: Template) -> str:
    return json.dumps(
        {
            "variants": [
                {"language": v.language, "channel": v.channel, "text": v.text}
                for v in template.variants
            ],
            "tags": list(template.tags),
        },
        ensure_ascii=False,
    )


def _decode(row: dict[str, Any]) -> Template:
    data = json.loads(row["variants"] or "[]")
    items = data.get("variants", []) if isinstance(data, dict) else data
    tags = data.get("tags", []) if isinstance(data, dict) else []
    variants = [Variant(i["text"], i.get("language"), i.get("channel")) for i in items]
    return Template(
        name=row["name"],
        variants=tuple(variants),
        shortcut=row["shortcut"],
        description=row["description"] or "",
        tags=tuple(tags),
        id=int(row["id"]),
    )


def list_templates(ws: Workspace) -> list[Template]:
    rows = ws.query(f"SELECT {_COLUMNS} FROM templates ORDER BY name COLLATE NOCASE")
    return [_decode(r) for r in rows]


def get(ws: Workspace, template_id: int) -> Template:
    row = ws.query_one(f"SELECT {_COLUMNS} FROM templates WHERE id = ?", (template_id,))
    if row is None:
        raise NotFoundError(f"no template {template_id}")
    return _decode(row)


def get_by_name(ws: Workspace, name: str) -> Template | None:
    row = ws.query_one(
        f"SELECT {_COLUMNS} FROM templates WHERE name = ? COLLATE NOCASE", (name.strip(),)
    )
    return None if row is None else _decode(row)


def get_by_shortcut(ws: Workspace, shortcut: str) -> Template | None:
    key = shortcut.strip().lower()
    if not key.startswith("/"):
        key = "/" + key
    row = ws.query_one(f"SELECT {_COLUMNS} FROM templates WHERE shortcut = ?", (key,))
    return None if row is None else _decode(row)


def find(ws: Workspace, name_or_shortcut: str) -> Template:
    """A template by name, else by shortcut; NotFoundError listing what exists."""
    found = get_by_name(ws, name_or_shortcut) or get_by_shortcut(ws, name_or_shortcut)
    if found is None:
        names = ", ".join(
            f"{t.name} ({t.shortcut})" if t.shortcut else t.name for t in list_templates(ws)
        )
        raise NotFoundError(
            f"no template {name_or_shortcut!r}; templates: {names or 'none (import some)'}"
        )
    return found


def _check_unique(ws: Workspace, template: Template, exclude_id: int | None) -> None:
    clash = ws.scalar(
        "SELECT id FROM templates WHERE name = ? COLLATE NOCASE AND id IS NOT ?",
        (template.name, exclude_id),
    )
    if clash is not None:
        raise TemplateError(f"a template named {template.name!r} already exists")
    if template.shortcut:
        other = ws.scalar(
            "SELECT name FROM templates WHERE shortcut = ? AND id IS NOT ?",
            (template.shortcut, exclude_id),
        )
        if other is not None:
            raise TemplateError(f"the shortcut {template.shortcut} is taken by {other!r}")


def create(ws: Workspace, template: Template, now: int) -> Template:
    template = make_template(
        template.name,
        template.variants,
        shortcut=template.shortcut,
        description=template.description,
        tags=template.tags,
    )
    with ws.transaction() as conn:
        _check_unique(ws, template, None)
        cur = conn.execute(
            "INSERT INTO templates (name, shortcut, description, variants, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (template.name, template.shortcut, template.description, _encode(template), now, now),
        )
    return get(ws, int(cur.lastrowid or 0))


def update(ws: Workspace, template: Template, now: int) -> Template:
    """Save an edited template (by its id): name, shortcut, description, tags and variants."""
    if template.id is None:
        raise TemplateError("this template was never saved; create it instead")
    template_id = template.id
    get(ws, template_id)
    template = make_template(
        template.name,
        template.variants,
        shortcut=template.shortcut,
        description=template.description,
        tags=template.tags,
        id=template_id,
    )
    with ws.transaction() as conn:
        _check_unique(ws, template, template_id)
        conn.execute(
            "UPDATE templates SET name = ?, shortcut = ?, description = ?, variants = ?,"
            " updated_at = ? WHERE id = ?",
            (
                template.name,
                template.shortcut,
                template.description,
                _encode(template),
                now,
                template_id,
            ),
        )
    return get(ws, template_id)


def free_name(ws: Workspace, base: str) -> str:
    """``base (copy)``, ``base (copy 2)``... whichever is not taken."""
    candidate = f"{base} (copy)"
    n = 2
    while get_by_name(ws, candidate) is not None:
        candidate = f"{base} (copy {n})"
        n += 1
    return candidate


def duplicate(ws: Workspace, template_id: int, now: int) -> Template:
    """A copy under a free name, without the shortcut (shortcuts are unique)."""
    source = get(ws, template_id)
    copy = Template(
        name=free_name(ws, source.name),
        variants=source.variants,
        shortcut=None,
        description=source.description,
        tags=source.tags,
    )
    return create(ws, copy, now)


def delete(ws: Workspace, template_id: int) -> None:
    with ws.transaction() as conn:
        cur = conn.execute("DELETE FROM templates WHERE id = ?", (template_id,))
        if cur.rowcount == 0:
            raise NotFoundError(f"no template {template_id}")


def import_templates(
    ws: Workspace, templates: Iterable[Template], now: int, *, replace: bool = True
) -> dict[str, list[str]]:
    """Store templates from a file in one transaction: new names are created; a name that exists
    is overwritten when ``replace`` (else skipped). Returns the names per outcome."""
    outcome: dict[str, list[str]] = {"created": [], "updated": [], "skipped": []}
    with ws.transaction():
        for template in templates:
            existing = get_by_name(ws, template.name)
            if existing is None:
                create(ws, template, now)
                outcome["created"].append(template.name)
            elif replace:
                update(ws, Template(**{**_fields(template), "id": existing.id}), now)
                outcome["updated"].append(template.name)
            else:
                outcome["skipped"].append(template.name)
    return outcome


def _fields(template: Template) -> dict[str, Any]:
    return {f: getattr(template, f) for f in Template.__dataclass_fields__}


def install_stock_templates(ws: Workspace, now: int | None = None) -> list[str]:
    """Add the stock templates not installed before; returns the names added. Idempotent."""
    import time

    stamp = int(time.time()) if now is None else now
    installed = set(ws.get_setting(STOCK_SETTING, []) or [])
    fresh = [t for t in stock_templates() if t.name not in installed]
    if not fresh:
        return []  # the usual case: one settings read, no write
    added: list[str] = []
    with ws.transaction():
        for template in fresh:
            installed.add(template.name)
            if get_by_name(ws, template.name) is not None:
                continue
            if template.shortcut and get_by_shortcut(ws, template.shortcut) is not None:
                template = Template(**{**_fields(template), "shortcut": None})
            create(ws, template, stamp)
            added.append(template.name)
        ws.set_setting(STOCK_SETTING, sorted(installed))
    return added
