"""``cardio record``: record 30 s from the device (or the simulator), store, screen, sync.

Exit codes: 0 a complete recording was stored; 3 the session was cut short (what arrived
is stored, marked incomplete); 1 an error (nothing recorded, or the database refused the
recording — it is then in a recovery file that the next run imports); 130 stopped with
Ctrl-C (what arrived is kept; the message says what and how to record again).

The module imports only :mod:`argparse` at the top: the first line ("Searching…") is on
the terminal before the radio and signal code load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from cardio.cli.common import EXIT_ERROR, EXIT_OK, add_store_options, config_from_args, print_json, run_command

if TYPE_CHECKING:
    from companion.config import CompanionConfig
    from companion.discovery import RadioBackends
    from companion.link_options import LinkOptions
    from companion.recorder import RecordOutcome
    from companion.store import Store

EXIT_INCOMPLETE = 3
EXIT_INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cardio record``."""
    p = subparsers.add_parser(
        "record", help="record a 30 s ECG from your device (or --simulate) and check its rhythm",
        description="Find your cardiolink device, record 30 s, keep the recording the moment it is complete, "
        "check its rhythm on this computer and send it to the cloud. --simulate uses a simulated device.",
    )
    add_store_options(p, json_help="print the stored recording and its results as one JSON object")
    p.add_argument("--address", help="connect to this Bluetooth address instead of scanning")
    p.add_argument("--duration", type=int, default=30, metavar="S", help="recording length in seconds (default 30)")
    p.add_argument("--rate", type=int, default=0, metavar="HZ", help="sample rate to ask for (default: the device's)")
    p.add_argument("--scan-timeout", type=float, default=10.0, metavar="S", help="how long to search (default 10 s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, prompts as plain lines")
    p.add_argument("--no-sync", action="store_true", help="do not send the recording to the cloud now")
    p.add_argument("--cloud-url", metavar="URL", help="analysis service (default: `cardio cloud login`, "
                   "$CARDIOLINK_CLOUD_URL, else one started on this computer)")
    p.add_argument("--token", metavar="TOKEN", help="API token (default: `cardio cloud login` or $CARDIOLINK_CLOUD_TOKEN)")
    sim = p.add_argument_group("simulator (with --simulate)")
    sim.add_argument("--simulate", action="store_true", help="record from a simulated device in this process")
    sim.add_argument("--sim-source", default="synthetic:normal", metavar="SPEC",
                     help="synthetic:normal | synthetic:af | PATH of a WFDB/CSV record (default synthetic:normal)")
    sim.add_argument("--sim-speed", type=float, default=1.0, metavar="N", help="time factor (default 1 = real time)")
    sim.add_argument("--sim-drop", type=float, default=0.0, metavar="FRACTION", help="fraction of data frames dropped")
    sim.add_argument("--sim-disconnect-at", type=float, action="append", default=[], metavar="SECONDS",
                     help="drop the link at this recording time (repeatable)")
    sim.add_argument("--sim-mtu", type=int, default=247, metavar="N", help="largest ATT MTU of the device (23..517)")
    sim.add_argument("--sim-seed", type=int, default=0, metavar="N", help="seed of the simulated faults")
    sim.add_argument("--sim-no-ecg-service", action="store_true", help="simulate a look-alike without the ECG service")
    p.set_defaults(func=run_command(cmd_record))


@contextlib.asynccontextmanager
async def radio(args: argparse.Namespace) -> AsyncIterator[tuple[RadioBackends, Any]]:
    """The bleak backends: the real radio, or a simulated world with its device."""
    from companion.discovery import RadioBackends

    if not args.simulate:
        yield RadioBackends(), None
        return
    from cardio.simulate import simulated_radio  # the simulator loads only behind --simulate

    async with simulated_radio(
        source=args.sim_source, speed=args.sim_speed, mtu=args.sim_mtu, drop_fraction=args.sim_drop,
        disconnect_at_s=args.sim_disconnect_at, seed=args.sim_seed, with_ecg_service=not args.sim_no_ecg_service,
    ) as radio_and_world:
        yield radio_and_world


def link_options(args: argparse.Namespace) -> LinkOptions:
    """Link settings from the command line (wall-clock limits scale with ``--sim-speed``)."""
    from companion.link_options import LinkOptions

    speed = args.sim_speed if args.simulate else 1.0
    return LinkOptions(
        address=args.address, duration_s=args.duration, fs_hz=args.rate, scan_timeout_s=args.scan_timeout,
        session_timeout_s=max(60.0, (args.duration + 120.0) / max(min(speed, 1e3), 1e-3)),
    )


async def _record(args: argparse.Namespace, config: CompanionConfig, store: Store) -> RecordOutcome:
    from companion.record_ui import QuietUI, RichRecordUI
    from companion.recorder import record_and_store
    from companion.web.live_listener import live_view

    ui = QuietUI() if args.quiet or args.json else RichRecordUI()
    try:
        # live_view: also streams to a running `cardio serve` (docs/review.md); a no-op otherwise
        async with radio(args) as (backends, _world), live_view(config, ui) as listener:
            outcome = await record_and_store(store, config.recovery_dir, backends, link_options(args), listener)
            listener.report(outcome)
            return outcome
    finally:
        ui.close()


async def _sync(args: argparse.Namespace, config: CompanionConfig, store: Store) -> None:
    """Hand over to :func:`cardio.local_cloud.after_record` (sends the outbox; never loses the recording)."""
    from cardio.local_cloud import after_record
    from companion.sync import CloudAuthError, CloudConfigError

    try:
        await after_record(store, config.data_dir, cloud_url=args.cloud_url, token=args.token)
    except CloudAuthError:
        print("cardio: the cloud refused your token, so the recording was not sent; it stays queued. Save a valid "
              "token with `cardio cloud login URL --token T`, then run `cardio sync`.", file=sys.stderr)
    except CloudConfigError as exc:
        print(f"cardio: the recording was not sent ({exc}); it stays queued for `cardio sync`.", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - the recording is stored; the outbox retries later
        print(f"cardio: the cloud could not be reached ({exc}); the recording stays queued for `cardio sync`.",
              file=sys.stderr)


def _interrupted(store: Store, before: int) -> int:
    """Ctrl-C: say what was kept and how to record again (asks nothing)."""
    from companion.localtime import when_text
    from companion.web.present import verdict

    kept = [i for i in store.recording_ids() if i > before]
    if not kept:
        print("\nStopped. Nothing was recorded. Record again with `cardio record`.", file=sys.stderr)
        return EXIT_INTERRUPTED
    stored = store.get_recording(kept[-1])
    v = verdict(stored)
    print(f"\nStopped. Kept recording {stored.id} ({when_text(stored.recording.started_at)}, "
          f"{stored.recording.duration_s:.1f} s): {v.label}. Record again with `cardio record`; "
          f"`cardio delete {stored.id}` removes this one.", file=sys.stderr)
    return EXIT_INTERRUPTED


def cmd_record(args: argparse.Namespace) -> int:
    """Record, store, screen, print."""
    if not args.json:
        print("Starting the simulated device…" if args.simulate else
              f"Searching for your cardiolink device (up to {args.scan_timeout:g} s)…", file=sys.stderr, flush=True)
    from companion import recovery
    from companion.store import Store

    config = config_from_args(args)
    config.ensure_dirs()
    with Store.open(config) as store:
        imported = recovery.import_pending(store, config.recovery_dir)
        if imported:
            print(f"imported {len(imported)} recording(s) from recovery files: {imported}", file=sys.stderr)
        before = max(store.recording_ids(), default=0)
        try:
            outcome = asyncio.run(_record(args, config, store))
        except KeyboardInterrupt:
            return _interrupted(store, before)
        return _finish(args, config, store, outcome)


def _finish(args: argparse.Namespace, config: CompanionConfig, store: Store, outcome: RecordOutcome) -> int:
    """Print the result, sync, and choose the exit code."""
    from cardio.cli.words import describe
    from companion.recovery import recording_to_meta
    from companion.web.present import result_words

    rid = outcome.recording_id
    rec = outcome.recording
    syncing = not args.no_sync and rid is not None and rec.complete
    if rid is not None and not args.json:
        stored = store.get_recording(rid)
        print("\n".join(describe(stored, with_sync=False)))
    if syncing and rid is not None:
        asyncio.run(_sync(args, config, store))
        if not args.json:
            after = store.get_recording(rid)
            cloud = result_words(after.cloud_result)
            print(f"  Cloud analysis  {cloud}" if cloud else
                  "  Cloud analysis  not yet (queued; `cardio sync` sends it)")
    stored = store.get_recording(rid) if rid is not None else None
    if args.json:
        from companion.web.present import verdict

        doc: dict[str, Any] = stored.to_dict() | {"verdict": verdict(stored).to_dict()} if stored is not None else {
            "id": None, **recording_to_meta(rec), "samples": rec.n_samples, "duration_s": rec.duration_s,
        }
        doc["recovery_file"] = str(outcome.recovery_path) if outcome.recovery_path else None
        doc["store_error"] = outcome.store_error
        doc["screening_error"] = outcome.screening_error
        print_json(doc)
    if outcome.recovery_path is not None:
        print(
            f"cardio: error: the recording could not be stored ({outcome.store_error}); its samples are kept in "
            f"{outcome.recovery_path} and will be imported by the next `cardio record` or `cardio history`",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return EXIT_OK if rec.complete else EXIT_INCOMPLETE
