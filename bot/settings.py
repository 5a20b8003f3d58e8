"""Runtime settings: built once from the environment (``SUPPORTBOT_*``) and command-line flags.

Secrets (the admin token, the Telegram token, the handoff webhook's secret) come from the
environment only. Everything is validated at start and an error names the variable, so a typo
never becomes a silent default.

Example::

    settings = Settings.from_env(port=9000)
"""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from knowledge.errors import DatabaseLocationError
from knowledge.location import checked_url, url_of

PREFIX = "SUPPORTBOT_"
MIN_WEBHOOK_SECRET_CHARS = 16
BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything the runtime needs to start. Field ``x`` reads ``SUPPORTBOT_X``."""

    data_dir: Path = Path("data")
    db: str = ""  # SQLAlchemy URL or SQLite file (its directory must exist); empty means data_dir/supportbot.db
    bundle: Path | None = None  # a bundle directory; None means data_dir/bundles/current
    # The shop's own word lists (YAML, as the demo's in bot/core/demo/): messages that are an intent
    # word for word, other companies' names (a message naming one is not for the FAQ), and the
    # glossary the models read the customers' other languages through. None: the demo's.
    phrases_file: Path | None = None
    other_companies_file: Path | None = None
    glossary_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str = field(default="", repr=False)
    threads: int = 1  # ONNX Runtime intra-op threads per model
    # Micro-batching: at most this many messages per model call. Small on purpose: on a CPU a batch
    # costs about as much per message as single calls (padding even adds some), and every message
    # of a batch waits for the whole batch: larger batches raised the median latency at the same
    # message rate. Latency at this default: benchmarks/results/load.md (the batch-size comparison
    # itself is recorded only in the message of commit ba0c6a2).
    max_batch: int = 4
    max_wait_ms: float = 0.0  # extra wait for a batch to fill; 0: what queued while the last batch ran
    max_text_chars: int = 4000  # longer messages get a polite "too long" reply
    max_body_bytes: int = 64 * 1024  # HTTP request bodies
    rate_limit_per_minute: int = 30  # messages per session per minute
    # Floods (docs/security.md): chat messages per client address per minute (a burst of as many
    # is allowed), and chat messages being answered at once; beyond either the request is refused
    # (429 / 503) before it reaches the model or the database, and only counted.
    address_rate_per_minute: int = 120
    max_in_flight: int = 64
    # Reverse proxies (comma-separated addresses or networks) whose X-Forwarded-For names the
    # client; X-Forwarded-Proto from them is believed too when trust_forwarded_proto is set.
    trusted_proxies: str = ""
    trust_forwarded_proto: bool = False
    answer_threshold: float | None = None  # overrides the bundle's calibrated thresholds
    margin: float | None = None
    clarify_window: float = 0.12  # offer choices when the top score is this close below the answer threshold
    # A handler intent needs at least this probability. Chosen on the dialogue suite's tuning part
    # (benchmarks/results/tune_policy.json): 0.3 to 0.45 passed the same dialogues, 0.5 three fewer
    # ("ok thats all i needed, have a nice day": goodbye at 0.48); 0.4 is the middle of that range.
    handler_threshold: float = 0.4
    # ... and at least this much to run when the FAQ also has a clear answer. Chosen on the demo's
    # FAQ queries and handler messages: more questions answered right for one handler message
    # fewer (the counts are recorded only in the message of commit 2baff71).
    handler_sure_threshold: float = 0.8
    # An FAQ hit this close to one of an entry's phrasings is that phrasing, in effect ("How long
    # does delivery take?" typed as staff wrote it): answered even over a sure handler intent.
    faq_sure_threshold: float = 0.95
    # When the intent model reads a message as out of scope, an FAQ answer needs this much more
    # than the answer threshold; a message of a word or two is offered choices from this far below
    # it. Chosen on the dialogue suite's tuning part (benchmarks/results/tune_policy.json).
    oos_extra: float = 0.1
    short_window: float = 0.25
    # A clear FAQ answer beats a handler intent below its sure threshold only when it scores this
    # much above the answer threshold: the two readings disagree, so the FAQ's must be strong.
    # Chosen on the dialogue suite's tuning part (benchmarks/results/tune_policy.json).
    overrule_extra: float = 0.15
    # When the top FAQ entries are too close to tell apart by meaning, the one that shares this
    # much more of the customer's words (BM25 over its phrasings and answer, 0 to 1) is answered
    # instead of offering choices; above 1: never. Chosen on the dialogue suite's tuning part
    # (benchmarks/results/tune_policy.json).
    tie_lead: float = 0.01
    # A handler intent the model reads as out of scope still runs its handler when it has at least
    # this probability, unless the FAQ has an answer clear at the out-of-scope bar (above 1: never).
    # Chosen on the dialogue suite's tuning, fresh2 and fresh3 parts (bundles of seeds 42, 7, 1234):
    # the handler threshold's own 0.4; see benchmarks/results/dialogues_policy.md.
    oos_handler_threshold: float = 0.4
    # Of the FAQ answers, this share is queued for staff to check ("possibly wrong"), so answers
    # that looked confident get a look too.
    review_sample_rate: float = 0.02
    related_questions: int = 3  # "People also ask" buttons after an answer; 0 turns them off
    telegram_token: str = field(default="", repr=False)
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_secret: str = field(default="", repr=False)
    telegram_staff_chat: str = ""
    # When people answer handoffs, e.g. "Mon-Fri 09:00-17:00; Sat 10:00-14:00" (empty: always),
    # in ``timezone``. The grammar lives in bot/core/hours.py, which checks this at start
    # (``staffed_hours_from``): settings may not import the core.
    staffed_hours: str = ""
    timezone: str = "UTC"  # an IANA name such as Europe/Berlin
    # A conversation that starts waiting for a person is POSTed here (bot/core/webhook.py),
    # signed with the secret so the receiver can tell the bot sent it.
    handoff_webhook_url: str = ""
    handoff_webhook_secret: str = field(default="", repr=False)

    @property
    def database_url(self) -> str:
        return url_of(self.db or str(self.data_dir / "supportbot.db"))

    @property
    def bundles_dir(self) -> Path:
        return self.data_dir / "bundles"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "faq.index"

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        """``trusted_proxies`` parsed: ``"10.0.0.1, fd00::/8"`` -> two networks."""
        return parse_networks(self.trusted_proxies)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``SUPPORTBOT_*`` variables, then apply flag ``overrides`` that are not None; a bad
        value from a flag is reported under the flag's name (``port`` -> ``--port``)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for spec in fields(cls):
            name = PREFIX + spec.name.upper()
            raw = environ.get(name)
            if raw is not None and raw != "":
                values[spec.name] = _convert(name, raw, spec.type)
        given = {k: v for k, v in overrides.items() if v is not None}
        values.update(given)
        settings = cls(**values)  # type: ignore[arg-type]  # each value was converted to its field's type above
        settings.validate(flags={name: "--" + name.replace("_", "-") for name in given})
        return settings

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]  # test and flag overrides; unknown names raise TypeError

    def validate(self, flags: Mapping[str, str] | None = None) -> None:
        """Raise ``SettingsError`` for the first bad value, naming its ``SUPPORTBOT_*`` variable, or
        the flag that gave it: ``flags`` maps fields to flags, e.g. ``{"port": "--port"}``."""

        def named(key: str) -> str:  # key: the variable's name without the prefix, e.g. "PORT"
            return (flags or {}).get(key.lower()) or PREFIX + key

        checks = [
            (0 < self.port < 65536, "PORT", "a port between 1 and 65535"),
            (1 <= self.threads <= 64, "THREADS", "between 1 and 64"),
            (1 <= self.max_batch <= 1024, "MAX_BATCH", "between 1 and 1024"),
            (0 <= self.max_wait_ms <= 1000, "MAX_WAIT_MS", "between 0 and 1000"),
            (1 <= self.max_text_chars <= 100_000, "MAX_TEXT_CHARS", "between 1 and 100000"),
            (self.max_body_bytes >= 1024, "MAX_BODY_BYTES", "at least 1024"),
            (self.rate_limit_per_minute >= 1, "RATE_LIMIT_PER_MINUTE", "at least 1"),
            (self.address_rate_per_minute >= 1, "ADDRESS_RATE_PER_MINUTE", "at least 1"),
            (1 <= self.max_in_flight <= 100_000, "MAX_IN_FLIGHT", "between 1 and 100000"),
            (_networks_ok(self.trusted_proxies), "TRUSTED_PROXIES",
             "comma-separated IP addresses or networks such as 10.0.0.1,fd00::/8"),
            (not self.trust_forwarded_proto or bool(self.trusted_proxies), "TRUST_FORWARDED_PROTO",
             "SUPPORTBOT_TRUSTED_PROXIES to be set too (only a trusted proxy's header is believed)"),
            (0 <= self.handler_threshold <= 1, "HANDLER_THRESHOLD", "between 0 and 1"),
            (0 <= self.review_sample_rate <= 1, "REVIEW_SAMPLE_RATE", "between 0 and 1"),
            (0 <= self.related_questions <= 5, "RELATED_QUESTIONS", "between 0 and 5"),
            (0 <= self.handler_sure_threshold <= 1, "HANDLER_SURE_THRESHOLD", "between 0 and 1"),
            (self.faq_sure_threshold >= 0, "FAQ_SURE_THRESHOLD", "0 or more (above 1: never)"),
            (0 <= self.oos_extra <= 1, "OOS_EXTRA", "between 0 and 1"),
            (0 <= self.overrule_extra <= 1, "OVERRULE_EXTRA", "between 0 and 1"),
            (0 <= self.short_window <= 1, "SHORT_WINDOW", "between 0 and 1"),
            (self.tie_lead >= 0, "TIE_LEAD", "0 or more (above 1: never)"),
            (self.oos_handler_threshold >= 0, "OOS_HANDLER_THRESHOLD", "0 or more (above 1: never)"),
            (self.admin_token == "" or len(self.admin_token) >= 16, "ADMIN_TOKEN",
             "at least 16 characters (or unset to disable the admin API)"),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise SettingsError(f"{named(name)}: expected {expected}")
        if self.db:  # the default file's directory is made on first use; a named one must exist
            try:
                checked_url(self.db, named("DB"))
            except DatabaseLocationError as error:
                raise SettingsError(str(error)) from None
        self._validate_handoffs()

    def _validate_handoffs(self) -> None:
        try:
            parse_timezone(self.timezone)
        except ValueError as error:
            raise SettingsError(f"{PREFIX}TIMEZONE: {error}") from None
        if not self.handoff_webhook_url:
            return
        if not is_http_url(self.handoff_webhook_url):  # never echoed: such URLs often carry a token
            raise SettingsError(f"{PREFIX}HANDOFF_WEBHOOK_URL: expected an http(s) URL with a host, "
                                "such as https://helpdesk.example.com/hooks/supportbot")
        if len(self.handoff_webhook_secret) < MIN_WEBHOOK_SECRET_CHARS:
            raise SettingsError(f"{PREFIX}HANDOFF_WEBHOOK_SECRET: expected at least {MIN_WEBHOOK_SECRET_CHARS} "
                                f"characters when {PREFIX}HANDOFF_WEBHOOK_URL is set (the receiver checks "
                                "each event's signature with it)")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses or networks; ``ValueError`` for anything else.

    >>> parse_networks("127.0.0.1, 10.0.0.0/8")
    (IPv4Network('127.0.0.1/32'), IPv4Network('10.0.0.0/8'))
    """
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def parse_timezone(name: str) -> ZoneInfo:
    """An IANA time zone by name; ``ValueError`` naming it for anything else.

    >>> parse_timezone("Europe/Berlin")
    zoneinfo.ZoneInfo(key='Europe/Berlin')
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, malformed, or a folder of zones
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin or UTC)") from None


def is_http_url(url: str) -> bool:
    """An ``http://`` or ``https://`` URL with a host (and a port that is a number, if any)."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port != 0  # .port raises ValueError for one that is not a number up to 65535
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok
            and not any(c.isspace() for c in url))


def _networks_ok(text: str) -> bool:
    try:
        parse_networks(text)
    except ValueError:
        return False
    return True


def _convert(name: str, raw: str, kind: object) -> object:
    text = str(kind)
    if text == "bool":
        if raw.strip().lower() not in BOOL_WORDS:
            raise SettingsError(f"{name}: expected true or false, got {raw!r}")
        return BOOL_WORDS[raw.strip().lower()]
    try:
        if "Path" in text:
            return Path(raw)
        if "float" in text:
            return float(raw)
        if "int" in text:
            return int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
    return raw
