"""Start-up cost of what the fidelity/codec owner controls: no distribution-metadata lookup for
the version string, and cryptography imported only where keys or firmware signatures are handled.
(Behaviour, not timing: which modules an import pulls in; the figures are in benchmarks and the
README's Performance section.)"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import josev_hal

REPO = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=60,
    )
    return set(out.stdout.split())


def test_the_static_version_is_the_projects_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert josev_hal.__version__ == project["version"]
    assert josev_hal.__version__ == importlib.metadata.version("josev-hal")


def test_importing_the_package_does_not_read_distribution_metadata() -> None:
    assert "importlib.metadata" not in _modules_after("import josev_hal")


def test_the_daemons_import_path_does_not_import_cryptography() -> None:
    loaded = _modules_after(
        "import josev_hal.daemon, josev_hal.functions, josev_hal.station, josev_hal.bridge, "
        "josev_hal.functions.keystore, josev_hal.functions.firmware"
    )
    assert "josev_hal.functions.keystore" in loaded and "josev_hal.functions.firmware" in loaded
    assert not {m for m in loaded if m.split(".")[0] == "cryptography"}


def test_cryptography_is_imported_when_a_key_is_made(tmp_path: Path) -> None:
    from josev_hal.functions.keystore import FileKeyStore

    csr = FileKeyStore(tmp_path).generate_csr(
        "charging_station_certificate", common_name="CS-1", organization_name="ACME", country_name="DE"
    )
    assert csr.startswith("-----BEGIN CERTIFICATE REQUEST-----")
