"""`python -m openhotline` runs the CLI."""

from openhotline.cli import main

main()
