"""A non-editable install works from any folder: the default config ships inside the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mm_orch.config import DEFAULT_CONFIG_PATH, PACKAGED_CONFIG_PATH, load_config

REPO = Path(__file__).resolve().parents[1]
TOP_LEVEL = REPO / "config" / "benchmark.yaml"
NOT_SOURCE = shutil.ignore_patterns(".git", "data", "reports", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".ruff_cache", ".venv*")


def test_the_packaged_default_is_the_top_level_file():
    assert PACKAGED_CONFIG_PATH.read_bytes() == TOP_LEVEL.read_bytes()  # a link to it, in the wheel a copy
    assert DEFAULT_CONFIG_PATH == TOP_LEVEL.resolve()  # in a checkout, the file users edit wins
    assert load_config(PACKAGED_CONFIG_PATH) == load_config(TOP_LEVEL)


def test_help_says_where_the_default_config_comes_from():
    r = subprocess.run([sys.executable, "-m", "mm_orch.main", "--help"], capture_output=True, text=True,
                       timeout=60, cwd=REPO, env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0
    assert f"layered over the defaults ({TOP_LEVEL.resolve()}" in r.stdout and "inside the package" in r.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("setuptools")
    src = tmp_path_factory.mktemp("src") / "mm_orch_src"
    shutil.copytree(REPO, src, ignore=NOT_SOURCE, symlinks=True)
    out = src.parent / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(out), str(src)], capture_output=True, text=True, timeout=300)
    if r.returncode != 0 and "bdist_wheel" in r.stdout + r.stderr:
        pytest.skip("this setuptools cannot build wheels (no bdist_wheel)")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (whl,) = out.glob("mm_orch-*.whl")
    return whl


def test_the_wheel_carries_the_default_config(wheel):
    with zipfile.ZipFile(wheel) as z:
        assert z.read("mm_orch/defaults/benchmark.yaml") == TOP_LEVEL.read_bytes()
        assert "mm_orch/models/tiny_corpus.txt" in z.namelist()


def test_installed_wheel_runs_from_another_folder(wheel, tmp_path):
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    where = subprocess.run([sys.executable, "-c", "import mm_orch.config as c; print(c.__file__); "
                            "print(c.DEFAULT_CONFIG_PATH)"], capture_output=True, text=True, cwd=elsewhere, env=env)
    module, default = where.stdout.split()
    assert module.startswith(str(site)) and default == str(site / "mm_orch" / "defaults" / "benchmark.yaml")
    r = subprocess.run([sys.executable, "-m", "mm_orch.main", "--list-models"], capture_output=True, text=True,
                       cwd=elsewhere, env=env, timeout=120)
    assert r.returncode == 0, r.stderr  # --list-models reads the default config
    assert "tiny-qwen2" in r.stdout
