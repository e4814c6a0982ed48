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
"""

from __future__ import annotations

import functools
import os
import secrets
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, UniqueConstraint, create_engine, delete, select
from sqlalchemy.exc import IntegrityError
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


def _question(row: QuestionRow) -> Question:
    return Question(row.code, row.kind, row.subject, dict(row.detail), tuple(row.options), row.answer,
                    tuple(float(s) for s in row.shares), row.expires, bool(row.revealed))


class Store:
    """The questions and guesses of every class, in one database."""

    def __init__(self, url: str):
        self.url = url
        self.engine = create_engine(url, pool_pre_ping=True)
        Base.metadata.create_all(self.engine)

    def purge(self, now: datetime | None = None) -> int:
        """Delete expired questions and their guesses; returns how many questions went."""
        now = now or _now()
        with Session(self.engine) as session, session.begin():
            expired = list(session.scalars(select(QuestionRow.code).where(QuestionRow.expires <= now)))
            if expired:
                session.execute(delete(GuessRow).where(GuessRow.code.in_(expired)))
                session.execute(delete(QuestionRow).where(QuestionRow.code.in_(expired)))
        return len(expired)

    def open_question(self, kind: str, subject: str, options: Sequence[str], answer: int,
                      shares: Sequence[float], detail: dict | None = None, *, now: datetime | None = None,
                      lifetime: timedelta = LIFETIME) -> str:
        """Store a new question under a fresh code, and return the code."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not 1 <= len(options) <= MAX_OPTIONS or len(shares) != len(options) or not 0 <= answer < len(options):
            raise ValueError("options, shares and answer do not fit together")
        now = now or _now()
        self.purge(now)
        for _attempt in range(20):
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
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

    def tally(self, code: str, now: datetime | None = None) -> list[int]:
        """How many guesses each option has."""
        question = self.question(code, now)
        counts = [0] * len(question.options)
        with Session(self.engine) as session:
            for choice in session.scalars(select(GuessRow.choice).where(GuessRow.code == code)):
                if 0 <= choice < len(counts):
                    counts[choice] += 1
        return counts

    def nicknames(self, code: str) -> list[str]:
        with Session(self.engine) as session:
            return sorted(n for n in session.scalars(select(GuessRow.nickname).where(GuessRow.code == code)) if n)

    def reveal(self, code: str, now: datetime | None = None) -> None:
        self.question(code, now)
        with Session(self.engine) as session, session.begin():
            session.get(QuestionRow, code).revealed = True

    def close(self, code: str) -> None:
        """The teacher is done: the question and its guesses go."""
        with Session(self.engine) as session, session.begin():
            session.execute(delete(GuessRow).where(GuessRow.code == code))
            session.execute(delete(QuestionRow).where(QuestionRow.code == code))


@functools.cache
def store_for(url: str) -> Store:
    """One store (one connection pool) per database URL and process."""
    return Store(url)
