"""python -m devstack run|demo [--port N]: what `make run` and `make demo` do."""

import argparse
import os
import sys

from django.core.exceptions import ImproperlyConfigured


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    parser.add_argument("what", choices=["run", "demo"])
    parser.add_argument("--port", type=int, default=8000, help="the web process's port (Flower: FLOWER_PORT, 5555)")
    args = parser.parse_args(argv)
    try:
        if args.what == "run":
            from devstack.run import run

            return run(args.port)
        return demo(args.port)
    except ImproperlyConfigured as exc:  # a bad value in the environment or .env: its name, not a traceback
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2


def demo(port: int) -> int:
    from devstack.services import use_running_services

    use_running_services()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", "demo_shift", "--base-url", f"http://127.0.0.1:{port}"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
