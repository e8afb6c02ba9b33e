"""``reelvault`` / ``python -m app``: no subcommand opens the app, a subcommand runs the CLI."""

import sys


def main() -> int:
    # A frozen bundle (PyInstaller) starts its decode worker processes through this same
    # executable: freeze_support() turns such a start into the worker, not the CLI. Only
    # a frozen executable needs it: a search from the source tree skips the import.
    if getattr(sys, "frozen", False):
        import multiprocessing
        multiprocessing.freeze_support()
    from app.cli import main as cli_main
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
