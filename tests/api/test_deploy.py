"""The systemd units in `deploy/` are units systemd accepts (checked with `systemd-analyze verify`, with this
environment's `posc` in place of /opt/posc), and they run what the guide says."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    posc = Path(sys.executable).parent / "posc"
    for unit in [*DEPLOY.glob("*.service"), *DEPLOY.glob("*.timer")]:
        text = unit.read_text(encoding="utf-8").replace("/opt/posc/bin/posc", str(posc))
        text = text.replace("EnvironmentFile=/etc/posc/posc.env", f"EnvironmentFile=-{tmp_path / 'posc.env'}")
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    units = sorted(str(p) for p in tmp_path.iterdir() if p.suffix in (".service", ".timer"))
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]  # it exits 0 anyway
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


def test_the_units_run_posc_serve_with_workers_and_posc_tick() -> None:
    server = (DEPLOY / "posc.service").read_text(encoding="utf-8")
    assert "posc serve" in server and "--workers" in server and "EnvironmentFile=/etc/posc/posc.env" in server
    assert "ExecStart=/opt/posc/bin/posc tick" in (DEPLOY / "posc-tick.service").read_text(encoding="utf-8")
    example = (DEPLOY / "posc.env.example").read_text(encoding="utf-8")
    assert "POSC_DATABASE_URL=postgresql+psycopg://" in example and "POSC_FORM_PROOF_KEY" in example
