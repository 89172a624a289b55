"""Configuration: one typed model, read from TOML and overridden by ``FKBOT_*`` variables.

Secrets (the Matrix password and the crypto-store pickle key) are never read
from the TOML file: they come from the environment or from a file whose path the
TOML names, so the TOML can be checked in or shown to a colleague.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter
from dataclasses import replace
from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url

from bot.secretfiles import private_file_problem
from bot.trust import SharingMode
from commands.circle import Circles, RoomPolicy
from commands.i18n import GERMAN, N_, languages
from domain.calendar import Calendar
from domain.org import (
    Assignment,
    Institution,
    InstitutionType,
    Organisation,
    Role,
    canonical_user_id,
)
from domain.text import Joined, Msg, Plural, Translator

ENV_PREFIX = "FKBOT_"
SECRET_KEYS = ("password", "pickle_key")


class ConfigError(Exception):
    """The configuration cannot be used; the message says what to fix. ``str()`` is
    German; :meth:`render` speaks the operator's language (``fkbot`` prints that)."""

    def __init__(self, text: str | Msg, **values: object) -> None:
        self.text: Msg = text if isinstance(text, Msg) else Msg(text, **values)
        super().__init__(self.text.render(GERMAN))

    def render(self, t: Translator) -> str:
        return self.text.render(t)


class ConfigProblem(ValueError):
    """A validator's complaint as a catalog text: pydantic keeps the exception, and
    :func:`format_validation_error` renders it in the operator's language."""

    def __init__(self, text: str | Msg, **values: object) -> None:
        self.text: Msg = text if isinstance(text, Msg) else Msg(text, **values)
        super().__init__(self.text.render(GERMAN))


PICKLE_KEY_MIN_BYTES = 32
PICKLE_KEY_MIN_BITS = 128  # by the key's own character frequencies; a floor, not a measure


def pickle_key_problem(key: str) -> Msg | None:
    """Refuse keys that are obviously weak: short, or made of few repeated characters.

    Entropy cannot be measured from one sample; this estimates it from the key's own
    character frequencies, which rejects "aaaa…", "abab…" and words, and accepts
    ``openssl rand -base64 32`` or ``secrets.token_urlsafe(32)``.
    """
    size = len(key.encode("utf-8"))
    if size < PICKLE_KEY_MIN_BYTES:
        return Msg(
            "Pickle-Schlüssel zu kurz (%(size)d Bytes, mindestens %(minimum)d); "
            "einen zufälligen erzeugen: openssl rand -base64 32",
            size=size,
            minimum=PICKLE_KEY_MIN_BYTES,
        )
    counts = Counter(key)
    per_char = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    if per_char * len(key) < PICKLE_KEY_MIN_BITS or len(counts) < 8:
        return Msg(
            "Pickle-Schlüssel zu einfach (zu wenige verschiedene Zeichen, z. B. ein "
            "wiederholtes Zeichen); einen zufälligen erzeugen: openssl rand -base64 32"
        )
    return None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatrixConfig(_Section):
    homeserver: str = Field(description="URL des Homeservers (Client-API)")
    user_id: str = Field(pattern=r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(:\d+)?$")
    device_id: str = Field(default="FALLKONFERENZBOT", pattern=r"^[A-Za-z0-9_\-]{4,64}$")
    device_name: str = "Fallkonferenz-Bot"
    password: SecretStr | None = None
    password_file: Path | None = None
    pickle_key: SecretStr | None = None
    pickle_key_file: Path | None = None
    store_path: Path = Path("var/store")
    allowed_homeservers: tuple[str, ...] = Field(min_length=1)
    require_encryption: bool = True
    sync_timeout_seconds: float = Field(default=30, ge=1, le=120)
    timeline_limit: int = Field(default=100, ge=1, le=1000)
    undecryptable_timeout_seconds: float = Field(default=60, ge=0)
    reconnect_max_seconds: float = Field(default=60, ge=1)
    key_sharing: SharingMode = SharingMode.CROSS_SIGNED
    pinned_devices: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _pinned_devices_need_their_mode(self) -> MatrixConfig:
        if self.key_sharing is SharingMode.PINNED_DEVICES and not self.pinned_devices:
            raise ConfigProblem(N_("key_sharing = pinned-devices braucht matrix.pinned_devices"))
        return self

    @field_validator("homeserver")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ConfigProblem(N_("muss mit http:// oder https:// beginnen"))
        return value.rstrip("/")

    @field_validator("allowed_homeservers")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.strip().lower() for v in value)

    @model_validator(mode="after")
    def _read_secret_files(self) -> MatrixConfig:
        updates: dict[str, Any] = {}
        for key in SECRET_KEYS:
            path: Path | None = getattr(self, f"{key}_file")
            if getattr(self, key) is None and path is not None:
                problem = private_file_problem(path)
                if problem is not None:
                    raise ConfigProblem(Joined(f"{key}_file", problem))
                try:
                    text = path.read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise ConfigProblem(
                        N_("%(key)s_file %(path)s kann nicht gelesen werden: %(reason)s"),
                        key=key,
                        path=str(path),
                        reason=exc.strerror,
                    ) from exc
                if not text:
                    raise ConfigProblem(
                        N_("%(key)s_file %(path)s ist leer"), key=key, path=str(path)
                    )
                updates[key] = SecretStr(text)
        if updates:
            # frozen model: rebuild via object.__setattr__ inside the validator only
            for key, value in updates.items():
                object.__setattr__(self, key, value)
        if self.pickle_key is not None:
            problem = pickle_key_problem(self.pickle_key.get_secret_value())
            if problem is not None:
                raise ConfigProblem(problem)
        return self

    @property
    def server_name(self) -> str:
        return self.user_id.split(":", 1)[1]


class BotConfig(_Section):
    command_prefix: str = Field(default="!fk", pattern=r"^\S{1,16}$")
    max_message_length: int = Field(default=4000, ge=100, le=65536)
    # The language of rooms that did not choose one with ``sprache``.
    language: str = "de"

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in languages():
            raise ConfigProblem(
                N_("unbekannte Sprache; verfügbar: %(languages)s"),
                languages=", ".join(languages()),
            )
        return value


class DatabaseConfig(_Section):
    url: str = "sqlite:///var/fkbot.sqlite3"


_KEY = r"^[a-z0-9][a-z0-9_\-]{0,63}$"


class InstitutionConfig(_Section):
    name: str = Field(min_length=1, max_length=120)
    type: InstitutionType = InstitutionType.SONSTIGE


class AssignmentConfig(_Section):
    """Either ``user`` (a Matrix id) or ``server`` (a whole homeserver), never both."""

    user: str | None = Field(default=None, pattern=r"^@[^:\s]+:[A-Za-z0-9.\-]+(:\d+)?$")
    server: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.\-]+(:\d+)?$")
    institution: str
    roles: tuple[Role, ...] = (Role.FACHKRAFT,)

    @model_validator(mode="after")
    def _one_subject(self) -> AssignmentConfig:
        if (self.user is None) == (self.server is None):
            raise ConfigProblem(N_("genau eines von user oder server angeben"))
        return self

    @property
    def subject(self) -> str:
        """``@local:server`` with the server in lower case (servers are case-insensitive)."""
        if self.user:
            return canonical_user_id(self.user)
        return (self.server or "").lower()


DEFAULT_TOPICS = ("Ausbildung", "Wohnen", "Gesundheit", "Kinderschutz", "Familie", "Schule")
DEFAULT_REASONS = (
    "kw-gefaehrdung",  # Kindeswohlgefährdung, gewichtige Anhaltspunkte
    "vernachlaessigung",
    "gewalt",
    "sucht",
    "sonstiges",
)


class AgencyConfig(_Section):
    """Institutions, who belongs to them, and the vocabularies of the case commands."""

    institutions: dict[str, InstitutionConfig] = Field(default_factory=dict)
    people: tuple[AssignmentConfig, ...] = ()
    topics: tuple[str, ...] = Field(default=DEFAULT_TOPICS, min_length=1)
    schutzauftrag_reasons: tuple[str, ...] = Field(default=DEFAULT_REASONS, min_length=1)
    # Members with this power level in the room also get the moderation role; 0: off.
    moderation_power_level: int = Field(default=50, ge=0, le=100)

    @field_validator("institutions")
    @classmethod
    def _keys(cls, value: dict[str, InstitutionConfig]) -> dict[str, InstitutionConfig]:
        for key in value:
            if not re.fullmatch(_KEY, key):
                raise ConfigProblem(
                    N_("Institutionskürzel %(key)s: nur a–z, 0–9, - und _"), key=repr(key)
                )
        return value

    @model_validator(mode="after")
    def _references(self) -> AgencyConfig:
        seen: set[str] = set()
        for entry in self.people:
            if entry.institution not in self.institutions:
                raise ConfigProblem(
                    N_("%(subject)s: unbekannte Institution %(institution)s"),
                    subject=entry.subject,
                    institution=repr(entry.institution),
                )
            if entry.subject in seen:
                raise ConfigProblem(
                    N_("%(subject)s ist doppelt eingetragen"), subject=entry.subject
                )
            seen.add(entry.subject)
        return self

    def organisation(self) -> Organisation:
        institutions = {
            key: Institution(key, spec.name, spec.type) for key, spec in self.institutions.items()
        }
        users: dict[str, Assignment] = {}
        servers: dict[str, Assignment] = {}
        for entry in self.people:
            assignment = Assignment(entry.subject, entry.institution, frozenset(entry.roles))
            (users if entry.user else servers)[entry.subject] = assignment
        return Organisation(
            institutions=institutions,
            users=users,
            servers=servers,
            topics=self.topics,
            schutzauftrag_reasons=self.schutzauftrag_reasons,
            moderation_power_level=self.moderation_power_level or None,
        )


_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def _clock_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


class ScheduleConfig(_Section):
    """The room's calendar: holidays of the Land, planning horizon, session defaults."""

    # Bundesland for public holidays (ISO 3166-2 without "DE-"), e.g. "HE"; "" = none.
    land: str = Field(default="", pattern=r"^(|BB|BE|BW|BY|HB|HE|HH|MV|NI|NW|RP|SH|SL|SN|ST|TH)$")
    horizon_days: int = Field(default=180, ge=7, le=730)
    capacity: int = Field(default=6, ge=1, le=50)
    slot_minutes: int = Field(default=20, ge=5, le=240)
    duration_minutes: int = Field(default=120, ge=10, le=600)
    # Reminders before each session, in minutes (default: 1 week, 1 day, 1 hour).
    reminder_offsets_minutes: tuple[int, ...] = Field(default=(10080, 1440, 60), max_length=10)

    @field_validator("reminder_offsets_minutes")
    @classmethod
    def _offsets(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= v <= 60 * 24 * 60 for v in value) or len(set(value)) != len(value):
            raise ConfigProblem(N_("verschiedene Minutenwerte zwischen 1 und 86400"))
        return tuple(sorted(value, reverse=True))

    # The agenda is posted this many working days before a session, at agenda_post_time
    # (0: only on request); unconfirmed agendas are brought to the moderators'
    # attention confirm_reminder_minutes before the start (0: never).
    agenda_working_days: int = Field(default=3, ge=0, le=15)
    agenda_post_time: str = Field(default="08:00", pattern=_HHMM)
    confirm_reminder_minutes: int = Field(default=1440, ge=0, le=20160)
    # Availability polls: start times offered on each working day, at most poll_slots.
    poll_times: tuple[str, ...] = Field(default=("09:00", "11:00", "14:00"), min_length=1)
    poll_slots: int = Field(default=8, ge=1, le=20)

    @field_validator("poll_times")
    @classmethod
    def _times(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(re.fullmatch(_HHMM, v) is None for v in value) or len(set(value)) != len(value):
            raise ConfigProblem(N_("verschiedene Uhrzeiten im Format HH:MM"))
        return tuple(sorted(value))

    def calendar(self) -> Calendar:
        return Calendar(
            land=self.land or None,
            horizon_days=self.horizon_days,
            capacity=self.capacity,
            slot_minutes=self.slot_minutes,
            duration_minutes=self.duration_minutes,
            reminder_offsets=self.reminder_offsets_minutes,
            agenda_working_days=self.agenda_working_days,
            agenda_post_time=_clock_time(self.agenda_post_time),
            confirm_reminder_minutes=self.confirm_reminder_minutes,
            poll_times=tuple(_clock_time(t) for t in self.poll_times),
            poll_slots=self.poll_slots,
        )


class ConferenceConfig(_Section):
    """How sessions are held: quorum, minutes, Wiedervorlage reminders."""

    # At least this many institutions must be present for the minutes to say
    # "beschlussfähig".
    quorum: int = Field(default=2, ge=1, le=20)
    # Moderation is reminded if the minutes are not confirmed within this many
    # working days after the session closed.
    minutes_confirm_working_days: int = Field(default=5, ge=1, le=30)
    # Reminders to the Lotse this many days before a Wiedervorlage (at 08:00).
    review_reminder_days: tuple[int, ...] = Field(default=(7, 1), max_length=5)

    @field_validator("review_reminder_days")
    @classmethod
    def _days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 <= v <= 90 for v in value) or len(set(value)) != len(value):
            raise ConfigProblem(N_("verschiedene Tageszahlen zwischen 0 und 90"))
        return tuple(sorted(value, reverse=True))


class RetentionConfig(_Section):
    """Löschfristen: when a case's data is deleted (the audit trail keeps a stub)."""

    # Days after "erledigt" until everything about the case is deleted (≈ 6 months).
    closed_days: int = Field(default=182, ge=1, le=3650)
    # Days after a revocation for every institution until the case's data is deleted.
    revoked_grace_days: int = Field(default=30, ge=0, le=3650)
    # Days a quarantined event's record (id, room, type, sender, reason) is kept.
    quarantine_days: int = Field(default=90, ge=1, le=3650)


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = False


class HealthConfig(_Section):
    """The HTTP listener for /healthz, /readyz and /metrics."""

    # host:port; loopback by default (a reverse proxy or the node's agent scrapes it);
    # "" switches the listener off.
    listen: str = "127.0.0.1:9464"
    # /readyz answers 200 only if the last successful sync is at most this old.
    ready_within_seconds: int = Field(default=120, ge=5, le=3600)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value == "":
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ConfigProblem(N_("erwartet host:port, z. B. 127.0.0.1:9464 (leer: aus)"))
        return value

    @property
    def address(self) -> tuple[str, int] | None:
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class FailoverConfig(_Section):
    """Active/standby on PostgreSQL (bot/activelock.py); without effect on SQLite."""

    # A standby tries for the lock this often.
    retry_seconds: float = Field(default=1.0, ge=0.2, le=60)
    # The active instance asks its lock connection this often whether it is alive …
    check_seconds: float = Field(default=1.0, ge=0.2, le=10)
    # … and fences itself if the answer takes longer than this.
    check_timeout_seconds: float = Field(default=1.0, ge=0.2, le=5)


class RoomConfig(_Section):
    """One room's own settings; anything left out follows the global sections."""

    institutions: tuple[str, ...] | None = None
    moderators: tuple[str, ...] = ()
    # Overrides of [schedule] for this room, e.g. {land = "BY", horizon_days = 90}.
    schedule: dict[str, Any] = Field(default_factory=dict)

    @field_validator("moderators")
    @classmethod
    def _user_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for user in value:
            if not re.fullmatch(r"@[^:\s]+:[^\s]+", user):
                raise ConfigProblem(
                    N_("%(user)s ist keine Matrix-ID (@name:server)"), user=repr(user)
                )
        return tuple(canonical_user_id(u) for u in value)


class Settings(BaseSettings):
    """The whole configuration. Build it with :func:`load_config`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    matrix: MatrixConfig
    bot: BotConfig = BotConfig()
    database: DatabaseConfig = DatabaseConfig()
    logging: LoggingConfig = LoggingConfig()
    health: HealthConfig = HealthConfig()
    failover: FailoverConfig = FailoverConfig()
    agency: AgencyConfig = AgencyConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    conference: ConferenceConfig = ConferenceConfig()
    retention: RetentionConfig = RetentionConfig()
    rooms: dict[str, RoomConfig] = Field(default_factory=dict)

    def circles(self) -> Circles:
        """The per-room policies of ``[rooms."<room id>"]``."""
        return Circles(
            {
                room_id: RoomPolicy(
                    institutions=None
                    if spec.institutions is None
                    else frozenset(spec.institutions),
                    moderators=frozenset(spec.moderators),
                    calendar=self.calendar(spec.schedule) if spec.schedule else None,
                )
                for room_id, spec in self.rooms.items()
            }
        )

    @model_validator(mode="after")
    def _rooms_name_known_institutions(self) -> Settings:
        for room_id, spec in self.rooms.items():
            if not room_id.startswith("!"):
                raise ConfigProblem(
                    N_("rooms: %(room)s ist keine Raum-ID (!…:server)"), room=repr(room_id)
                )
            unknown = set(spec.institutions or ()) - set(self.agency.institutions)
            if unknown:
                raise ConfigProblem(
                    Plural(
                        "rooms.%(room)s: unbekannte Institution %(names)s",
                        "rooms.%(room)s: unbekannte Institutionen %(names)s",
                        len(unknown),
                        room=room_id,
                        names=", ".join(sorted(unknown)),
                    )
                )
            if spec.schedule:
                ScheduleConfig(**(self.schedule.model_dump() | spec.schedule))
        return self

    def calendar(self, overrides: dict[str, Any] | None = None) -> Calendar:
        """The scheduling and conference policy the commands and the timed runner use;
        ``overrides`` are a room's own [schedule] values."""
        schedule = (
            ScheduleConfig(**(self.schedule.model_dump() | overrides))
            if overrides
            else self.schedule
        )
        return replace(
            schedule.calendar(),
            quorum=self.conference.quorum,
            minutes_working_days=self.conference.minutes_confirm_working_days,
            review_reminder_days=self.conference.review_reminder_days,
        )

    @model_validator(mode="after")
    def _people_on_allowed_servers(self) -> Settings:
        for entry in self.agency.people:
            server = (entry.server or entry.subject.split(":", 1)[1]).lower()
            if server not in self.matrix.allowed_homeservers:
                raise ConfigProblem(
                    N_(
                        "agency.people: %(subject)s ist auf keinem erlaubten Homeserver "
                        "(matrix.allowed_homeservers)"
                    ),
                    subject=entry.subject,
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML arrives as init kwargs; the environment must win over it.
        return (env_settings, init_settings)

    def resolve_paths(self, base: Path) -> Settings:
        """Relative paths in the file are relative to the file, not to the cwd."""
        matrix = self.matrix
        store = matrix.store_path if matrix.store_path.is_absolute() else base / matrix.store_path
        db_url = self.database.url
        url = make_url(db_url)
        database = url.database
        if (
            url.get_backend_name() == "sqlite"
            and database
            and database != ":memory:"
            and not Path(database).is_absolute()
        ):
            db_url = url.set(database=str(base / database)).render_as_string(hide_password=False)
        return self.model_copy(
            update={
                "matrix": matrix.model_copy(update={"store_path": store}),
                "database": self.database.model_copy(update={"url": db_url}),
            }
        )


def load_config(path: Path | None) -> Settings:
    """Read and validate the configuration; raise ConfigError with every problem listed."""
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(
                N_("Konfigurationsdatei %(path)s nicht gefunden."), path=str(path)
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                N_("%(path)s: kein gültiges TOML: %(problem)s"), path=str(path), problem=str(exc)
            ) from exc
        base = path.resolve().parent
        matrix = data.get("matrix")
        if isinstance(matrix, dict):
            for key in SECRET_KEYS:
                if key in matrix:
                    raise ConfigError(
                        N_(
                            "%(path)s: matrix.%(key)s darf nicht in der TOML-Datei stehen. "
                            "Setze %(variable)s oder matrix.%(key)s_file."
                        ),
                        path=str(path),
                        key=key,
                        variable=f"{ENV_PREFIX}MATRIX__{key.upper()}",
                    )
                file_key = f"{key}_file"
                if isinstance(matrix.get(file_key), str):
                    # Read during validation, so resolve against the file's folder first.
                    matrix[file_key] = str(base / Path(matrix[file_key]).expanduser())
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, path)) from None
    return settings.resolve_paths(base)


_MESSAGES = {
    "missing": N_("fehlt"),
    "extra_forbidden": N_("unbekannter Schlüssel"),
    "string_pattern_mismatch": N_("hat nicht das erwartete Format"),
    "greater_than_equal": N_("ist zu klein"),
    "less_than_equal": N_("ist zu groß"),
    "too_short": N_("darf nicht leer sein"),
    "literal_error": N_("ist keiner der erlaubten Werte"),
    "enum": N_("ist keiner der erlaubten Werte"),
    "bool_parsing": N_("muss true oder false sein"),
    "int_parsing": N_("muss eine ganze Zahl sein"),
    "float_parsing": N_("muss eine Zahl sein"),
}


def format_validation_error(exc: ValidationError, path: Path | None) -> Msg:
    """Every problem on its own line, each a catalog text where the bot wrote it (a
    message of pydantic's own stays English, as pydantic writes it)."""
    heading = Plural(
        "%(where)s: %(count)d Fehler in der Konfiguration:",
        "%(where)s: %(count)d Fehler in der Konfiguration:",
        exc.error_count(),
        where=str(path) if path else Msg("Konfiguration"),
    )
    lines: list[Msg | str] = [heading]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        error = err.get("ctx", {}).get("error")
        msgid = _MESSAGES.get(err["type"])
        text: Msg | str
        if isinstance(error, ConfigProblem):
            text = error.text
        elif msgid is None:
            text = str(err["msg"]).removeprefix("Value error, ")
        elif err["type"] in ("literal_error", "enum"):
            text = Joined(Msg(msgid), f"({err.get('ctx', {}).get('expected', '')})")
        else:
            text = Msg(msgid)
        # a check across sections (e.g. agency.people vs. matrix) has no location
        lines.append(Joined(f"  - {loc}:", text) if loc else Joined("  -", text))
    return Joined(*lines, separator="\n")
