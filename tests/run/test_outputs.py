"""Outputs that cannot destroy: a device, FIFO or folder named as an output is refused before anything is
measured (one line, exit 2) and left as it was; a disk that fills up after the run still names what was kept."""

from __future__ import annotations

import json
import os
import stat

import pytest

from mm_orch.main import main
from tests.test_io import fill, tiny_fs  # noqa: F401 - the fixture


def _node(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return stat.S_IFMT(st.st_mode), st.st_rdev, st.st_ino


@pytest.mark.parametrize("node", ["/dev/full", "/dev/null", "fifo", "folder"])
def test_an_output_that_is_not_a_regular_file_is_refused_before_the_run(tmp_path, capsys, node):
    if node == "fifo":
        node = str(tmp_path / "pipe")
        os.mkfifo(node)
    elif node == "folder":
        node = str(tmp_path)
    before = _node(node)
    rc = main(["--benchmark", "--junit-xml", node, "--benchmark-output", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith(f"mm_orch: error: --junit-xml {node}: ")
    assert _node(node) == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing measured


def test_a_device_as_the_report_folder_is_refused(capsys):
    rc = main(["--benchmark", "--benchmark-output", "/dev/null", "--no-progress"])
    assert rc == 2
    assert capsys.readouterr().err.strip() == "mm_orch: error: --benchmark-output /dev/null: exists and is not a folder"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_full_disk_after_the_report_names_what_was_kept(tmp_path, capsys, quick_config_path, tiny_fs):  # noqa: F811
    fill(tiny_fs, 96 * 1024)  # room for the JSON report (~30-50 KB), not for the HTML and plots beside it
    rc = main(["--benchmark", "--config", str(quick_config_path), "--tests", "latency", "--benchmark-output",
               str(tiny_fs), "--no-progress", "--set", "benchmark.latency.test_runs=1"])
    out, err = capsys.readouterr()
    report = next(tiny_fs.glob("*.json"))
    assert rc == 2
    assert f"report: {report}" in out.splitlines()
    assert err.strip().splitlines()[-1].startswith(f"mm_orch: error: cannot write {tiny_fs}/")
    assert err.strip().endswith(": No space left on device")
    assert json.loads(report.read_text())["latency"]["ttft_ms"] > 0
    assert not [p for p in tiny_fs.iterdir() if p.name.endswith(".tmp")]
