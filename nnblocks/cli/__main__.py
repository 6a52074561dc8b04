"""``python -m nnblocks.cli``: the ``nnblocks`` command without the console script."""

from nnblocks.cli import main

main()
