#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    from config.production import RefusedSettings, refuse

    try:
        execute_from_command_line(sys.argv)
    except RefusedSettings as error:
        refuse(error)


if __name__ == "__main__":
    main()
