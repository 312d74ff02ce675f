"""``python -m backend.cli``: the same as the ``model-migrate`` console script."""

from backend.cli.commands import main

main()
