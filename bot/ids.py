"""Identifier types: Matrix ids and case pseudonyms are distinct types, never bare strings."""

from typing import NewType

RoomId = NewType("RoomId", str)
UserId = NewType("UserId", str)
EventId = NewType("EventId", str)
DeviceId = NewType("DeviceId", str)
CasePseudonym = NewType("CasePseudonym", str)


def server_name(user_id: str) -> str:
    """The homeserver part of a Matrix user id (``@a:b.example`` → ``b.example``)."""
    _, sep, server = user_id.partition(":")
    return server if sep else ""
