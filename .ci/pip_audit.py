"""Known-vulnerability audit of the pinned requirements (pip-audit), for .ci/run.

- A vulnerability in a pinned version fails the build, unless `.ci/pip-audit-ignore.txt` lists
  its id with a reason (one `ID  reason…` per line: nothing is ignored unexplained).
- No network, or a vulnerability service that knows none of our pins, is not a failure: the audit
  is reported as SKIPPED (or partial) with the reason, and CI goes on. pip-audit asks PyPI's JSON
  API first and OSV second.

Usage: .venv/bin/python .ci/pip_audit.py [requirements files…]  (default: requirements*.txt)
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORE_FILE = ROOT / ".ci" / "pip-audit-ignore.txt"
SERVICES = ("pypi", "osv")
TIMEOUT_SECONDS = 600


@dataclass
class Verdict:
    vulnerable: list[str] = field(default_factory=list)  # "name version: ID (fix: …)"
    skipped: list[str] = field(default_factory=list)
    audited: int = 0

    @property
    def failed(self) -> bool:
        return bool(self.vulnerable)


def ignored_ids(path: Path = IGNORE_FILE) -> dict[str, str]:
    ids: dict[str, str] = {}
    if not path.exists():
        return ids
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        vuln_id, _, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit(f"{path.name}: {vuln_id} has no reason; every ignored vulnerability needs one")
        ids[vuln_id] = reason.strip()
    return ids


def classify(report: dict, ignored: dict[str, str]) -> Verdict:
    verdict = Verdict()
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            verdict.skipped.append(f"{dep['name']}: {dep['skip_reason']}")
            continue
        verdict.audited += 1
        for vuln in dep.get("vulns", []):
            ids = {vuln.get("id"), *vuln.get("aliases", [])}
            if ids & set(ignored):
                continue
            fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
            verdict.vulnerable.append(f"{dep['name']} {dep.get('version')}: {vuln.get('id')} (fixed in: {fixes})")
    return verdict


def run_pip_audit(service: str, files: list[Path]) -> tuple[dict | None, str]:
    command = [sys.executable, "-m", "pip_audit", "--vulnerability-service", service, "--format", "json",
               "--progress-spinner", "off", "--no-deps", "--disable-pip"]  # fmt: skip
    for file in files:
        command += ["-r", str(file)]
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return None, f"pip-audit timed out after {TIMEOUT_SECONDS}s"
    try:
        return json.loads(result.stdout), ""
    except ValueError:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return None, last[:300]


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] or sorted(ROOT.glob("requirements*.txt"))
    ignored = ignored_ids()
    problems = []
    for service in SERVICES:
        report, problem = run_pip_audit(service, files)
        if report is None:
            problems.append(f"{service}: {problem}")
            continue
        verdict = classify(report, ignored)
        if verdict.failed:
            print(f"pip-audit ({service}): KNOWN VULNERABILITIES in pinned requirements:")
            for line in verdict.vulnerable:
                print(f"  {line}")
            print(f"Upgrade the pins, or explain each accepted one in {IGNORE_FILE.relative_to(ROOT)}.")
            return 1
        if verdict.audited == 0:
            problems.append(f"{service}: knows none of our {len(verdict.skipped)} pinned versions")
            continue
        print(f"pip-audit ({service}): no known vulnerabilities in {verdict.audited} audited pins", end="")
        print(f"; {len(verdict.skipped)} could not be audited:" if verdict.skipped else ".")
        for line in verdict.skipped:
            print(f"  skipped {line}")
        for vuln_id, reason in ignored.items():
            print(f"  ignored {vuln_id}: {reason}")
        return 0
    print("pip-audit: SKIPPED — no vulnerability service could audit the pins here (not a failure):")
    for line in problems:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
