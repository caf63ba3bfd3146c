"""``cardio profile [--name NAME] [--sex M|F] [--birth-date YYYY-MM-DD] [--json]``.

Shows the profile, or sets the given fields (``--clear`` forgets it). It is kept in the
local history database only; reports print it in their header and the measurements use
the sex for the long-QTc limit (450 ms men, 460 ms women). ``--json`` prints
``{"name", "sex", "birth_date"}``.
"""

from __future__ import annotations

import argparse
import dataclasses

from cardio.cli.common import EXIT_OK, add_store_options, config_from_args, print_json, run_command
from companion.notes import Profile, parse_date
from companion.store import Store


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cardio profile``."""
    p = subparsers.add_parser(
        "profile", help="show or set your name, sex and date of birth",
        description="Show or set your profile (kept on this computer only). Reports print it; the sex selects "
        "the long-QTc limit.",
    )
    p.add_argument("--name", help="your name as printed on reports")
    p.add_argument("--sex", type=str.upper, choices=("M", "F"), help="M or F")
    p.add_argument("--birth-date", metavar="YYYY-MM-DD", help="your date of birth")
    p.add_argument("--clear", action="store_true", help="forget the profile")
    add_store_options(p, json_help='print {"name", "sex", "birth_date"}')
    p.set_defaults(func=run_command(cmd_profile))


def cmd_profile(args: argparse.Namespace) -> int:
    """Update the given fields, then print the profile."""
    with Store.open(config_from_args(args)) as store:
        profile = Profile() if args.clear else store.profile()
        changes = {k: v for k, v in (("name", args.name), ("sex", args.sex)) if v is not None}
        if args.birth_date is not None:
            changes["birth_date"] = parse_date(args.birth_date)
        if changes or args.clear:
            profile = dataclasses.replace(profile, **changes)  # validated by Profile
            store.set_profile(profile)
    if args.json:
        print_json(profile.to_dict())
    else:
        age = profile.age_years()
        print(f"name        {profile.name or '—'}\nsex         {profile.sex or '—'}\n"
              f"born        {profile.birth_date.isoformat() if profile.birth_date else '—'}"
              + (f" ({age} years)" if age is not None else ""))
    return EXIT_OK
