"""``python -m xraysep``: the same command line as the ``xraysep`` script."""

from xraysep.cli import main

main()
