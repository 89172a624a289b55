"""The Matrix edge: the only package that imports nio.

nio's events become the frozen dataclasses of :mod:`bot.events` and nio's error
responses become :mod:`bot.errors` exceptions here and nowhere else.

- ``gateway``: :class:`MatrixGateway` (login/restore, sync, decryption retries,
  rooms, the one sending path with the key-sharing policy)
- ``convert``: nio events → bot events, invites, filling a limited timeline's gap
- ``crosssigning``: the bot's cross-signing keys on the homeserver
- ``credentials``: the stored login (``credentials.json``)
- ``screening``: nio's client with sync and ``/messages`` answers screened first
- ``transport``: raw JSON requests, network and token errors as bot errors
"""

from bot.matrix.credentials import Credentials, load_credentials, save_credentials
from bot.matrix.gateway import KeySharingPolicy, MatrixGateway, WithholdAll
from bot.matrix.screening import ScreeningClient

__all__ = [
    "Credentials",
    "KeySharingPolicy",
    "MatrixGateway",
    "ScreeningClient",
    "WithholdAll",
    "load_credentials",
    "save_credentials",
]
