"""config.domain_events: an announced event reaches its subscribers once, after its change
commits, never when it rolls back; a subscriber that fails is logged and passed over.

Each test announces an event type of its own, so no subscription outlives its test."""

import logging
from dataclasses import dataclass

import pytest
from django.db import transaction

from config.domain_events import announce, subscribe


class Crash(Exception):
    pass


def _event_type():
    @dataclass(frozen=True)
    class SomethingHappened:
        what: str

    return SomethingHappened


def _recorder(event_type) -> list:
    heard: list = []
    subscribe(event_type, heard.append)
    return heard


@pytest.mark.django_db
def test_an_event_is_delivered_once_its_transaction_commits(django_capture_on_commit_callbacks):
    event_type = _event_type()
    heard = _recorder(event_type)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            announce(event_type(what="ride ended"))
        assert heard == []

    assert heard == [event_type(what="ride ended")]
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_an_event_of_a_rolled_back_change_is_never_delivered(django_capture_on_commit_callbacks):
    event_type = _event_type()
    heard = _recorder(event_type)

    def remove_then_fail():
        with transaction.atomic():
            announce(event_type(what="rider removed"))
            raise Crash

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Crash):
        remove_then_fail()

    assert (heard, callbacks) == ([], [])


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_change_is_committed_and_the_event_delivered_at_once():
    event_type = _event_type()
    heard = _recorder(event_type)

    announce(event_type(what="rider left"))

    assert heard == [event_type(what="rider left")]


@pytest.mark.django_db
def test_a_failing_subscriber_is_logged_and_the_next_one_still_hears(
    caplog, django_capture_on_commit_callbacks
):
    event_type = _event_type()

    def fail(event):
        raise Crash("live state gone")

    subscribe(event_type, fail)
    heard = _recorder(event_type)
    caplog.set_level(logging.ERROR, logger="config.domain_events")

    with django_capture_on_commit_callbacks(execute=True):
        announce(event_type(what="ride ended"))

    assert heard == [event_type(what="ride ended")]
    [record] = [r for r in caplog.records if r.name == "config.domain_events"]
    assert record.levelno == logging.ERROR
    assert record.exc_info[0] is Crash
    assert record.msg["subscriber"].endswith("fail")
    assert "ride ended" in record.msg["domain_event"]


@pytest.mark.django_db
def test_subscribing_twice_delivers_once_and_each_type_only_to_its_own_subscribers(
    django_capture_on_commit_callbacks,
):
    ended, removed = _event_type(), _event_type()
    heard = []
    subscribe(ended, heard.append)
    subscribe(ended, heard.append)

    with django_capture_on_commit_callbacks(execute=True):
        announce(ended(what="ride ended"))
        announce(removed(what="rider removed"))

    assert heard == [ended(what="ride ended")]
