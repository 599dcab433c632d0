"""Reply templates: variants per language and channel, rendered in Jinja2's sandbox.

A :class:`Template` has a name, an optional shortcut (``/refund``), a description, tags and
:class:`Variant` texts keyed by (language or None, channel or None). :func:`choose_variant` picks,
for a customer's language and a conversation's channel::

    (language, channel) > (language, any channel) > (default language, channel)
    > (default language, any channel) > any variant

and says whether it fell back ("no Finnish variant; used English") so the composer can show it. A
variant whose language is None counts as the default language.

Rendering (:func:`render_text`, :func:`render`) uses :class:`jinja2.sandbox.SandboxedEnvironment`
with strict undefined variables, no autoescape (replies are plain text), a cap on ``*``/``**`` and on
the output length. Every failure is a :class:`~console.errors.TemplateError` with a message for a
person: an unknown variable names itself and lists the known ones; a syntax slip gives its line;
reaching for Python internals (``__class__``, ``mro``, ``__globals__``...) is "not allowed".
:func:`check_text` finds the same problems without rendering (also in branches not taken).

Variables (see :data:`VARIABLES`): ``customer.name``, ``customer.first_name``, ``customer.handle``,
``agent.name``, ``agent.first_name``, ``agent.signature``, ``account.name``, ``account.handle``,
``channel`` (its label), ``conversation.ref`` (``#C1234``), ``custom.<field>`` and the shortcuts
``name``, ``first_name``, ``handle``, ``signature``. A missing value (no name known) renders empty,
so ``{% if customer.first_name %}`` works.

Files: templates are exchanged as TOML (read with the standard library's ``tomllib``, written with
``tomli-w``)::

    [[template]]
    name = "Refund started"
    shortcut = "/refund"
    description = "The refund is on its way"
    tags = ["billing"]

    [[template.variant]]
    language = "en"          # omit for any language
    channel = "x"            # omit for any channel
    text = "Hi {{ customer.first_name }}, we've started your refund..."

The stock templates live in ``resources/templates/*.toml``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from types import TracebackType
from typing import Any, NoReturn

import tomli_w
from jinja2 import StrictUndefined, meta, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.sandbox import SandboxedEnvironment

from console.domain import Channel
from console.errors import TemplateError

DEFAULT_LANGUAGE = "en"
MAX_OUTPUT = 20_000
MAX_REPEAT = 5_000

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "it": "Italian",
    "fi": "Finnish",
    "es": "Spanish",
    "de": "German",
    "fr": "French",
    "pt": "Portuguese",
    "sv": "Swedish",
    "nl": "Dutch",
    "da": "Danish",
    "nb": "Norwegian",
    "pl": "Polish",
}

#: Every variable a template may use, with what it holds (the template editor lists them).
VARIABLES: dict[str, str] = {
    "customer.name": "the customer's display name",
    "customer.first_name": "the first word of the customer's name (empty when unknown)",
    "customer.handle": "the customer's handle on this channel (@name on X and Instagram)",
    "agent.name": "your name",
    "agent.first_name": "your first name",
    "agent.signature": "your signature, e.g. ^CP",
    "account.name": "our account's name",
    "account.handle": "our account's handle",
    "channel": "the channel's name (X, Email, WhatsApp...)",
    "conversation.ref": "a short reference for the conversation, e.g. #C1234",
    "custom.<field>": "a custom field of the conversation (order number...)",
    "name": "shortcut for customer.name",
    "first_name": "shortcut for customer.first_name",
    "handle": "shortcut for customer.handle",
    "signature": "shortcut for agent.signature",
}

_NAMESPACES: dict[str, tuple[str, ...]] = {
    "customer": ("name", "first_name", "handle"),
    "agent": ("name", "first_name", "signature"),
    "account": ("name", "handle"),
    "conversation": ("ref",),
}
_TOP_LEVEL = frozenset({*_NAMESPACES, "custom", "channel", "name", "first_name", "handle", "signature"})  # fmt: skip
#: Names that reach into Python's object model (refused even without a leading underscore).
_FORBIDDEN_ATTRS = frozenset(
    {"mro", "func_globals", "f_globals", "gi_frame", "gi_code", "cr_frame", "f_locals", "f_back"}
)
_SHORTCUT = re.compile(r"^/[a-z0-9][a-z0-9_-]{0,31}$")


def language_name(code: str | None) -> str:
    if not code:
        return "any language"
    return LANGUAGE_NAMES.get(code, code)


# -- the records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variant:
    """One text of a template, for a language (None: the default) and a channel (None: any)."""

    text: str
    language: str | None = None
    channel: str | None = None

    def key(self) -> tuple[str | None, str | None]:
        return (self.language, self.channel)

    def describe(self) -> str:
        channel = Channel(self.channel).label if self.channel else "any channel"
        return f"{language_name(self.language)}, {channel}"


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    variants: tuple[Variant, ...]
    shortcut: str | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    id: int | None = None

    def languages(self) -> list[str | None]:
        return list(dict.fromkeys(v.language for v in self.variants))

    def channels(self) -> list[str | None]:
        return list(dict.fromkeys(v.channel for v in self.variants))

    def variant(self, language: str | None, channel: str | None) -> Variant | None:
        for v in self.variants:
            if v.key() == (language, channel):
                return v
        return None


@dataclass(frozen=True, slots=True)
class Choice:
    """The variant :func:`choose_variant` picked and how it matched."""

    variant: Variant
    fell_back: bool
    note: str  # empty, or "no Finnish variant; used English" and the like


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    template: str
    variant: Variant
    fell_back: bool
    note: str


@dataclass(frozen=True, slots=True)
class RenderContext:
    """Who and where a reply is for: everything a template's variables come from."""

    customer_name: str | None = None
    customer_handle: str | None = None
    agent_name: str = ""
    agent_signature: str = ""
    account_name: str = ""
    account_handle: str | None = None
    channel: str | None = None
    conversation_id: int | None = None
    custom: Mapping[str, Any] = field(default_factory=dict)


SAMPLE_CONTEXT = RenderContext(
    customer_name="Maria Rossi",
    customer_handle="mariarossi",
    agent_name="Chris Parker",
    agent_signature="^CP",
    account_name="Acme Care",
    account_handle="AcmeCare",
    channel=Channel.X.value,
    conversation_id=1234,
    custom={"order_number": "A-10442"},
)


# -- validation of the records ---------------------------------------------------------------------


def normalize_shortcut(shortcut: str | None) -> str | None:
    """``Refund`` / ``/refund`` -> ``/refund``; None or blank -> None; anything else refused."""
    if shortcut is None or not shortcut.strip():
        return None
    value = shortcut.strip().lower()
    if not value.startswith("/"):
        value = "/" + value
    if not _SHORTCUT.match(value):
        raise TemplateError(
            f"shortcut {shortcut!r}: use a slash, then letters, digits, '-' or '_' (e.g. /refund)"
        )
    return value


def make_template(
    name: str,
    variants: Iterable[Variant],
    *,
    shortcut: str | None = None,
    description: str = "",
    tags: Iterable[str] = (),
    id: int | None = None,
) -> Template:
    """A checked :class:`Template`: a name, at least one variant, no two variants for one key."""
    name = " ".join(name.split())
    if not name:
        raise TemplateError("a template needs a name")
    clean: list[Variant] = []
    seen: set[tuple[str | None, str | None]] = set()
    for v in variants:
        variant = Variant(
            v.text, _clean_language(v.language, name), _clean_channel(v.channel, name)
        )
        if variant.key() in seen:
            raise TemplateError(f"template {name!r} has two variants for {variant.describe()}")
        seen.add(variant.key())
        clean.append(variant)
    if not clean:
        raise TemplateError(f"template {name!r} has no text")
    tag_list = tuple(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
    return Template(
        name, tuple(clean), normalize_shortcut(shortcut), description.strip(), tag_list, id
    )


def _clean_language(language: str | None, name: str) -> str | None:
    if language is None or not language.strip():
        return None
    code = language.strip().lower()
    if not re.fullmatch(r"[a-z]{2,3}", code):
        raise TemplateError(f"template {name!r}: {language!r} is not a language code like 'en'")
    return code


def _clean_channel(channel: str | None, name: str) -> str | None:
    if channel is None or not str(channel).strip():
        return None
    try:
        return Channel(str(channel).strip().lower()).value
    except ValueError:
        known = ", ".join(c.value for c in Channel)
        raise TemplateError(
            f"template {name!r}: unknown channel {channel!r} (use one of {known})"
        ) from None


# -- choosing a variant ----------------------------------------------------------------------------


def choose_variant(
    template: Template,
    language: str | None,
    channel: str | None,
    *,
    default_language: str = DEFAULT_LANGUAGE,
) -> Choice:
    """The best variant of ``template`` for ``language`` and ``channel`` (see the module doc)."""

    def lang_of(v: Variant) -> str:
        return v.language or default_language

    wanted = language or default_language
    ranks: list[tuple[int, int, Variant]] = []
    for index, v in enumerate(template.variants):
        same_lang = lang_of(v) == wanted
        is_default = lang_of(v) == default_language
        if same_lang and v.channel == channel:
            rank = 0
        elif same_lang and v.channel is None:
            rank = 1
        elif is_default and v.channel == channel:
            rank = 2
        elif is_default and v.channel is None:
            rank = 3
        elif same_lang:
            rank = 4  # the language, written for another channel
        else:
            rank = 5
        ranks.append((rank, index, v))
    if not ranks:
        raise TemplateError(f"template {template.name!r} has no text")
    rank, _, best = min(ranks, key=lambda r: (r[0], r[1]))
    fell_back = lang_of(best) != wanted
    notes: list[str] = []
    if fell_back:
        notes.append(f"no {language_name(wanted)} variant; used {language_name(lang_of(best))}")
    if best.channel is not None and best.channel != channel:
        notes.append(f"used the {Channel(best.channel).label} text")
    return Choice(best, fell_back, "; ".join(notes))


# -- the sandbox -----------------------------------------------------------------------------------


class _Namespace:
    """A group of variables (``customer``...): items only, no methods a template could call."""

    __slots__ = ("_default", "_path", "_values")

    def __init__(self, path: str, values: Mapping[str, Any], default: Any = None) -> None:
        self._path = path
        self._values = dict(values)
        self._default = default

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __str__(self) -> str:
        return "" if self._default is None else str(self._default)

    def __bool__(self) -> bool:
        return bool(self._values)


class _Unknown(UndefinedError):
    def __init__(self, name: str, unsafe: bool) -> None:
        super().__init__(name)
        self.name = name
        self.unsafe = unsafe


class _StrictUndefined(StrictUndefined):
    """Raises :class:`_Unknown` with the full dotted name (``customer.nmae``)."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> NoReturn:
        obj = self._undefined_obj
        name = self._undefined_name or "?"
        if isinstance(obj, _Namespace):
            name = f"{obj._path}.{name}"
        raise _Unknown(name, self._undefined_exception is SecurityError)

    # StrictUndefined binds these to its own method; point them at ours.
    __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = __contains__ = (
        _fail_with_undefined_error
    )


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in _FORBIDDEN_ATTRS:
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        # Keep "'x' * 10**9" from eating the memory of the workstation.
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError("the power is too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_REPEAT:
                    raise SecurityError("the repeated text is too long")
        return super().call_binop(context, operator, left, right)


def _finalize(value: Any) -> Any:
    return "" if value is None else value


_ENV = _Sandbox(
    undefined=_StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
    finalize=_finalize,
)
_ENV.globals.pop("lipsum", None)


def _known_list(custom: Iterable[str] = ()) -> str:
    names = [k for k in VARIABLES if k != "custom.<field>"]
    names += [f"custom.{c}" for c in sorted(custom)]
    return ", ".join(names)


def _line_of(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _where(label: str, line: int | None) -> str:
    return f"{label}, line {line}" if line else label


def render_text(text: str, variables: Mapping[str, Any], *, label: str = "template") -> str:
    """Render one template text; every failure is a :class:`TemplateError` for a person."""
    custom = variables.get("custom")
    custom_names = list(custom._values) if isinstance(custom, _Namespace) else []
    try:
        compiled = _ENV.from_string(text)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{_where(label, exc.lineno)}: {_syntax_message(exc)}") from None
    try:
        out = compiled.render(variables)
    except _Unknown as exc:
        where = _where(label, _line_of(exc.__traceback__))
        if exc.unsafe or exc.name.split(".")[-1] in _FORBIDDEN_ATTRS:
            raise TemplateError(
                f"{where}: '{exc.name}' is not allowed: templates cannot reach Python internals"
            ) from None
        raise TemplateError(
            f"{where}: unknown variable '{exc.name}'; known variables: {_known_list(custom_names)}"
        ) from None
    except SecurityError as exc:
        where = _where(label, _line_of(exc.__traceback__))
        raise TemplateError(f"{where}: not allowed: {exc}") from None
    except JinjaTemplateError as exc:
        where = _where(label, _line_of(exc.__traceback__))
        raise TemplateError(f"{where}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        where = _where(label, _line_of(exc.__traceback__))
        raise TemplateError(f"{where}: {exc}") from None
    if len(out) > MAX_OUTPUT:
        raise TemplateError(f"{label}: the text is too long ({len(out):,} characters)")
    return out.strip()


def _syntax_message(exc: TemplateSyntaxError) -> str:
    message = str(exc.message or exc)
    if "unexpected '}'" in message or "unexpected end of template" in message:
        return f"{message} (is a '{{{{' or '{{%' left open or closed twice?)"
    if message.startswith("Encountered unknown tag"):
        return f"{message} (tags are {{% if %}}, {{% for %}}, {{% set %}}...)"
    return message


def check_text(text: str, *, custom: Iterable[str] | None = None) -> list[str]:
    """Problems of a template text found without rendering it (syntax, unknown, not allowed).

    ``custom`` names the custom fields known here; None accepts any ``custom.<field>``.
    """
    try:
        tree = _ENV.parse(text)
    except TemplateSyntaxError as exc:
        return [f"{_where('template', exc.lineno)}: {_syntax_message(exc)}"]
    problems: list[str] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            attr: str | None = node.attr
        else:
            attr = _const_key(node.arg) if isinstance(node, nodes.Getitem) else None
        if attr is not None and (attr.startswith("_") or attr in _FORBIDDEN_ATTRS):
            problems.append(
                f"{_where('template', node.lineno)}: '{attr}' is not allowed: "
                "templates cannot reach Python internals"
            )
    undeclared = meta.find_undeclared_variables(tree) - set(_ENV.globals)
    for name in sorted(undeclared - _TOP_LEVEL):
        problems.append(f"unknown variable '{name}'; known variables: {_known_list(custom or ())}")
    for node in tree.find_all(nodes.Getattr):
        base = node.node
        if not isinstance(base, nodes.Name) or base.name not in undeclared:
            continue
        if node.attr.startswith("_") or node.attr in _FORBIDDEN_ATTRS:
            continue
        fields = _NAMESPACES.get(base.name)
        unknown = (fields is not None and node.attr not in fields) or (
            base.name == "custom" and custom is not None and node.attr not in set(custom)
        )
        if unknown:
            problems.append(
                f"{_where('template', node.lineno)}: unknown variable "
                f"'{base.name}.{node.attr}'; known variables: {_known_list(custom or ())}"
            )
    return list(dict.fromkeys(problems))


def _const_key(arg: nodes.Node) -> str | None:
    if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
        return arg.value
    return None


# -- variables and rendering -----------------------------------------------------------------------


def first_word(name: str | None) -> str | None:
    """The first word of a person's name; None for no name or one that is a number or an address."""
    if not name:
        return None
    word = name.strip().split()[0] if name.strip() else ""
    if not word or word.isdigit() or "@" in word or not any(c.isalpha() for c in word):
        return None
    return word.strip(",;")


def display_handle(handle: str | None, channel: str | None) -> str | None:
    if not handle:
        return None
    if channel in (Channel.X.value, Channel.INSTAGRAM.value) and not handle.startswith("@"):
        return "@" + handle
    return handle


def conversation_ref(conversation_id: int | None) -> str | None:
    return None if conversation_id is None else f"#C{conversation_id}"


def variables(ctx: RenderContext) -> dict[str, Any]:
    """The variables of a template rendered for ``ctx``."""
    handle = display_handle(ctx.customer_handle, ctx.channel)
    name = ctx.customer_name or None
    if name is not None and ctx.customer_handle and name.lstrip("@") == ctx.customer_handle:
        name = None  # a handle standing in for a name is no name
    customer = {"name": name or handle, "first_name": first_word(name), "handle": handle}
    agent = {
        "name": ctx.agent_name,
        "first_name": first_word(ctx.agent_name) or ctx.agent_name,
        "signature": ctx.agent_signature,
    }
    account_handle = display_handle(ctx.account_handle, ctx.channel)
    account = {"name": ctx.account_name, "handle": account_handle or ctx.account_name}
    ref = conversation_ref(ctx.conversation_id)
    channel_label = Channel(ctx.channel).label if ctx.channel else ""
    custom = {str(k): v for k, v in ctx.custom.items() if isinstance(k, str)}
    return {
        "customer": _Namespace("customer", customer, customer["name"]),
        "agent": _Namespace("agent", agent, ctx.agent_name),
        "account": _Namespace("account", account, ctx.account_name),
        "conversation": _Namespace("conversation", {"ref": ref}, ref),
        "custom": _Namespace("custom", custom),
        "channel": channel_label,
        "name": customer["name"],
        "first_name": customer["first_name"],
        "handle": handle,
        "signature": ctx.agent_signature,
    }


def render(
    template: Template,
    ctx: RenderContext,
    *,
    language: str | None,
    default_language: str = DEFAULT_LANGUAGE,
) -> Rendered:
    """Render the variant of ``template`` that best fits ``language`` and ``ctx.channel``."""
    choice = choose_variant(template, language, ctx.channel, default_language=default_language)
    label = f"template {template.name!r} ({choice.variant.describe()})"
    text = render_text(choice.variant.text, variables(ctx), label=label)
    return Rendered(text, template.name, choice.variant, choice.fell_back, choice.note)


def has_signature(text: str, signature: str) -> bool:
    if not signature:
        return True
    return re.search(r"(?<!\S)" + re.escape(signature) + r"(?!\S)", text) is not None


def apply_signature(text: str, signature: str | None, channel: str | None = None) -> str:
    """``text`` signed once: `` ^CP`` at the end (on its own line in an email), unless already there."""
    body = text.rstrip()
    if not signature or not body or has_signature(body, signature):
        return body
    if channel == Channel.EMAIL.value or ("\n" in body and len(body) > 400):
        return f"{body}\n\n{signature}"
    return f"{body} {signature}"


# -- matching shortcuts ----------------------------------------------------------------------------


def matching(templates: Sequence[Template], query: str) -> list[Template]:
    """Templates for what the agent typed after ``/``: shortcut prefix first, then name words."""
    q = query.lstrip("/").strip().lower()
    if not q:
        return sorted(templates, key=lambda t: (t.shortcut or "~", t.name.lower()))
    by_shortcut = [t for t in templates if t.shortcut and t.shortcut[1:].startswith(q)]
    by_name = [
        t
        for t in templates
        if t not in by_shortcut
        and (any(w.startswith(q) for w in t.name.lower().split()) or q in t.name.lower())
    ]
    by_tag = [t for t in templates if t not in by_shortcut and t not in by_name and q in t.tags]
    by_shortcut.sort(key=lambda t: (len(t.shortcut or ""), t.shortcut))
    return by_shortcut + by_name + by_tag


# -- files -----------------------------------------------------------------------------------------


def template_to_dict(template: Template) -> dict[str, Any]:
    out: dict[str, Any] = {"name": template.name}
    if template.shortcut:
        out["shortcut"] = template.shortcut
    if template.description:
        out["description"] = template.description
    if template.tags:
        out["tags"] = list(template.tags)
    variants = []
    for v in template.variants:
        item: dict[str, Any] = {}
        if v.language:
            item["language"] = v.language
        if v.channel:
            item["channel"] = v.channel
        item["text"] = v.text
        variants.append(item)
    out["variant"] = variants
    return out


def template_from_dict(data: Mapping[str, Any], *, where: str = "") -> Template:
    prefix = f"{where}: " if where else ""
    if not isinstance(data, Mapping):
        raise TemplateError(f"{prefix}a template must be a table")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise TemplateError(f"{prefix}a template needs a name")
    raw_variants = data.get("variant", data.get("variants"))
    if isinstance(data.get("text"), str) and raw_variants is None:
        raw_variants = [{"text": data["text"]}]
    if not isinstance(raw_variants, list) or not raw_variants:
        raise TemplateError(f"{prefix}template {name!r} has no [[template.variant]] with a text")
    variants = []
    for item in raw_variants:
        if not isinstance(item, Mapping) or not isinstance(item.get("text"), str):
            raise TemplateError(f"{prefix}template {name!r}: every variant needs a text")
        variants.append(Variant(item["text"], item.get("language"), item.get("channel")))
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise TemplateError(f"{prefix}template {name!r}: tags must be a list of words")
    try:
        return make_template(
            name,
            variants,
            shortcut=data.get("shortcut"),
            description=str(data.get("description", "")),
            tags=tags,
        )
    except TemplateError as exc:
        raise TemplateError(f"{prefix}{exc}") from None


HEADER = (
    "# Agent Console reply templates.\n"
    "# Each [[template]] has a name, an optional /shortcut, a description, tags, and one\n"
    "# [[template.variant]] per language and channel (omit either for 'any').\n"
    "# Texts are Jinja2: {{ customer.first_name }}, {{ agent.signature }}, {{ conversation.ref }}...\n"
)


def dumps_templates(templates: Iterable[Template]) -> str:
    """Templates as a readable TOML document."""
    doc = {"template": [template_to_dict(t) for t in templates]}
    return HEADER + "\n" + tomli_w.dumps(doc, multiline_strings=True)


def loads_templates(text: str, *, where: str = "templates") -> list[Template]:
    """Templates from a TOML document; any problem is a :class:`TemplateError` naming its place."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{where}: not a readable templates file: {exc}") from None
    items = doc.get("template", [])
    if not isinstance(items, list):
        raise TemplateError(f"{where}: expected [[template]] tables")
    templates: list[Template] = []
    names: set[str] = set()
    for index, item in enumerate(items, start=1):
        template = template_from_dict(item, where=f"{where}, template {index}")
        if template.name.lower() in names:
            raise TemplateError(f"{where}: two templates are named {template.name!r}")
        names.add(template.name.lower())
        templates.append(template)
    return templates


def stock_templates() -> list[Template]:
    """The templates shipped in ``resources/templates`` (every ``*.toml`` file, by file name)."""
    return list(_stock_templates())


@lru_cache(maxsize=1)
def _stock_templates() -> tuple[Template, ...]:
    folder = resources.files("resources").joinpath("templates")
    out: list[Template] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            out.extend(loads_templates(entry.read_text(encoding="utf-8"), where=entry.name))
    return tuple(out)


def with_id(template: Template, template_id: int | None) -> Template:
    return replace(template, id=template_id)
