"""io.py, the one reader and writer of user files: capped reads, nesting caps, outputs that never destroy."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from mm_orch.errors import ConfigError
from mm_orch.io import (
    atomic_write,
    atomic_write_text,
    check_output_file,
    json_loads,
    nesting_depth_exceeds,
    read_user_bytes,
    read_user_file,
    yaml_loads,
)


@pytest.fixture
def tiny_fs(tmp_path):
    """A real 200 KiB tmpfs (root only): a full disk without filling the machine's."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root in a privileged container needed): {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder: Path, leave_bytes: int) -> None:
    """Fill a file system until about leave_bytes are free."""
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    (folder / "filler").write_bytes(b"\0" * max(0, free - leave_bytes))


# -- outputs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("node", ["/dev/null", "/dev/full"])
def test_a_character_device_is_refused_and_left_as_it_was(node):
    before = os.stat(node)
    with pytest.raises(ConfigError, match=f"--junit-xml {node}: is a character device"):
        atomic_write_text(node, "<xml/>", "--junit-xml")
    after = os.stat(node)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino


def test_a_fifo_or_folder_is_refused_never_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="is a FIFO, not a regular file"):
        atomic_write_text(fifo, "x")
    with pytest.raises(ConfigError, match="is a folder"):
        check_output_file(tmp_path, "--junit-xml")
    link = tmp_path / "link"
    link.symlink_to("/dev/null")  # a link to a device is the device
    with pytest.raises(ConfigError, match="character device"):
        check_output_file(link, "report")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "pipe"]  # no temporary file left


def test_kernel_files_are_refused_and_links_to_files_are_kept(tmp_path):
    with pytest.raises(ConfigError, match="/proc/self/environ: is a path under /proc"):
        check_output_file("/proc/self/environ", "--junit-xml")
    out = tmp_path / "stdout.txt"
    out.write_text("old")
    link = tmp_path / "stdout"  # as /dev/stdout is, when the shell sends it to a file
    link.symlink_to(out)
    assert atomic_write_text(link, "new") == link
    assert link.is_symlink() and out.read_text() == "new"  # written through the link, the link kept
    with pytest.raises(ConfigError, match="/dev/new.xml: is a path under /dev"):
        check_output_file("/dev/new.xml", "--junit-xml")
    with pytest.raises(ConfigError, match="not a regular file"):  # a FIFO, a terminal or (via the shell) a file
        check_output_file("/dev/stdout", "--junit-xml")


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    def broken(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "r.json", broken)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_names_the_file_and_leaves_no_temporary_file(tiny_fs):
    fill(tiny_fs, 8192)
    with pytest.raises(OSError, match="No space left on device") as e:
        atomic_write_text(tiny_fs / "report.md", "x" * 100_000)
    assert e.value.filename == str(tiny_fs / "report.md")  # the name asked for, not the temporary one
    assert [p.name for p in tiny_fs.iterdir()] == ["filler"]


# -- inputs -------------------------------------------------------------------------------------------
def test_a_huge_sparse_file_is_refused_by_its_size_unread(tmp_path):
    big = tmp_path / "huge.yaml"
    with open(big, "wb") as f:
        f.truncate(100 * 2**30)  # 100 GiB on paper, nothing on disk
    t = time.perf_counter()
    with pytest.raises(ConfigError, match=f"^config file {big}: 107374182400 bytes is more than the 1024 bytes"):
        read_user_bytes(big, "config file", 1024)
    assert time.perf_counter() - t < 1


def test_a_stream_is_read_to_the_cap_plus_one_byte_only():
    with pytest.raises(ConfigError, match="^prompt file /dev/zero: its content is more than the 4096 bytes"):
        read_user_bytes("/dev/zero", "prompt file", 4096)


def test_invalid_utf8_is_one_line_naming_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: 1\nb: \xff\n")
    with pytest.raises(ConfigError, match=rf"^config file {bad}: line 2: not UTF-8 text \(byte 8"):
        read_user_file(bad, "config file")
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf[1]")
    assert json_loads(read_user_file(tmp_path / "bom.json", "report"), "r") == [1]


@pytest.mark.parametrize("depth", [65, 500, 100_000])
def test_deep_json_is_one_line_at_any_depth(depth):
    with pytest.raises(ConfigError, match="^r.json: nested deeper than 64 levels"):
        json_loads("[" * depth + "]" * depth, "r.json")
    assert json_loads("[" * 64 + "]" * 64, "r.json") is not None


def test_deep_yaml_is_one_line_naming_the_line_block_or_flow():
    block = "top:\n" + "".join("  " * i + "k:\n" for i in range(1, 500)) + "  " * 500 + "v: 1\n"
    with pytest.raises(ConfigError, match="^c.yaml:65: nested deeper than 64 levels"):
        yaml_loads(block, "c.yaml")
    with pytest.raises(ConfigError, match="^c.yaml:1: nested deeper"):
        yaml_loads("a: " + "[" * 500 + "]" * 500, "c.yaml")


def test_yaml_aliases_cannot_nest_deeper_or_loop():
    chain = "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [[[[*a{i - 1}]]]]\n" for i in range(1, 20))
    with pytest.raises(ConfigError, match="nested deeper than 64"):
        yaml_loads(chain, "c.yaml")
    with pytest.raises(ConfigError, match="nested deeper than 64"):
        yaml_loads("a: &a [*a]\n", "c.yaml")  # a list holding itself
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    t = time.perf_counter()
    assert yaml_loads(laughs, "c.yaml")["i"][0][0][0] is not None  # a billion laughs: shared, walked once
    assert time.perf_counter() - t < 1


def test_nesting_depth_counts_containers_only():
    assert not nesting_depth_exceeds({"a": [{"b": "x" * 10}]}, 3)
    assert nesting_depth_exceeds({"a": [{"b": []}]}, 3)
