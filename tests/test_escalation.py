"""The escalation lifecycle: notify, claim, relay both ways, resolve, SLA re-send."""

from datetime import timedelta

from sqlmodel import select

from bot.clock import SimulatedClock
from bot.coaching.escalation import open_case, sla_tick, working_days_after
from bot.conversation.router import InboundRouter
from bot.messages import Answer, CoachAction, Command, Text
from bot.outbox.digest import coach_digest_tick
from storage.models import Delivery, Escalation, EscalationStatus, Person, Role, Team
from tests.factories import MONDAY_9AM, add_person, add_team, outbox

ADMIN = "console:root"


async def world(database, *, with_coach=True):
    """A learner (ada), maybe a coach (cora), and a service whose admin is console:root."""
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "ada", team=team)
        cora = await add_person(session, "cora", team=team, role=Role.COACH) if with_coach else None
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    service = InboundRouter(sessions=database.sessions, clock=clock, admin_addresses=[ADMIN])
    return clock, service, ada, cora


async def the_case(database):
    """The one case."""
    async with database.sessions() as session:
        return (await session.exec(select(Escalation))).one()


async def test_full_lifecycle_with_relay(database):
    clock, service, ada, cora = await world(database)
    await service.handle(Command(ada.address, "e1", "coach"))
    case = await the_case(database)
    async with database.sessions() as session:
        card = (
            await session.exec(
                select(Delivery).where(Delivery.delivery_key == f"escalation:{case.id}")
            )
        ).one()
    assert card.person_id == cora.id and card.kind == "escalation"
    assert card.escalation_id == case.id
    assert card.payload["choices"] == [
        {"choice_id": f"claim:{case.id}", "label": "Claim"},
        {"choice_id": f"resolve:{case.id}", "label": "Resolve"},
    ]
    assert "ada" in card.payload["text"] and "learner asked for a coach" in card.payload["text"]

    await service.handle(Answer(cora.address, "e2", card.id, (f"claim:{case.id}",)))
    async with database.sessions() as session:
        learner_texts = await outbox(session, ada)
    assert "cora" in learner_texts[f"notice:case:{case.id}:claimed"]
    assert (await the_case(database)).status == EscalationStatus.CLAIMED

    await service.handle(Command(cora.address, "e3", "msg", (str(case.id), "How", "are", "calls?")))
    await service.handle(Text(ada.address, "e4", "Hard, people shout at me"))
    await service.handle(Text(cora.address, "e5", "Let's practise tomorrow"))
    async with database.sessions() as session:
        learner_texts = await outbox(session, ada)
        coach_texts = await outbox(session, cora)
    assert "How are calls?" in learner_texts[f"notice:case:{case.id}:msg:e3"]
    assert "Hard, people shout at me" in coach_texts[f"escalation:{case.id}:msg:e4"]
    assert "Let's practise tomorrow" in learner_texts[f"notice:case:{case.id}:msg:e5"]

    clock.advance(timedelta(hours=1))
    await service.handle(CoachAction(cora.address, "e6", case.id, "resolve", "practised calls"))
    case = await the_case(database)
    assert case.status == EscalationStatus.RESOLVED
    assert case.resolution_note == "practised calls"
    assert case.resolved_at == clock.now()
    async with database.sessions() as session:
        learner_texts = await outbox(session, ada)
    assert "closed your case" in learner_texts[f"notice:case:{case.id}:resolved"]

    await service.handle(Text(ada.address, "e7", "thanks!"))
    async with database.sessions() as session:
        coach_texts = await outbox(session, cora)
        learner_texts = await outbox(session, ada)
    assert not any(key.endswith(":e7") for key in coach_texts)
    assert "help" in learner_texts["reply:e7"]


async def test_second_coach_cannot_take_a_claimed_case(database):
    _, service, ada, cora = await world(database)
    async with database.sessions() as session:
        team = (await session.exec(select(Team))).one()
        dan = await add_person(session, "dan", team=team, role=Role.COACH)
        await session.commit()
    await service.handle(Command(ada.address, "e1", "coach"))
    case = await the_case(database)
    await service.handle(Command(cora.address, "e2", "claim", (str(case.id),)))
    await service.handle(Text(dan.address, "e3", f"claim {case.id}"))
    await service.handle(Command(dan.address, "e4", "resolve", (str(case.id), "done")))
    async with database.sessions() as session:
        dan_texts = await outbox(session, dan)
    assert "claimed by cora" in dan_texts["reply:e3"]
    assert "another coach" in dan_texts["reply:e4"]
    assert (await the_case(database)).status == EscalationStatus.CLAIMED


async def test_learner_cannot_act_on_cases(database):
    _, service, ada, _ = await world(database)
    await service.handle(Command(ada.address, "e1", "coach"))
    case = await the_case(database)
    await service.handle(CoachAction(ada.address, "e2", case.id, "claim"))
    async with database.sessions() as session:
        assert "Only coaches" in (await outbox(session, ada))["reply:e2"]
    assert (await the_case(database)).status == EscalationStatus.OPEN


async def test_unclaimed_case_is_resent_to_admins_once_after_sla(database):
    clock, service, ada, _ = await world(database)
    await service.handle(Command(ada.address, "e1", "coach"))
    clock.set(MONDAY_9AM + timedelta(hours=23))
    assert await sla_tick(sessions=database.sessions, clock=clock, admin_addresses=[ADMIN]) == 0
    clock.set(MONDAY_9AM + timedelta(days=1))
    assert await sla_tick(sessions=database.sessions, clock=clock, admin_addresses=[ADMIN]) == 1
    assert await sla_tick(sessions=database.sessions, clock=clock, admin_addresses=[ADMIN]) == 0
    case = await the_case(database)
    assert case.resent_to_admins_at == clock.now()
    async with database.sessions() as session:
        root = (await session.exec(select(Person).where(Person.platform_id == "root"))).one()
        texts = await outbox(session, root)
    assert root.role == Role.ADMIN
    assert "Unclaimed past its SLA" in texts[f"escalation:{case.id}:sla"]


async def test_claimed_case_is_not_resent(database):
    clock, service, ada, cora = await world(database)
    await service.handle(Command(ada.address, "e1", "coach"))
    case = await the_case(database)
    await service.handle(CoachAction(cora.address, "e2", case.id, "claim"))
    clock.set(MONDAY_9AM + timedelta(days=3))
    assert await sla_tick(sessions=database.sessions, clock=clock, admin_addresses=[ADMIN]) == 0


async def test_team_without_coach_notifies_admins(database):
    _, service, ada, _ = await world(database, with_coach=False)
    await service.handle(Command(ada.address, "e1", "coach"))
    case = await the_case(database)
    async with database.sessions() as session:
        root = (await session.exec(select(Person).where(Person.platform_id == "root"))).one()
        assert f"escalation:{case.id}" in await outbox(session, root)


def test_sla_skips_weekends_and_holidays():
    team = Team(name="t", holidays_country="GB", holidays_subdiv="ENG")
    friday = MONDAY_9AM.date() + timedelta(days=4)
    assert working_days_after(team, friday, 1) == friday + timedelta(days=3)
    christmas_eve = MONDAY_9AM.date().replace(month=12, day=24)
    assert working_days_after(team, christmas_eve, 1).isoformat() == "2026-12-29"


async def test_cases_lists_open_cases_for_the_coach(database):
    _, service, ada, cora = await world(database)
    await service.handle(Command(ada.address, "e1", "coach"))
    await service.handle(Text(cora.address, "e2", "cases"))
    async with database.sessions() as session:
        assert "ada: learner asked for a coach (open)" in (await outbox(session, cora))["reply:e2"]


async def test_coach_digest_once_a_day_after_send_time(database):
    clock, service, ada, cora = await world(database)
    await service.handle(Command(ada.address, "e1", "coach"))
    clock.set(MONDAY_9AM - timedelta(hours=1))
    assert await coach_digest_tick(sessions=database.sessions, clock=clock) == 0
    clock.set(MONDAY_9AM + timedelta(hours=1))
    assert await coach_digest_tick(sessions=database.sessions, clock=clock) == 1
    assert await coach_digest_tick(sessions=database.sessions, clock=clock) == 0
    async with database.sessions() as session:
        digest = (await outbox(session, cora))["digest:2026-11-23"]
    assert "ada: learner asked for a coach" in digest


async def signal_case(database, ada, *, signal="score"):
    """A case a signal opened for ada (she never asked)."""
    async with database.sessions.begin() as session:
        person = await session.get(Person, ada.id)
        case, _ = await open_case(
            session, person=person, signal=signal, reason="struggle", now=MONDAY_9AM
        )
    return case


async def learner_notices(database, ada):
    """Ada's outbox texts keyed by delivery key, notices about her case only."""
    async with database.sessions() as session:
        return {k: v for k, v in (await outbox(session, ada)).items() if k.startswith("notice:")}


async def test_signal_case_is_not_announced_on_claim_only_when_the_coach_writes(database):
    _, service, ada, cora = await world(database)
    case = await signal_case(database, ada)
    await service.handle(CoachAction(cora.address, "e1", case.id, "claim"))
    assert await learner_notices(database, ada) == {}

    await service.handle(CoachAction(cora.address, "e2", case.id, "message", "Coffee at 2?"))
    await service.handle(CoachAction(cora.address, "e3", case.id, "message", "Or at 3?"))
    notices = await learner_notices(database, ada)
    assert set(notices) == {f"notice:case:{case.id}:msg:e2", f"notice:case:{case.id}:msg:e3"}
    assert "Coffee at 2?" in notices[f"notice:case:{case.id}:msg:e2"]
    assert "reply here" in notices[f"notice:case:{case.id}:msg:e2"]
    assert "reply here" not in notices[f"notice:case:{case.id}:msg:e3"]

    await service.handle(CoachAction(cora.address, "e4", case.id, "resolve", "talked"))
    assert (
        "closed your case"
        in (await learner_notices(database, ada))[f"notice:case:{case.id}:resolved"]
    )


async def test_signal_case_resolved_without_a_word_stays_silent_to_the_learner(database):
    _, service, ada, cora = await world(database)
    case = await signal_case(database, ada, signal="silence")
    await service.handle(CoachAction(cora.address, "e1", case.id, "claim"))
    await service.handle(CoachAction(cora.address, "e2", case.id, "resolve", "back from leave"))
    assert (await the_case(database)).status == EscalationStatus.RESOLVED
    assert await learner_notices(database, ada) == {}


async def test_learner_who_asks_during_a_signal_case_is_told_of_the_claim(database):
    _, service, ada, cora = await world(database)
    case = await signal_case(database, ada)
    await service.handle(Command(ada.address, "e1", "coach"))
    await service.handle(CoachAction(cora.address, "e2", case.id, "claim"))
    notices = await learner_notices(database, ada)
    assert "picked up your request" in notices[f"notice:case:{case.id}:claimed"]
