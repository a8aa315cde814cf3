"""The one place that reads environment variables. Everything else gets a Settings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    rasa_url: str = "http://127.0.0.1:5005"
    action_port: int = 5055
    rasa_port: int = 5005
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    model_dir: Path = ROOT / "models"
    var_dir: Path = ROOT / "var"
    endpoints: Path = ROOT / "endpoints.yml"
    credentials: Path = ROOT / "credentials.yml"
    max_message_chars: int = 2000
    # WeChat official account (the channel stays off until a token is set).
    wechat_token: str = field(default="", repr=False)
    wechat_appid: str = ""
    wechat_secret: str = field(default="", repr=False)
    wechat_aes_key: str = field(default="", repr=False)
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_reply_budget: float = 4.5
    # Legal-aid intake records: an SQLAlchemy URL; empty means an SQLite file in
    # var_dir (the store creates the folder on first use).
    database_url: str = field(default="", repr=False)
    # Bearer token of the intake write API; empty keeps that API closed.
    api_token: str = field(default="", repr=False)
    # Message rate limits per minute (0 turns one off): per conversation (the
    # widget's sender id, a WeChat openid) and per client address on the public
    # /api/ endpoints. A person typing never comes near them; a script does. The
    # address limit is generous: mobile carriers put many citizens behind one
    # address, and a widget waiting for an operator polls every 4 seconds.
    rate_limit_per_minute: int = 40
    rate_limit_ip_per_minute: int = 600
    # How many reverse proxies in front of the web app append to X-Forwarded-For;
    # 0 ignores that header (a client could forge it) and limits the peer address.
    trusted_proxy_hops: int = 0
    # Redis for limits shared by several processes; empty counts in each process.
    redis_url: str = field(default="", repr=False)
    # Operator console: how long a sign-in lasts, and whether its cookie is sent
    # only over HTTPS (set true behind the TLS proxy; plain http://127.0.0.1 needs false).
    console_session_hours: float = 8.0
    console_secure_cookie: bool = False

    def __post_init__(self) -> None:
        if not self.database_url:
            url = f"sqlite:///{Path(self.var_dir) / 'intakes.db'}"
            object.__setattr__(self, "database_url", url)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        rasa_port = int(env.get("XY_RASA_PORT", 5005))
        return cls(
            rasa_url=env.get("XY_RASA_URL", f"http://127.0.0.1:{rasa_port}"),
            rasa_port=rasa_port,
            action_port=int(env.get("XY_ACTION_PORT", 5055)),
            web_host=env.get("XY_WEB_HOST", "127.0.0.1"),
            web_port=int(env.get("XY_WEB_PORT", 8000)),
            model_dir=Path(env.get("XY_MODEL_DIR", ROOT / "models")),
            var_dir=Path(env.get("XY_VAR_DIR", ROOT / "var")),
            endpoints=Path(env.get("XY_ENDPOINTS", ROOT / "endpoints.yml")),
            credentials=Path(env.get("XY_CREDENTIALS", ROOT / "credentials.yml")),
            max_message_chars=int(env.get("XY_MAX_MESSAGE_CHARS", 2000)),
            wechat_token=env.get("XY_WECHAT_TOKEN", ""),
            wechat_appid=env.get("XY_WECHAT_APPID", ""),
            wechat_secret=env.get("XY_WECHAT_SECRET", ""),
            wechat_aes_key=env.get("XY_WECHAT_AES_KEY", ""),
            wechat_api_base=env.get("XY_WECHAT_API_BASE", "https://api.weixin.qq.com"),
            wechat_reply_budget=float(env.get("XY_WECHAT_REPLY_BUDGET", 4.5)),
            database_url=env.get("XY_DATABASE_URL", ""),
            api_token=env.get("XY_API_TOKEN", ""),
            rate_limit_per_minute=int(env.get("XY_RATE_LIMIT_PER_MINUTE", 40)),
            rate_limit_ip_per_minute=int(env.get("XY_RATE_LIMIT_IP_PER_MINUTE", 600)),
            trusted_proxy_hops=int(env.get("XY_TRUSTED_PROXY_HOPS", 0)),
            redis_url=env.get("XY_REDIS_URL", ""),
            console_session_hours=float(env.get("XY_CONSOLE_SESSION_HOURS", 8)),
            console_secure_cookie=env.get("XY_CONSOLE_SECURE_COOKIE", "").lower()
            in ("1", "true", "yes"),
        )

    def latest_model(self) -> Path:
        models = sorted(
            self.model_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime
        )
        if not models:
            raise FileNotFoundError(
                f"no trained model in {self.model_dir}; run `make train`"
            )
        return models[-1]
