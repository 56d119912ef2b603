"""``josev-hal emulate-everest``: play EVerest's side (API modules, EvseManager) against a board
served under EVerest and report every violation of the EVerest API and its ordering rules.

The module ids come from the board profile (``--board``; default: the built-in sim board with
its default ids); ``--evse`` picks the EVSE. Scenarios: ``startup`` (any board), ``ac`` and
``dc`` (a full session; they drive the simulated EV on ``sim/cs``, so the board side must run a
simulated board, e.g. ``josev-hal run --board boards/sim-everest.toml``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from josev_hal.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_RUNTIME, EXIT_USAGE, broker_url


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "emulate-everest",
        help="play EVerest's side against a board served under EVerest and report violations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 session completed with no violation, 1 violations or failed steps, "
        "2 usage error, 3 broker unreachable or profile invalid.",
    )
    parser.add_argument(
        "--broker",
        required=True,
        type=broker_url,
        metavar="URL",
        help="broker URL, mqtt://host:port or mqtts://host:port",
    )
    parser.add_argument("--board", type=Path, help="board profile naming the module ids (default: sim board)")
    parser.add_argument(
        "--evse", help="EVSE id (default: the first AC EVSE for ac, the first DC EVSE for dc)"
    )
    parser.add_argument(
        "--scenario", choices=("startup", "ac", "dc"), default="startup", help="default: startup"
    )
    parser.add_argument(
        "--timeout", type=float, default=8.0, help="seconds to wait for each step (default 8)"
    )
    parser.add_argument("--charge-s", type=float, default=3.0, help="seconds to charge (default 3)")
    parser.add_argument(
        "--heartbeat-ms", type=int, default=1000, help="EVerest heartbeat period (default 1000)"
    )
    parser.add_argument("--username", help="broker user name")
    parser.add_argument("--password-file", type=Path, help="file holding the broker password")
    parser.add_argument("--ca-file", help="CA certificate for mqtts://")
    return parser


def run(args: argparse.Namespace) -> int:
    from josev_hal.daemon import load_board_profile
    from josev_hal.errors import HalError
    from josev_hal.everest.emulator import EverestEmulator, run_scenario
    from josev_hal.plugins import get_plugin_manager

    try:
        profile, source = load_board_profile(args.board, get_plugin_manager())
        mods = emulated_modules(profile, args.evse, args.scenario)
    except HalError as exc:
        print(f"josev-hal emulate-everest: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except LookupError as exc:
        print(f"josev-hal emulate-everest: {exc.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    password = args.password_file.read_text().strip() if args.password_file else None
    t0 = time.monotonic()

    def show(direction: str, text: str, violation: str | None) -> None:
        line = f"{time.monotonic() - t0:7.3f}  {direction:10} {text}"
        print(line + (f"\n          VIOLATION: {violation}" if violation else ""), flush=True)

    try:
        emulator = EverestEmulator(
            args.broker,
            [mods],
            heartbeat_ms=args.heartbeat_ms,
            username=args.username,
            password=password,
            ca_file=args.ca_file,
            on_event=show,
        )
        with emulator:
            result = run_scenario(
                emulator, args.scenario, mods, step_timeout_s=args.timeout, charge_s=args.charge_s
            )
    except HalError as exc:
        print(f"josev-hal emulate-everest: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    print_summary(result, time.monotonic() - t0, source)
    return EXIT_OK if result.ok else EXIT_PROBLEMS


def emulated_modules(profile: Any, evse_id: str | None, scenario: str) -> Any:
    """The module ids EVerest would have configured for one EVSE of ``profile``."""
    from josev_hal.devices import Role
    from josev_hal.everest.codec import ApiType
    from josev_hal.everest.config import module_ids
    from josev_hal.everest.emulator import EmulatedModules

    if evse_id is not None:
        try:
            evse = profile.evse_by_id(evse_id)
        except KeyError:
            known = ", ".join(e.id for e in profile.evse)
            raise LookupError(f"--evse {evse_id!r} is not in the profile (EVSEs: {known})") from None
    else:
        kind = "dc" if scenario == "dc" else "ac"
        evse = next(
            (e for e in profile.evse if e.kind.value == kind), profile.evse[0] if profile.evse else None
        )
        if evse is None:
            raise LookupError("the profile has no EVSE")
    ids = module_ids(evse)
    roles = set(evse.devices)
    return EmulatedModules(
        evse_id=evse.id,
        evse_board_support=ids[ApiType.EVSE_BOARD_SUPPORT],
        powermeter=ids[ApiType.POWERMETER] if Role.METER in roles else None,
        isolation_monitor=ids[ApiType.ISOLATION_MONITOR] if Role.ISOLATION_MONITOR in roles else None,
        power_supply_DC=ids[ApiType.POWER_SUPPLY_DC] if Role.DC_POWER_MODULE in roles else None,
        auth_token_provider=ids[ApiType.AUTH_TOKEN_PROVIDER] if Role.ID_TOKEN_READER in roles else None,
    )


def print_summary(result: Any, elapsed_s: float, source: str) -> None:
    print()
    print(
        f"scenario {result.scenario} on {source}: {'PASSED' if result.ok else 'FAILED'} in {elapsed_s:.1f} s"
    )
    for name, ok, detail in result.steps:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else ""))
    for violation in result.violations:
        print(f"  VIOLATION {violation}")


def demo_everest(profile: Any, pm: Any, source: str, url: str, *, dc: bool, fast: bool) -> int:
    """``josev-hal demo --everest``: the simulated board under EVerest's API (a daemon with
    ``[northbound] kind = "everest"``) and the EVerest emulator's AC or DC session against it."""
    import tempfile

    from josev_hal.daemon import Daemon
    from josev_hal.everest.emulator import EverestEmulator, run_scenario
    from josev_hal.profile import NorthboundKind

    profile.northbound.kind = NorthboundKind.EVEREST
    scenario = "dc" if dc else "ac"
    mods = emulated_modules(profile, None, scenario)
    t0 = time.monotonic()

    def show(direction: str, text: str, violation: str | None) -> None:
        line = f"{time.monotonic() - t0:7.3f}  {direction:10} {text}"
        print(line + (f"\n          VIOLATION: {violation}" if violation else ""), flush=True)

    print(f"josev-hal demo --everest: {scenario.upper()} session on the simulated board under EVerest's API")
    with tempfile.TemporaryDirectory(prefix="josev-hal-demo-") as state_dir:
        daemon = Daemon(profile, pm, source=source, broker_url=url, state_dir=state_dir)
        daemon.start(wait_s=10.0)
        try:
            with EverestEmulator(url, [mods], heartbeat_ms=250, on_event=show) as emulator:
                result = run_scenario(emulator, scenario, mods, charge_s=1.0 if fast else 5.0)
        finally:
            daemon.stop()
    print_summary(result, time.monotonic() - t0, source)
    return EXIT_OK if result.ok else EXIT_PROBLEMS
