"""``python -m p11``: the ``p11`` command."""

from p11.cli import main

main()
