"""Start-up imports only what the chosen command and the board use (#17 start-up, idle RSS).

Each check runs in a fresh interpreter, because this test process has long since imported
everything. No timing is asserted here (speed is measured in benchmarks/station.py (d)); what
is asserted is the mechanism: which modules a process ends up holding.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

import pytest

from josev_hal import cli


def _modules_after(script: str) -> set[str]:
    """Run ``script`` in a new interpreter and return the names in its ``sys.modules``."""
    code = textwrap.dedent(script) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_choosing_a_command_imports_only_that_command_module() -> None:
    loaded = _modules_after(
        """
        from josev_hal.cli import main
        try:
            main(["run", "--help"])
        except SystemExit:
            pass
        """
    )
    commands = {m for m in loaded if m.startswith("josev_hal.commands.")}
    assert commands == {"josev_hal.commands.run"}
    assert "josev_hal.emulator" not in loaded  # emulate-josev's parser needs it, run does not


def test_top_level_help_still_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for module_name in cli.COMMANDS:
        assert module_name.replace("_", "-") in out


@pytest.mark.parametrize("module_name", cli.COMMANDS)
def test_each_command_module_registers_the_command_named_after_it(module_name: str) -> None:
    # main() finds the module from the word on the command line, so the two must match.
    parser = cli.build_parser(only=module_name)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == [module_name.replace("_", "-")]


def test_an_unknown_command_is_a_usage_error_naming_the_real_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["emulate_josev"])  # underscore: not the command's name
    assert exit_info.value.code == cli.EXIT_USAGE
    assert "emulate-josev" in capsys.readouterr().err


def test_sim_board_daemon_loads_neither_python_can_nor_everest(session_broker: object) -> None:
    # The built-in sim board has no CAN bus and no EVerest EVSE: python-can (~35 ms) and the
    # EVerest northbound (~30 ms) must stay out of the process, also through a whole start/stop.
    url = session_broker.url  # type: ignore[attr-defined]
    loaded = _modules_after(
        f"""
        import tempfile
        import msgspec
        from josev_hal.daemon import Daemon, load_board_profile
        from josev_hal.plugins import get_plugin_manager

        pm = get_plugin_manager()
        profile, source = load_board_profile(None, pm)
        profile = msgspec.structs.replace(
            profile, operations=msgspec.structs.replace(profile.operations, enabled=False)
        )
        with tempfile.TemporaryDirectory() as tmp:
            daemon = Daemon(profile, pm, source=source, broker_url={url!r}, state_dir=tmp)
            daemon.start(wait_s=20)
            assert daemon.bridge is not None and daemon.station is not None
            daemon.stop()
        """
    )
    assert "can" not in loaded
    assert not {m for m in loaded if m.startswith("josev_hal.everest")}
    assert "josev_hal.buses.can" in loaded  # the bus kind itself is still registered
    # Imported only where used (a wrong profile key, a reset command, an I2C/serial bus)
    lazy = {"difflib", "statistics", "subprocess", "smbus2", "serial"}
    assert lazy.isdisjoint(loaded), lazy & loaded


def test_a_can_bus_still_imports_python_can_when_opened() -> None:
    loaded = _modules_after(
        """
        from josev_hal.buses.can import CanBus, CanBusOptions
        bus = CanBus("can0", CanBusOptions(interface="virtual", channel="startup-test"))
        bus.setup()
        bus.release()
        """
    )
    assert "can" in loaded
