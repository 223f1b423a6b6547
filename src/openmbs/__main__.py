"""``python -m openmbs``: the same entry point as the ``openmbs`` script."""

from openmbs.cli import main

if __name__ == "__main__":
    main()
