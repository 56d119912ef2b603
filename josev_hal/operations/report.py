"""The commissioning report: ``report.json`` (Ed25519-signed) and a readable ``report.html``.

The signature covers the canonical JSON of the whole report without its ``signature`` member
(keys sorted, no whitespace, UTF-8), so any change to a check, a value or a timestamp after
signing makes :func:`verify` fail. The public key travels in the report; who made it is proven
by comparing that key with the station's own (``--state-dir``: the keystore's signing key).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from josev_hal.errors import HalError

__all__ = ["Check", "ReportError", "canonical", "fingerprint", "render_html", "sign", "verify"]

FORMAT = "josev-hal-commissioning/1"


class ReportError(HalError):
    """A report cannot be read, or its signature does not verify."""


@dataclass
class Check:
    """One check of one EVSE: what was measured, the limit it was held to, pass or fail."""

    evse_id: str
    name: str
    passed: bool
    value: Any = None
    limit: str = ""
    unit: str = ""
    detail: str = ""
    at: str = ""
    measurements: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def canonical(report: dict[str, Any]) -> bytes:
    """The signed bytes: the report without ``signature``, keys sorted, compact, UTF-8."""
    body = {k: v for k, v in report.items() if k != "signature"}
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def fingerprint(public_raw: bytes) -> str:
    """SHA-256 of the raw public key, hex, in groups of four (for reading aloud)."""
    digest = hashlib.sha256(public_raw).hexdigest()[:32]
    return ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def sign(report: dict[str, Any], key: ed25519.Ed25519PrivateKey) -> dict[str, Any]:
    """The report with its ``signature`` member."""
    public = key.public_key().public_bytes_raw()
    value = key.sign(canonical(report))
    return {
        **report,
        "signature": {
            "algorithm": "Ed25519",
            "public_key": base64.b64encode(public).decode(),
            "public_key_fingerprint": fingerprint(public),
            "value": base64.b64encode(value).decode(),
        },
    }


def load(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read the report: {exc}") from exc
    if not isinstance(report, dict) or report.get("format") != FORMAT:
        raise ReportError(f"{path}: not a josev-hal commissioning report (format {FORMAT})")
    return report


def verify(report: dict[str, Any], expected_public_key: bytes | None = None) -> str:
    """Check the signature; returns the signer's key fingerprint. Raises :class:`ReportError`."""
    sig = report.get("signature")
    if not isinstance(sig, dict) or sig.get("algorithm") != "Ed25519":
        raise ReportError("the report is not signed (no Ed25519 signature)")
    try:
        public_raw = base64.b64decode(sig["public_key"], validate=True)
        value = base64.b64decode(sig["value"], validate=True)
        public = ed25519.Ed25519PublicKey.from_public_bytes(public_raw)
    except (KeyError, ValueError, TypeError) as exc:
        raise ReportError(f"signature block unreadable: {exc}") from exc
    try:
        public.verify(value, canonical(report))
    except InvalidSignature:
        raise ReportError("signature does not match: the report was changed after signing") from None
    if expected_public_key is not None and public_raw != expected_public_key:
        raise ReportError(
            f"signed by key {fingerprint(public_raw)}, "
            f"not by this station's key {fingerprint(expected_public_key)}"
        )
    return fingerprint(public_raw)


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f2f2f2}.pass{color:#1b7f3b;font-weight:600}.fail{color:#c53030;font-weight:600}
.meta td:first-child{color:#666}
"""


def render_html(report: dict[str, Any]) -> str:
    """A self-contained page for people: metadata, then one table of checks per EVSE."""
    e = html.escape
    verdict = "PASSED" if report["passed"] else "FAILED"
    meta = [
        ("Station", f"{report['station'].get('vendor', '')} {report['station'].get('model', '')}"),
        ("Serial number", report["station"].get("serial_number", "")),
        ("Board profile", report["board"]["source"]),
        ("Profile SHA-256", report["board"]["sha256"]),
        ("Software", f"josev-hal {report['software']['version']}"),
        ("Operator", report.get("operator", "")),
        ("Started", report["started_at"]),
        ("Finished", report["finished_at"]),
        ("Mode", report.get("mode", "")),
    ]
    sig = report.get("signature")
    if isinstance(sig, dict):
        meta.append(("Signature", f"Ed25519, key {sig.get('public_key_fingerprint', '')}"))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Commissioning report {e(report['station'].get('serial_number', ''))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Commissioning report: <span class='{'pass' if report['passed'] else 'fail'}'>"
        f"{verdict}</span></h1>",
        "<table class='meta'>",
        *(f"<tr><td>{e(k)}</td><td>{e(str(v))}</td></tr>" for k, v in meta),
        "</table>",
    ]
    by_evse: dict[str, list[dict[str, Any]]] = {}
    for check in report["checks"]:
        by_evse.setdefault(check["evse_id"], []).append(check)
    for evse_id, checks in by_evse.items():
        parts.append(f"<h2>{e(evse_id)}</h2><table><tr><th>Check</th><th>Result</th><th>Measured</th>")
        parts.append("<th>Limit</th><th>Detail</th><th>Time (UTC)</th></tr>")
        for c in checks:
            value = "" if c["value"] is None else f"{c['value']} {c['unit']}".strip()
            result = "<span class='pass'>pass</span>" if c["passed"] else "<span class='fail'>FAIL</span>"
            parts.append(
                f"<tr><td>{e(c['name'])}</td><td>{result}</td><td>{e(value)}</td><td>{e(c['limit'])}</td>"
                f"<td>{e(c['detail'])}</td><td>{e(c['at'][11:23])}</td></tr>"
            )
        parts.append("</table>")
    parts.append(
        "<p>The JSON report next to this page is the signed record; verify it with "
        "<code>josev-hal commission --verify report.json</code>.</p></body></html>"
    )
    return "\n".join(parts)
