"""``reelvault`` / ``python -m app``: no subcommand opens the app, a subcommand runs the CLI."""

import sys


def main() -> int:
    from app.cli import main as cli_main
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
