"""``python -m omegafarm`` is the ``omega`` command."""

from omegafarm.cli import main

main()
