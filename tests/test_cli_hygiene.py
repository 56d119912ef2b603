"""CLI hygiene: invalid option values are one-line usage errors (exit 2), per-logger log levels,
help texts without reST markup."""

from __future__ import annotations

import argparse
import logging
import re
import subprocess

import pytest

from josev_hal.cli import build_parser, parse_log_levels, plain_text, stderr_logging
from tests.support.cli import josev_hal_command


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*josev_hal_command(), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("run", "--log-level", "VERBOSE"), "--log-level"),
        (("demo", "--log-level", "LOUD"), "--log-level"),
        (("probe", "serial", "--port", "/dev/null", "--log-level", "info,josev_hal=chatty"), "josev_hal"),
        (("run", "--broker", "http://127.0.0.1:1883"), "--broker"),
        (("run", "--wait-broker", "-1"), "--wait-broker"),
        (("run", "--stats-interval", "often"), "--stats-interval"),
        (("demo", "--broker", "tcp://x"), "--broker"),
        (("emulate-josev", "--broker", "mqtt://127.0.0.1:1", "--timeout", "0"), "--timeout"),
        (("emulate-josev", "--broker", "127.0.0.1"), "--broker"),
        (("no-such-command",), "invalid choice"),
    ],
)
def test_an_invalid_option_value_is_a_one_line_usage_error(args: tuple[str, ...], mentions: str) -> None:
    proc = _cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "error:" in lines[0] and mentions in lines[0]
    assert proc.stdout == ""


def test_log_levels_parse_a_root_level_and_per_logger_levels() -> None:
    levels = parse_log_levels("info,josev_hal.bridge=debug, josev_hal.station = warning")
    assert levels.root == logging.INFO
    assert levels.loggers == {"josev_hal.bridge": logging.DEBUG, "josev_hal.station": logging.WARNING}
    only = parse_log_levels("josev_hal.bridge=debug")
    assert only.root is None and only.root_or(logging.WARNING) == logging.WARNING
    assert parse_log_levels("WARN").root == logging.WARNING


@pytest.mark.parametrize("text", ["", "info,", "info,debug", "loud", "x=loud", "=debug", "a b=info"])
def test_log_levels_reject_malformed_values(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_log_levels(text)


def test_a_per_logger_level_lets_one_logger_through_below_the_root_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = "josev_hal.test_cli_hygiene.chatty"
    logger = logging.getLogger(name)
    try:
        stderr_logging(parse_log_levels(f"warning,{name}=debug"), logging.INFO)
        assert logger.getEffectiveLevel() == logging.DEBUG
        assert logging.getLogger("josev_hal.test_cli_hygiene.quiet").isEnabledFor(logging.INFO) is False
        with caplog.at_level(logging.DEBUG, logger=name):
            logger.debug("visible")
        assert "visible" in caplog.text
    finally:
        logger.setLevel(logging.NOTSET)


def _all_help(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    out = [(parser.prog, parser.format_help())]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                out += _all_help(child)
    return out


def test_help_texts_render_without_rest_markup() -> None:
    pages = _all_help(build_parser())
    assert len(pages) >= 9
    for prog, text in pages:
        assert "``" not in text, prog
        assert not re.search(r":(func|class|mod|meth|data|attr):`", text), prog


def test_plain_text_strips_roles_and_literals() -> None:
    assert plain_text("run ``josev-hal run`` see :func:`~josev_hal.x.y` and :class:`Z`") == (
        "run josev-hal run see josev_hal.x.y and Z"
    )
