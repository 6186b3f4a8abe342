"""``python -m daskhpo.cli``: the ``daskhpo`` command."""

from daskhpo.cli.main import main

main(prog_name="daskhpo")
