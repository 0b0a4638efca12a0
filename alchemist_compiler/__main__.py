"""python -m alchemist_compiler: the same as the `alchemist` command."""

from .cli import main

main()
