"""`josev-hal check` is setup without the hardware (issue #16 item 4).

Every rule that driver or bus setup applies is checked from the same definition, reported with
file:line and key path, all problems of a file at once -- cross-checks included when a single
field is wrong. Placeholders and malformed ISO 15118 EVSE IDs are warnings that fail `--strict`.
The broken profiles are the shipped reference board with one mistake each.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from josev_hal.devices import DeviceConfig
from josev_hal.errors import ConfigError, ProfileError
from josev_hal.plugins import HalPluginManager, get_plugin_manager
from josev_hal.profile import ISO15118_EVSE_ID, load_profile_text
from tests.support.cli import josev_hal_command

REPO = Path(__file__).resolve().parents[1]
BOARD = (REPO / "boards" / "rpi-ads1115-mcp23017-sdm630.toml").read_text()
SOURCE = "boards/acme.toml"


@pytest.fixture(scope="module")
def pm() -> HalPluginManager:
    return get_plugin_manager(autoload=True)


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _line(text: str, needle: str) -> int:
    (index,) = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return index


def _problems(text: str, pm: HalPluginManager, warnings: list[str] | None = None) -> list[str]:
    with pytest.raises(ProfileError) as info:
        load_profile_text(text, SOURCE, pm, warnings=warnings)
    return list(info.value.problems)


# (case, old, new, the line the problem must point at, key path, reason fragment)
SETUP_RULES: list[tuple[str, str, str, str, str, str]] = [
    (
        "modbus unit id",
        '  address = 1\n  options = { model = "sdm630" }',
        '  address = 300\n  options = { model = "sdm630" }',
        "address = 300",
        "evse[0].devices.meter.address",
        "Modbus unit id must be 1..247, got 300",
    ),
    (
        "i2c address outside 7 bits",
        "  address = 0x24",
        "  address = 0x91",
        "address = 0x91",
        "evse[0].devices.id_reader.address",
        "I2C address 0x91 is outside the 7-bit device range 0x03..0x77",
    ),
    (
        "reserved i2c address",
        "  address = 0x24",
        "  address = 0x78",
        "address = 0x78",
        "evse[0].devices.id_reader.address",
        "outside the 7-bit device range",
    ),
    (
        "two devices on one expander pin",
        "test_pin = 3,",
        "test_pin = 0,",
        "test_pin = 0,",
        "evse[0].devices.rcd.options.test_pin",
        "pin 0 of the chip at 0x20 on bus 'i2c1' is already used by evse[0].devices.contactor.options.pin",
    ),
    (
        "one pin twice in one device",
        "lock_pin = 1, feedback_pin = 9,",
        "lock_pin = 1, feedback_pin = 1,",
        "lock_pin = 1, feedback_pin = 1,",
        "evse[0].devices.lock.options",
        "",
    ),
    (
        "two devices on one ADC channel",
        "options = { channel = 2,",
        "options = { channel = 0,",
        "options = { channel = 0,",
        "evse[0].devices.pp.options.channel",
        "channel 0 of the chip at 0x48 on bus 'i2c1' is already used by "
        "evse[0].devices.cp.options.positive_channel",
    ),
    (
        "second chip address outside 7 bits",
        "pwm_address = 0x40",
        "pwm_address = 0x7c",
        "pwm_address = 0x7c",
        "evse[0].devices.cp.options.pwm_address",
        "I2C address 0x7c is outside the 7-bit device range",
    ),
    (
        "non-standard baud rate",
        "baudrate = 9600",
        "baudrate = 9601",
        "baudrate = 9601",
        "buses.rs485.baudrate",
        "9601 is not a standard rate (did you mean 9600?)",
    ),
    (
        "CP PWM frequency",
        "pwm_frequency_hz = 1000",
        "pwm_frequency_hz = 1100",
        "pwm_frequency_hz = 1100",
        "cp.pwm_frequency_hz",
        "<= 1020",
    ),
    (
        "CP generator frequency",
        "pwm_address = 0x40,",
        "pwm_address = 0x40, pwm_frequency_hz = 1500.0,",
        "pwm_frequency_hz = 1500.0",
        "evse[0].devices.cp.options.pwm_frequency_hz",
        "outside the CP range",
    ),
    (
        "two devices on one address that cannot share it",
        "  address = 0x24",
        "  address = 0x20  # the reader",
        "address = 0x20  # the reader",
        "evse[0].devices.id_reader.address",
        "address 32 on bus 'i2c1' is already used by evse[0].devices.contactor",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "line_of", "key", "reason"),
    [case[1:] for case in SETUP_RULES],
    ids=[case[0] for case in SETUP_RULES],
)
def test_check_reports_what_setup_would_refuse_with_file_line_and_key(
    pm: HalPluginManager, old: str, new: str, line_of: str, key: str, reason: str
) -> None:
    text = _replace(BOARD, old, new)
    problems = _problems(text, pm)
    line = _line(text, line_of)
    expected = f"{SOURCE}:{line}: {key}"
    hits = [p for p in problems if p.startswith(expected) and reason in p]
    assert hits, f"expected '{expected}: ...{reason}...' in:\n" + "\n".join(problems)


def test_a_can_bus_with_a_non_standard_bit_rate_is_reported(pm: HalPluginManager) -> None:
    text = BOARD + '\n[buses.power]\nkind = "can"\nchannel = "can0"\nbitrate = 123456\n'
    (problem,) = _problems(text, pm)
    assert problem.startswith(
        f"{SOURCE}:{_line(text, 'bitrate = 123456')}: buses.power.bitrate: 123456 is not"
    )


def test_a_type_error_does_not_hide_the_cross_checks(pm: HalPluginManager) -> None:
    second = BOARD[BOARD.index("[[evse]]") :].replace("max_current_a = 32", 'max_current_a = "lots"')
    text = (
        BOARD + "\n" + second.replace("ocpp_id = 1", "ocpp_id = 2").replace("test_pin = 3,", "test_pin = 0,")
    )
    problems = _problems(text, pm)
    joined = "\n".join(problems)
    assert 'evse[1].max_current_a: expected float | null, got "lots"' in joined
    assert "evse[1].id: duplicate EVSE id 'DE*ACM*E0001' (also evse[0])" in joined
    # two EVSEs on one expander at one address: both the shared pins and the addresses clash
    assert "evse[1].devices.rcd.options.test_pin: pin 0 of the chip at 0x20" in joined
    assert (
        "evse[1].devices.contactor.options.pin: pin 0 of the chip at 0x20 on bus 'i2c1' is already used by "
        in joined
    )


def test_every_problem_of_a_file_is_reported_at_once(pm: HalPluginManager) -> None:
    text = BOARD
    for old, new in [
        ("baudrate = 9600", "baudrate = 9601"),
        ("  address = 1\n  options = { model", "  address = 0\n  options = { model"),
        ("  address = 0x24", "  address = 0x02"),
        ("test_pin = 3,", "test_pin = 8,"),
    ]:
        text = _replace(text, old, new)
    problems = _problems(text, pm)
    assert len(problems) == 4, problems
    assert [int(p.split(":")[1]) for p in problems] == sorted(int(p.split(":")[1]) for p in problems)


def test_setup_refuses_the_same_unit_id_with_the_same_words() -> None:
    from josev_hal_modbus.driver import ModbusMeter, ModbusMeterOptions

    options = ModbusMeterOptions(model="sdm630")
    with pytest.raises(
        ConfigError, match=r"evse\[0\]\.meter: address: Modbus unit id must be 1\.\.247, got 300"
    ):
        ModbusMeter(DeviceConfig(device_id="evse[0].meter", options=options, address=300))


def test_setup_claims_exactly_the_pins_the_check_knows() -> None:
    from josev_hal_i2c.gpio_drivers import Mcp23017Rcd, Mcp23017RcdOptions

    options = Mcp23017RcdOptions(trip_pin=10, test_pin=3, reset_pin=4)
    claims = Mcp23017Rcd.claims(options, 0x20)
    assert {(c.address, c.kind, c.number, c.key) for c in claims} == {
        (0x20, "pin", 10, "trip_pin"),
        (0x20, "pin", 3, "test_pin"),
        (0x20, "pin", 4, "reset_pin"),
    }


# -- warnings ------------------------------------------------------------------------------------

PLACEHOLDERS = [
    ('vendor = "Acme"', 'vendor = "CHANGE-ME"', "station.vendor", "placeholder value 'CHANGE-ME'"),
    ('id = "DE*ACM*E0001"', 'id = "DE*XXX*E0001"', "evse[0].id", "placeholder value 'DE*XXX*E0001'"),
    ('network_interface = "eth1"', 'network_interface = "XXX"', "evse[0].network_interface", "placeholder"),
    ('id = "DE*ACM*E0001"', 'id = "DE-JHL-1"', "evse[0].id", "'DE-JHL-1' is not an ISO 15118 EVSE ID"),
]


@pytest.mark.parametrize(("old", "new", "key", "reason"), PLACEHOLDERS, ids=[p[1] for p in PLACEHOLDERS])
def test_placeholders_and_malformed_evse_ids_are_warnings(
    pm: HalPluginManager, old: str, new: str, key: str, reason: str
) -> None:
    text = _replace(BOARD, old, new)
    warnings: list[str] = []
    load_profile_text(text, SOURCE, pm, warnings=warnings)  # loads: a warning does not stop a board
    (warning,) = warnings
    assert warning.startswith(f"{SOURCE}:{_line(text, new)}: {key}: warning: ")
    assert reason in warning


@pytest.mark.parametrize("evse_id", ["DE*ACM*E0001", "DEACME1", "NL*ABC*E12*34", "ZZ00000", "FR*A2B*EX42"])
def test_iso15118_evse_ids_are_accepted(evse_id: str) -> None:
    assert ISO15118_EVSE_ID.fullmatch(evse_id)


@pytest.mark.parametrize("evse_id", ["DE-JHL-1", "de*acm*e0001", "DE*AC*E1", "DE*ACM*0001", "DE*ACM*E", "E1"])
def test_malformed_evse_ids_are_refused(evse_id: str) -> None:
    assert not ISO15118_EVSE_ID.fullmatch(evse_id)


def _check(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*josev_hal_command(), "check", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_check_passes_with_warnings_and_strict_fails_on_them(tmp_path: Path) -> None:
    draft = tmp_path / "draft.toml"
    draft.write_text(_replace(BOARD, 'vendor = "Acme"', 'vendor = "CHANGE-ME"'))
    relaxed = _check(str(draft), cwd=tmp_path)
    assert relaxed.returncode == 0, relaxed.stdout + relaxed.stderr
    assert "station.vendor: warning: placeholder value 'CHANGE-ME'" in relaxed.stdout
    assert f"ok {draft} (1 warning(s); --strict fails on them)" in relaxed.stdout
    strict = _check("--strict", str(draft), cwd=tmp_path)
    assert strict.returncode == 1
    assert "warning: placeholder" in strict.stdout and f"ok {draft}" not in strict.stdout


def test_the_shipped_boards_pass_strict(tmp_path: Path) -> None:
    boards = sorted(str(p) for p in (REPO / "boards").glob("*.toml"))
    proc = _check("--strict", *boards, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(line.startswith("ok ") for line in proc.stdout.splitlines())


def test_run_logs_the_warnings_of_the_profile_it_loads(tmp_path: Path) -> None:
    from josev_hal.embedded_broker import free_port

    board = tmp_path / "draft.toml"
    sim = (REPO / "boards" / "sim.toml").read_text()
    vendor_line = next(line for line in sim.splitlines() if line.startswith("vendor = "))
    board.write_text(_replace(sim, vendor_line, 'vendor = "CHANGE-ME"'))
    # Nobody listens at that broker: the daemon gives up after logging the warnings.
    broker = f"mqtt://127.0.0.1:{free_port()}"
    args = ["run", "--board", str(board), "--state-dir", str(tmp_path / "state"), "--broker", broker]
    args += ["--wait-broker", "0.5"]
    proc = subprocess.run([*josev_hal_command(), *args], capture_output=True, text=True, timeout=60)
    assert "station.vendor: warning: placeholder value 'CHANGE-ME'" in proc.stderr, proc.stderr[-2000:]
