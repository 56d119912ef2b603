"""``josev-hal probe`` through the installed console script (and ``cli.main`` where the peer must
share the process: python-can's ``virtual`` bus does not cross processes).

Peers are real: a pymodbus RTU meter on a pty served from this process, the I2C chip simulators
behind ``--sim-chips``, InfyPower modules on a virtual CAN channel, the sim board. Drafted
profiles are judged by the console script's ``josev-hal check``.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from josev_hal_can.sim import InfyPowerGroupSim
from josev_hal_modbus.sim import ModbusPeer, SimulatedMeter

from josev_hal.buses.pty_line import PtyLine
from josev_hal.cli import main
from tests.support.cli import josev_hal_command

REPO = Path(__file__).resolve().parent.parent
SIM_BOARD = REPO / "boards" / "sim.toml"
AC_EVSE = "DE*JHL*E0001"
CHIPS = "ads1115@0x48,mcp23017@0x20,pca9685@0x40,pn532@0x24"
METER = {
    "voltage_l1": 230.0,
    "voltage_l2": 231.0,
    "voltage_l3": 229.0,
    "frequency": 50.0,
    "energy_import": 5000.0,
}


def josev_hal(*args: str | Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*josev_hal_command(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


def findings(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    for item in data:
        assert {"bus", "address", "model", "reading"} <= set(item)
        assert "port" in item or "channel" in item
    return data


@pytest.mark.parametrize("kind", ["serial", "i2c", "can", "relay", "board", "linux"])
def test_every_probe_kind_has_help_with_exit_codes(kind: str) -> None:
    result = josev_hal("probe", kind, "--help")
    assert result.returncode == 0
    assert "Exit codes:" in result.stdout and "--json" in result.stdout and "--draft-profile" in result.stdout


def test_probe_without_a_kind_prints_help_and_exits_2() -> None:
    result = josev_hal("probe")
    assert result.returncode == 2 and "serial" in result.stdout and "relay" in result.stdout
    assert "Exit codes:" in josev_hal("probe", "--help").stdout


# --------------------------------------------------------------------------------------------


def test_serial_json_names_the_meter_and_its_live_reading() -> None:
    with PtyLine() as line, ModbusPeer(line.peer_port, [SimulatedMeter("sdm630", unit=2, values=METER)]):
        result = josev_hal(
            "probe", "serial", "--port", line.client_port, "--bauds", "9600", "--ids", "1-3", "--json"
        )
    assert result.returncode == 0, result.stderr
    (meter,) = findings(result)
    assert (meter["bus"], meter["port"], meter["baudrate"], meter["address"], meter["model"]) == (
        "serial",
        line.client_port,
        9600,
        2,
        "sdm630",
    )
    assert meter["reading"]["voltage_v"] == [230.0, 231.0, 229.0]


def test_serial_probe_of_a_silent_line_exits_1() -> None:
    with PtyLine() as line:
        result = josev_hal("probe", "serial", "--port", line.client_port, "--bauds", "9600", "--ids", "1-2")
    assert result.returncode == 1 and "no Modbus device answers" in result.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--port", "/dev/ttyNOPE", "--ids", "1"], 3),
        (["--port", "/dev/null", "--ids", "0-3"], 2),
        (["--port", "/dev/null", "--bauds", "fast"], 2),
    ],
)
def test_serial_probe_exit_codes_for_bad_ports_and_options(args: list[str], code: int) -> None:
    result = josev_hal("probe", "serial", *args)
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("josev-hal probe: ")


def test_i2c_then_serial_draft_one_profile_that_check_accepts(tmp_path: Path) -> None:
    draft = tmp_path / "board.toml"
    result = josev_hal("probe", "i2c", "--bus", "1", "--sim-chips", CHIPS, "--draft-profile", draft)
    assert result.returncode == 0, result.stderr
    assert "missing device for required role 'meter'" in result.stdout  # the draft says what is left
    assert josev_hal("check", draft).returncode == 1

    with PtyLine() as line, ModbusPeer(line.peer_port, [SimulatedMeter("em340", unit=1, values=METER)]):
        result = josev_hal(
            "probe",
            "serial",
            "--port",
            line.client_port,
            "--bauds",
            "9600",
            "--ids",
            "1",
            "--draft-profile",
            draft,
        )
    assert result.returncode == 0, result.stderr
    assert "josev-hal check: ok" in result.stdout
    check = josev_hal("check", draft)
    assert check.returncode == 0 and f"ok {draft}" in check.stdout
    # The draft's identity placeholders are warnings: fine while filling it in, not with --strict.
    assert "station.vendor: warning: placeholder value 'CHANGE-ME'" in check.stdout
    assert josev_hal("check", "--strict", draft).returncode == 1
    text = draft.read_text()
    assert 'options = { model = "em340" }' in text and 'driver = "mcp23017-contactor"' in text


def test_i2c_json_identifies_the_simulated_chips_and_the_cp_state() -> None:
    result = josev_hal("probe", "i2c", "--bus", "1", "--sim-chips", CHIPS, "--json")
    assert result.returncode == 0, result.stderr
    data = findings(result)
    assert [(f["address"], f["model"]) for f in data] == [
        (0x20, "mcp23017"),
        (0x24, "pn532"),
        (0x40, "pca9685"),
        (0x48, "ads1115"),
    ]
    adc = data[3]["reading"]
    assert adc["cp_state"] == "A" and adc["cp_v"] == pytest.approx(12.0, abs=0.05) and adc["cable_a"] is None


def test_i2c_human_output_includes_the_plugins_probe_lines() -> None:
    result = josev_hal("probe", "i2c", "--bus", "1", "--sim-chips", "mcp23017@0x21")
    assert result.returncode == 0, result.stderr
    assert "i2c /dev/i2c-1 0x21: mcp23017" in result.stdout
    assert "[i2c]" in result.stdout  # josev_hal_i2c's hal_probe_lines


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--bus", "250"], 3),  # /dev/i2c-250 does not exist
        (["--bus", "1", "--sim-chips", "ads9999@0x48"], 2),
        (["--bus", "1", "--cp-channel", "2"], 2),  # same input as the PP
    ],
)
def test_i2c_probe_exit_codes_for_missing_adapters_and_bad_options(args: list[str], code: int) -> None:
    assert josev_hal("probe", "i2c", *args).returncode == code


def test_i2c_draft_into_a_file_that_is_not_toml_leaves_it_untouched(tmp_path: Path) -> None:
    draft = tmp_path / "board.toml"
    draft.write_text("[station\n")
    result = josev_hal("probe", "i2c", "--bus", "1", "--sim-chips", CHIPS, "--draft-profile", draft)
    assert result.returncode == 3 and "draft not written" in result.stderr
    assert draft.read_text() == "[station\n"


# --------------------------------------------------------------------------------------------


def test_can_probe_with_nothing_on_the_channel_exits_1_with_an_empty_list() -> None:
    result = josev_hal(
        "probe",
        "can",
        "--interface",
        "virtual",
        "--channel",
        f"empty-{uuid.uuid4().hex}",
        "--listen-s",
        "0.2",
        "--json",
    )
    assert result.returncode == 1, result.stderr
    assert findings(result) == []


def test_can_probe_of_an_unknown_interface_exits_3() -> None:
    result = josev_hal(
        "probe", "can", "--interface", "no-such-interface", "--channel", "x", "--listen-s", "0.1"
    )
    assert result.returncode == 3 and "cannot open CAN" in result.stderr


def test_can_probe_identifies_infypower_modules_and_drafts_the_power_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: the virtual bus is per process. cli.main is what the console script runs.
    channel, draft = f"probe-{uuid.uuid4().hex}", tmp_path / "dc.toml"
    with InfyPowerGroupSim(channel=channel, modules=(4, 5)):
        args = ["probe", "can", "--interface", "virtual", "--channel", channel, "--listen-s", "0.4"]
        code = main([*args, "--json", "--draft-profile", str(draft)])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [(f["bus"], f["channel"], f["address"], f["model"]) for f in data] == [
        ("can", channel, 4, "infypower"),
        ("can", channel, 5, "infypower"),
    ]
    check = josev_hal("check", draft)
    # A CAN probe sees only the power path; check names exactly the roles left to add.
    lines = check.stdout.strip().splitlines()
    problems = [line for line in lines if ": warning: " not in line]
    assert check.returncode == 1 and problems
    assert all("missing device for required role" in p for p in problems)
    assert 'driver = "infypower-dc"' in draft.read_text()


# --------------------------------------------------------------------------------------------


def test_relay_is_refused_without_yes_i_know() -> None:
    result = josev_hal("probe", "relay", "--board", SIM_BOARD, "--evse", AC_EVSE)
    assert result.returncode == 2 and "--yes-i-know" in result.stderr


def test_relay_on_an_unknown_evse_is_a_usage_error() -> None:
    result = josev_hal("probe", "relay", "--board", SIM_BOARD, "--evse", "DE*NOPE", "--yes-i-know")
    assert result.returncode == 2 and "DE*JHL*E0001" in result.stderr


def test_relay_measures_the_sim_contactor_and_drafts_its_feedback_timeout(tmp_path: Path) -> None:
    draft = tmp_path / "sim-tuned.toml"
    result = josev_hal(
        "probe",
        "relay",
        "--board",
        SIM_BOARD,
        "--evse",
        AC_EVSE,
        "--yes-i-know",
        "--json",
        "--draft-profile",
        draft,
    )
    assert result.returncode == 0, result.stderr
    (found,) = findings(result)
    assert found["model"] == "sim-contactor" and found["reading"]["cp_state"] == "A"
    assert found["reading"]["close_ms"] >= 30.0  # sim.toml close_delay_ms
    assert josev_hal("check", draft).returncode == 0
    assert "feedback_timeout_ms" in draft.read_text()


def test_relay_refuses_to_draft_over_the_board_profile_itself(tmp_path: Path) -> None:
    board = tmp_path / "sim.toml"
    board.write_text(SIM_BOARD.read_text())
    result = josev_hal(
        "probe", "relay", "--board", board, "--evse", AC_EVSE, "--yes-i-know", "--draft-profile", board
    )
    assert result.returncode == 2 and board.read_text() == SIM_BOARD.read_text()


# --------------------------------------------------------------------------------------------


def _board_with_modbus_meter(tmp_path: Path, port: str, model: str) -> Path:
    """boards/sim.toml with the AC EVSE's simulated meter replaced by a Modbus meter on ``port``."""
    text = SIM_BOARD.read_text()
    sim_meter = (
        '  [evse.devices.meter]\n  driver = "sim-meter"\n'
        '  options = { kind = "ac", nominal_voltage_v = 230, phases = 3 }\n'
    )
    assert sim_meter in text
    modbus = (
        '  [evse.devices.meter]\n  driver = "modbus-meter"\n  bus = "rs485"\n  address = 1\n'
        f'  options = {{ model = "{model}" }}\n'
    )
    text = text.replace(sim_meter, modbus, 1)
    text = text.replace("[[evse]]", f'[buses.rs485]\nkind = "serial"\nport = "{port}"\n\n[[evse]]', 1)
    path = tmp_path / "board.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("configured", "code"), [("em340", 0), ("sdm630", 1)])
def test_board_probe_reads_every_device_and_flags_a_meter_of_another_model(
    tmp_path: Path, configured: str, code: int
) -> None:
    with PtyLine() as line, ModbusPeer(line.peer_port, [SimulatedMeter("em340", unit=1, values=METER)]):
        board = _board_with_modbus_meter(tmp_path, line.client_port, configured)
        result = josev_hal("probe", "board", "--board", board, "--json")
    assert result.returncode == code, result.stderr
    data = findings(result)
    devices = {f["device"]: f for f in data}
    assert len(devices) == 13 and devices["evse[0].contactor"]["reading"]["read"]["commanded_closed"] is False
    meter = devices["evse[0].meter"]
    assert meter["bus"] == "serial" and meter["reading"]["describe"]["model"] == configured
    if code:  # the em340 has no SDM630 registers: the read fails and the probe says why
        assert "registers match em340, the profile says sdm630" in meter["notes"]
    else:
        assert "notes" not in meter and meter["reading"]["read"]["voltage_v"]["l1"] == 230.0


def test_i2c_front_end_options_are_used_for_the_reading_and_the_draft(tmp_path: Path) -> None:
    draft = tmp_path / "board.toml"
    result = josev_hal(
        "probe", "i2c", "--bus", "1", "--sim-chips", CHIPS, "--json", "--draft-profile", draft,
        "--cp-channel", "1", "--cp-negative-channel", "0", "--pp-channel", "3", "--pp-pull-up-ohm", "2700",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    adc = next(f for f in findings(result) if f["model"] == "ads1115")["reading"]
    assert adc["cp_state"] == "A" and adc["pp_v"] == 0.0  # the simulated ADC's AIN3 is not wired
    text = draft.read_text()
    assert "positive_channel = 1, negative_channel = 0" in text
    assert "channel = 3, pull_up_ohm = 2700.0" in text


def test_a_probe_that_finds_nothing_does_not_create_a_draft(tmp_path: Path) -> None:
    draft = tmp_path / "board.toml"
    with PtyLine() as line:
        result = josev_hal(
            "probe",
            "serial",
            "--port",
            line.client_port,
            "--bauds",
            "9600",
            "--ids",
            "1",
            "--draft-profile",
            draft,
        )
    assert result.returncode == 1 and "nothing to add" in result.stdout and not draft.exists()
