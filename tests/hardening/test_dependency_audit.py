"""The CI dependency audit (.ci/pip_audit.py): a known vulnerability fails the build, an explained
one may be ignored, and an unreachable vulnerability service is a skip, never a failure."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def audit():
    spec = importlib.util.spec_from_file_location("ci_pip_audit", ROOT / ".ci" / "pip_audit.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


VULNERABLE = {
    "dependencies": [
        {
            "name": "django",
            "version": "3.2.0",
            "vulns": [{"id": "PYSEC-2021-98", "aliases": ["CVE-2021-33203"], "fix_versions": ["3.2.4"]}],
        },
        {"name": "redis", "version": "8.1.0", "vulns": []},
        {"name": "private-thing", "skip_reason": "Dependency not found on PyPI"},
    ]
}


def test_a_known_vulnerability_fails(audit):
    verdict = audit.classify(VULNERABLE, {})

    assert verdict.failed
    assert verdict.vulnerable == ["django 3.2.0: PYSEC-2021-98 (fixed in: 3.2.4)"]
    assert (verdict.audited, len(verdict.skipped)) == (2, 1)


def test_an_explained_vulnerability_may_be_ignored_by_id_or_alias(audit):
    assert not audit.classify(VULNERABLE, {"CVE-2021-33203": "not reachable: we never call the affected API"}).failed


def test_an_ignore_entry_without_a_reason_is_refused(audit, tmp_path):
    ignore = tmp_path / "ignore.txt"
    ignore.write_text("# comment\nPYSEC-2021-98\n")

    with pytest.raises(SystemExit, match="no reason"):
        audit.ignored_ids(ignore)


def test_no_reachable_service_is_a_skip_not_a_failure(audit, monkeypatch, capsys):
    answers = {
        "pypi": ({"dependencies": [{"name": "x", "skip_reason": "not found"}]}, ""),
        "osv": (None, "ConnectionError"),
    }
    monkeypatch.setattr(audit, "run_pip_audit", lambda service, files: answers[service])

    assert audit.main([]) == 0
    assert "SKIPPED" in capsys.readouterr().out


def test_a_vulnerability_reported_by_the_service_fails_main(audit, monkeypatch, capsys):
    monkeypatch.setattr(audit, "run_pip_audit", lambda service, files: (VULNERABLE, ""))

    assert audit.main([]) == 1
    assert "PYSEC-2021-98" in capsys.readouterr().out
