"""The group commit (rackpilot/core/group_commit.py) on the real database: what threads hand
over while a group is written is written as the next group, one bad item fails alone, a hook
failing after the commit writes nothing twice, and a caller with a transaction writes in it."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from django.db import transaction

from rackpilot.core.group_commit import GroupCommit, awaited_commits
from rackpilot.core.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    """A write that stores one event per item and notes each group it was given."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.threads: set[int] = set()
        self.hold = threading.Event()
        self.hold.set()
        self.holding = threading.Event()

    def __call__(self, items: list[str]) -> None:
        self.groups.append(list(items))
        self.threads.add(threading.get_ident())
        self.holding.set()
        assert self.hold.wait(10)
        if "bad" in items:
            raise ValueError("bad item")
        Event.objects.bulk_create(
            [Event(actor_kind="system", actor_name="tests", verb=item) for item in items]
        )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def stored() -> list[str]:
    return sorted(Event.objects.values_list("verb", flat=True))


def test_what_arrives_while_a_group_is_written_is_the_next_group(recorder: Recorder) -> None:
    commits = GroupCommit("test-group", recorder)
    recorder.hold.clear()  # the first group waits until the rest have queued behind it
    with ThreadPoolExecutor(max_workers=12) as pool:
        first = pool.submit(commits.commit, "item-00")
        assert recorder.holding.wait(10)
        rest = [pool.submit(commits.commit, f"item-{n:02d}") for n in range(1, 12)]
        while commits._queue.qsize() < 11:
            threading.Event().wait(0.01)
        recorder.hold.set()
        for done in [first, *rest]:
            assert done.result(timeout=10) is None
    assert [len(group) for group in recorder.groups] == [1, 11]
    assert stored() == [f"item-{n:02d}" for n in range(12)]
    assert threading.get_ident() not in recorder.threads


def test_a_bad_item_fails_alone_and_the_others_are_stored(recorder: Recorder) -> None:
    commits = GroupCommit("test-bad", recorder)
    recorder.hold.clear()
    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(commits.commit, "first")
        assert recorder.holding.wait(10)
        later = {item: pool.submit(commits.commit, item) for item in ("good-1", "bad", "good-2")}
        while commits._queue.qsize() < 3:
            threading.Event().wait(0.01)
        recorder.hold.set()
        first.result(timeout=10)
        with pytest.raises(ValueError, match="bad item"):
            later["bad"].result(timeout=10)
        later["good-1"].result(timeout=10)
        later["good-2"].result(timeout=10)
    # The group of three failed, then each was written alone.
    assert sorted(recorder.groups[1]) == ["bad", "good-1", "good-2"]
    assert sorted(map(tuple, recorder.groups[2:])) == [("bad",), ("good-1",), ("good-2",)]
    assert stored() == ["first", "good-1", "good-2"]


def test_a_hook_failing_after_the_commit_does_not_write_twice() -> None:
    def write(items: list[str]) -> None:
        Event.objects.bulk_create(
            [Event(actor_kind="system", actor_name="tests", verb=item) for item in items]
        )
        transaction.on_commit(lambda: (_ for _ in ()).throw(RuntimeError("publish failed")))

    GroupCommit("test-hook", write).commit("once")
    assert stored() == ["once"]


def test_a_caller_in_a_transaction_writes_in_it(recorder: Recorder) -> None:
    commits = GroupCommit("test-inline", recorder)
    seen_inside: list[list[str]] = []

    def callers_work() -> None:
        with transaction.atomic():
            commits.commit("rolled-back")
            seen_inside.append(stored())
            raise RuntimeError("the caller's work failed")

    with pytest.raises(RuntimeError):
        callers_work()
    assert seen_inside == [["rolled-back"]]
    assert stored() == []
    assert recorder.threads == {threading.get_ident()}


def test_under_awaited_commits_the_caller_gets_the_pending_commit(recorder: Recorder) -> None:
    commits = GroupCommit("test-awaited", recorder)
    pending: list[Future[None]] = []
    token = awaited_commits.set(pending)
    try:
        commits.commit("later")
    finally:
        awaited_commits.reset(token)
    assert len(pending) == 1
    pending[0].result(timeout=10)
    assert stored() == ["later"]
