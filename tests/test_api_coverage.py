"""Issue #18: the README's API coverage table is generated, so it cannot drift.

The publishing side of the routing table (``PUBLISHERS`` in josev_hal/routing.py) names who sends
every pair the CS may publish, and each row is held to the code: the modules it names build that
payload, and no other module of the HAL does. The Test column comes from
tests/data/coverage_tests.toml, held to the test files. ``josev-hal plugins --coverage`` prints the
table, and the README carries exactly that.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from functools import cache
from pathlib import Path

import msgspec
import pytest

from josev_hal.commands.plugins import COVERAGE_TESTS, coverage_tests
from josev_hal.messages import SPECS, MessageType
from josev_hal.routing import (
    PUBLISHERS,
    ROUTES,
    Publisher,
    PublishKind,
    RouteKind,
    RoutingError,
    check_publishers,
    coverage_markdown,
    publisher,
    route,
)

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
README = ROOT / "README.md"
OUTGOING = {(n, MessageType(t)) for (n, t), s in SPECS.items() if s.outgoing}
PAYLOAD = {(n, MessageType(t)): s.payload_cls.__name__ for (n, t), s in SPECS.items()}
# Where payloads are built without being published by the HAL: the codec (its error answers go out
# for whichever handler failed, the row names that handler's owner) and the Josev emulator (it
# plays Josev's side).
NOT_PUBLISHERS = ("josev_hal/messages/", "josev_hal/emulator/")


def _module_path(module: str) -> Path:
    base = ROOT.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


@cache
def _names(path: Path) -> tuple[frozenset[str], frozenset[str]]:
    """The names a module refers to in code (not in strings), and the names it calls."""
    referred: set[str] = set()
    called: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name):
            referred.add(node.id)
        elif isinstance(node, ast.Attribute):
            referred.add(node.attr)
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                called.add(func.id)
            elif isinstance(func, ast.Attribute):
                called.add(func.attr)
    return frozenset(referred), frozenset(called)


# -- the publisher table ----------------------------------------------------------------------


def test_every_pair_the_cs_publishes_has_exactly_one_publisher_row() -> None:
    counts = Counter(row.key for row in PUBLISHERS)
    assert set(counts) == OUTGOING
    assert [k for k, n in counts.items() if n != 1] == []


def test_a_reply_is_sent_by_the_owner_of_the_request_in_the_routing_table() -> None:
    replies = [row for row in PUBLISHERS if row.kind is PublishKind.REPLY]
    assert replies, "the contract has responses the CS publishes"
    for row in replies:
        assert row.type is MessageType.RESPONSE
        assert row.by == route(row.name, MessageType.REQUEST).owner, row.name


def test_a_publisher_table_missing_a_row_or_naming_the_wrong_replier_is_refused() -> None:
    without = [row for row in PUBLISHERS if row.key != ("cp_status", MessageType.UPDATE)]
    with pytest.raises(RoutingError, match=r"cp_status\.update: the CS may publish it but .* has no row"):
        check_publishers(without)
    wrong = [
        msgspec.structs.replace(row, by="functions.reset")
        if row.key == ("cp_pwm", MessageType.RESPONSE)
        else row
        for row in PUBLISHERS
    ]
    with pytest.raises(
        RoutingError, match=r"cp_pwm\.response: replied by functions\.reset, but station owns"
    ):
        check_publishers(wrong)
    foreign = [*PUBLISHERS, msgspec.structs.replace(publisher("cp_status", "update"), name="hlc_charging")]
    with pytest.raises(RoutingError, match=r"hlc_charging\.update: the CS never publishes it"):
        check_publishers(foreign)
    unbuilt = [
        msgspec.structs.replace(row, modules=()) if row.key == ("cp_status", MessageType.UPDATE) else row
        for row in PUBLISHERS
    ]
    with pytest.raises(RoutingError, match=r"cp_status\.update: a sent row names the modules"):
        check_publishers(unbuilt)


@pytest.mark.parametrize("row", [r for r in PUBLISHERS if r.modules], ids=lambda r: f"{r.name}.{r.type}")
def test_each_module_a_publisher_row_names_builds_that_payload(row: Publisher) -> None:
    payload = PAYLOAD[row.key]
    for module in row.modules:
        path = _module_path(module)
        assert path.is_file(), f"{row.name}.{row.type.value}: no module {module}"
        referred, _ = _names(path)
        assert payload in referred, f"{module} does not build {payload} ({row.name}.{row.type.value})"


def test_no_module_outside_the_publisher_table_builds_a_payload_the_cs_publishes() -> None:
    declared = {row.key: set(row.modules) for row in PUBLISHERS}
    by_class = {PAYLOAD[key]: key for key in OUTGOING}
    unlisted: list[str] = []
    for tree in ("josev_hal", "plugins"):
        for path in sorted((ROOT / tree).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(NOT_PUBLISHERS):
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            _, called = _names(path)
            for cls in sorted(called & by_class.keys()):
                key = by_class[cls]
                if module not in declared[key]:
                    unlisted.append(f"{module} builds {cls} ({key[0]}.{key[1].value})")
    assert unlisted == [], "add the module to the row in PUBLISHERS (josev_hal/routing.py)"


def test_a_pair_never_sent_is_built_nowhere_in_the_hal() -> None:
    # The previous test finds no builder outside the rows; a row never sent names no module.
    unsent = [row for row in PUBLISHERS if row.kind is PublishKind.NOT_SENT]
    assert {row.key for row in unsent} == {
        ("connector_and_charging", MessageType.UPDATE),
        ("ocpp_message", MessageType.REQUEST),
    }
    assert all(row.modules == () and row.by == "-" for row in unsent)


# -- the declared tests per message -----------------------------------------------------------


def test_every_message_has_test_files_that_exist_and_name_it() -> None:
    from josev_hal.functions.listen import LISTEN_UPDATES

    declared = coverage_tests(COVERAGE_TESTS)
    names = {n for n, _ in SPECS}
    assert set(declared) == names, "tests/data/coverage_tests.toml: one entry per message name"
    problems: list[str] = []
    for name, files in sorted(declared.items()):
        if not files:
            problems.append(f"{name}: no test file")
        classes = {cls for (n, _), cls in PAYLOAD.items() if n == name}
        for file in files:
            path = TESTS / file
            if not path.is_file():
                problems.append(f"{name}: {file} does not exist")
                continue
            text = path.read_text(encoding="utf-8")
            # A listen-only update is sent by the test that iterates LISTEN_UPDATES without naming it.
            generic = name in LISTEN_UPDATES and "LISTEN_UPDATES" in text
            if not (name in text or any(cls in text for cls in classes) or generic):
                problems.append(f"{name}: {file} does not mention it")
    assert problems == []


def test_a_malformed_coverage_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "coverage.toml"
    bad.write_text('cp_pwm = "test_station_session.py"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"coverage\.toml: cp_pwm must be a list"):
        coverage_tests(bad)
    bad.write_text("cp_pwm = [\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"coverage\.toml"):
        coverage_tests(bad)


# -- the generated table ----------------------------------------------------------------------


def test_the_table_has_one_row_per_message_with_its_owner_and_publisher() -> None:
    rows = {
        m[1]: m[2] for m in re.finditer(r"^\| `([a-z0-9_]+)` \| (.*) \|$", coverage_markdown({}), flags=re.M)
    }
    assert set(rows) == {n for n, _ in SPECS}
    assert rows["cp_pwm"].split(" | ")[2] == "`station`"  # answers the request and sends the reply
    assert "`functions.firmware`" in rows["firmware_status"]
    assert "not sent" in rows["connector_and_charging"]
    assert "ignored by design (a plugin may claim the request)" in rows["reset_ocpp_router_state"]
    # every component of both tables appears in its message's row
    for row in ROUTES:
        if row.kind not in (RouteKind.RESPONSE, RouteKind.IGNORED):
            assert f"`{row.owner}`" in rows[row.name], row.name
    for sender in PUBLISHERS:
        if sender.kind is not PublishKind.NOT_SENT:
            assert f"`{sender.by}`" in rows[sender.name], sender.name


def test_plugins_coverage_prints_the_generated_table(capsys: pytest.CaptureFixture[str]) -> None:
    from josev_hal.cli import main

    assert main(["plugins", "--coverage"]) == 0
    assert capsys.readouterr().out == coverage_markdown(coverage_tests(COVERAGE_TESTS)) + "\n"


def test_plugins_coverage_outside_a_checkout_says_what_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An installed wheel has no tests/ beside the package, and the current directory none either.
    from josev_hal.cli import main
    from josev_hal.commands import plugins

    monkeypatch.setattr(plugins, "COVERAGE_TESTS", tmp_path / "absent.toml")
    monkeypatch.chdir(tmp_path)
    assert main(["plugins", "--coverage"]) == 3
    err = capsys.readouterr().err
    assert "part of a josev-hal checkout" in err and "--coverage-tests FILE" in err


def _readme_table() -> str:
    section = README.read_text(encoding="utf-8").split("\n### API coverage\n", 1)[1].split("\n#", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Message |"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


def test_readme_api_coverage_table_is_the_generated_one() -> None:
    assert _readme_table() == coverage_markdown(coverage_tests(COVERAGE_TESTS)), (
        "README.md's API coverage table is not the generated one: "
        "run `josev-hal plugins --coverage` and paste it into README.md"
    )
