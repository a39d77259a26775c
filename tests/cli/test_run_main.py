"""tests/inprocess.py's run_main: the CLI in this process leaves the process as it found it."""

from __future__ import annotations

import logging
import os

from tests.inprocess import run_main


def test_run_main_puts_back_the_environment_cwd_and_loggers(tmp_path):
    env, cwd = dict(os.environ), os.getcwd()
    os.environ.pop("VLLM_LOGGING_LEVEL", None)  # main() sets it (setdefault) when not -v
    env.pop("VLLM_LOGGING_LEVEL", None)
    levels = logging.getLogger().level, logging.getLogger("mm_orch").level
    r = run_main("--list-models", env={"MM_ORCH_SOMETHING": "1"}, cwd=tmp_path)
    assert r.returncode == 0 and "tiny-qwen2" in r.stdout and r.stderr == ""
    assert dict(os.environ) == env and os.getcwd() == cwd
    assert (logging.getLogger().level, logging.getLogger("mm_orch").level) == levels


def test_argparse_exit_is_the_return_code_with_its_one_line():
    r = run_main("--bogus")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == ["mm_orch: error: unrecognized arguments: --bogus (see --help)"]
