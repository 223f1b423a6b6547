"""JSON forms of remittance reports and attestations (the oracle's wire format).

A report is its fields, ``loan_tape_root`` as ``0x`` hex; an attestation is
``{signer, v, r, s, deadline}`` with ``r`` and ``s`` as ``0x`` hex. The readers refuse a
missing or unknown field, or a value of the wrong form, with an
:class:`~openmbs.errors.InputError` naming the source (``where``: a file, a journal
entry), the field and the value. The chain's deployment journal, the ``openmbs chain``
commands and any other client read and write these forms through this one module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from openmbs.errors import InputError
from openmbs.oracle._eip712 import Attestation
from openmbs.oracle._report import RemittanceReport

__all__ = [
    "attestation_from_dict",
    "attestation_to_dict",
    "report_from_dict",
    "report_to_dict",
]


def report_to_dict(report: RemittanceReport) -> dict[str, Any]:
    """A report as JSON-ready fields (``loan_tape_root`` as ``0x`` hex)."""
    d = dataclasses.asdict(report)
    d["loan_tape_root"] = "0x" + report.loan_tape_root.hex()
    return d


def report_from_dict(data: Mapping[str, Any], *, where: str = "report") -> RemittanceReport:
    """A :class:`~openmbs.oracle.RemittanceReport` from its JSON fields (fields with a
    default, such as ``subsequent_recoveries``, may be left out).

    ``where`` names the source in error messages (a file, a journal entry).
    """
    fields = dataclasses.fields(RemittanceReport)
    names = [f.name for f in fields]
    missing = [f.name for f in fields if f.name not in data and f.default is dataclasses.MISSING]
    extra = sorted(set(data) - set(names))
    if missing or extra:
        raise InputError(
            f"{where}: "
            + "; ".join(
                s
                for s in (
                    f"missing field(s) {', '.join(missing)}" if missing else "",
                    f"unknown field(s) {', '.join(extra)}" if extra else "",
                )
                if s
            )
        )
    values = dict(data)
    root = values["loan_tape_root"]
    try:
        values["loan_tape_root"] = bytes.fromhex(str(root).removeprefix("0x"))
    except ValueError:
        raise InputError(f"{where} field 'loan_tape_root' value {root!r}: not hex") from None
    try:
        return RemittanceReport(**values)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def attestation_to_dict(a: Attestation) -> dict[str, Any]:
    """An attestation as ``{signer, v, r, s}`` (``r``, ``s`` as ``0x`` hex)."""
    return {
        "signer": a.signer,
        "v": a.v,
        "r": "0x" + a.r.hex(),
        "s": "0x" + a.s.hex(),
        "deadline": a.deadline,
    }


def attestation_from_dict(data: Mapping[str, Any], *, where: str = "attestation") -> Attestation:
    """An :class:`~openmbs.oracle.Attestation` from ``{signer, v, r, s, deadline}``."""
    try:
        r = bytes.fromhex(str(data["r"]).removeprefix("0x"))
        s = bytes.fromhex(str(data["s"]).removeprefix("0x"))
        a = Attestation(str(data["signer"]), int(data["v"]), r, s, int(data["deadline"]))
    except KeyError as exc:
        raise InputError(f"{where}: missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {exc}") from None
    if len(a.r) != 32 or len(a.s) != 32:
        raise InputError(f"{where} fields 'r', 's': need 32 bytes each")
    return a
