"""``cardio cloud login URL --token T`` / ``cardio cloud status`` / ``cardio cloud logout``.

``login`` checks the address and the token against the service (unless ``--no-check``)
and saves them in ``<data dir>/cloud.json`` (file mode 0600, folder 0700), where
``cardio record`` and ``cardio sync`` find them (see :func:`companion.sync.resolve_cloud`).
The token is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from cardio.cli.common import EXIT_OK, add_store_options, config_from_args, print_json, run_command
from companion.sync import CONFIG_FILENAME, CloudConfigError, resolve_cloud

#: a record id no upload uses: asking for it proves the token without sending data
_PROBE_RECORD_ID = "cardiolink-login-check"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cardio cloud`` and its actions."""
    p = subparsers.add_parser("cloud", help="save, show or forget the cloud address and token",
                              description="Where `cardio record` and `cardio sync` send recordings. Without a "
                              "saved cloud they start one on this computer.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    login = actions.add_parser("login", help="check and save the cloud address and token")
    login.add_argument("url", metavar="URL", help="address of the analysis service, e.g. https://ecg.example.org")
    login.add_argument("--token", required=True, metavar="TOKEN", help="your API token")
    login.add_argument("--no-check", action="store_true", help="save without contacting the service")
    add_store_options(login)
    login.set_defaults(func=run_command(cmd_login))
    status = actions.add_parser("status", help="show the cloud in use (never the token)")
    add_store_options(status)
    status.set_defaults(func=run_command(cmd_status))
    logout = actions.add_parser("logout", help="forget the saved address and token")
    add_store_options(logout)
    logout.set_defaults(func=run_command(cmd_logout))


def config_file(args: argparse.Namespace) -> Path:
    """``<data dir>/cloud.json``."""
    return config_from_args(args).data_dir / CONFIG_FILENAME


def write_private_json(path: Path, document: dict[str, str]) -> None:
    """Write *document* to *path* atomically, readable by the owner only (0600 in a 0700 folder)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


async def check_login(url: str, token: str) -> str | None:
    """None when the service at *url* accepts *token*, else why not (in words)."""
    from cloud_client import AuthError, CloudClient, CloudUnavailable
    from cloud_client.errors import CloudClientError

    try:
        async with CloudClient(url, token, max_attempts=1, timeout_s=15.0) as client:
            await client.get(_PROBE_RECORD_ID)
    except AuthError:
        return "the service refused this token (check it, or ask for a new one); nothing was saved"
    except CloudUnavailable as exc:
        return f"cannot reach {url} ({exc}); check the address, or save anyway with --no-check"
    except CloudClientError as exc:
        return f"{url} did not answer like a cardiolink analysis service ({exc}); nothing was saved"
    return None


def cmd_login(args: argparse.Namespace) -> int:
    """Check, then save the address and token."""
    settings = resolve_cloud(url=args.url, token=args.token, env={})  # validates the URL's form
    if settings is None:  # cannot happen with a URL and a token given; keeps the types honest
        raise CloudConfigError("flags", "give the URL and --token")
    if not args.no_check:
        print(f"checking {settings.url}…", file=sys.stderr, flush=True)
        problem = asyncio.run(check_login(settings.url, settings.token))
        if problem:
            raise CloudConfigError(settings.url, problem)
    path = config_file(args)
    write_private_json(path, {"url": settings.url, "token": settings.token})
    if args.json:
        print_json({"url": settings.url, "saved_in": str(path), "checked": not args.no_check})
    else:
        print(f"saved: recordings will be sent to {settings.url} (settings in {path}, readable only by you)")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """Show the cloud in use and where that choice comes from."""
    settings = resolve_cloud(data_dir=config_from_args(args).data_dir)
    doc = {"url": settings.url if settings else None, "source": settings.source if settings else "in-process"}
    if args.json:
        print_json(doc)
    elif settings is None:
        print("no cloud saved: `cardio record` and `cardio sync` start one on this computer "
              "(save yours with `cardio cloud login URL --token T`)")
    else:
        print(f"cloud {settings.url} (from {settings.source}; the token is not shown)")
    return EXIT_OK


def cmd_logout(args: argparse.Namespace) -> int:
    """Delete the saved settings file."""
    path = config_file(args)
    existed = path.is_file()
    path.unlink(missing_ok=True)
    if args.json:
        print_json({"removed": existed, "path": str(path)})
    else:
        print(f"forgot the cloud saved in {path}" if existed else "no cloud was saved")
    return EXIT_OK
