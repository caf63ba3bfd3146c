"""``cardio record``: record 30 s from the device (or the simulator), store, screen, sync.

Exit codes: 0 a complete recording was stored; 3 the session was cut short (what arrived
is stored, marked incomplete); 1 an error (nothing recorded, or the database refused the
recording — it is then in a recovery file that the next run imports).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import Any

from companion import recovery
from cardio.cli.common import EXIT_ERROR, EXIT_OK, add_store_options, config_from_args, print_json, run_command
from cardio.cli.history import describe
from companion.config import CompanionConfig
from companion.discovery import RadioBackends
from companion.link_options import LinkOptions
from companion.record_ui import QuietUI, RichRecordUI
from companion.recorder import RecordOutcome, record_and_store
from companion.recovery import recording_to_meta
from companion.store import Store
from companion.web.live_listener import live_view

EXIT_INCOMPLETE = 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cardio record``."""
    p = subparsers.add_parser(
        "record", help="record a 30 s ECG from the device (or --simulate), store and screen it",
        description="Scan for a cardiolink device (ECG service), record, store the recording the moment it is "
        "complete, screen it locally and send it to the cloud. --simulate runs a simulated device in-process.",
    )
    add_store_options(p, json_help="print the stored recording and its results as one JSON object")
    p.add_argument("--address", help="connect to this Bluetooth address instead of scanning")
    p.add_argument("--duration", type=int, default=30, metavar="S", help="recording length in seconds (default 30)")
    p.add_argument("--rate", type=int, default=0, metavar="HZ", help="sample rate to ask for (default: the device's)")
    p.add_argument("--scan-timeout", type=float, default=10.0, metavar="S", help="how long to scan (default 10 s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, prompts as plain lines")
    p.add_argument("--no-sync", action="store_true", help="do not send the recording to the cloud now")
    p.add_argument("--cloud-url", metavar="URL", help="analysis service (default $CARDIOLINK_CLOUD_URL or cloud.json)")
    p.add_argument("--token", metavar="TOKEN", help="API token (default $CARDIOLINK_CLOUD_TOKEN or cloud.json)")
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
    speed = args.sim_speed if args.simulate else 1.0
    return LinkOptions(
        address=args.address, duration_s=args.duration, fs_hz=args.rate, scan_timeout_s=args.scan_timeout,
        session_timeout_s=max(60.0, (args.duration + 120.0) / max(min(speed, 1e3), 1e-3)),
    )


async def _record(args: argparse.Namespace, config: CompanionConfig, store: Store) -> RecordOutcome:
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

    try:
        await after_record(store, config.data_dir, cloud_url=args.cloud_url, token=args.token)
    except Exception as exc:  # noqa: BLE001 - the recording is stored; the outbox retries later
        print(f"cardio: cloud sync postponed ({exc}); run `cardio sync` later", file=sys.stderr)


def cmd_record(args: argparse.Namespace) -> int:
    """Record, store, screen, print."""
    config = config_from_args(args)
    config.ensure_dirs()
    with Store.open(config) as store:
        imported = recovery.import_pending(store, config.recovery_dir)
        if imported:
            print(f"imported {len(imported)} recording(s) from recovery files: {imported}", file=sys.stderr)
        outcome = asyncio.run(_record(args, config, store))
        rid = outcome.recording_id
        rec = outcome.recording
        syncing = not args.no_sync and rid is not None and rec.complete
        if rid is not None and not args.json:
            # the sync state is printed after the sync itself, not as it was before it
            print("\n".join(describe(store.get_recording(rid), with_sync=not syncing)))
            if outcome.screening_error:
                print(f"  note          {outcome.screening_error}")
        if syncing:
            asyncio.run(_sync(args, config, store))
            if not args.json:
                after = store.get_recording(rid)
                cloud = after.cloud_result
                print(f"  cloud result  {cloud.get('category') or cloud.get('label')}" if cloud else
                      "  cloud result  not yet (queued; `cardio sync` retries)")
                print(f"  sync          {after.sync_state or 'not queued'}")
        stored = store.get_recording(rid) if rid is not None else None
    if args.json:
        doc: dict[str, Any] = stored.to_dict() if stored is not None else {
            "id": None, **recording_to_meta(rec), "samples": rec.n_samples, "duration_s": rec.duration_s,
        }
        doc["recovery_file"] = str(outcome.recovery_path) if outcome.recovery_path else None
        doc["store_error"] = outcome.store_error
        doc["screening_error"] = outcome.screening_error
        print_json(doc)
    elif stored is not None and stored.local_result:
        print("  This screening is not a diagnosis; see a doctor about any symptoms.")
    if outcome.recovery_path is not None:
        print(
            f"cardio: error: the recording could not be stored ({outcome.store_error}); its samples are kept in "
            f"{outcome.recovery_path} and will be imported by the next `cardio record` or `cardio history`",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return EXIT_OK if rec.complete else EXIT_INCOMPLETE
