"""Console accounts and sign-in sessions, in the intake records' database.

Roles: "operator" (12348 hotline staff: all records, call view, handoff queue),
"centre" (a county legal-aid centre's staff: only that centre's records; `centre` is a
key of data/knowledge/centres.yml) and "admin" (everything).

Passwords: hashlib.scrypt with a per-user random salt, compared with
hmac.compare_digest. Sessions: a random token in the browser's cookie; the database
keeps only its SHA-256, so a copy of the database cannot be used to sign in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot import db, knowledge
from bot.console import message
from bot.intake import _utc, now

ROLES = ("operator", "centre", "admin")
USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{2,31}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 200
# scrypt cost: 16 MiB and ~50 ms per check on this machine; the parameters are kept
# with each hash so they can be raised later without breaking old accounts.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
SCRYPT_MAXMEM = 64 * 1024 * 1024

metadata = sa.MetaData()
users = sa.Table(
    "console_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(32), nullable=False, unique=True),
    sa.Column("role", sa.String(10), nullable=False),
    sa.Column("centre", sa.String(20)),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("console_users.id"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


class AccountError(ValueError):
    """An account that cannot be created or changed as asked. `field` names the
    value, `problem` is a key of console.yml's account_errors (the Chinese text)."""

    def __init__(self, field: str, problem: str, **values) -> None:
        self.field = field
        self.problem = problem
        super().__init__(message("account_errors", problem, **values))


@dataclass(frozen=True)
class User:
    username: str
    role: str
    centre: str | None = None

    def sees_centre(self, *centres: str | None) -> bool:
        """Whether this user may see a record handled by any of these centres."""
        return self.role != "centre" or self.centre in centres

    def as_dict(self) -> dict:
        return {"username": self.username, "role": self.role, "centre": self.centre}


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    expires_at: datetime


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=SCRYPT_LEN,
        maxmem=SCRYPT_MAXMEM,
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = bytes.fromhex(digest)
        given = hashlib.scrypt(
            password.encode("utf-8"),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=SCRYPT_MAXMEM,
        )
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(given, expected)


# Checked against for unknown usernames, so "no such user" takes as long as "wrong
# password" and sign-in timing does not reveal which accounts exist.
_DUMMY_HASH = hash_password(secrets.token_hex(16))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def validate_account(username: str, password: str, role: str, centre: str | None):
    if not USERNAME.match(username or ""):
        raise AccountError("username", "username_format")
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise AccountError(
            "password", "password_length", low=MIN_PASSWORD, high=MAX_PASSWORD
        )
    if role not in ROLES:
        raise AccountError("role", "role", roles="、".join(ROLES))
    if role == "centre":
        if centre not in knowledge.centres():
            raise AccountError(
                "centre", "centre", centres="、".join(knowledge.centres())
            )
    elif centre is not None:
        raise AccountError("centre", "centre_not_allowed")


class Accounts:
    """Accounts and sessions on an SQLAlchemy engine (the intake store's)."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine
        self._schema = db.Tables(engine, metadata)

    def _tables(self) -> None:
        self._schema.ensure()

    # --- accounts -------------------------------------------------------------

    def create_user(
        self, username: str, password: str, role: str, centre: str | None = None
    ) -> User:
        """Raises AccountError (bad value or the username is taken)."""
        username = (username or "").strip().lower()
        validate_account(username, password, role, centre)
        self._tables()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    users.insert().values(
                        username=username,
                        role=role,
                        centre=centre,
                        password_hash=hash_password(password),
                        active=True,
                        created_at=now(),
                    )
                )
        except IntegrityError:
            raise AccountError("username", "taken", username=username) from None
        return User(username, role, centre)

    def set_password(self, username: str, password: str) -> None:
        """New password; every open session of that user ends."""
        if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
            raise AccountError(
                "password", "password_length", low=MIN_PASSWORD, high=MAX_PASSWORD
            )
        self._tables()
        with self.engine.begin() as conn:
            user_id = self._user_id(conn, username)
            conn.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(password_hash=hash_password(password))
            )
            conn.execute(sessions.delete().where(sessions.c.user_id == user_id))

    def set_active(self, username: str, active: bool) -> None:
        """Disable (or re-enable) an account; disabling ends its sessions."""
        self._tables()
        with self.engine.begin() as conn:
            user_id = self._user_id(conn, username)
            conn.execute(
                users.update().where(users.c.id == user_id).values(active=active)
            )
            if not active:
                conn.execute(sessions.delete().where(sessions.c.user_id == user_id))

    def _user_id(self, conn, username: str) -> int:
        user_id = conn.execute(
            sa.select(users.c.id).where(users.c.username == username.strip().lower())
        ).scalar()
        if user_id is None:
            raise AccountError("username", "unknown", username=username)
        return user_id

    def list_users(self) -> list[dict]:
        self._tables()
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    users.c.username, users.c.role, users.c.centre, users.c.active
                ).order_by(users.c.username)
            ).mappings()
            return [dict(r) for r in rows]

    def count_admins(self) -> int:
        self._tables()
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(users)
                .where(users.c.role == "admin", users.c.active.is_(True))
            ).scalar()

    def authenticate(self, username: str, password: str) -> User | None:
        """The user for a right username + password of an active account, else None."""
        self._tables()
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(users).where(
                        users.c.username == (username or "").strip().lower()
                    )
                )
                .mappings()
                .first()
            )
        stored = row["password_hash"] if row else _DUMMY_HASH
        ok = check_password(password or "", stored)
        if not (row and ok and row["active"]):
            return None
        return User(row["username"], row["role"], row["centre"])

    # --- sessions -------------------------------------------------------------

    def start_session(self, user: User, lifetime: timedelta) -> tuple[str, Session]:
        """A new session: (the token for the cookie, the session with its CSRF)."""
        self._tables()
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        at = now()
        with self.engine.begin() as conn:
            user_id = self._user_id(conn, user.username)
            # Expired sessions are cleaned up here rather than by a timer.
            conn.execute(sessions.delete().where(sessions.c.expires_at < at))
            conn.execute(
                sessions.insert().values(
                    token_hash=_token_hash(token),
                    user_id=user_id,
                    csrf=csrf,
                    created_at=at,
                    expires_at=at + lifetime,
                )
            )
        return token, Session(user, csrf, at + lifetime)

    def session(self, token: str) -> Session | None:
        """The live session of a cookie token; None if unknown, expired or disabled."""
        if not token or len(token) > 100:
            return None
        self._tables()
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(
                        users.c.username,
                        users.c.role,
                        users.c.centre,
                        users.c.active,
                        sessions.c.csrf,
                        sessions.c.expires_at,
                    )
                    .select_from(sessions.join(users))
                    .where(sessions.c.token_hash == _token_hash(token))
                )
                .mappings()
                .first()
            )
        if row is None or not row["active"] or _utc(row["expires_at"]) <= now():
            return None
        return Session(
            User(row["username"], row["role"], row["centre"]),
            row["csrf"],
            _utc(row["expires_at"]),
        )

    def end_session(self, token: str) -> None:
        self._tables()
        with self.engine.begin() as conn:
            conn.execute(
                sessions.delete().where(sessions.c.token_hash == _token_hash(token))
            )
