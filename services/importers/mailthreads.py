"""Threads of one mail file: which messages belong together, their thread key and their account.

The email importer reads a file's headers once, hands each message's :class:`Facts` to
:func:`plan_threads`, and gets back a :class:`Placement` per Message-ID.

A thread is a connected component of the reply graph: Message-IDs linked by In-Reply-To and
References, missing messages included (two replies to a parent absent from the file are linked
through it). Its key is the root of its earliest message: that message's first References id, or
its own id when it references nothing. For a well-formed thread this is every message's first
References id; real archives also hold threads whose References disagree (a list gateway rewriting
In-Reply-To, mailers reordering References), and the component keeps those in one conversation.

Its account is the given one, else the mailing list most of its messages came through, else the
recipient (other than the sender) who takes part in most messages of the whole file: the owner of
an exported support mailbox is in nearly every message, customers only in their own threads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Account of threads that name no list and no recipient but the sender.
UNKNOWN_ACCOUNT = "email-inbox"


@dataclass(frozen=True, slots=True)
class Facts:
    """What planning needs to know about one message."""

    message_id: str
    linked: tuple[str, ...]  # In-Reply-To and References ids
    thread: str | None  # its own root: first References id, else In-Reply-To
    date: int | None
    sender: str | None
    recipients: tuple[str, ...]  # To, then Cc
    list_address: str | None


@dataclass(frozen=True, slots=True)
class Placement:
    account: str
    thread: str | None


@dataclass(slots=True)
class _UnionFind:
    parent: dict[str, str] = field(default_factory=dict)

    def find(self, key: str) -> str:
        root = self.parent.setdefault(key, key)
        while root != self.parent[root]:
            root = self.parent[root]
        while key != root:  # path compression keeps long reply chains cheap
            self.parent[key], key = root, self.parent[key]
        return root

    def link(self, first: str, others: Iterable[str]) -> None:
        top = self.find(first)
        for other in others:
            root = self.find(other)
            if root != top:
                self.parent[root] = top


def plan_threads(facts: Iterable[Facts], account: str | None = None) -> dict[str, Placement]:
    """Account and thread key of every message, by Message-ID."""
    messages = list({f.message_id: f for f in facts}.values())
    links = _UnionFind()
    for fact in messages:
        links.link(fact.message_id, fact.linked)
    threads: dict[str, list[Facts]] = {}
    for fact in messages:
        threads.setdefault(links.find(fact.message_id), []).append(fact)
    known_lists = {f.list_address for f in messages if f.list_address}
    reach = _participation(messages)
    plan: dict[str, Placement] = {}
    for members in threads.values():
        members.sort(key=_chronological)
        key = members[0].thread or members[0].message_id
        chosen = account or _thread_account(members, known_lists, reach)
        for fact in members:
            plan[fact.message_id] = Placement(chosen, None if fact.message_id == key else key)
    return plan


def _chronological(fact: Facts) -> tuple[bool, int, str]:
    return (fact.date is None, fact.date or 0, fact.message_id)


def _participation(messages: list[Facts]) -> Counter[str]:
    """In how many messages of the file each address is the sender or a recipient."""
    counts: Counter[str] = Counter()
    for fact in messages:
        counts.update({*fact.recipients, *([fact.sender] if fact.sender else [])})
    return counts


def _thread_account(members: list[Facts], known_lists: set[str], reach: Counter[str]) -> str:
    lists: Counter[str] = Counter()
    for fact in members:
        # A copy received directly (no list headers) still names the list among its recipients.
        listed = fact.list_address or next((a for a in fact.recipients if a in known_lists), None)
        if listed:
            lists[listed] += 1
    if lists:
        return lists.most_common(1)[0][0]
    candidates = [a for f in members for a in f.recipients if a != f.sender]
    if not candidates:
        return UNKNOWN_ACCOUNT
    # max() keeps the first of equals: the earliest message's first recipient wins ties.
    return max(dict.fromkeys(candidates), key=lambda a: reach[a])
