"""Predict, then reveal: a teacher's question under a short class code, and the class's guesses, in a database.

No Streamlit here (viz/views/classroom.py draws it), so the storage is tested on its own. Through SQLAlchemy
any database will do: by default a SQLite file (nothing to set up); with several replicas of the app, a
shared server (PostgreSQL, …) named by a SQLAlchemy URL in the environment variable
TRANSFORMERSCOPE_DATABASE_URL (or `classroom_database_url` in .streamlit/secrets.toml), so that every
replica sees the same class.

A question holds what the teacher's screen asked (its kind, the token it is about, the options the
students pick from, the model's answer and its weight or probability for every option); a guess holds
an option's index, a random id for the device that sent it (one guess per device, a new one replaces
it) and an optional nickname — nothing else about a person. Questions expire (two hours by default):
an expired one is refused, and purged with its guesses whenever a question is opened or looked up.
A teacher's next question may keep the class's code (when it is free), so that students who follow the
code see it open. `status` is the cheap look-up that students' pages poll.

Follow the presenter: a lesson holds the view a teacher's screen shows (its page and the URL's choices, see
viz/views/follow.py) under a class code, and a version that grows with every change; students' pages poll
`lesson_version` (one indexed row's one column) and read the view only when it has changed. Each student's
page sends a heartbeat every few seconds (a random id per browser session, following or exploring, when):
the teacher's screen counts the recent ones. Nothing else is stored about a student.

A database that cannot be reached, is read-only or stays locked raises `DatabaseUnavailable` (a
ClassroomError, said to the person) from every method, the original error logged on the server.

The join link: the address the teacher's browser reached, unless that is this computer's own name
(localhost), which a student's device cannot reach: then the computer's address on the local network,
read from its network interfaces (no packet is sent).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import secrets
import socket
import struct
import tempfile
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, UniqueConstraint, create_engine, delete, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from core import N_

DATABASE_URL_ENV = "TRANSFORMERSCOPE_DATABASE_URL"
VAR = Path(__file__).resolve().parent.parent / "var"  # ignored by git
LIFETIME = timedelta(hours=2)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: easy to read off a projector
CODE_LENGTH = 4
MAX_OPTIONS = 40  # a projector shows this many bars at most
MAX_OPTION_CHARS = 80
MAX_SUBJECT_CHARS = 200
MAX_NICKNAME_CHARS = 24
KINDS = ("attention", "next_token")
LESSON_LIFETIME = timedelta(hours=2)  # after the teacher's last change
HEARTBEAT = timedelta(seconds=5)  # how often a student's page says it is there
PRESENT = 3 * HEARTBEAT  # counted as in the class while its last heartbeat is this recent
SQLITE_BUSY_S = 2  # a locked SQLite file is given up on after this (sqlite3's default, 5 s, stalls a page)
LOG = logging.getLogger(__name__)
LOG_EVERY_S = 60  # a database that stays unreachable is logged once a minute, not at every poll


def default_database_url() -> str:
    """A SQLite file under the repository's var/ (the OS's temporary folder if that cannot be written)."""
    for folder in (VAR, Path(tempfile.gettempdir()) / "transformerscope"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return f"sqlite:///{folder / 'classroom.sqlite3'}"
    return "sqlite://"  # in memory: one process only


def database_url(setting: str | None = None) -> str:
    """The environment variable, else a setting (secrets.toml), else the default SQLite file."""
    return os.environ.get(DATABASE_URL_ENV) or setting or default_database_url()


def is_code(raw: str) -> bool:
    return len(raw) == CODE_LENGTH and all(char in CODE_ALPHABET for char in raw)


def normal_code(typed: str) -> str:
    """What a student typed, as a code: upper case, spaces dropped."""
    return "".join(typed.split()).upper()[:CODE_LENGTH * 2]


def clean_nickname(raw: str | None) -> str | None:
    """A nickname without control characters, cut to MAX_NICKNAME_CHARS; None when nothing is left."""
    if not raw:
        return None
    kept = "".join(char for char in raw if unicodedata.category(char)[0] != "C").strip()
    return kept[:MAX_NICKNAME_CHARS] or None


def _now() -> datetime:
    """Naive UTC: every database stores it the same way."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class QuestionRow(Base):
    __tablename__ = "transformerscope_questions"

    code: Mapped[str] = mapped_column(String(CODE_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(MAX_SUBJECT_CHARS * 4))  # the token asked about
    detail: Mapped[dict] = mapped_column(JSON)  # where the answer comes from: layer, head, model
    options: Mapped[list] = mapped_column(JSON)
    answer: Mapped[int] = mapped_column(Integer)
    shares: Mapped[list] = mapped_column(JSON)  # the model's weight / probability for each option
    created: Mapped[datetime] = mapped_column(DateTime)
    expires: Mapped[datetime] = mapped_column(DateTime, index=True)
    revealed: Mapped[bool] = mapped_column(Boolean, default=False)


class LessonRow(Base):
    __tablename__ = "transformerscope_lessons"

    code: Mapped[str] = mapped_column(String(CODE_LENGTH), primary_key=True)
    view: Mapped[dict] = mapped_column(JSON)  # the page and the choices the teacher's screen shows
    version: Mapped[int] = mapped_column(Integer)  # grows with every published change
    created: Mapped[datetime] = mapped_column(DateTime)
    expires: Mapped[datetime] = mapped_column(DateTime, index=True)


class FollowerRow(Base):
    __tablename__ = "transformerscope_followers"
    __table_args__ = (UniqueConstraint("code", "viewer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)
    viewer: Mapped[str] = mapped_column(String(64))  # a random id kept by one browser session
    following: Mapped[bool] = mapped_column(Boolean)  # False: exploring on their own
    seen: Mapped[datetime] = mapped_column(DateTime)


class GuessRow(Base):
    __tablename__ = "transformerscope_guesses"
    __table_args__ = (UniqueConstraint("code", "voter"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)
    voter: Mapped[str] = mapped_column(String(64))  # a random id kept by one browser session
    choice: Mapped[int] = mapped_column(Integer)
    nickname: Mapped[str | None] = mapped_column(String(MAX_NICKNAME_CHARS * 4), nullable=True)
    sent: Mapped[datetime] = mapped_column(DateTime)


@dataclass(frozen=True)
class Question:
    code: str
    kind: str
    subject: str
    detail: dict
    options: tuple[str, ...]
    answer: int
    shares: tuple[float, ...]
    expires: datetime
    revealed: bool
    created: datetime | None = None  # with the code, tells one question from the next under the same code


class ClassroomError(Exception):
    """Something a person is told, in a sentence through the catalogues (`message`, marked N_)."""

    message = N_("That did not work.")

    def __init__(self, code: str = ""):
        super().__init__(self.message.format(code=code))
        self.code = code


class NoSuchQuestion(ClassroomError):
    message = N_("No question is open under the code {code}.")


class QuestionExpired(ClassroomError):
    message = N_("The question {code} has expired; ask the teacher for a new code.")


class NotAnOption(ClassroomError):
    message = N_("That is not one of the answers to choose from.")


class NoSuchLesson(ClassroomError):
    message = N_("No teacher leads a class under the code {code}.")


class DatabaseUnavailable(ClassroomError):
    message = N_("The class's database cannot be reached just now, so predict-then-reveal and following the "
                 "teacher are paused; everything else works. The server's log says why; this page tries again by "
                 "itself.")


_logged: dict[tuple[str, str], float] = {}


def _unavailable(url: str, error: Exception) -> DatabaseUnavailable:
    """The error said to a person; the original logged on the server (once a minute per database and kind)."""
    kind, now = type(error).__name__, time.monotonic()
    if now - _logged.get((url, kind), -LOG_EVERY_S) >= LOG_EVERY_S:
        _logged[(url, kind)] = now
        LOG.warning("The classroom database is unavailable: %s: %s", kind, str(error).splitlines()[0][:300])
    return DatabaseUnavailable()


def _guarded(method: Callable) -> Callable:
    """A Store method whose database errors (unreachable, read-only, locked) become DatabaseUnavailable."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (SQLAlchemyError, OSError) as error:
            raise _unavailable(self.url, error) from error

    return guarded


def _question(row: QuestionRow) -> Question:
    return Question(row.code, row.kind, row.subject, dict(row.detail), tuple(row.options), row.answer,
                    tuple(float(s) for s in row.shares), row.expires, bool(row.revealed), row.created)


class Store:
    """The questions and guesses of every class, in one database."""

    def __init__(self, url: str):
        self.url = url
        try:
            sqlite = url.startswith("sqlite")
            self.engine = create_engine(url, pool_pre_ping=True, connect_args={"timeout": SQLITE_BUSY_S} if sqlite else {})
            Base.metadata.create_all(self.engine)
        except (SQLAlchemyError, OSError) as error:  # a bad URL, a missing driver, a file that cannot be made
            raise _unavailable(url, error) from error

    def _purge(self, parent, child, now: datetime | None) -> int:
        """Delete the expired rows of `parent` (questions, classes) and of `child` under them; how many went."""
        now = now or _now()
        with Session(self.engine) as session, session.begin():
            expired = list(session.scalars(select(parent.code).where(parent.expires <= now)))
            if expired:
                session.execute(delete(child).where(child.code.in_(expired)))
                session.execute(delete(parent).where(parent.code.in_(expired)))
        return len(expired)

    @_guarded
    def purge(self, now: datetime | None = None) -> int:
        """Delete expired questions and their guesses; returns how many questions went."""
        return self._purge(QuestionRow, GuessRow, now)

    @_guarded
    def open_question(self, kind: str, subject: str, options: Sequence[str], answer: int,
                      shares: Sequence[float], detail: dict | None = None, *, now: datetime | None = None,
                      lifetime: timedelta = LIFETIME, prefer: str | None = None) -> str:
        """Store a new question under a fresh code, and return the code. `prefer`: the class's code of the
        teacher's last question, taken again if it is free (its students follow it), else a fresh one."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not 1 <= len(options) <= MAX_OPTIONS or len(shares) != len(options) or not 0 <= answer < len(options):
            raise ValueError("options, shares and answer do not fit together")
        now = now or _now()
        self.purge(now)
        for attempt in range(20):
            code = prefer if attempt == 0 and prefer and is_code(prefer) else (
                "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)))
            row = QuestionRow(code=code, kind=kind, subject=subject[:MAX_SUBJECT_CHARS], detail=detail or {},
                              options=[str(o)[:MAX_OPTION_CHARS] for o in options], answer=int(answer),
                              shares=[float(s) for s in shares], created=now, expires=now + lifetime,
                              revealed=False)
            try:
                with Session(self.engine) as session, session.begin():
                    session.add(row)
                return code
            except IntegrityError:  # the code is taken (by another replica, perhaps): draw again
                continue
        raise RuntimeError("no free class code")

    @_guarded
    def question(self, code: str, now: datetime | None = None) -> Question:
        """The open question under `code`; NoSuchQuestion or QuestionExpired (then purged) otherwise."""
        now = now or _now()
        with Session(self.engine) as session:
            row = session.get(QuestionRow, code) if is_code(code) else None
            found = None if row is None else _question(row)
        if found is None:
            raise NoSuchQuestion(code)
        if found.expires <= now:
            self.purge(now)
            raise QuestionExpired(code)
        return found

    @_guarded
    def status(self, code: str, now: datetime | None = None) -> tuple[datetime, bool] | None:
        """(created, revealed) of the open question under `code`, None when there is none: one indexed row's
        two columns, for pages that poll (nothing is purged here)."""
        if not is_code(code):
            return None
        with Session(self.engine) as session:
            row = session.execute(select(QuestionRow.created, QuestionRow.revealed, QuestionRow.expires)
                                  .where(QuestionRow.code == code)).first()
        if row is None or row.expires <= (now or _now()):
            return None
        return row.created, bool(row.revealed)

    @_guarded
    def guess(self, code: str, voter: str, choice: int, nickname: str | None = None,
              now: datetime | None = None) -> None:
        """A device's guess; its earlier guess on the same question is replaced."""
        now = now or _now()
        question = self.question(code, now)
        if not 0 <= choice < len(question.options):
            raise NotAnOption(code)
        with Session(self.engine) as session, session.begin():
            row = session.scalars(select(GuessRow).where(GuessRow.code == code, GuessRow.voter == voter)).first()
            if row is None:
                session.add(GuessRow(code=code, voter=voter[:64], choice=choice, nickname=clean_nickname(nickname),
                                     sent=now))
            else:
                row.choice, row.nickname, row.sent = choice, clean_nickname(nickname), now

    @_guarded
    def tally(self, code: str, now: datetime | None = None) -> list[int]:
        """How many guesses each option has."""
        question = self.question(code, now)
        counts = [0] * len(question.options)
        with Session(self.engine) as session:
            for choice in session.scalars(select(GuessRow.choice).where(GuessRow.code == code)):
                if 0 <= choice < len(counts):
                    counts[choice] += 1
        return counts

    @_guarded
    def nicknames(self, code: str) -> list[str]:
        with Session(self.engine) as session:
            return sorted(n for n in session.scalars(select(GuessRow.nickname).where(GuessRow.code == code)) if n)

    @_guarded
    def reveal(self, code: str, now: datetime | None = None) -> None:
        self.question(code, now)
        with Session(self.engine) as session, session.begin():
            session.get(QuestionRow, code).revealed = True

    @_guarded
    def close(self, code: str) -> None:
        """The teacher is done: the question and its guesses go."""
        with Session(self.engine) as session, session.begin():
            session.execute(delete(GuessRow).where(GuessRow.code == code))
            session.execute(delete(QuestionRow).where(QuestionRow.code == code))


    # ------------------------------------------------------------ follow the presenter

    @_guarded
    def open_lesson(self, view: dict, *, prefer: str | None = None, now: datetime | None = None,
                    lifetime: timedelta = LESSON_LIFETIME) -> str:
        """A class that follows `view`, under a fresh code (`prefer` where it is free); returns the code."""
        now = now or _now()
        self.purge_lessons(now)
        for attempt in range(20):
            code = prefer if attempt == 0 and prefer and is_code(prefer) else (
                "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)))
            try:
                with Session(self.engine) as session, session.begin():
                    session.add(LessonRow(code=code, view=view, version=1, created=now, expires=now + lifetime))
                return code
            except IntegrityError:
                continue
        raise RuntimeError("no free class code")

    @_guarded
    def publish(self, code: str, view: dict, *, now: datetime | None = None,
                lifetime: timedelta = LESSON_LIFETIME) -> int:
        """The teacher's screen now shows `view`: a new version (returned), and two more hours for the class."""
        now = now or _now()
        with Session(self.engine) as session, session.begin():
            row = session.get(LessonRow, code) if is_code(code) else None
            if row is None or row.expires <= now:
                raise NoSuchLesson(code)
            row.view, row.version, row.expires = view, row.version + 1, now + lifetime
            return row.version

    @_guarded
    def lesson_version(self, code: str, now: datetime | None = None) -> int | None:
        """The version of the view under `code`, None when no open class has it: what students' pages poll."""
        if not is_code(code):
            return None
        with Session(self.engine) as session:
            row = session.execute(select(LessonRow.version, LessonRow.expires).where(LessonRow.code == code)).first()
        return None if row is None or row.expires <= (now or _now()) else row.version

    @_guarded
    def lesson(self, code: str, now: datetime | None = None) -> tuple[int, dict]:
        """(version, view) of the open class under `code`; NoSuchLesson otherwise."""
        with Session(self.engine) as session:
            row = session.get(LessonRow, code) if is_code(code) else None
            found = None if row is None or row.expires <= (now or _now()) else (row.version, dict(row.view))
        if found is None:
            raise NoSuchLesson(code)
        return found

    @_guarded
    def heartbeat(self, code: str, viewer: str, following: bool, now: datetime | None = None) -> None:
        """A student's page is there, following the teacher or exploring on its own."""
        now = now or _now()
        with Session(self.engine) as session, session.begin():
            row = session.scalars(select(FollowerRow).where(FollowerRow.code == code,
                                                            FollowerRow.viewer == viewer)).first()
            if row is None:
                session.add(FollowerRow(code=code, viewer=viewer[:64], following=following, seen=now))
            else:
                row.following, row.seen = following, now

    @_guarded
    def leave(self, code: str, viewer: str) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(delete(FollowerRow).where(FollowerRow.code == code, FollowerRow.viewer == viewer))

    @_guarded
    def class_size(self, code: str, now: datetime | None = None) -> tuple[int, int]:
        """(following, exploring): the students whose page sent a heartbeat within PRESENT."""
        since = (now or _now()) - PRESENT
        with Session(self.engine) as session:
            states = list(session.scalars(select(FollowerRow.following).where(FollowerRow.code == code,
                                                                              FollowerRow.seen > since)))
        return sum(states), len(states) - sum(states)

    @_guarded
    def end_lesson(self, code: str) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(delete(FollowerRow).where(FollowerRow.code == code))
            session.execute(delete(LessonRow).where(LessonRow.code == code))

    @_guarded
    def purge_lessons(self, now: datetime | None = None) -> int:
        """Delete expired classes and their students' heartbeats; returns how many classes went."""
        return self._purge(LessonRow, FollowerRow, now)


# ---------------------------------------------------------------- the join link's address

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")
VIRTUAL = ("docker", "br-", "veth", "virbr", "vmnet", "vboxnet", "tun", "tap", "wg", "zt", "utun", "cni",
           "flannel", "podman", "tailscale")  # bridges, containers and VPNs: a student's device is not there
SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address


def is_loopback(host: str | None) -> bool:
    """A name or address only this computer reaches (localhost, 127.x, ::1, 0.0.0.0)."""
    host = (host or "").strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def listens_only_here(address: str | None) -> bool:
    """A server address (Streamlit's server.address) that takes no connection from another device: a loopback
    one. None, "" and 0.0.0.0 / :: mean every interface."""
    try:
        if not address or ipaddress.ip_address(address.strip("[]")).is_unspecified:
            return False
    except ValueError:  # a name, such as localhost
        pass
    return is_loopback(address)


def interface_addresses() -> list[tuple[str, str]]:
    """(interface, IPv4 address) of each network interface, asked of the kernel (Linux); nothing is sent."""
    try:
        import fcntl  # not on Windows
    except ImportError:
        return []
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _index, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:  # no IPv4 address, or not Linux
                continue
            found.append((name, socket.inet_ntoa(packed[20:24])))
    return found


def routed_address() -> str | None:
    """The address this computer would send from towards a private network address (another OS than
    Linux): connecting a UDP socket only chooses the route; no packet leaves."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.255.255.255", 9))
            return sock.getsockname()[0]
    except OSError:
        return None


def lan_address(interfaces: Sequence[tuple[str, str]] | None = None) -> str | None:
    """This computer's address on the local network: a private address of a real interface first, then any
    other that is not loopback or link-local; None when it has none."""
    if interfaces is None:
        interfaces = interface_addresses() or [("", address) for address in [routed_address()] if address]
    ranked = []
    for name, raw in interfaces:
        try:
            address = ipaddress.ip_address(raw)
        except ValueError:
            continue
        if address.is_loopback or address.is_link_local or address.is_unspecified:
            continue
        ranked.append((name.startswith(VIRTUAL), not address.is_private, raw))
    return min(ranked)[2] if ranked else None


def reachable_url(url: str, lan: str | None) -> str:
    """The address the teacher's browser reached, with a loopback host (useless on a student's device)
    replaced by `lan`, the port and path kept."""
    parts = urlsplit(url)
    if not parts.hostname or not is_loopback(parts.hostname) or not lan:
        return url
    host = f"{lan}:{parts.port}" if parts.port else lan
    return urlunsplit(parts._replace(netloc=host))


_stores: dict[str, Store] = {}
_failed: dict[str, float] = {}  # URL -> when it last could not be opened
RETRY_S = 10  # a database that could not be opened is tried again after this, not at every poll


def store_for(url: str) -> Store:
    """One store (one connection pool) per database URL and process; DatabaseUnavailable while it cannot be
    opened (tried again RETRY_S after the last failure)."""
    if url in _stores:
        return _stores[url]
    if time.monotonic() - _failed.get(url, -RETRY_S) < RETRY_S:
        raise DatabaseUnavailable()
    try:
        store = Store(url)
    except DatabaseUnavailable:
        _failed[url] = time.monotonic()
        raise
    _failed.pop(url, None)
    return _stores.setdefault(url, store)
