"""The key-sharing policy at work: TrustKeeper before each send, and accepting an identity.

A fake Matrix edge stands in for the gateway (members, power levels, a raw
``/keys/query`` built from real cross-signing keys, the trust it is told to
apply); pins, notices and the audit trail go to a real database, SQLite and
PostgreSQL. Accepting a changed identity is driven through the real engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest
from sqlalchemy import select

import bot.identity
import bot.trust
from bot.clock import FakeClock
from bot.identity import CrossSigningKeys, fingerprint
from bot.ids import RoomId, UserId
from bot.keeper import TrustKeeper
from bot.outbox import OutboxItem
from bot.testing.fakekeys import Person, keys_query
from bot.testing.harness import Room
from bot.trust import SharingMode
from commands.pdguard import scan
from domain.calendar import Calendar
from domain.org import Assignment, Institution, InstitutionType, Organisation, Role
from storage.models import AuditEntry, IdentityPin, OutboxMessage
from storage.uow import Database

if TYPE_CHECKING:
    from bot.matrix import MatrixGateway

ROOM = RoomId("!fallkonferenz:fk.test")
OTHER_ROOM = RoomId("!zweiter-raum:fk.test")
PREFIX = "!fk"
OWN = "@fallkonferenz-bot:fk.test"
ANNA = "@anna:fk.test"  # Jugendamt, fachkraft
BEN = "@ben:fk.test"  # Jobcenter, fachkraft; moderation through his power level
MOD = "@mona:fk.test"  # Jugendamt, moderation role
ADMIN = "@adam:fk.test"  # Träger, admin
CARLA = "@carla:fk.test"  # joins later
EVE = "@eve:fremd.example"

JUGENDAMT = Institution("jugendamt", "Jugendamt Wetteraukreis", InstitutionType.JUGENDAMT)
JOBCENTER = Institution("jobcenter", "Jobcenter Wetteraukreis", InstitutionType.JOBCENTER)
TRAEGER = Institution("traeger", "Träger XYZ", InstitutionType.TRAEGER)
ORG = Organisation(
    institutions={i.key: i for i in (JUGENDAMT, JOBCENTER, TRAEGER)},
    users={
        ANNA: Assignment(ANNA, "jugendamt", frozenset({Role.FACHKRAFT})),
        BEN: Assignment(BEN, "jobcenter", frozenset({Role.FACHKRAFT})),
        MOD: Assignment(MOD, "jugendamt", frozenset({Role.MODERATION})),
        ADMIN: Assignment(ADMIN, "traeger", frozenset({Role.ADMIN})),
    },
    moderation_power_level=50,
)


# -- the fake Matrix edge ------------------------------------------------------------------


class FakeGateway:
    """Just what TrustKeeper uses of MatrixGateway; the homeserver's view is ``people``."""

    def __init__(self, people: Iterable[Person]) -> None:
        self.people = {p.user_id: p for p in people}
        self.rooms: dict[str, list[str]] = {}
        self.power: dict[str, int] = {BEN: 50}
        self.device_list_version = 0
        self.queries: list[list[str]] = []
        self.applied: list[tuple[str, frozenset[tuple[str, str]]]] = []

    def joined_members(self, room_id: str) -> list[str]:
        return sorted(self.rooms.get(room_id, []))

    async def query_keys_raw(self, user_ids: list[str]) -> dict[str, Any]:
        self.queries.append(list(user_ids))
        return keys_query(*(self.people[u] for u in user_ids if u in self.people))

    def apply_trust(
        self,
        room_id: str,
        share: frozenset[tuple[str, str]],
        device_keys: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self.applied.append((room_id, share))
        self.device_keys = dict(device_keys or {})

    def power_level(self, room_id: str, user_id: str) -> int:
        return self.power.get(user_id, 0)

    def shared(self, room_id: str = ROOM) -> frozenset[tuple[str, str]]:
        """What the last send to ``room_id`` was allowed to share."""
        return next(share for room, share in reversed(self.applied) if room == room_id)


class Harness:
    def __init__(self, db: Database, clock: FakeClock) -> None:
        self.db = db
        self.clock = clock
        self.anna = Person(ANNA)
        self.anna.device("ANNAPHONE")
        self.anna.device("ANNALAPTOP")
        self.ben = Person(BEN)
        self.ben.device("BENDESK")
        self.mod = Person(MOD)
        self.mod.device("MONAPHONE")
        self.bot = Person(OWN)
        self.bot.device("BOTDEVICE")
        self.carla = Person(CARLA)
        self.carla.device("CARLAPHONE")
        self.eve = Person(EVE)
        self.eve.device("EVEPHONE")
        self.gateway = FakeGateway([self.anna, self.ben, self.mod, self.bot, self.carla, self.eve])
        self.gateway.rooms[ROOM] = [OWN, ANNA, BEN, MOD, EVE]
        self.submitted: list[list[OutboxItem]] = []
        self.keeper = self.new_keeper()

    def new_keeper(self) -> TrustKeeper:
        """A keeper as after a restart: nothing cached, everything from the database."""
        return TrustKeeper(
            self.db,
            self.clock,
            mode=SharingMode.CROSS_SIGNED,
            own_user=OWN,
            allowed_homeservers=("fk.test",),
            pinned_devices={},
            org=ORG,
            prefix=PREFIX,
            submit=self.submitted.append,
        )

    async def send(self, room_id: str = ROOM) -> frozenset[tuple[str, str]]:
        self.clock.advance(timedelta(minutes=1))
        await self.keeper.before_send(cast("MatrixGateway", self.gateway), room_id)
        return self.gateway.shared(room_id)

    def pins(self) -> dict[str, IdentityPin]:
        with self.db.uow() as uow:
            rows = uow.session.scalars(select(IdentityPin)).all()
            uow.session.expunge_all()
            return {r.user_id: r for r in rows}

    def notices(self) -> list[OutboxMessage]:
        """The keeper's own messages (not the engine's replies to commands)."""
        with self.db.uow() as uow:
            rows = [r for r in uow.outbox.all() if r.txn_id.startswith("fk1.trust.")]
            uow.session.expunge_all()
            return rows

    def audit(self, action: str | None = None) -> list[AuditEntry]:
        with self.db.uow() as uow:
            rows = [e for e in uow.audit.entries() if action is None or e.action == action]
            uow.session.expunge_all()
            return rows

    def snapshot(self) -> tuple[Any, ...]:
        """Everything the keeper may write."""
        pins = sorted(
            (p.user_id, p.master_key, p.pinned_at, p.seen_key, p.seen_at)
            for p in self.pins().values()
        )
        notices = [(n.id, n.txn_id) for n in self.notices()]
        audit = [(e.seq, e.hash) for e in self.audit()]
        return pins, notices, audit


@pytest.fixture
def h(database: Database, clock: FakeClock) -> Harness:
    return Harness(database, clock)


def all_devices(*people: Person) -> set[tuple[str, str]]:
    return {(p.user_id, d) for p in people for d in p.devices}


def submitted_ids(h: Harness) -> list[int]:
    return [item.id for items in h.submitted for item in items]


# -- trust on first use and the cache ----------------------------------------------------------


async def test_first_send_pins_every_member_and_shares_their_signed_devices(h: Harness) -> None:
    share = await h.send()
    assert share == all_devices(h.anna, h.ben, h.mod)
    assert h.gateway.queries == [[ANNA, BEN, EVE, MOD]]  # never the bot itself
    pins = h.pins()
    assert {u: p.master_key for u, p in pins.items()} == {
        ANNA: h.anna.master,
        BEN: h.ben.master,
        MOD: h.mod.master,
    }
    assert all(p.seen_key is None and p.pinned_at == h.clock.now() for p in pins.values())
    # Trust on first use is silent.
    assert h.notices() == []
    assert h.audit() == []
    assert h.submitted == []


async def test_sending_again_without_changes_asks_nothing_and_writes_nothing(
    h: Harness,
) -> None:
    first = await h.send()
    before = h.snapshot()
    for _ in range(3):
        assert await h.send() == first
    assert len(h.gateway.queries) == 1
    assert h.snapshot() == before
    assert len(h.gateway.applied) == 4  # the trust store is still set before every send


async def test_once_settled_sending_again_checks_no_signatures(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[tuple[str, str]] = []
    verify = bot.identity.device_is_cross_signed

    def counting(keys_query: dict[str, Any], user_id: str, device_id: str) -> bool:
        checks.append((user_id, device_id))
        return verify(keys_query, user_id, device_id)

    monkeypatch.setattr(bot.trust, "device_is_cross_signed", counting)
    await h.send()
    assert checks  # the first decision does verify every chain
    await h.send()  # the pins written by the first send are read back once
    checks.clear()
    for _ in range(3):
        await h.send()
    assert checks == []
    h.gateway.device_list_version += 1
    await h.send()
    assert checks  # a fresh answer is verified again


async def test_a_member_joining_makes_the_keeper_ask_again(h: Harness) -> None:
    await h.send()
    h.gateway.rooms[ROOM].append(CARLA)
    share = await h.send()
    assert len(h.gateway.queries) == 2
    assert CARLA in h.gateway.queries[-1]
    assert (CARLA, "CARLAPHONE") in share
    assert h.pins()[CARLA].master_key == h.carla.master


async def test_a_member_leaving_makes_the_keeper_ask_again(h: Harness) -> None:
    await h.send()
    h.gateway.rooms[ROOM].remove(BEN)
    share = await h.send()
    assert len(h.gateway.queries) == 2
    assert BEN not in h.gateway.queries[-1]
    assert share == all_devices(h.anna, h.mod)


async def test_a_changed_device_list_makes_the_keeper_ask_again(h: Harness) -> None:
    await h.send()
    h.anna.device("ANNATABLET")
    # Until the sync reports the device list change, the cached answer stands.
    assert (ANNA, "ANNATABLET") not in await h.send()
    assert len(h.gateway.queries) == 1
    h.gateway.device_list_version += 1
    assert (ANNA, "ANNATABLET") in await h.send()
    assert len(h.gateway.queries) == 2
    assert len(await h.send()) == 5
    assert len(h.gateway.queries) == 2


async def test_each_room_is_asked_about_its_own_members(h: Harness) -> None:
    h.gateway.rooms[OTHER_ROOM] = [OWN, CARLA, MOD]
    await h.send(ROOM)
    share = await h.send(OTHER_ROOM)
    assert share == all_devices(h.carla, h.mod)
    assert h.gateway.queries[-1] == [CARLA, MOD]
    assert h.gateway.shared(ROOM) == all_devices(h.anna, h.ben, h.mod)


# -- a changed identity ----------------------------------------------------------------------------


async def change_annas_identity(h: Harness) -> tuple[str, str]:
    await h.send()
    old = h.anna.master
    h.anna.new_identity()
    h.gateway.device_list_version += 1
    return old, h.anna.master


async def test_a_changed_master_key_withholds_keys_and_tells_the_moderation_once(
    h: Harness,
) -> None:
    old, new = await change_annas_identity(h)
    share = await h.send()
    assert not any(user == ANNA for user, _ in share)
    assert share == all_devices(h.ben, h.mod)

    pin = h.pins()[ANNA]
    assert (pin.master_key, pin.seen_key, pin.seen_at) == (old, new, h.clock.now())

    (notice,) = h.notices()
    body = notice.content["body"]
    assert notice.room_id == ROOM
    assert notice.content["msgtype"] == "m.notice"
    assert "identität bestätigen" in body
    assert f"{PREFIX} identität bestätigen {ANNA}" in body
    assert fingerprint(new) in body
    assert MOD in body  # moderation by role …
    assert BEN in body  # … and by power level
    assert notice.content["m.mentions"] == {"user_ids": [BEN, MOD]}
    assert ANNA not in notice.content["m.mentions"]["user_ids"]

    (entry,) = h.audit()
    assert entry.action == "identitaet_geaendert"
    assert entry.detail == {"nutzer": ANNA, "neu": new}
    assert entry.actor == OWN

    assert submitted_ids(h) == [notice.id]
    assert h.submitted[0][0].txn_id == notice.txn_id


async def test_a_changed_identity_is_told_once_however_often_the_bot_sends(h: Harness) -> None:
    await change_annas_identity(h)
    await h.send()
    after_notice = h.snapshot()
    for _ in range(2):
        assert not any(u == ANNA for u, _ in await h.send())
    h.gateway.device_list_version += 1  # asked again: still the same new key
    assert not any(u == ANNA for u, _ in await h.send())
    h.keeper = h.new_keeper()  # and after a restart
    assert not any(u == ANNA for u, _ in await h.send())
    assert h.snapshot() == after_notice
    assert len(h.notices()) == 1
    assert len(h.audit("identitaet_geaendert")) == 1
    assert len(submitted_ids(h)) == 1


async def test_every_room_the_member_shares_is_told_once_audited_once(h: Harness) -> None:
    h.gateway.rooms[OTHER_ROOM] = [OWN, ANNA, MOD]
    await h.send(OTHER_ROOM)
    await change_annas_identity(h)
    await h.send(ROOM)
    await h.send(OTHER_ROOM)
    await h.send(OTHER_ROOM)
    assert sorted(n.room_id for n in h.notices()) == sorted([ROOM, OTHER_ROOM])
    assert len(h.audit("identitaet_geaendert")) == 1
    assert not any(user == ANNA for user, _ in h.gateway.shared(OTHER_ROOM))


async def test_the_checked_device_keys_go_with_the_decision(h: Harness) -> None:
    share = await h.send()
    assert set(h.gateway.device_keys) == set(share)
    for (user, device), key in h.gateway.device_keys.items():
        person = {p.user_id: p for p in (h.anna, h.ben, h.mod)}[user]
        assert key == person.devices[device]["keys"][f"ed25519:{device}"]


async def test_an_accepted_identity_gets_keys_again(h: Harness) -> None:
    _, new = await change_annas_identity(h)
    await h.send()
    with h.db.uow() as uow:
        assert uow.pins.accept(ANNA, h.clock.now()) == new
        uow.commit()
    share = await h.send()
    assert share == all_devices(h.anna, h.ben, h.mod)
    pin = h.pins()[ANNA]
    assert (pin.master_key, pin.seen_key, pin.seen_at) == (new, None, None)
    assert len(h.notices()) == 1


async def test_accepting_with_nothing_waiting_changes_nothing(h: Harness) -> None:
    await h.send()
    with h.db.uow() as uow:
        assert uow.pins.accept(ANNA, h.clock.now()) is None
        assert uow.pins.accept(CARLA, h.clock.now()) is None
        uow.commit()
    assert h.pins()[ANNA].master_key == h.anna.master


async def test_a_second_change_is_told_again(h: Harness) -> None:
    await change_annas_identity(h)
    await h.send()
    h.anna.new_identity()
    h.gateway.device_list_version += 1
    await h.send()
    assert len(h.notices()) == 2
    assert h.pins()[ANNA].seen_key == h.anna.master
    assert [e.detail["neu"] for e in h.audit("identitaet_geaendert")][-1] == h.anna.master
    assert len(submitted_ids(h)) == 2


async def test_a_stranger_changing_keys_is_not_news(h: Harness) -> None:
    await h.send()
    h.eve.new_identity()
    h.gateway.device_list_version += 1
    share = await h.send()
    assert not any(u == EVE for u, _ in share)
    assert h.notices() == []
    assert EVE not in h.pins()


def test_a_pin_is_never_overwritten_and_only_a_seen_key_can_be_accepted(
    database: Database, clock: FakeClock
) -> None:
    first, second, third = (CrossSigningKeys.generate().master_public for _ in range(3))
    pinned_at = clock.now()
    with database.uow() as uow:
        uow.pins.saw(ANNA, second, pinned_at)  # nothing pinned: nothing to compare with
        uow.pins.pin(ANNA, first, pinned_at)
        uow.pins.pin(ANNA, second, pinned_at + timedelta(hours=1))
        uow.commit()
    with database.uow() as uow:
        row = uow.pins.get(ANNA)
        assert row is not None
        assert (row.master_key, row.seen_key) == (first, None)
        assert uow.pins.accept(ANNA, clock.now()) is None
        uow.pins.saw(ANNA, second, clock.now())
        uow.pins.saw(ANNA, third, clock.now() + timedelta(hours=2))
        uow.commit()
    with database.uow() as uow:
        assert set(uow.pins.for_users([ANNA, BEN])) == {ANNA}
        assert uow.pins.for_users([]) == {}
        assert uow.pins.accept(ANNA, clock.now() + timedelta(hours=3)) == third
        uow.commit()
    with database.uow() as uow:
        row = uow.pins.get(ANNA)
        assert row is not None
        assert (row.master_key, row.pinned_at, row.seen_key, row.seen_at) == (
            third,
            clock.now() + timedelta(hours=3),
            None,
            None,
        )


# -- unsigned devices --------------------------------------------------------------------------


async def test_an_unsigned_device_is_told_once_per_room_user_and_device(h: Harness) -> None:
    h.anna.device("ANNANEU", cross_signed=False)
    h.gateway.rooms[OTHER_ROOM] = [OWN, ANNA, MOD]
    for round_ in range(3):
        share = await h.send()
        assert (ANNA, "ANNANEU") not in share
        assert (ANNA, "ANNAPHONE") in share
        await h.send(OTHER_ROOM)
        h.gateway.device_list_version += 1  # every round asks the server again
        if round_ == 1:
            h.keeper = h.new_keeper()
    notices = h.notices()
    assert sorted(n.room_id for n in notices) == sorted([ROOM, OTHER_ROOM])
    for notice in notices:
        assert "ANNANEU" in notice.content["body"]
        assert ANNA in notice.content["body"]
        assert MOD in notice.content["m.mentions"]["user_ids"]
    assert sorted(submitted_ids(h)) == sorted(n.id for n in notices)
    assert h.audit() == []  # an unverified device is no identity change

    h.ben.device("BENNEU", cross_signed=False)
    h.gateway.device_list_version += 1
    await h.send()
    await h.send()
    assert len(h.notices()) == 3
    assert "BENNEU" in h.notices()[-1].content["body"]
    assert len(submitted_ids(h)) == 3


async def test_a_user_without_cross_signing_is_told_per_device(h: Harness) -> None:
    h.ben.publishes_master = False
    share = await h.send()
    assert not any(u == BEN for u, _ in share)
    assert BEN not in h.pins()
    (notice,) = h.notices()
    assert "BENDESK" in notice.content["body"]
    await h.send()
    assert len(h.notices()) == 1


async def test_a_device_verified_later_gets_keys(h: Harness) -> None:
    device = h.anna.device("ANNANEU", cross_signed=False)
    assert (ANNA, "ANNANEU") not in await h.send()
    signature = h.anna.keys.sign_device(ANNA, device)["signatures"][ANNA]
    device["signatures"][ANNA].update(signature)
    h.gateway.device_list_version += 1
    assert (ANNA, "ANNANEU") in await h.send()
    assert len(h.notices()) == 1


# -- !fk identität bestätigen ------------------------------------------------------------------


def _says_nothing_personal(text: str, h: Harness) -> bool:
    return not scan(text, h.clock.now().date())


async def waiting_change(h: Harness) -> tuple[str, str]:
    """Anna's identity changed and the keeper has seen it: (old, new) master key.

    The keys are random; the new one is chosen so that the fingerprints typed below give
    the personal-data guard nothing to object to (a prefix like ``Az/1`` would)."""
    await h.send()
    old = h.anna.master
    for _ in range(200):  # pragma: no branch
        keys = CrossSigningKeys.generate()
        typed = [f'"{fingerprint(k)[:9]}"' for k in (keys.master_public, old)]
        if all(_says_nothing_personal(f"{ANNA} fingerabdruck={t}", h) for t in typed):
            break
    h.anna.new_identity(keys)
    h.gateway.device_list_version += 1
    await h.send()
    assert h.pins()[ANNA].seen_key == keys.master_public
    return old, keys.master_public


@pytest.fixture
def chat(database: Database, clock: FakeClock) -> Room:
    """The room as the engine sees it: the keeper's organisation, the default calendar."""
    return Room(database, clock, Calendar(), room_id=ROOM, org=ORG)


def ask(chat: Room, sender: str, command: str) -> str:
    """``!fk <command>`` five seconds after the last message; the bot's reply."""
    return chat.say(UserId(sender), command, advance=timedelta(seconds=5))


def confirmations(h: Harness) -> list[AuditEntry]:
    return h.audit("identitaet_bestaetigt")


async def test_only_an_admin_may_accept_an_identity(h: Harness, chat: Room) -> None:
    old, new = await waiting_change(h)
    for sender in (MOD, ANNA):
        reply = ask(chat, sender, f"identität bestätigen {ANNA}")
        assert "der Rolle „admin“ vorbehalten" in reply
    pin = h.pins()[ANNA]
    assert (pin.master_key, pin.seen_key) == (old, new)
    assert confirmations(h) == []
    assert not any(u == ANNA for u, _ in await h.send())


async def test_accepting_without_a_waiting_change_is_explained(h: Harness, chat: Room) -> None:
    await h.send()
    before = h.snapshot()
    for who in (ANNA, CARLA):  # pinned and unchanged; never seen at all
        reply = ask(chat, ADMIN, f"identität bestätigen {who}")
        assert f"Für {who} wartet keine geänderte Identität auf Bestätigung." in reply
    assert h.snapshot() == before


async def test_a_wrong_fingerprint_changes_nothing(h: Harness, chat: Room) -> None:
    old, _ = await waiting_change(h)
    before = h.snapshot()
    wrong = fingerprint(old)[:9]
    reply = ask(chat, ADMIN, f'identität bestätigen {ANNA} fingerabdruck="{wrong}"')
    assert "Der angegebene Fingerabdruck passt nicht zum neuen Schlüssel" in reply
    assert "Nichts geändert" in reply
    assert h.snapshot() == before
    assert not any(u == ANNA for u, _ in await h.send())


@pytest.mark.parametrize("with_fingerprint", [True, False])
async def test_an_admin_accepts_the_new_identity_and_keys_flow_again(
    h: Harness, chat: Room, with_fingerprint: bool
) -> None:
    old, new = await waiting_change(h)
    command = f"identität bestätigen {ANNA}"
    if with_fingerprint:
        command += f' fingerabdruck="{fingerprint(new)[:9]}"'  # as Element shows it
    reply = ask(chat, ADMIN, command)
    assert "Neue Identität von" in reply
    assert ANNA in reply
    assert fingerprint(new) in reply

    pin = h.pins()[ANNA]
    assert (pin.master_key, pin.seen_key, pin.seen_at) == (new, None, None)
    (entry,) = confirmations(h)
    assert entry.actor == ADMIN
    assert entry.institution == "traeger"
    assert entry.detail == {"nutzer": ANNA, "alt": old, "neu": new}

    assert await h.send() == all_devices(h.anna, h.ben, h.mod)
    assert len(h.audit("identitaet_geaendert")) == 1
    assert len(h.notices()) == 1
