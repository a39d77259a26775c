"""Command line: python -m mm_orch.main --benchmark --model qwen2.5-3b [...]

Thin: parses the flags (cli/parser.py), runs the action they ask for (cli/actions.py) and maps errors to
exit codes (0 ok, 1 target/baseline check failed, 2 bad usage/config/input, 3 engine failed at run time,
4 the baseline gate's verdict was INCONCLUSIVE (--on-inconclusive maps it), 130 interrupted).
"""

from __future__ import annotations

import errno
import logging
import os
import sys

from mm_orch.cli.actions import run_action
from mm_orch.cli.parser import build_parser
from mm_orch.errors import MmOrchError

log = logging.getLogger("mm_orch")
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO}


def _quiet_libraries(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    # stdout is for results (its first line is the answer): vLLM logs to stdout unless told otherwise
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    if not verbose:  # their start-up chatter buries the summary; -v brings it back
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    # through the environment: importing transformers here costs seconds before a bad flag is even reported
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)  # --ab gives its children the same flags
    _quiet_libraries(a.verbose)
    try:
        return run_action(a)
    except MmOrchError as e:
        print(f"mm_orch: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mm_orch: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # a file that could not be written (disk full, read-only): one line, exit 2
        if e.filename is None and e.errno not in DISK_ERRNOS:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"mm_orch: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown: freeing torch's and Transformers' modules takes ~2 s on a
    2-core machine (0.08 s this way). By now every report is written (atomically) and every engine closed;
    only the streams are left to flush."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def cli() -> None:
    """The `mm-orch` command: main(), then a fast exit."""
    exit_now(main())


if __name__ == "__main__":
    cli()
