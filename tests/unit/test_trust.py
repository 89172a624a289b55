"""The key-sharing policy as a pure decision, fed with realistic ``/keys/query`` answers.

Every answer here is built the way a homeserver builds it: the members' real
cross-signing keys (``CrossSigningKeys``), device objects self-signed with a real
device key and, where the owner verified them, signed by the owner's self-signing
key. Forgeries are made by changing a signed field or signing with someone else's
key, never by writing nonsense into a signature.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signedjson.key import encode_verify_key_base64, generate_signing_key, get_verify_key

from bot.identity import CrossSigningKeys, device_is_cross_signed, fingerprint
from bot.testing.fakekeys import Person, cross_sign, curve25519_key, keys_query
from bot.trust import Decision, Pin, SharingMode, decide, screen_keys_query

OWN = "@fallkonferenz-bot:fk.test"
ANNA = "@anna:fk.test"
BEN = "@ben:fk.test"
EVE = "@eve:fremd.example"  # valid chain, but her homeserver is not allow-listed
ALLOWED = ("fk.test",)


def cross_signed(
    query: Mapping[str, Any],
    pins: Mapping[str, Pin] | None = None,
    members: tuple[str, ...] | None = None,
) -> Decision:
    if members is None:
        members = (OWN, *sorted(query["device_keys"]))
    return decide(
        SharingMode.CROSS_SIGNED,
        members,
        query,
        pins or {},
        own_user=OWN,
        allowed_homeservers=ALLOWED,
    )


@pytest.fixture
def anna() -> Person:
    person = Person(ANNA)
    person.device("ANNAPHONE")
    person.device("ANNALAPTOP")
    return person


@pytest.fixture
def ben() -> Person:
    person = Person(BEN)
    person.device("BENDESK")
    return person


# -- the test data is what a server sends ----------------------------------------------


def test_the_built_answer_carries_a_verifiable_chain(anna: Person) -> None:
    query = keys_query(anna)
    assert set(query["master_keys"][ANNA]["keys"].values()) == {anna.master}
    device = query["device_keys"][ANNA]["ANNAPHONE"]
    # The device's own signature and the self-signing key's, side by side.
    assert set(device["signatures"][ANNA]) == {
        "ed25519:ANNAPHONE",
        *query["self_signing_keys"][ANNA]["keys"],
    }
    assert device_is_cross_signed(query, ANNA, "ANNAPHONE")


# -- cross-signed mode -----------------------------------------------------------------


def test_a_cross_signed_device_is_shared_and_its_master_pinned_on_first_sight(
    anna: Person, ben: Person
) -> None:
    decision = cross_signed(keys_query(anna, ben))
    assert decision.share == {(ANNA, "ANNAPHONE"), (ANNA, "ANNALAPTOP"), (BEN, "BENDESK")}
    assert decision.shares_with(ANNA, "ANNAPHONE")
    assert decision.new_pins == {ANNA: anna.master, BEN: ben.master}
    assert decision.changed == {}
    assert decision.unsigned == frozenset()


def test_a_device_without_the_self_signing_signature_is_withheld_and_listed(
    anna: Person,
) -> None:
    anna.device("ANNANEU", cross_signed=False)
    decision = cross_signed(keys_query(anna))
    assert (ANNA, "ANNANEU") not in decision.share
    assert decision.unsigned == {(ANNA, "ANNANEU")}
    assert decision.share == {(ANNA, "ANNAPHONE"), (ANNA, "ANNALAPTOP")}
    # Her identity is still pinned: the unsigned device says nothing against it.
    assert decision.new_pins == {ANNA: anna.master}


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda d: d["keys"].__setitem__("curve25519:ANNAPHONE", curve25519_key()),
            id="curve25519-key-swapped",
        ),
        pytest.param(
            lambda d: d["keys"].__setitem__(
                "ed25519:ANNAPHONE",
                encode_verify_key_base64(get_verify_key(generate_signing_key("x"))),
            ),
            id="ed25519-key-swapped",
        ),
        pytest.param(lambda d: d["algorithms"].append("m.olm.v0"), id="algorithms-changed"),
    ],
)
def test_a_device_changed_after_signing_is_withheld(anna: Person, tamper: Any) -> None:
    tamper(anna.devices["ANNAPHONE"])
    decision = cross_signed(keys_query(anna))
    assert (ANNA, "ANNAPHONE") not in decision.share
    assert (ANNA, "ANNAPHONE") in decision.unsigned
    assert decision.shares_with(ANNA, "ANNALAPTOP")


def test_a_device_signed_with_another_users_self_signing_key_is_withheld(
    anna: Person, ben: Person
) -> None:
    forged = anna.device("ANNAFAKE", cross_signed=False)
    cross_sign(forged, ANNA, ben.keys, as_user=ANNA)  # Ben's SSK, claiming to be Anna's
    decision = cross_signed(keys_query(anna, ben))
    assert (ANNA, "ANNAFAKE") not in decision.share
    assert (ANNA, "ANNAFAKE") in decision.unsigned
    assert decision.shares_with(ANNA, "ANNAPHONE")


def test_a_self_signing_key_not_signed_by_the_master_is_not_trusted(
    anna: Person,
) -> None:
    """The server swaps in a self-signing key of its own making, signed by another master."""
    intruder = CrossSigningKeys.generate()
    planted = anna.device("ANNAFAKE", cross_signed=False)
    cross_sign(planted, ANNA, intruder)
    query = keys_query(anna)
    query["self_signing_keys"][ANNA] = intruder.upload_body(ANNA)["self_signing_key"]
    decision = cross_signed(query)
    assert decision.share == frozenset()
    assert decision.unsigned == {(ANNA, "ANNAPHONE"), (ANNA, "ANNALAPTOP"), (ANNA, "ANNAFAKE")}


def test_a_signed_device_object_listed_under_another_device_id_is_not_shared(
    anna: Person,
) -> None:
    """A server must not be able to lend a verified device's signed keys to a device of its
    own: the signed object names its user and device, and those must be the ones listed."""
    query = keys_query(anna)
    query["device_keys"][ANNA]["SERVERDEV"] = copy.deepcopy(query["device_keys"][ANNA]["ANNAPHONE"])
    decision = cross_signed(query)
    assert (ANNA, "SERVERDEV") not in decision.share
    assert (ANNA, "SERVERDEV") in decision.unsigned
    assert decision.share == {(ANNA, "ANNAPHONE"), (ANNA, "ANNALAPTOP")}


def test_a_signed_device_object_listed_under_another_user_is_not_shared(
    anna: Person, ben: Person
) -> None:
    query = keys_query(anna, ben)
    query["device_keys"][BEN]["ANNAPHONE"] = copy.deepcopy(query["device_keys"][ANNA]["ANNAPHONE"])
    decision = cross_signed(query)
    assert (BEN, "ANNAPHONE") not in decision.share
    assert decision.shares_with(BEN, "BENDESK")


def test_a_user_without_master_key_gets_nothing_and_all_devices_are_unsigned(
    anna: Person, ben: Person
) -> None:
    anna.publishes_master = False
    decision = cross_signed(keys_query(anna, ben))
    assert decision.unsigned == {(ANNA, "ANNAPHONE"), (ANNA, "ANNALAPTOP")}
    assert not any(user == ANNA for user, _ in decision.share)
    assert ANNA not in decision.new_pins
    assert decision.share == {(BEN, "BENDESK")}


@pytest.mark.parametrize(
    "master_key",
    [
        pytest.param({"user_id": ANNA, "usage": ["master"], "keys": {}}, id="no-key"),
        pytest.param(
            {"user_id": ANNA, "usage": ["master"], "keys": {"ed25519:abc": "xyz"}},
            id="id-does-not-match-key",
        ),
    ],
)
def test_a_malformed_master_key_counts_as_none(anna: Person, master_key: dict[str, Any]) -> None:
    query = keys_query(anna)
    query["master_keys"][ANNA] = master_key
    decision = cross_signed(query)
    assert decision.share == frozenset()
    assert decision.new_pins == {}
    assert decision.unsigned == {(ANNA, "ANNAPHONE"), (ANNA, "ANNALAPTOP")}


def test_a_pinned_master_key_that_is_unchanged_shares_without_a_new_pin(anna: Person) -> None:
    decision = cross_signed(keys_query(anna), {ANNA: Pin(ANNA, anna.master)})
    assert decision.share == {(ANNA, "ANNAPHONE"), (ANNA, "ANNALAPTOP")}
    assert decision.new_pins == {}
    assert decision.changed == {}


def test_a_changed_master_key_withholds_every_device_and_is_reported(
    anna: Person, ben: Person
) -> None:
    old = anna.master
    anna.new_identity()
    pins = {ANNA: Pin(ANNA, old), BEN: Pin(BEN, ben.master)}
    query = keys_query(anna, ben)
    # The devices themselves are properly signed by the new identity …
    assert device_is_cross_signed(query, ANNA, "ANNAPHONE")
    decision = cross_signed(query, pins)
    # … and still get nothing until an admin accepts it.
    assert decision.share == {(BEN, "BENDESK")}
    assert decision.changed == {ANNA: anna.master}
    assert decision.new_pins == {}
    assert decision.unsigned == frozenset()


def test_a_changed_master_key_already_seen_is_withheld_but_not_reported_again(
    anna: Person,
) -> None:
    old = anna.master
    anna.new_identity()
    decision = cross_signed(keys_query(anna), {ANNA: Pin(ANNA, old, seen_key=anna.master)})
    assert decision.share == frozenset()
    assert decision.changed == {}
    assert decision.new_pins == {}


def test_a_further_change_after_one_seen_is_reported_again(anna: Person) -> None:
    old = anna.master
    anna.new_identity()
    seen = anna.master
    anna.new_identity()
    decision = cross_signed(keys_query(anna), {ANNA: Pin(ANNA, old, seen_key=seen)})
    assert decision.share == frozenset()
    assert decision.changed == {ANNA: anna.master}


def test_returning_to_the_pinned_key_shares_again(anna: Person) -> None:
    """Someone else's key was seen, but the pinned one is back: nothing to accept."""
    other = CrossSigningKeys.generate().master_public
    decision = cross_signed(keys_query(anna), {ANNA: Pin(ANNA, anna.master, seen_key=other)})
    assert decision.share == {(ANNA, "ANNAPHONE"), (ANNA, "ANNALAPTOP")}
    assert decision.changed == {}


def test_a_pin_of_someone_not_in_the_room_changes_nothing(anna: Person, ben: Person) -> None:
    decision = cross_signed(
        keys_query(anna, ben), {BEN: Pin(BEN, "nicht-sein-schluessel")}, members=(OWN, ANNA)
    )
    assert decision.share == {(ANNA, "ANNAPHONE"), (ANNA, "ANNALAPTOP")}
    assert decision.changed == {}
    assert decision.new_pins == {ANNA: anna.master}


# -- homeservers and the bot itself ------------------------------------------------------


@pytest.fixture
def eve() -> Person:
    person = Person(EVE)
    person.device("EVEPHONE")
    return person


@pytest.mark.parametrize("mode", [SharingMode.CROSS_SIGNED, SharingMode.PINNED_DEVICES])
def test_users_on_other_homeservers_never_get_keys(
    mode: SharingMode, anna: Person, eve: Person
) -> None:
    query = keys_query(anna, eve)
    assert device_is_cross_signed(query, EVE, "EVEPHONE")  # her chain is fine
    decision = decide(
        mode,
        (OWN, ANNA, EVE),
        query,
        {EVE: Pin(EVE, eve.master)},
        own_user=OWN,
        allowed_homeservers=ALLOWED,
        pinned_devices={EVE: ("EVEPHONE",), ANNA: ("ANNAPHONE",)},
    )
    assert not any(user == EVE for user, _ in decision.share)
    assert EVE not in decision.new_pins
    assert EVE not in decision.changed
    assert decision.shares_with(ANNA, "ANNAPHONE")


def test_the_homeserver_allow_list_ignores_case(anna: Person) -> None:
    decision = decide(
        SharingMode.CROSS_SIGNED,
        (OWN, ANNA),
        keys_query(anna),
        {},
        own_user=OWN,
        allowed_homeservers=("FK.Test",),
    )
    assert decision.shares_with(ANNA, "ANNAPHONE")


@pytest.mark.parametrize("mode", list(SharingMode))
def test_the_bots_own_user_is_never_in_share(mode: SharingMode, anna: Person) -> None:
    bot = Person(OWN)
    bot.device("BOTDEVICE")
    bot.device("OLDBOTDEVICE")
    query = keys_query(bot, anna)
    assert device_is_cross_signed(query, OWN, "OLDBOTDEVICE")
    decision = decide(
        mode,
        (OWN, ANNA),
        query,
        {OWN: Pin(OWN, bot.master)},
        own_user=OWN,
        allowed_homeservers=ALLOWED,
        pinned_devices={OWN: ("BOTDEVICE", "OLDBOTDEVICE"), ANNA: ("ANNAPHONE",)},
    )
    assert not any(user == OWN for user, _ in decision.share)
    assert OWN not in decision.new_pins
    assert not any(user == OWN for user, _ in decision.unsigned)
    assert decision.shares_with(ANNA, "ANNAPHONE")


# -- pinned-devices and all-members --------------------------------------------------------


def test_pinned_devices_shares_exactly_the_configured_devices_of_members(
    anna: Person, ben: Person, eve: Person
) -> None:
    anna.device("ANNAUNSIGNED", cross_signed=False)
    carla = Person("@carla:fk.test")
    carla.device("CARLAPHONE")
    decision = decide(
        SharingMode.PINNED_DEVICES,
        (OWN, ANNA, BEN, EVE),  # Carla is not in the room
        keys_query(anna, ben, eve, carla),
        {},
        own_user=OWN,
        allowed_homeservers=ALLOWED,
        pinned_devices={
            ANNA: ("ANNAPHONE", "ANNAUNSIGNED", "ANNAGONE"),  # ANNAGONE: no such device
            EVE: ("EVEPHONE",),
            "@carla:fk.test": ("CARLAPHONE",),
        },
    )
    # Configured means configured: cross-signing is not asked in this mode.
    assert decision.share == {(ANNA, "ANNAPHONE"), (ANNA, "ANNAUNSIGNED")}
    assert decision.new_pins == {}
    assert decision.changed == {}
    assert decision.unsigned == frozenset()


def test_pinned_devices_without_configuration_shares_nothing(anna: Person) -> None:
    decision = decide(
        SharingMode.PINNED_DEVICES,
        (OWN, ANNA),
        keys_query(anna),
        {},
        own_user=OWN,
        allowed_homeservers=ALLOWED,
    )
    assert decision.share == frozenset()


def test_all_members_shares_every_device_of_every_member_but_the_bots(
    anna: Person, ben: Person, eve: Person
) -> None:
    anna.device("ANNAUNSIGNED", cross_signed=False)
    ben.publishes_master = False
    bot = Person(OWN)
    bot.device("BOTDEVICE")
    carla = Person("@carla:fk.test")
    carla.device("CARLAPHONE")
    old = anna.master
    anna.new_identity()
    decision = decide(
        SharingMode.ALL_MEMBERS,
        (OWN, ANNA, BEN, EVE),
        keys_query(bot, anna, ben, eve, carla),
        {ANNA: Pin(ANNA, old)},  # even a changed identity: test rooms only
        own_user=OWN,
        allowed_homeservers=ALLOWED,
    )
    assert decision.share == {
        (ANNA, "ANNAPHONE"),
        (ANNA, "ANNALAPTOP"),
        (ANNA, "ANNAUNSIGNED"),
        (BEN, "BENDESK"),
        (EVE, "EVEPHONE"),
    }
    assert decision.new_pins == {}
    assert decision.changed == {}


def test_a_member_missing_from_the_answer_gets_nothing(anna: Person) -> None:
    for mode in SharingMode:
        decision = decide(
            mode,
            (OWN, ANNA, BEN),
            keys_query(anna),
            {},
            own_user=OWN,
            allowed_homeservers=ALLOWED,
            pinned_devices={BEN: ("BENDESK",)},
        )
        assert not any(user == BEN for user, _ in decision.share), mode
        assert BEN not in decision.new_pins


def test_fingerprint_groups_the_key_in_fours() -> None:
    assert fingerprint("abcdefghij") == "abcd efgh ij"
    key = CrossSigningKeys.generate()
    assert fingerprint(key.master_public) == key.fingerprint()


# -- property: in cross-signed mode, a shared device is a verified one -----------------------

DEVICE_STATES = ("signed", "unsigned", "tampered", "foreign-ssk")
PIN_STATES = ("none", "same", "other", "other-seen")
USERS = (OWN, ANNA, BEN, "@carla:fk.test", EVE)
POOL = [CrossSigningKeys.generate() for _ in range(6)]


@dataclass(frozen=True)
class Spec:
    user: str
    member: bool
    keys: int
    publishes_master: bool
    pin: str
    devices: tuple[str, ...]


@st.composite
def populations(draw: st.DrawFn) -> list[Spec]:
    users = draw(st.lists(st.sampled_from(USERS), unique=True, max_size=len(USERS)))
    return [
        Spec(
            user=user,
            member=draw(st.booleans()),
            keys=draw(st.integers(0, len(POOL) - 1)),
            publishes_master=draw(st.booleans()),
            pin=draw(st.sampled_from(PIN_STATES)),
            devices=tuple(draw(st.lists(st.sampled_from(DEVICE_STATES), max_size=3))),
        )
        for user in users
    ]


def _build(specs: list[Spec]) -> tuple[dict[str, Any], dict[str, Pin], list[str]]:
    people: list[Person] = []
    pins: dict[str, Pin] = {}
    for spec in specs:
        keys = POOL[spec.keys]
        person = Person(spec.user, keys=keys, publishes_master=spec.publishes_master)
        other = POOL[(spec.keys + 1) % len(POOL)]
        for n, state in enumerate(spec.devices):
            obj = person.device(f"D{n}{state[:2].upper()}", cross_signed=state == "signed")
            if state == "tampered":
                cross_sign(obj, spec.user, keys)
                obj["keys"][f"curve25519:{obj['device_id']}"] = curve25519_key()
            elif state == "foreign-ssk":
                cross_sign(obj, spec.user, other)
        people.append(person)
        if spec.pin == "same":
            pins[spec.user] = Pin(spec.user, keys.master_public)
        elif spec.pin == "other":
            pins[spec.user] = Pin(spec.user, other.master_public)
        elif spec.pin == "other-seen":
            pins[spec.user] = Pin(spec.user, other.master_public, seen_key=keys.master_public)
    members = [s.user for s in specs if s.member]
    return keys_query(*people), pins, members


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(populations())
def test_cross_signed_mode_shares_only_verified_devices_of_pinned_identities(
    specs: list[Spec],
) -> None:
    query, pins, members = _build(specs)
    decision = decide(
        SharingMode.CROSS_SIGNED, members, query, pins, own_user=OWN, allowed_homeservers=ALLOWED
    )
    for user, device in decision.share:
        assert user != OWN
        assert user.endswith(":fk.test")
        assert user in members
        assert device_is_cross_signed(query, user, device)
        master = next(iter(query["master_keys"][user]["keys"].values()))
        assert master == (pins[user].master_key if user in pins else decision.new_pins[user])

    # And exactly those: a model of the policy, spec by spec.
    expected_share: set[tuple[str, str]] = set()
    expected_changed: dict[str, str] = {}
    for spec in specs:
        if not spec.member or spec.user == OWN or spec.user == EVE:
            continue
        if not spec.publishes_master:
            continue
        master = POOL[spec.keys].master_public
        if spec.pin == "other":
            expected_changed[spec.user] = master
        if spec.pin in ("other", "other-seen"):
            continue
        for n, state in enumerate(spec.devices):
            if state == "signed":
                expected_share.add((spec.user, f"D{n}{state[:2].upper()}"))
    assert decision.share == expected_share
    assert decision.changed == expected_changed
    assert set(decision.new_pins) == {
        s.user
        for s in specs
        if s.member and s.user not in (OWN, EVE) and s.publishes_master and s.pin == "none"
    }


# -- the server's answer is untrusted input --------------------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def test_screening_keeps_a_well_formed_answer_and_its_decision() -> None:
    anna = Person("@anna:fk.test")
    anna.device("PHONE")
    anna.device("LAPTOP", cross_signed=False)
    query = keys_query(anna)
    screened = screen_keys_query(query)
    assert screened["device_keys"] == query["device_keys"]
    assert screened["master_keys"] == query["master_keys"]
    assert cross_signed(screened) == cross_signed(query)
    assert ("@anna:fk.test", "PHONE") in cross_signed(screened).share


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    section=st.sampled_from(["device_keys", "master_keys", "self_signing_keys", "top", "device"]),
    junk=JSONISH,
)
def test_a_malformed_answer_never_stops_the_decision_and_trusts_nothing_broken(
    section: str, junk: Any
) -> None:
    anna = Person("@anna:fk.test")
    anna.device("PHONE")
    query: Any = keys_query(anna)
    if section == "top":
        query = junk
    elif section == "device":
        query["device_keys"]["@anna:fk.test"]["PHONE"] = junk
    else:
        query[section] = junk
    decision = cross_signed(screen_keys_query(query), members=(OWN, "@anna:fk.test"))
    # junk in place of any part of the chain: nothing is trusted, and nothing raised
    assert decision.share == frozenset()
