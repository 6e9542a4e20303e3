"""``python -m panelml``: the same as the ``panelml`` command."""

from panelml.cli import main

if __name__ == "__main__":
    main()
