"""The values the ``state`` columns hold, one enum per table (or family of tables).

They are ``StrEnum``: stored and compared as the German (or, for the bot's own
bookkeeping, English) words the columns have always held, so existing rows keep their
meaning. Code writes and compares these members, never the bare words.
"""

from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    """``case_file.state``."""

    OPEN = "offen"
    CLOSED = "erledigt"  # retention counts the deletion period from closed_at


class SessionState(StrEnum):
    """``session.state`` (a Termin)."""

    PLANNED = "geplant"
    CANCELLED = "abgesagt"
    ENDED = "beendet"  # held; its sitting was closed


class JobState(StrEnum):
    """``reminder.state`` and ``case_reminder.state``: a timed job, run at most once."""

    OPEN = "offen"
    SENT = "gesendet"
    OBSOLETE = "hinfällig"  # its reason went away (session cancelled, review done …)
    SKIPPED = "übersprungen"  # an older one of several due at once: one catch-up only


class SchutzauftragState(StrEnum):
    """``schutzauftrag.state`` (§ 8a SGB VIII)."""

    OPEN = "offen"
    CONFIRMED = "bestätigt"
    ENDED = "beendet"


class PollState(StrEnum):
    """``poll.state`` (an availability poll, Umfrage)."""

    OPEN = "offen"
    CLOSED = "geschlossen"
    NO_RESULT = "ohne_ergebnis"


class TaskState(StrEnum):
    """``task.state`` (an Aufgabe from a sitting)."""

    OPEN = "offen"
    ENDED = "beendet"  # the case was closed


class ReviewState(StrEnum):
    """``review.state`` (a Wiedervorlage: review date)."""

    OPEN = "offen"
    OVERDUE = "überfällig"
    DONE = "erledigt"
    REPLACED = "ersetzt"  # a newer review date for the case
    ENDED = "beendet"  # the case was closed


class OutboxState(StrEnum):
    """``outbox_message.state``: the bot's own bookkeeping."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after retries
    REFUSED = "refused"  # must not be sent (e.g. no trusted device to share keys with)


class DecryptionState(StrEnum):
    """``pending_decryption.state``: an event the bot could not decrypt yet."""

    WAITING = "waiting"
    NOTIFIED = "notified"  # the sender was told once
    DECRYPTED = "decrypted"
    EXPIRED = "expired"
