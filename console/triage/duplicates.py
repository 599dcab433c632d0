"""Duplicate groups: a customer's near-identical posts, and one text posted by many customers.

**duplicates** (kind ``duplicates``, ``customer_id`` set, key ``d:<customer>:<first message id>``):
the connected groups of one customer's inbound posts under two links:

- *exact*: equal normalised text (``messages.norm_hash`` from
  :func:`console.textutil.normalize_for_duplicates`), at any distance in time. Every set of a
  customer's posts with identical normalised text therefore ends up inside one group;
- *near*: the same set of words once hashtags, numbers, words with digits and words of one or two
  letters are dropped (order and repetition ignored: "order 123 is late, again" ~ "again: order 456 late"),
  for posts within ``near_window_s`` of each other that keep at least ``near_min_tokens`` words and
  are at most ``near_max_chars`` long. Cheap (one hash per post) and symmetric, so adding posts one
  at a time gives the same groups as computing them at once.

**same issue** (kind ``same_issue``, ``customer_id`` NULL, key ``s:<norm_hash>``): one normalised
text of at least ``same_issue_min_chars`` characters posted by ``same_issue_min_customers`` or more
customers within ``same_issue_window_s`` of one another (an outage), unless its posts are on
average more positive than ``same_issue_positive_above`` (many customers' "Thank you for your
help!" is no issue). Once formed, the group holds every inbound post of the text; ``customers`` is
the number of distinct customers, ``size`` the posts.

``messages.dup_group`` points at the post's duplicates group, else at its same-issue group, else is
NULL. A group's posts: :func:`console.storage.triage_repo.group_members`.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from console.storage import triage_repo as repo
from console.storage.db import Workspace
from console.textutil import fingerprint, normalize_for_duplicates
from console.triage.rules import GroupInfo
from console.triage.settings import TriageSettings

DUPLICATES = "duplicates"
_HASHTAG = re.compile(r"(?<!\w)#\w+")
SAME_ISSUE = "same_issue"


class DupPost(NamedTuple):
    id: int
    customer_id: int
    norm_hash: int
    created_at: int
    text: str
    dup_group: int | None
    sentiment: float | None


def loose_signature(text: str, s: TriageSettings) -> int | None:
    """The near-identity key of a post (None when too short or too long to compare)."""
    return _loose_signature(text, s.near_max_chars, s.near_min_tokens)


@functools.lru_cache(maxsize=65_536)
def _loose_signature(text: str, max_chars: int, min_tokens: int) -> int | None:
    normalized = normalize_for_duplicates(_HASHTAG.sub(" ", text) if "#" in text else text)
    if len(normalized) > max_chars:
        return None
    words = {w for w in normalized.split() if len(w) > 2 and w.isalpha()}
    if len(words) < min_tokens:
        return None
    return fingerprint(" ".join(sorted(words)))


class _Union:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, item: int) -> int:
        root = self.parent.setdefault(item, item)
        while root != self.parent[root]:
            root = self.parent[root]
        while item != root:
            item, self.parent[item] = self.parent[item], root
        return root

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _signed_posts(posts: Sequence[DupPost], window: int) -> list[DupPost]:
    """The posts whose loose signature can matter: those with a post of another normalised text
    within ``window`` seconds.

    A near link between posts of one text adds nothing (the exact link joins them already), and
    leaving the others out changes no group: two posts that become neighbours in a signature's
    list without them were chained through them (each gap no wider than theirs) and share their
    text; every near link between two texts remains (both its posts are kept, and nothing came
    between them). So :func:`components` gives the groups it gives when it signs every post with
    a neighbour, for a fraction of the signatures (a customer posting one text again and again
    needs none).

    The nearest posts of another text are the ones just before and just after the post's run of
    equal texts (in time order), so one pass finds them.
    """
    ordered = sorted(posts, key=lambda p: (p.created_at, p.id))
    count = len(ordered)
    hashes = [p.norm_hash for p in ordered]
    times = [p.created_at for p in ordered]
    # the last post of another text before each post (-1: none), and the first after (count)
    before = [-1] * count
    for i in range(1, count):
        before[i] = i - 1 if hashes[i] != hashes[i - 1] else before[i - 1]
    after = [count] * count
    for i in range(count - 2, -1, -1):
        after[i] = i + 1 if hashes[i] != hashes[i + 1] else after[i + 1]
    return [
        post
        for i, post in enumerate(ordered)
        if (before[i] >= 0 and times[i] - times[before[i]] <= window)
        or (after[i] < count and times[after[i]] - times[i] <= window)
    ]


def components(posts: Sequence[DupPost], s: TriageSettings) -> list[list[DupPost]]:
    """One customer's duplicate groups (two posts or more), each sorted by time."""
    if len(posts) < 2:
        return []
    union = _Union()
    by_hash: dict[int, list[DupPost]] = defaultdict(list)
    for post in posts:
        union.find(post.id)
        by_hash[post.norm_hash].append(post)
    for same in by_hash.values():
        for other in same[1:]:
            union.join(same[0].id, other.id)
    by_sig: dict[int, list[DupPost]] = defaultdict(list)
    for post in _signed_posts(posts, s.near_window_s):
        sig = loose_signature(post.text, s)
        if sig is not None:
            by_sig[sig].append(post)
    for similar in by_sig.values():
        similar.sort(key=lambda p: (p.created_at, p.id))
        # Consecutive links suffice: posts within the window of each other are chained anyway.
        for a, b in itertools.pairwise(similar):
            if b.created_at - a.created_at <= s.near_window_s:
                union.join(a.id, b.id)
    groups: dict[int, list[DupPost]] = defaultdict(list)
    for post in posts:
        groups[union.find(post.id)].append(post)
    found = [sorted(g, key=lambda p: (p.created_at, p.id)) for g in groups.values() if len(g) > 1]
    return sorted(found, key=lambda g: min(p.id for p in g))


def _duplicates_row(customer_id: int, members: Sequence[DupPost]) -> dict[str, Any]:
    anchor = min(members, key=lambda p: p.id)
    return {
        "kind": DUPLICATES,
        "group_key": f"d:{customer_id}:{anchor.id}",
        "customer_id": customer_id,
        "norm_hash": anchor.norm_hash,
        "size": len(members),
        "customers": 1,
        "first_at": min(p.created_at for p in members),
        "last_at": max(p.created_at for p in members),
        "sample": anchor.text,
    }


def _same_as_stored(row: dict[str, Any], stored: dict[str, Any] | None) -> bool:
    if stored is None:
        return False
    return all(
        stored.get(k) == row[k] for k in ("size", "first_at", "last_at", "sample", "norm_hash")
    )


def fetch_posts(ws: Workspace, customer_ids: Iterable[int]) -> dict[int, list[DupPost]]:
    by_customer: dict[int, list[DupPost]] = defaultdict(list)
    for row in repo.inbound_posts(ws, customer_ids):
        post = DupPost(*row)
        by_customer[post.customer_id].append(post)
    return by_customer


Found = dict[int, list[tuple[dict[str, Any], list[DupPost]]]]


@dataclass(slots=True)
class GroupPlan:
    """What :func:`refresh_customer_groups` will write for a set of customers, read and computed
    without writing (so that it can be computed in another process): the groups to insert or
    update, the stored groups and their ids, and for every post where it should point."""

    changed: list[dict[str, Any]]
    stored_ids: dict[str, int]
    #: (message id, its dup_group now, key of its duplicates group or None, same-issue group id)
    targets: list[tuple[int, int | None, str | None, int | None]]
    infos: dict[int, list[GroupInfo]]


def plan_customer_groups(
    ws: Workspace,
    posts: dict[int, list[DupPost]],
    customer_ids: Iterable[int],
    s: TriageSettings,
) -> GroupPlan:
    """The duplicates groups of these customers and where each post should point (reads only)."""
    ids = list(customer_ids)
    stored = {row["group_key"]: row for row in repo.group_rows_of(ws, ids)}
    found: Found = {cid: [] for cid in ids}
    changed: list[dict[str, Any]] = []
    for customer_id in ids:
        for members in components(posts.get(customer_id, []), s):
            row = _duplicates_row(customer_id, members)
            found[customer_id].append((row, members))
            if not _same_as_stored(row, stored.get(row["group_key"])):
                changed.append(row)
    same = repo.same_issue_groups(ws, {p.norm_hash for c in found for p in posts.get(c, [])})
    targets: list[tuple[int, int | None, str | None, int | None]] = []
    for customer_id, groups in found.items():
        member_of: dict[int, str] = {}
        for row, members in groups:
            member_of.update(dict.fromkeys((p.id for p in members), row["group_key"]))
        for post in posts.get(customer_id, []):
            issue = same.get(post.norm_hash)
            issue_id = int(issue["id"]) if issue else None
            targets.append((post.id, post.dup_group, member_of.get(post.id), issue_id))
    return GroupPlan(
        changed=changed,
        stored_ids={key: int(row["id"]) for key, row in stored.items()},
        targets=targets,
        infos={
            cid: [_info(row, members) for row, members in groups] for cid, groups in found.items()
        },
    )


def apply_group_plan(ws: Workspace, plan: GroupPlan) -> None:
    """Write a :class:`GroupPlan`: upsert its groups, point the posts, delete groups now empty."""
    group_ids = dict(plan.stored_ids)
    group_ids.update(repo.upsert_groups(ws, plan.changed))
    kept: set[int] = set()
    assignments: list[tuple[int | None, int]] = []
    for message_id, current, key, issue_id in plan.targets:
        # A post in a duplicates group points at it, else at its same-issue group, else nowhere.
        if key is not None:
            want: int | None = group_ids[key]
            kept.add(group_ids[key])
        else:
            want = issue_id
        if current != want:
            assignments.append((want, message_id))
    repo.set_dup_groups(ws, assignments)
    repo.delete_groups(ws, [gid for gid in plan.stored_ids.values() if gid not in kept])


def refresh_customer_groups(
    ws: Workspace,
    posts: dict[int, list[DupPost]],
    customer_ids: Iterable[int],
    s: TriageSettings,
) -> dict[int, list[GroupInfo]]:
    """Recompute the duplicates groups of these customers and every post's ``dup_group``."""
    plan = plan_customer_groups(ws, posts, customer_ids, s)
    apply_group_plan(ws, plan)
    return plan.infos


def _info(row: dict[str, Any], members: Sequence[DupPost]) -> GroupInfo:
    anchor = min(members, key=lambda p: p.id)
    return GroupInfo(
        key=row["group_key"],
        size=row["size"],
        sample=row["sample"],
        norm_chars=len(normalize_for_duplicates(row["sample"])),
        sentiment=anchor.sentiment,
        posts=tuple((p.created_at, p.id) for p in members),
    )


def _issue_row(
    norm_hash: int, figures: tuple[int, int, Any, Any, Any], sample: str
) -> dict[str, Any]:
    posts, customers, first_at, last_at, _ = figures
    return {
        "kind": SAME_ISSUE,
        "group_key": f"s:{norm_hash}",
        "customer_id": None,
        "norm_hash": norm_hash,
        "size": posts,
        "customers": customers,
        "first_at": first_at,
        "last_at": last_at,
        "sample": sample,
    }


def _long_enough(text: str, s: TriageSettings) -> bool:
    return len(normalize_for_duplicates(text)) >= s.same_issue_min_chars


def is_issue(posts: Sequence[tuple[int, int, float | None]], s: TriageSettings) -> bool:
    """Whether a text's posts ((customer, created_at, sentiment), oldest first) make an issue:
    not a courtesy, and ``same_issue_min_customers`` customers within ``same_issue_window_s``."""
    sentiments = [p[2] for p in posts if p[2] is not None]
    if sentiments and sum(sentiments) / len(sentiments) > s.same_issue_positive_above:
        return False
    in_window: dict[int, int] = {}
    start = 0
    for customer_id, created_at, _ in posts:
        in_window[customer_id] = in_window.get(customer_id, 0) + 1
        while created_at - posts[start][1] > s.same_issue_window_s:
            gone = posts[start][0]
            in_window[gone] -= 1
            if not in_window[gone]:
                del in_window[gone]
            start += 1
        if len(in_window) >= s.same_issue_min_customers:
            return True
    return False


def _issue_due(ws: Workspace, norm_hash: int, customers: int, s: TriageSettings) -> bool:
    if customers < s.same_issue_min_customers:
        return False
    return is_issue(repo.hash_posts(ws, [norm_hash]).get(norm_hash, []), s)


def add_same_issue_posts(
    ws: Workspace,
    new_posts: Sequence[DupPost],
    posts: dict[int, list[DupPost]],
    s: TriageSettings,
) -> None:
    """Account for freshly ingested posts in the same-issue groups (cheap deltas on the hot path)."""
    by_hash: dict[int, list[DupPost]] = defaultdict(list)
    for post in new_posts:
        by_hash[post.norm_hash].append(post)
    by_hash = {h: news for h, news in by_hash.items() if _long_enough(news[0].text, s)}
    if not by_hash:
        return
    groups = repo.same_issue_groups(ws, by_hash)
    for norm_hash, news in by_hash.items():
        group = groups.get(norm_hash)
        if group is None:
            _create_if_due(ws, norm_hash, s)
            continue
        new_ids = {p.id for p in news}
        newcomers = {
            p.customer_id
            for p in news
            if not any(
                q.norm_hash == norm_hash and q.id not in new_ids
                for q in posts.get(p.customer_id, [])
            )
        }
        repo.bump_same_issue(
            ws,
            int(group["id"]),
            len(news),
            len(newcomers),
            min(p.created_at for p in news),
            max(p.created_at for p in news),
        )


def _create_if_due(ws: Workspace, norm_hash: int, s: TriageSettings) -> None:
    figures = repo.hash_figures(ws, norm_hash)
    if figures[4] is None or not _issue_due(ws, norm_hash, figures[1], s):
        return
    row = _issue_row(norm_hash, figures, repo.message_text(ws, int(figures[4])))
    group_id = repo.upsert_group(ws, row)
    repo.claim_same_issue_members(ws, norm_hash, group_id)


def recount_same_issue(ws: Workspace, hashes: Iterable[int], s: TriageSettings) -> None:
    """Exact figures for these hashes' same-issue groups (after merges, or scoped rebuilds)."""
    wanted = sorted(set(hashes))
    groups = repo.same_issue_groups(ws, wanted)
    for norm_hash in wanted:
        figures = repo.hash_figures(ws, norm_hash)
        group = groups.get(norm_hash)
        due = figures[4] is not None and _issue_due(ws, norm_hash, figures[1], s)
        sample = repo.message_text(ws, int(figures[4])) if due and figures[4] is not None else ""
        if due and _long_enough(sample, s):
            group_id = repo.upsert_group(ws, _issue_row(norm_hash, figures, sample))
            repo.claim_same_issue_members(ws, norm_hash, group_id)
        elif group is not None:
            repo.release_same_issue(ws, norm_hash, int(group["id"]))
            repo.delete_groups(ws, [int(group["id"])])


def same_issue_rows(ws: Workspace, s: TriageSettings) -> list[dict[str, Any]]:
    """The same-issue groups the workspace's inbound posts make, as ``dup_groups`` rows.

    Reads only: the posts' texts, hashes, customers, times and sentiments (neither the customers'
    languages nor the posts' groups), so it may read on a connection of its own while a rebuild's
    transaction sets those.
    """
    candidates = repo.same_issue_candidates(ws, s.same_issue_min_customers)
    texts = repo.texts_of(ws, [c[5] for c in candidates])
    candidates = [c for c in candidates if _long_enough(texts.get(c[5], ""), s)]
    hash_posts = repo.hash_posts(ws, [c[0] for c in candidates])
    rows = []
    for norm_hash, posts, customers, first_at, last_at, first_id in candidates:
        sample = texts.get(first_id, "")
        if is_issue(hash_posts.get(norm_hash, []), s):
            rows.append(
                _issue_row(norm_hash, (posts, customers, first_at, last_at, first_id), sample)
            )
    return rows


def store_same_issue(ws: Workspace, rows: Sequence[dict[str, Any]]) -> int:
    """Write :func:`same_issue_rows` (after :func:`repo.clear_all_groups`); returns the count."""
    repo.insert_groups(ws, rows)
    repo.claim_all_same_issue_members(ws)
    return len(rows)
