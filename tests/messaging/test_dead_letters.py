"""Dead letters an operator lists and replays: `mutual-aid events dead-letters|replay` on the
claims service's own database, masked, all or none, one-line errors; and the table's functions.

How events get parked and how the running service hands a replay back: test_handlers.py, and
tests/claims/test_payout_events.py for the claims service on PostgreSQL and RabbitMQ.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.claims.models import metadata
from services.messaging.database import make_engine, make_session_factory, session_scope
from services.messaging.dead_letters import (
    DEAD_LETTERS,
    PARKED,
    REPLAY_REQUESTED,
    REPLAYED,
    DeadLetterError,
    park,
    request_replay,
    start_replay,
)
from tests.enrollment.samples import person

MEMBER = person(3)
CARD = "6222021234567890123"
FIRST = datetime(2024, 6, 20, 9, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def claims_db(request, tmp_path):
    """The claims service's tables, on SQLite or on PostgreSQL (a database of its own)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/var/claims.sqlite"
    else:
        url = request.getfixturevalue("fresh_postgres")
    engine = make_engine(url, pool_size=1)
    metadata().create_all(engine)
    yield url, make_session_factory(engine)
    engine.dispose()


def parked(factory, **overrides) -> int:
    fields = {
        "consumer": "claims.on_payout_succeeded",
        "source_service": "payments",
        "event_type": "payout_succeeded",
        "payload": {
            "v": 1,
            "event_id": "e1",
            "claim_id": "c1",
            "payout_id": "P-1",
            "amount": "12.3",
            "id_number": MEMBER.id_number,  # a payload that should not carry it, but did
            "payee_card": CARD,
        },
        "headers": {"nameko.call_id_stack": ["payments.relay.1"]},
        "reason": f"payout_succeeded 有误: amount: 应为两位小数的金额文字, 卡 {CARD}",
        "attempts": 1,
        "first_failed_at": FIRST,
    }
    with session_scope(factory) as session:
        return park(session, **{**fields, **overrides})


def status_of(factory, number: int) -> str:
    with factory() as session:
        return session.scalar(select(DEAD_LETTERS.c.status).where(DEAD_LETTERS.c.id == number))


def test_the_list_shows_what_was_parked_and_why_with_personal_numbers_masked(claims_db, mutual_aid):
    url, factory = claims_db
    number = parked(factory)

    listed = mutual_aid("events", "dead-letters", "--service", "claims", "--db", url)

    assert listed.code == 0, listed.stderr
    assert MEMBER.id_number not in listed.stdout and CARD not in listed.stdout
    (letter,) = listed.json()["dead_letters"]
    assert letter["id"] == number and letter["status"] == PARKED
    assert (letter["consumer"], letter["source_service"], letter["event_type"]) == (
        "claims.on_payout_succeeded",
        "payments",
        "payout_succeeded",
    )
    assert letter["reason"].startswith("payout_succeeded 有误: amount")
    assert letter["payload"]["amount"] == "12.3" and letter["payload"]["claim_id"] == "c1"
    assert (
        letter["payload"]["id_number"] == MEMBER.id_number[:6] + "********" + MEMBER.id_number[-4:]
    )
    assert letter["payload"]["payee_card"] == "6222***********0123"
    assert letter["attempts"] == 1 and letter["first_failed_at"] == "2024-06-20T09:30:00+00:00"


def test_replay_marks_them_with_who_asked_and_the_list_hides_replayed_ones_unless_all(
    claims_db, mutual_aid, monkeypatch
):
    url, factory = claims_db
    first, second = parked(factory), parked(factory, payload={"v": 1, "event_id": "e2"})
    monkeypatch.setenv("MUTUAL_AID_CLAIMS_DB", url)  # the default when --db is not given

    marked = mutual_aid("events", "replay", str(first), "--service", "claims", "--actor", "运维 张")

    (letter,) = marked.json()["replay_requested"]
    assert (letter["id"], letter["status"], letter["replay_requested_by"]) == (
        first,
        REPLAY_REQUESTED,
        "运维 张",
    )
    assert letter["replay_requested_at"] is not None
    assert status_of(factory, second) == PARKED
    with session_scope(factory) as session:  # what the running service does next
        assert start_replay(session, first).id == first
    shown = mutual_aid("events", "dead-letters", "--service", "claims").json()["dead_letters"]
    assert [d["id"] for d in shown] == [second]
    every = mutual_aid("events", "dead-letters", "--service", "claims", "--all").json()
    assert [(d["id"], d["status"]) for d in every["dead_letters"]] == [
        (first, REPLAYED),
        (second, PARKED),
    ]


def test_a_replay_naming_an_unknown_or_replayed_letter_marks_none(claims_db, mutual_aid):
    url, factory = claims_db
    first, done = parked(factory), parked(factory)
    with session_scope(factory) as session:
        request_replay(session, [done], actor="运维")
        start_replay(session, done)

    for ids, message in (
        ([first, 99], "mutual-aid: no dead letter 99\n"),
        ([first, done], f"mutual-aid: dead letter {done} was replayed already\n"),
    ):
        refused = mutual_aid(
            "events", "replay", *map(str, ids), "--service", "claims", "--db", url, "--actor", "x"
        )
        assert (refused.code, refused.stderr, refused.stdout) == (2, message, "")
    assert status_of(factory, first) == PARKED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dead-letters", "--service", "nobody"], "--service nobody: no such service"),
        (["dead-letters"], "the following arguments are required: --service"),
        (["replay", "1", "--service", "claims"], "the following arguments are required: --actor"),
        (["replay", "abc", "--service", "claims", "--actor", "x"], "not 'abc'"),
        (["replay", "1", "--service", "claims", "--db", "{db}", "--actor", " "], "needs --actor"),
        (["dead-letters", "--service", "claims", "--db", "nonsense"], "not a database URL"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(claims_db, mutual_aid, args, message):
    url, _ = claims_db
    refused = mutual_aid("events", *(url if a == "{db}" else a for a in args))
    assert refused.code == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and message in refused.stderr, refused.stderr


def test_a_missing_database_is_named_and_not_created(tmp_path, mutual_aid):
    missing = tmp_path / "nowhere" / "claims.sqlite"

    refused = mutual_aid(
        "events", "dead-letters", "--service", "claims", "--db", f"sqlite:///{missing}"
    )

    assert refused.code == 2 and refused.stderr.count("\n") == 1
    assert "no such database" in refused.stderr and "Traceback" not in refused.stderr
    assert not missing.parent.exists()


def test_a_database_without_the_table_says_so_in_one_line(tmp_path, mutual_aid):
    url = f"sqlite:///{tmp_path}/other.sqlite"
    make_engine(url, pool_size=1).connect().close()  # an empty SQLite file

    refused = mutual_aid("events", "dead-letters", "--service", "claims", "--db", url)

    assert refused.code == 2 and refused.stderr.count("\n") == 1
    assert "no such table: dead_letters" in refused.stderr


def test_a_replay_is_taken_by_one_process_only(claims_db):
    _, factory = claims_db
    number = parked(factory)
    with session_scope(factory) as session:
        request_replay(session, [number], actor="运维")
    with session_scope(factory) as session:
        assert start_replay(session, number) is not None
    with session_scope(factory) as session:
        assert start_replay(session, number) is None  # the other process finds it taken


def test_a_failed_replay_parks_the_same_letter_again_keeping_who_asked(claims_db):
    _, factory = claims_db
    number = parked(factory, attempts=6)
    with session_scope(factory) as session:
        request_replay(session, [number], actor="运维")
        start_replay(session, number)
    again = parked(factory, replay_of=number, attempts=6, reason="OperationalError: 连接被拒绝")

    assert again == number
    with factory() as session:
        row = session.execute(select(DEAD_LETTERS)).one()
    assert (row.status, row.attempts, row.reason) == (PARKED, 12, "OperationalError: 连接被拒绝")
    assert row.replay_requested_by == "运维" and row.replayed_at is not None


def test_request_replay_needs_an_actor_and_known_ids(claims_db):
    _, factory = claims_db
    number = parked(factory)
    with session_scope(factory) as session:
        with pytest.raises(DeadLetterError, match="needs --actor"):
            request_replay(session, [number], actor="")
        with pytest.raises(DeadLetterError, match="no dead letter 5"):
            request_replay(session, [number, 5], actor="运维")
    assert status_of(factory, number) == PARKED
