"""Answers in place (`respond`), submitted choice sets, joining with a code, and strangers.

Everything goes through the real router wired by `build_runtime` to a console
transport, so what a person would see is what the transport sent or responded.
"""

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app import Runtime, build_runtime
from bot.clock import SimulatedClock
from bot.config import Settings
from bot.conversation import answers, joining, onboarding, router
from bot.messages import (
    Answer,
    Command,
    Inbound,
    InteractionRef,
    Join,
    Outbound,
    PollAnswer,
    SentRef,
    Text,
)
from bot.transports import RecipientGone
from bot.transports.console import ConsoleTransport
from content.limits import RESPOND_CHARS
from storage.models import Delivery, Enrolment, Escalation, Invite, Item, Person, Response, Role
from tests.delivery_support import notices
from tests.factories import MONDAY_9AM, add_pack, add_person, add_team, outbox, send
from tests.fakes.flaky_transport import FlakyTransport

TODAY = MONDAY_9AM.date()


class Draining:
    """The router, with the outbox sent after each event (as `run`'s woken dispatcher does)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def handle(self, inbound: Inbound) -> object:
        """Handle one event, then send what it queued."""
        handled = await self._runtime.service.handle(inbound)
        await self._runtime.dispatcher.drain()
        return handled


def wired(database, clock, console=None):
    """The runtime `run` builds, on one console transport; returns (router, transport)."""
    console = console or ConsoleTransport()
    runtime = build_runtime(
        database=database, settings=Settings(), clock=clock, transports={"console": console}
    )
    return Draining(runtime), console


def pressed(address: str, event_id: str) -> InteractionRef:
    """The handle a button press carries."""
    return InteractionRef(address, f"token-{event_id}")


async def quiz_world(database, kind="single"):
    """Ada with one sent quiz prompt of `kind`; returns (clock, router, console, ada, prompt)."""
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "ada", team=team)
        await add_pack(session, types=(kind,))
        item = (await session.exec(select(Item))).one()
        prompt = await send(session, ada, kind="quiz", day=TODAY, sent_at=MONDAY_9AM, item=item)
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM + timedelta(minutes=5))
    service, console = wired(database, clock)
    return clock, service, console, ada, prompt


async def test_second_press_is_answered_in_place_not_with_a_new_message(database):
    _, service, console, ada, prompt = await quiz_world(database)
    await service.handle(Answer(ada.address, "e1", prompt.id, ("c1",), pressed(ada.address, "e1")))
    await service.handle(Answer(ada.address, "e2", prompt.id, ("c0",), pressed(ada.address, "e2")))
    assert [(r.interaction.token, r.text) for r in console.responses] == [
        ("token-e2", answers.ALREADY_ANSWERED)
    ]
    async with database.sessions() as session:
        assert not [key for key in await outbox(session, ada) if key.startswith("reply:")]
    assert [m.outbound.text for m in console.sent if "already" in m.outbound.text] == []


async def test_without_a_handle_the_refusal_is_still_a_message(database):
    _, service, console, ada, prompt = await quiz_world(database)
    await service.handle(Answer(ada.address, "e1", prompt.id, ("c1",)))
    await service.handle(Answer(ada.address, "e2", prompt.id, ("c0",)))
    assert console.responses == []
    assert answers.ALREADY_ANSWERED in [m.text for m in console.to(ada.address)]


async def test_a_closed_question_is_answered_in_place(database):
    _, service, console, ada, prompt = await quiz_world(database)
    async with database.sessions() as session:
        learner = await session.get(Person, ada.id)
        await send(
            session, learner, kind="lesson", day=TODAY + timedelta(days=1), sent_at=MONDAY_9AM
        )
        await session.commit()
    await service.handle(Answer(ada.address, "e1", prompt.id, ("c1",), pressed(ada.address, "e1")))
    assert [r.text for r in console.responses] == [answers.CLOSED]


async def case_world(database, first_coach: str):
    """Ada asked for a coach; `first_coach` and cora got cards. Returns (router, console, case)."""
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "ada", team=team)
        await add_person(session, first_coach, team=team, role=Role.COACH)
        await add_person(session, "cora", team=team, role=Role.COACH)
        await session.commit()
    service, console = wired(database, SimulatedClock(MONDAY_9AM))
    await service.handle(Command(ada.address, "e1", "coach"))
    async with database.sessions() as session:
        case = (await session.exec(select(Escalation))).one()
    return service, console, case


async def test_a_case_claimed_by_someone_else_is_an_alert_for_the_late_coach(database):
    service, console, case = await case_world(database, "Priya")
    async with database.sessions() as session:
        cards = {
            row.person_id: row.id
            for row in (await session.exec(select(Delivery).where(Delivery.kind == "escalation")))
        }
        priya, cora = (
            await session.exec(select(Person).where(Person.role == Role.COACH).order_by(Person.id))
        ).all()
    claim = (f"claim:{case.id}",)
    await service.handle(Answer(priya.address, "p", cards[priya.id], claim, pressed("p", "p")))
    await service.handle(Answer(cora.address, "c", cards[cora.id], claim, pressed("c", "c")))
    assert [(r.interaction.token, r.text, r.alert) for r in console.responses] == [
        ("token-c", f"Case #{case.id} was claimed by Priya.", True)
    ]
    assert not [m for m in console.to(cora.address) if "claimed by" in m.text]


async def test_a_name_too_long_to_answer_in_place_becomes_a_message(database):
    long_name = "P" * RESPOND_CHARS
    service, console, case = await case_world(database, long_name)
    await service.handle(Command(f"console:{long_name}", "p", "claim", (str(case.id),)))
    await service.handle(Command("console:cora", "c", "claim", (str(case.id),), pressed("c", "c")))
    assert console.responses == []
    assert any("claimed by PPP" in m.text for m in console.to("console:cora"))


@pytest.mark.parametrize(
    "text",
    [
        answers.ALREADY_ANSWERED,
        answers.CLOSED,
        answers.GONE,
        answers.PICK_FIRST,
        answers.FOREIGN_BUTTON,
        router.BUTTON_GONE,
        joining.ALREADY_JOINED,
        joining.STRANGER,
        joining.BAD_CODE,
    ],
)
def test_every_answer_in_place_fits_telegrams_callback_answer(text):
    assert len(text) <= RESPOND_CHARS == 200


async def test_a_submitted_set_of_choices_is_graded_as_one_answer(database):
    _, service, _, ada, prompt = await quiz_world(database, "multiple")
    await service.handle(Answer(ada.address, "e1", prompt.id, ("c2", "c0")))
    async with database.sessions() as session:
        response = (await session.exec(select(Response))).one()
    assert (response.answer, response.correct) == ("c0,c2", True)


async def test_a_one_option_submit_is_graded_not_toggled(database):
    _, service, _, ada, prompt = await quiz_world(database, "multiple")
    await service.handle(Answer(ada.address, "e1", prompt.id, ("c0", "done")))
    async with database.sessions() as session:
        response = (await session.exec(select(Response))).one()
    assert (response.answer, response.correct) == ("c0", False)


async def join_world(database, *, pack=True, **invite_fields):
    """Team `front` (with a pack) and an invite to it; returns (router, console, code)."""
    async with database.sessions() as session:
        team = await add_team(session)
        if pack:
            await add_pack(session)
        session.add(Invite(code="front-code", team_id=team.id, **invite_fields))
        await session.commit()
    service, console = wired(database, SimulatedClock(MONDAY_9AM))
    return service, console, "front-code"


async def test_join_with_a_team_code_signs_up_enrols_and_welcomes(database):
    service, console, code = await join_world(database)
    await service.handle(Join("console:sam", "e1", code, name="Sam Smith"))
    async with database.sessions() as session:
        sam = (await session.exec(select(Person).where(Person.platform_id == "sam"))).one()
        enrolment = (await session.exec(select(Enrolment))).one()
    assert (sam.name, sam.role, sam.status) == ("Sam Smith", Role.LEARNER, "active")
    assert enrolment.person_id == sam.id and enrolment.pack_id == "care"
    assert [m.text.split("!")[0] for m in console.to("console:sam")] == [
        "Welcome, Sam",
        onboarding.ASK_TIMEZONE,
    ]


async def test_typed_join_from_a_stranger_counts_and_uses_are_limited(database):
    service, console, code = await join_world(database, uses_left=1)
    await service.handle(Text("console:sam", "e1", f"join {code}"))
    await service.handle(Command("console:kim", "e2", "start", (code,)))
    assert console.to("console:sam")[0].text.startswith("Welcome, sam!")
    assert [m.text for m in console.to("console:kim")] == [joining.BAD_CODE]
    async with database.sessions() as session:
        assert (await session.exec(select(Person.platform_id))).all() == ["sam"]
        assert (await session.exec(select(Invite.uses_left))).one() == 0


async def test_an_expired_or_unknown_code_gets_a_clear_answer(database):
    service, console, code = await join_world(database, expires_at=MONDAY_9AM)
    await service.handle(Join("console:sam", "e1", code))
    await service.handle(Join("console:kim", "e2", "nope", interaction=pressed("kim", "e2")))
    assert [m.text for m in console.to("console:sam")] == [joining.BAD_CODE]
    assert [r.text for r in console.responses] == [joining.BAD_CODE]
    async with database.sessions() as session:
        assert (await session.exec(select(Person))).all() == []


async def test_a_coach_or_a_learner_without_a_pack_is_told_where_they_are(database):
    service, console, code = await join_world(database, pack=False, role=Role.COACH)
    await service.handle(Join("console:cora", "e1", code, name="Cora"))
    assert [m.text for m in console.to("console:cora")] == [
        "Welcome, Cora! You're a coach in team *front*. Send `help`.",
        onboarding.ASK_TIMEZONE,
    ]


async def test_a_roster_invitee_joins_with_their_own_code_on_their_platform(database):
    async with database.sessions() as session:
        team = await add_team(session)
        await add_pack(session)
        session.add(
            Person(
                name="Bob",
                team_id=team.id,
                platform="telegram",
                status="pending",
                invite_code="b0b",
            )
        )
        await session.commit()
    service, _ = wired(database, SimulatedClock(MONDAY_9AM))
    await service.handle(Join("telegram:77", "e1", "b0b"))
    async with database.sessions() as session:
        bob = (await session.exec(select(Person))).one()
        texts = await outbox(session, bob)
    assert (bob.address, bob.status, bob.invite_code) == ("telegram:77", "active", None)
    assert texts["welcome"].startswith("Welcome, Bob!")


async def test_a_known_person_joining_again_is_told_so(database):
    service, console, code = await join_world(database)
    await service.handle(Join("console:sam", "e1", code))
    await service.handle(Join("console:sam", "e2", code, interaction=pressed("sam", "e2")))
    assert [r.text for r in console.responses] == [joining.ALREADY_JOINED]
    async with database.sessions() as session:
        assert len((await session.exec(select(Person))).all()) == 1


async def test_a_stranger_hears_how_to_join_once_a_day(database):
    service, console, _ = await join_world(database)
    await service.handle(Text("console:eve", "e1", "hello?"))
    await service.handle(Text("console:eve", "e2", "anyone there?"))
    await service.handle(Answer("console:eve", "e3", 1, ("c0",), pressed("eve", "e3")))
    assert [m.text for m in console.to("console:eve")] == [joining.STRANGER]
    assert console.responses == []


def test_invite_create_prints_the_code_people_send(cli, database_url):
    assert cli("teams", "set", "front", "--create").exit_code == 0
    result = cli("invite", "create", "--team", "front", "--uses", "2", "--expires", "2099-12-31")
    assert result.exit_code == 0, result.stderr
    code = result.stdout.split()[2]
    assert f"join {code}" in result.stdout and "2 use(s)" in result.stdout
    refused = cli("invite", "create", "--team", "nobody")
    assert (refused.exit_code, refused.stderr.strip()) == (
        1,
        "error: no team 'nobody': `teams list` shows the teams",
    )


async def test_a_failed_direct_answer_is_logged_not_raised(database, caplog):
    flaky = FlakyTransport()
    flaky.fail_next("console:eve", RecipientGone("blocked"))
    service, _ = wired(database, SimulatedClock(MONDAY_9AM), flaky)
    await service.handle(Text("console:eve", "e1", "hello?"))
    assert flaky.attempts == ["console:eve"] and flaky.sent == []
    assert "could not answer console:eve directly: blocked" in caplog.text


async def with_poll(database, prompt: Delivery, poll_id: str) -> None:
    """Mark `prompt` as sent as the quiz poll `poll_id` (what the dispatcher stores)."""
    async with database.sessions() as session:
        stored = await session.get(Delivery, prompt.id)
        stored.poll_id = poll_id
        await session.commit()


@pytest.mark.parametrize(
    ("kind", "vote", "answer"), [("single", ("c1",), "c1"), ("multiple", ("c0",), "c0")]
)
async def test_a_poll_vote_answers_the_quiz_sent_as_that_poll(database, kind, vote, answer):
    _, service, _, ada, prompt = await quiz_world(database, kind)
    await with_poll(database, prompt, "poll-7")
    await service.handle(PollAnswer(ada.address, "e1", "poll-7", vote))
    async with database.sessions() as session:
        response = (await session.exec(select(Response))).one()
    assert (response.delivery_id, response.answer) == (prompt.id, answer)


async def test_a_vote_taken_back_changes_nothing_and_an_unknown_poll_is_explained(database):
    _, service, console, ada, prompt = await quiz_world(database)
    await with_poll(database, prompt, "poll-7")
    await service.handle(PollAnswer(ada.address, "e1", "poll-7", ()))
    await service.handle(PollAnswer(ada.address, "e2", "poll-other", ("c1",)))
    async with database.sessions() as session:
        assert (await session.exec(select(Response))).all() == []
    assert [m.text for m in console.to(ada.address)] == [router.BUTTON_GONE]


class PollingConsole(ConsoleTransport):
    """A console that sends every quiz as a poll, as Telegram does."""

    async def send(self, address: str, outbound: Outbound) -> SentRef:
        """Send, and name the poll the way a platform would."""
        ref = await super().send(address, outbound)
        return SentRef(ref.address, ref.message_id, poll_id=f"poll-{ref.message_id}")


async def test_the_dispatcher_keeps_the_poll_id_a_send_returns(database):
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        await session.commit()
    await notices(database, ada, "quiz-as-poll")
    runtime = build_runtime(
        database=database,
        settings=Settings(),
        clock=SimulatedClock(MONDAY_9AM),
        transports={"console": PollingConsole()},
    )
    await runtime.dispatcher.drain()
    async with database.sessions() as session:
        sent = (await session.exec(select(Delivery))).one()
    assert (sent.status, sent.poll_id) == ("sent", f"poll-{sent.platform_ref}")
