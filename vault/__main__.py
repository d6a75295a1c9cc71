"""``python -m vault``: the same as the ``customer-vault`` command."""

from vault.cli import main

main()
