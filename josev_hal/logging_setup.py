"""Logging for the daemon: rotating files in the state dir plus a journald-friendly stderr.

``josev-hal run`` calls :func:`setup_logging` once. Two kinds of output:

* **Files** under ``<state_dir>/logs/``: ``josev-hal.log`` (everything at the configured level,
  the *diagnostics* log) and ``security.log`` (only the ``josev_hal.security`` logger, the OCPP
  *security* log). Both rotate by size. Every record starts with a UTC RFC 3339 timestamp with
  milliseconds, so :mod:`josev_hal.functions.logs` can cut out a time window for ``upload_logs``
  without guessing formats; continuation lines (tracebacks) follow their record.
* **stderr**: under systemd (``$JOURNAL_STREAM`` set) each line carries the ``<N>`` syslog
  priority prefix that journald understands and no timestamp (journald adds its own); on a
  terminal a plain timestamped line.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import msgspec

__all__ = [
    "DIAGNOSTICS_LOG",
    "SECURITY_LOG",
    "SECURITY_LOGGER",
    "JournaldFormatter",
    "LogFiles",
    "UtcFormatter",
    "log_dir",
    "parse_record_time",
    "setup_logging",
]

DIAGNOSTICS_LOG = "josev-hal.log"
SECURITY_LOG = "security.log"
# Security events (firmware signature failures, key generation, rejected certificates) go here.
SECURITY_LOGGER = "josev_hal.security"

_FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# ``2026-11-26T09:37:34.123Z`` at the very start of a record line.
_RECORD_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) ")

# Handlers installed by setup_logging carry this attribute so a second call replaces them.
_OWNED = "_josev_hal_owned"

#: Longest log message written (issue #13): hostile input (a 200 kB evse_id) quoted by some log
#: call must not turn into megabytes of log. The rest is replaced by a note with the length.
MAX_MESSAGE_CHARS = 8192


class BoundedMessages(logging.Filter):
    """Cuts a record's message to ``limit`` characters (a safety net under the call sites, which
    excerpt hostile values themselves); tracebacks are left alone."""

    def __init__(self, limit: int = MAX_MESSAGE_CHARS) -> None:
        super().__init__()
        self.limit = limit

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "josev_hal_cut", False):
            return True  # another handler cut it already (the record is shared)
        if len(str(record.msg)) + sum(len(str(a)) for a in _args(record)) <= self.limit:
            return True  # cheap bound first: most records are short
        text = record.getMessage()
        if len(text) > self.limit:
            record.msg = f"{text[: self.limit]}...(message cut: {len(text)} chars)"
            record.args = None
            record.josev_hal_cut = True
        return True


def _args(record: logging.LogRecord) -> tuple[object, ...]:
    args = record.args
    if isinstance(args, tuple):
        return args
    return () if args is None else (args,)


class UtcFormatter(logging.Formatter):
    """Formats ``asctime`` as UTC RFC 3339 with milliseconds and a ``Z`` suffix."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


class JournaldFormatter(logging.Formatter):
    """``<priority>logger: message`` for journald (``SyslogLevelPrefix=yes`` is systemd's default)."""

    _PRIORITY = {
        logging.CRITICAL: 2,
        logging.ERROR: 3,
        logging.WARNING: 4,
        logging.INFO: 6,
        logging.DEBUG: 7,
    }

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = self._PRIORITY.get(record.levelno)
        if priority is None:
            priority = 3 if record.levelno >= logging.ERROR else 6 if record.levelno >= logging.INFO else 7
        text = super().format(record)
        # journald splits on newlines; prefix every line so a traceback keeps its priority.
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines() or [""])


def parse_record_time(line: str) -> datetime | None:
    """The UTC time of a log-file line that starts a record, ``None`` for continuation lines."""
    match = _RECORD_TIME.match(line)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def log_dir(state_dir: str | os.PathLike[str]) -> Path:
    """Where the rotating log files of a state dir live."""
    return Path(state_dir) / "logs"


class LogFiles(msgspec.Struct):
    """What :func:`setup_logging` installed; :meth:`close` removes it again (tests, re-config)."""

    directory: Path | None
    diagnostics: Path | None
    security: Path | None
    handlers: list[tuple[logging.Logger, logging.Handler]] = msgspec.field(default_factory=list)

    def close(self) -> None:
        for logger, handler in self.handlers:
            logger.removeHandler(handler)
            handler.close()
        self.handlers.clear()


def _remove_owned(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        if getattr(handler, _OWNED, False):
            logger.removeHandler(handler)
            handler.close()


def setup_logging(
    state_dir: str | os.PathLike[str] | None,
    *,
    level: int | str = logging.INFO,
    max_bytes: int = 5 * 1024 * 1024,
    backup_count: int = 5,
    stderr: TextIO | None = sys.stderr,
    journald: bool | None = None,
) -> LogFiles:
    """Configure the root logger: rotating files in ``<state_dir>/logs`` and a stderr handler.

    ``state_dir=None`` logs to stderr only. ``journald=None`` detects systemd's journal through
    ``$JOURNAL_STREAM``. Calling it again replaces the handlers it installed before.
    """
    root = logging.getLogger()
    security = logging.getLogger(SECURITY_LOGGER)
    _remove_owned(root)
    _remove_owned(security)
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    root.setLevel(numeric)
    # Security events are always recorded, even when the diagnostics level is WARNING.
    security.setLevel(min(numeric, logging.INFO))
    files = LogFiles(directory=None, diagnostics=None, security=None)

    def own(logger: logging.Logger, handler: logging.Handler) -> None:
        setattr(handler, _OWNED, True)
        handler.addFilter(BoundedMessages())
        logger.addHandler(handler)
        files.handlers.append((logger, handler))

    if state_dir is not None:
        directory = log_dir(state_dir)
        directory.mkdir(parents=True, exist_ok=True)
        files.directory = directory
        files.diagnostics = directory / DIAGNOSTICS_LOG
        files.security = directory / SECURITY_LOG
        formatter = UtcFormatter(_FILE_FORMAT)
        main = logging.handlers.RotatingFileHandler(
            files.diagnostics, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
        )
        main.setFormatter(formatter)
        own(root, main)
        sec = logging.handlers.RotatingFileHandler(
            files.security, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
        )
        sec.setFormatter(formatter)
        own(security, sec)

    if stderr is not None:
        use_journal = bool(os.environ.get("JOURNAL_STREAM")) if journald is None else journald
        console = logging.StreamHandler(stderr)
        console.setFormatter(JournaldFormatter() if use_journal else UtcFormatter(_FILE_FORMAT))
        own(root, console)
    return files
