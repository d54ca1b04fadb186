"""Plain-text reports of provisioning results for the command line."""

from __future__ import annotations

from collections.abc import Sequence

from station.workflow import ModuleResult

_COLUMNS = ("SLOT", "SERIAL", "MAC", "CERT SERIAL", "TIME", "RESULT")


def result_rows(results: Sequence[ModuleResult]) -> list[tuple[str, ...]]:
    """One row of cells per module result."""
    return [
        (
            result.slot,
            result.serial or "-",
            result.mac or "-",
            result.cert_serial or "-",
            f"{result.elapsed:.1f}s",
            _verdict(result),
        )
        for result in results
    ]


def format_results(results: Sequence[ModuleResult]) -> str:
    """A table with one row per module and a summary line."""
    rows = [_COLUMNS, *result_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        for row in rows
    ]
    passed = sum(result.passed for result in results)
    lines.append(f"{passed} of {len(results)} modules passed")
    return "\n".join(lines)


def _verdict(result: ModuleResult) -> str:
    if result.passed:
        return "PASS"
    step = result.failure_step.label if result.failure_step else "unknown step"
    return f"FAIL at {step}: {result.reason}"
