"""Reply planning: who a reply goes to, what each target receives, what could go wrong; then queueing.

:class:`ReplyPlanner` turns "answer this post with this text (or template)" into a
:class:`ReplyPlan`: one :class:`ReplyTarget` for the post, or, with ``to_duplicates``, one for every
post of its duplicate group (the same customer posting again and again) or same-issue group (many
customers reporting one problem), each in its own conversation, channel and account. For each
target it renders the template for that customer, channel and language (the variant per target,
with a visible fallback), signs it, measures it by the channel's length rule and lists
:class:`ReplyWarning` s:

- ``stop`` (unticked by default; :meth:`ReplyPlanner.queue` refuses them unless ``force``): over the
  channel's limit, outside a messaging window the channel enforces (Messenger 7 days, WhatsApp
  24 hours), an empty text, and phone calls (never: they cannot be answered in writing);
- ``caution`` (queued, but worth a look): already answered or a reply already queued (unticked by
  default too), a HUMAN_AGENT reply outside Messenger's 24 hours, a window closing soon, a private
  message on a public post, a text naming another customer;
- ``info``: the template had no variant in the customer's language, UCS-2 SMS.

:meth:`ReplyPlanner.queue` writes one outbox item per chosen target (``enqueue_reply``, persist
first, ``reply_to_message_id`` = the post it answers) in one transaction, with an idempotency key
derived from the plan's batch id and the post, so queueing the same plan twice (a double click)
queues nothing new. It refuses the whole batch, queueing nothing, when a chosen target's template
failed to render. Then it publishes ``OutboxChanged``, ``MessagesChanged`` and ``InboxChanged``.

Everything here is a handful of indexed queries per target: fine on the GUI thread.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.changes import EventBus, InboxChanged, MessagesChanged, OutboxChanged
from console.domain import Channel, Status
from console.errors import ConsoleError, NotFoundError, TemplateError
from console.limits import ChannelRule, LengthReport, modes_of, rule_for
from console.storage import conversations as conversations_repo
from console.storage import reply_repo, templates_repo
from console.storage.agents import Agent
from console.storage.db import Workspace
from console.storage.outbox_repo import QueuedReply, enqueue_reply
from console.templates import (
    DEFAULT_LANGUAGE,
    RenderContext,
    Template,
    apply_signature,
    display_handle,
    first_word,
    language_name,
    render,
)

Clock = Callable[[], int]
DEFAULT_LANGUAGE_SETTING = "templates.default_language"
WINDOW_SOON_S = 2 * 3600

STOP, CAUTION, INFO = "stop", "caution", "info"


class ReplyBlockedError(ConsoleError):
    """Chosen targets cannot be queued as they are (over the limit, window closed, phone...)."""


def system_clock() -> int:
    return int(time.time())


@dataclass(frozen=True, slots=True)
class ReplyWarning:
    code: str
    message: str
    level: str = CAUTION  # "stop", "caution" or "info"

    @property
    def blocking(self) -> bool:
        return self.level == STOP


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """One reply of a plan: the post it answers and what would be sent there."""

    message_id: int | None  # the post answered (None: a conversation with no inbound message)
    ref: str | None  # CHANNEL:EXTERNAL_ID of that post
    conversation_id: int
    channel: Channel
    account_id: int
    account: str
    customer_id: int | None
    customer: str
    customer_handle: str | None
    language: str | None
    post_text: str
    post_at: int | None
    mode: str
    modes: tuple[str, ...]
    text: str
    length: LengthReport
    rule: ChannelRule
    warnings: tuple[ReplyWarning, ...] = ()
    answered: str | None = None  # "sent" or "queued" when it already has a reply
    template: str | None = None
    variant: str | None = None
    variant_note: str = ""
    error: str | None = None  # the template failed to render for this target
    messaging_tag: str | None = None

    @property
    def blocked(self) -> bool:
        return self.error is not None or any(w.blocking for w in self.warnings)

    @property
    def selected_by_default(self) -> bool:
        return not self.blocked and self.answered is None

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.ref,
            "message_id": self.message_id,
            "conversation_id": self.conversation_id,
            "channel": str(self.channel),
            "account": self.account,
            "customer": self.customer,
            "customer_id": self.customer_id,
            "language": self.language,
            "mode": self.mode,
            "text": self.text,
            "length": self.length.length,
            "limit": self.length.limit,
            "unit": self.length.unit,
            "over_by": self.length.over_by,
            "segments": self.length.segments,
            "encoding": self.length.encoding,
            "warnings": [w.message for w in self.warnings],
            "warning_codes": [w.code for w in self.warnings],
            "already_answered": self.answered is not None,
            "template": self.template,
            "variant": self.variant,
            "variant_note": self.variant_note or None,
            "error": self.error,
            "selected": self.selected_by_default,
        }


@dataclass(frozen=True, slots=True)
class GroupChoice:
    """A group a post belongs to, as the composer offers it ("Copy to all 12 duplicates")."""

    id: int
    kind: str  # "duplicates" or "same_issue"
    size: int
    customers: int

    def label(self) -> str:
        if self.kind == "same_issue":
            return f"Copy to all {self.size} posts about this issue"
        return f"Copy to all {self.size} duplicates"


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    batch_id: str
    targets: tuple[ReplyTarget, ...]
    template: str | None = None
    group: GroupChoice | None = None
    source_message_id: int | None = None

    @property
    def errors(self) -> list[str]:
        return [t.error for t in self.targets if t.error]

    def default_selection(self) -> list[int]:
        return [i for i, t in enumerate(self.targets) if t.selected_by_default]


@dataclass(frozen=True, slots=True)
class ComposeContext:
    """What the composer needs to know about the conversation it answers (read once)."""

    conversation_id: int
    message_id: int | None
    channel: Channel
    account: str
    customer: str
    customer_handle: str | None
    language: str | None
    modes: tuple[str, ...]
    default_mode: str
    last_inbound_at: int | None
    answered: str | None
    groups: tuple[GroupChoice, ...]
    render_context: RenderContext
    status: str

    def rule(self, mode: str | None = None) -> ChannelRule:
        return rule_for(self.channel, mode or self.default_mode)

    def label(self) -> str:
        who = self.customer
        return f"{who} on {self.channel.label}" + (
            f" · {language_name(self.language)}" if self.language else ""
        )


@dataclass(slots=True)
class _Row:
    """One target's facts from the workspace."""

    data: dict[str, Any]
    answered: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ReplyPlanner:
    """Plans and queues replies in one workspace (use it on the workspace's thread)."""

    def __init__(
        self,
        ws: Workspace,
        clock: Clock = system_clock,
        *,
        bus: EventBus | None = None,
    ) -> None:
        self.ws = ws
        self.clock = clock
        self.bus = bus

    # -- looking things up ----------------------------------------------------------------------

    def default_language(self) -> str:
        return str(self.ws.get_setting(DEFAULT_LANGUAGE_SETTING, DEFAULT_LANGUAGE))

    def resolve_message(self, message: int | str) -> int:
        """A message id from an id, ``"123"`` or ``"CHANNEL:EXTERNAL_ID"``."""
        if isinstance(message, int):
            if reply_repo.target_rows(self.ws, [message]):
                return message
            raise NotFoundError(f"no message {message}")
        text = message.strip()
        if text.isdigit():
            return self.resolve_message(int(text))
        channel, sep, external = text.partition(":")
        if not sep or not external:
            raise NotFoundError(f"{message!r} is neither a message id nor CHANNEL:EXTERNAL_ID")
        try:
            kind = Channel(channel.lower())
        except ValueError:
            raise NotFoundError(f"unknown channel {channel!r} in {message!r}") from None
        found = reply_repo.message_by_ref(self.ws, kind.value, external)
        if found is None:
            raise NotFoundError(f"no message {message}")
        return found

    def template(self, name: str) -> Template:
        templates_repo.install_stock_templates(self.ws)
        return templates_repo.find(self.ws, name)

    def groups(self, message_id: int) -> list[GroupChoice]:
        """The post's duplicate group, then its same-issue group, when they have other posts."""
        out = []
        for g in reply_repo.groups_of_message(self.ws, message_id):
            if int(g["size"] or 0) > 1:
                out.append(
                    GroupChoice(int(g["id"]), str(g["kind"]), int(g["size"]), int(g["customers"]))
                )
        return out

    def context(
        self, conversation_id: int, reply_to_message_id: int | None = None, *, agent: Agent
    ) -> ComposeContext:
        """Everything the composer shows about a conversation, read in a few indexed queries."""
        message_id = reply_to_message_id or conversations_repo.latest_inbound(
            self.ws, conversation_id
        )
        row = self._rows([message_id])[0] if message_id is not None else None
        if row is None:
            conv = reply_repo.conversation_row(self.ws, conversation_id)
            row = _Row(self._conversation_only(conv))
        data = row.data
        channel = Channel(data["channel"])
        modes = self._modes(channel, data)
        return ComposeContext(
            conversation_id=int(data["conversation_id"]),
            message_id=message_id,
            channel=channel,
            account=str(data["account"]),
            customer=self._customer_label(data),
            customer_handle=data.get("handle"),
            language=self._language(data),
            modes=modes,
            default_mode=modes[0],
            last_inbound_at=data.get("last_inbound_at"),
            answered=row.answered,
            groups=tuple(self.groups(message_id)) if message_id is not None else (),
            render_context=self._render_context(data, agent, {}),
            status=str(data.get("status") or Status.OPEN),
        )

    # -- planning -------------------------------------------------------------------------------

    def plan(
        self,
        message: int | str | None = None,
        *,
        agent: Agent,
        text: str | None = None,
        template: str | Template | None = None,
        to_duplicates: bool = False,
        group_id: int | None = None,
        mode: str | None = None,
        custom: Mapping[str, Any] | None = None,
        conversation_id: int | None = None,
        batch_id: str | None = None,
        sign: bool = True,
    ) -> ReplyPlan:
        """Targets for a reply to ``message`` (or the latest inbound post of ``conversation_id``),
        with ``text`` as written or ``template`` rendered per target."""
        if (text is None) == (template is None):
            raise ConsoleError("give either a text or a template")
        tpl = self.template(template) if isinstance(template, str) else template
        message_id = self._source(message, conversation_id)
        group: GroupChoice | None = None
        if message_id is not None and (to_duplicates or group_id is not None):
            group = self._group(message_id, group_id)
        if message_id is not None and group is not None:
            ids = reply_repo.group_message_ids(self.ws, reply_repo.group_row(self.ws, group.id))
            rows = self._rows(ids if message_id in ids else [message_id, *ids])
        elif message_id is not None:
            rows = self._rows([message_id])
        else:
            assert conversation_id is not None
            conv = reply_repo.conversation_row(self.ws, conversation_id)
            rows = [_Row(self._conversation_only(conv))]
        source = rows[0].data if rows else None
        targets = tuple(
            self._target(r, agent, text, tpl, mode, custom or {}, sign, source) for r in rows
        )
        return ReplyPlan(
            batch_id=batch_id or uuid.uuid4().hex,
            targets=targets,
            template=tpl.name if tpl is not None else None,
            group=group,
            source_message_id=message_id,
        )

    def _source(self, message: int | str | None, conversation_id: int | None) -> int | None:
        if message is not None:
            return self.resolve_message(message)
        if conversation_id is None:
            raise ConsoleError("say which message (or conversation) the reply answers")
        return conversations_repo.latest_inbound(self.ws, conversation_id)

    def _group(self, message_id: int, group_id: int | None) -> GroupChoice | None:
        choices = self.groups(message_id)
        if group_id is not None:
            for choice in choices:
                if choice.id == group_id:
                    return choice
            raise NotFoundError(f"message {message_id} is in no group {group_id}")
        return choices[0] if choices else None

    def _rows(self, message_ids: Sequence[int]) -> list[_Row]:
        found = reply_repo.target_rows(self.ws, message_ids)
        answered = reply_repo.answered(self.ws, message_ids)
        missing = [i for i in message_ids if i not in found]
        if missing:
            raise NotFoundError(f"no message {missing[0]}")
        return [_Row(found[i], answered.get(i)) for i in dict.fromkeys(message_ids)]

    @staticmethod
    def _conversation_only(conv: dict[str, Any]) -> dict[str, Any]:
        """A conversation with no inbound post, shaped like a target row."""
        data = dict(conv)
        data.update(
            id=None,
            conversation_id=conv["id"],
            external_id=None,
            text="",
            created_at=None,
            language=None,
            extra={},
            customer_name=None,
            customer_language=None,
            handle=None,
            identity_name=None,
            conversation_public=conv["is_public"],
            is_public=conv["is_public"],
        )
        return data

    def _language(self, data: Mapping[str, Any]) -> str | None:
        return data.get("customer_language") or data.get("language")

    @staticmethod
    def _customer_label(data: Mapping[str, Any]) -> str:
        name = data.get("customer_name") or data.get("identity_name")
        handle = display_handle(data.get("handle"), data.get("channel"))
        if name and name != data.get("handle") and not str(name).isdigit():
            return str(name)
        return handle or (str(name) if name else "unknown customer")

    @staticmethod
    def _modes(channel: Channel, data: Mapping[str, Any]) -> tuple[str, ...]:
        modes = modes_of(channel)
        public_post = bool(data.get("is_public", 1)) and bool(data.get("conversation_public", 1))
        if "public" in modes and not public_post:
            return ("private",)  # a DM cannot be answered in public
        return modes

    def _render_context(
        self, data: Mapping[str, Any], agent: Agent, custom: Mapping[str, Any]
    ) -> RenderContext:
        fields = {
            k: v
            for k, v in (data.get("extra") or {}).items()
            if isinstance(k, str) and isinstance(v, str | int | float) and not k.startswith("_")
        }
        fields.update(custom)
        name = data.get("customer_name") or data.get("identity_name")
        if name is not None and str(name).isdigit():
            name = None
        return RenderContext(
            customer_name=name,
            customer_handle=data.get("handle"),
            agent_name=agent.name,
            agent_signature=agent.signature,
            account_name=str(data.get("account") or ""),
            account_handle=data.get("account_handle"),
            channel=str(data["channel"]),
            conversation_id=int(data["conversation_id"]),
            custom=fields,
        )

    def _target(
        self,
        row: _Row,
        agent: Agent,
        text: str | None,
        template: Template | None,
        mode: str | None,
        custom: Mapping[str, Any],
        sign: bool,
        source: Mapping[str, Any] | None,
    ) -> ReplyTarget:
        data = row.data
        channel = Channel(data["channel"])
        modes = self._modes(channel, data)
        chosen_mode = mode if mode in modes else modes[0]
        language = self._language(data)
        ctx = self._render_context(data, agent, custom)
        body, error, variant, note = text or "", None, None, ""
        if template is not None:
            try:
                rendered = render(
                    template, ctx, language=language, default_language=self.default_language()
                )
                body, variant, note = rendered.text, rendered.variant.describe(), rendered.note
            except TemplateError as exc:
                body, error = "", str(exc)
        final = apply_signature(body, agent.signature if sign else None, channel.value)
        rule = rule_for(channel, chosen_mode)
        length = rule.measure(final)
        warnings, tag = assess(
            rule,
            length,
            final,
            now=self.clock(),
            last_inbound_at=data.get("last_inbound_at"),
            answered=row.answered,
            modes=modes,
            has_error=error is not None,
        )
        if note:
            warnings.append(ReplyWarning("variant_fallback", note.capitalize(), INFO))
        if text is not None and source is not None:
            warnings.extend(_names_someone_else(final, source, data))
        return ReplyTarget(
            message_id=data["id"],
            ref=f"{channel.value}:{data['external_id']}" if data.get("external_id") else None,
            conversation_id=int(data["conversation_id"]),
            channel=channel,
            account_id=int(data["account_id"]),
            account=str(data["account"]),
            customer_id=data.get("customer_id"),
            customer=self._customer_label(data),
            customer_handle=data.get("handle"),
            language=language,
            post_text=str(data.get("text") or ""),
            post_at=data.get("created_at"),
            mode=chosen_mode,
            modes=modes,
            text=final,
            length=length,
            rule=rule,
            warnings=tuple(warnings),
            answered=row.answered,
            template=template.name if template is not None else None,
            variant=variant,
            variant_note=note,
            error=error,
            messaging_tag=tag,
        )

    # -- queueing -------------------------------------------------------------------------------

    def queue(
        self,
        plan: ReplyPlan,
        agent: Agent,
        *,
        only: Iterable[int] | None = None,
        force: bool = False,
        resolve: bool = False,
        source: object | None = None,
    ) -> list[QueuedReply]:
        """Queue the chosen targets (indices into ``plan.targets``; default: the default selection).

        Nothing is queued when a chosen target's template failed to render, or (unless ``force``)
        when one is blocked by a warning; phone targets are never queued.
        """
        indices = plan.default_selection() if only is None else sorted(set(only))
        chosen = [plan.targets[i] for i in indices]
        if not chosen:
            return []
        failed = [t for t in chosen if t.error]
        if failed:
            raise TemplateError(
                "nothing queued: " + "; ".join(f"{_who(t)}: {t.error}" for t in failed)
            )
        blocked = [t for t in chosen if any(w.blocking for w in t.warnings)]
        never = [t for t in blocked if not t.rule.can_reply or not t.text.strip()]
        if never or (blocked and not force):
            reasons = "; ".join(
                f"{_who(t)}: {', '.join(w.message for w in t.warnings if w.blocking)}"
                for t in (never or blocked)
            )
            hint = "" if never else " (force to queue anyway)"
            raise ReplyBlockedError(f"nothing queued: {reasons}{hint}")
        now = self.clock()
        queued: list[QueuedReply] = []
        with self.ws.transaction():
            for target in chosen:
                queued.append(self._enqueue(plan, target, agent, now))
            resolved = self._resolve(chosen, agent, now) if resolve else []
        self._publish(queued, chosen, resolved, source)
        return queued

    def _enqueue(self, plan: ReplyPlan, target: ReplyTarget, agent: Agent, now: int) -> QueuedReply:
        payload: dict[str, Any] = {"batch": plan.batch_id, "agent": agent.name}
        if target.ref:
            payload["reply_to"] = target.ref
        if target.template:
            payload.update(template=target.template, variant=target.variant)
        if target.messaging_tag:
            payload["messaging_tag"] = target.messaging_tag
        return enqueue_reply(
            self.ws,
            conversation_id=target.conversation_id,
            text=target.text,
            now=now,
            reply_to_message_id=target.message_id,
            mode=target.mode,
            agent=agent.name,
            idem_key=idempotency_key(plan.batch_id, target),
            payload=payload,
        )

    def _resolve(self, targets: Sequence[ReplyTarget], agent: Agent, now: int) -> list[int]:
        done = []
        for conversation_id in dict.fromkeys(t.conversation_id for t in targets):
            try:
                conversations_repo.set_status(
                    self.ws, conversation_id, Status.RESOLVED, agent=agent.name, now=now
                )
            except conversations_repo.ActionError:
                continue  # already resolved
            done.append(conversation_id)
        return done

    def resolve(self, conversation_ids: Iterable[int], agent: Agent) -> list[int]:
        """Resolve conversations (the "and resolve" of "send and resolve", done separately)."""
        ids = list(dict.fromkeys(conversation_ids))
        with self.ws.transaction():
            done = []
            for conversation_id in ids:
                try:
                    conversations_repo.set_status(
                        self.ws,
                        conversation_id,
                        Status.RESOLVED,
                        agent=agent.name,
                        now=self.clock(),
                    )
                except conversations_repo.ActionError:
                    continue
                done.append(conversation_id)
        if done and self.bus is not None:
            self.bus.publish(InboxChanged(conversation_ids=frozenset(done), reason="resolved"))
        return done

    def _publish(
        self,
        queued: Sequence[QueuedReply],
        targets: Sequence[ReplyTarget],
        resolved: Sequence[int],
        source: object | None,
    ) -> None:
        if self.bus is None or not queued:
            return
        conversations = frozenset(t.conversation_id for t in targets) | frozenset(resolved)
        reason = "reply queued"
        self.bus.publish(
            OutboxChanged(
                item_ids=frozenset(q.outbox_id for q in queued), reason=reason, source=source
            )
        )
        self.bus.publish(
            MessagesChanged(
                message_ids=frozenset(q.message_id for q in queued),
                conversation_ids=conversations,
                reason=reason,
                source=source,
            )
        )
        self.bus.publish(InboxChanged(conversation_ids=conversations, reason=reason, source=source))


def idempotency_key(batch_id: str, target: ReplyTarget) -> str:
    """The same plan queued twice gives the same keys: a double click queues once."""
    subject = (
        f"m{target.message_id}" if target.message_id is not None else f"c{target.conversation_id}"
    )
    digest = hashlib.sha256(f"{batch_id}:{subject}".encode()).hexdigest()
    return f"reply-{digest[:32]}"


def _who(target: ReplyTarget) -> str:
    return f"{target.customer} ({target.ref or f'conversation {target.conversation_id}'})"


def _duration(seconds: int) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 3600:
        hours, rest = divmod(seconds, 3600)
        return f"{hours} h {rest // 60} min" if rest >= 60 and hours < 10 else f"{hours} h"
    return f"{max(1, seconds // 60)} min"


def assess(
    rule: ChannelRule,
    length: LengthReport,
    text: str,
    *,
    now: int,
    last_inbound_at: int | None,
    answered: str | None = None,
    modes: Sequence[str] = (),
    has_error: bool = False,
) -> tuple[list[ReplyWarning], str | None]:
    """The warnings of a reply under ``rule``, and the messaging tag it needs (HUMAN_AGENT)."""
    warnings: list[ReplyWarning] = []
    tag: str | None = None
    if not rule.can_reply:
        warnings.append(
            ReplyWarning("phone", "Phone calls can't be answered in writing: call back", STOP)
        )
    if not text.strip() and not has_error:
        warnings.append(ReplyWarning("empty", "The reply is empty", STOP))
    if length.is_over:
        warnings.append(
            ReplyWarning(
                "over_limit",
                f"{length.over_by:,} {length.unit} over the {rule.label} limit of {length.limit:,}",
                STOP,
            )
        )
    for note in length.warnings:
        warnings.append(ReplyWarning("length_note", note, INFO))
    if rule.window_s is not None:
        window = _window(rule, now, last_inbound_at)
        if window is not None:
            warnings.append(window[0])
            tag = window[1]
    if answered == "sent":
        warnings.append(ReplyWarning("already_answered", "Already answered", CAUTION))
    elif answered == "queued":
        warnings.append(ReplyWarning("reply_queued", "A reply to this post is already queued"))
    if rule.mode == "private" and "public" in modes:
        warnings.append(
            ReplyWarning(
                "private",
                "Private message: others who see the public post won't see the answer",
                INFO,
            )
        )
    return warnings, tag


def _window(
    rule: ChannelRule, now: int, last_inbound_at: int | None
) -> tuple[ReplyWarning, str | None] | None:
    assert rule.window_s is not None
    name = rule.label or rule.channel.label
    if last_inbound_at is None:
        return ReplyWarning(
            "no_window",
            f"The customer hasn't written on {rule.channel.label}: a {name} can't be started here",
            STOP,
        ), None
    age = max(0, now - last_inbound_at)
    hours = rule.window_s // 3600
    if age <= rule.window_s:
        left = rule.window_s - age
        if left <= WINDOW_SOON_S:
            return ReplyWarning(
                "window_closing", f"The {hours}-hour messaging window closes in {_duration(left)}"
            ), None
        return None
    if rule.extended_window_s is not None and age <= rule.extended_window_s:
        days = rule.extended_window_s // 86400
        return ReplyWarning(
            "window_tag",
            f"Outside the {hours}-hour window (last message {_duration(age)} ago): sent as a "
            f"human agent reply, allowed for {days} days",
        ), "HUMAN_AGENT"
    limit = rule.extended_window_s or rule.window_s
    extra = f": {rule.notes[0]}" if rule.notes else ""
    return ReplyWarning(
        "window_closed",
        f"The customer last wrote {_duration(age)} ago; {rule.channel.label} allows replies "
        f"only within {_duration(limit)}{extra}",
        STOP,
    ), None


def _names_someone_else(
    text: str, source: Mapping[str, Any], target: Mapping[str, Any]
) -> list[ReplyWarning]:
    """A text written for one customer, copied to another, may greet the wrong person."""
    if source.get("customer_id") == target.get("customer_id"):
        return []
    words = {w.casefold() for w in text.replace(",", " ").replace("!", " ").split()}
    for candidate in (first_word(source.get("customer_name")), source.get("handle")):
        if (
            candidate
            and len(candidate) > 2
            and candidate.casefold().lstrip("@") in {w.lstrip("@") for w in words}
        ):
            return [
                ReplyWarning(
                    "other_name",
                    f"The text names {candidate}, who is not this customer",
                )
            ]
    return []
