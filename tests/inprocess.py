"""The CLI in this process: `mm_orch.main.main(args)` with its streams captured and the process left as it was.

For tests where a fresh interpreter proves nothing more than the call (a refusal, a report's contents, a gate's
verdict), each call saves the seconds a subprocess spends importing torch and Transformers. What only a real
process shows (the entry point's exit status, stderr not being a terminal, Ctrl-C, memory read from the
process, packaging) stays in the few subprocess tests: tests/test_main.py's first test, test_interrupt*.py,
test_packaging.py, tests/gate/test_baseline_cli.py's measured runs.

What main() changes in the process is put back after each call: the environment (it sets library logging
variables; `env` sets more for the call), the working folder (`cwd`), the root logger (main's
`logging.basicConfig` is replaced by the handler a CLI process would get, writing WARNING+ (DEBUG with -v) to
the captured stderr). SystemExit from argparse becomes the return code, as in a process.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from dataclasses import dataclass


@dataclass
class Result:
    """The fields of subprocess.CompletedProcess that the tests read."""

    returncode: int
    stdout: str
    stderr: str


def run_main(*args: str | os.PathLike, env: dict[str, str | None] | None = None,
             cwd: str | os.PathLike | None = None) -> Result:
    """Run the CLI with `args`; `env` adds variables for this call (None removes one)."""
    from mm_orch.main import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    root, package = logging.getLogger(), logging.getLogger("mm_orch")
    saved_levels = root.level, package.level  # --serve raises the package's level to INFO
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))  # main's basicConfig format
    level = logging.DEBUG if "-v" in args or "--verbose" in args else logging.WARNING
    try:
        for key, value in (env or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if cwd is not None:
            os.chdir(cwd)
        handler.setLevel(level)
        root.addHandler(handler)
        root.setLevel(level)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as e:  # argparse: it has written its one line to stderr
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_levels[0])
        package.setLevel(saved_levels[1])
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Result(code, out.getvalue(), err.getvalue())
