"""`saerl <command> [config.yaml] [key=value ...]`: one subcommand per stage, plus the sweep, cluster
and report commands (saerl.cli.stages, saerl.cli.cluster, saerl.cli.reports).

Every command loads the same config (defaults <- YAML <- overrides), plans the stage graph for it
(``saerl.launch.graph``), builds the missing nodes its stage needs, each once, through the artifact
store (finished work is reused), and prints what it produced. `saerl plan` shows the graph without
building anything.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from saerl.cli.cluster import SWEEP_COMMANDS, cmd_plan, cmd_study
from saerl.cli.reports import cmd_paper, cmd_ray_check, cmd_report
from saerl.cli.stages import COMMANDS
from saerl.config import ConfigError, load_experiment
from saerl.data.records import DataError
from saerl.launch.graph import StageGraph
from saerl.launch.local import LocalExecutor
from saerl.models.loading import ModelError
from saerl.rl.openrlhf.ray_cluster import RayClusterError
from saerl.rl.run import RunConflict
from saerl.store import ArtifactStore


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="saerl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, fn in COMMANDS.items():
        p = sub.add_parser(name, help=(fn.__doc__ or "").strip().splitlines()[0])
        p.add_argument("args", nargs="*", metavar="[config.yaml] [key=value ...]")
    p = sub.add_parser("study", help=(cmd_study.__doc__ or "").splitlines()[0])
    p.add_argument("args", nargs="+", metavar="sweep.yaml [key=value ...]")
    p = sub.add_parser("plan", help=(cmd_plan.__doc__ or "").splitlines()[0])
    p.add_argument("args", nargs="*", metavar="[config.yaml | sweep.yaml] [key=value ...] [CLUSTER=profile]")
    p.add_argument(
        "--verify", action="store_true", help="hash every input file again instead of trusting the cache"
    )
    for name, sweep_fn in SWEEP_COMMANDS.items():
        p = sub.add_parser(name, help=(sweep_fn.__doc__ or "").splitlines()[0])
        p.add_argument("args", nargs="+", metavar="sweep.yaml [key=value ...] [CLUSTER=profile] [DRY_RUN=1]")
    p = sub.add_parser("paper", help=(cmd_paper.__doc__ or "").splitlines()[0], add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="[RUNS ...] [--out DIR]")
    p = sub.add_parser("ray-check", help=(cmd_ray_check.__doc__ or "").splitlines()[0], add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="CLUSTER=<profile> [NODES=n]")
    p = sub.add_parser("report", help=(cmd_report.__doc__ or "").splitlines()[0], add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="RUNS [--out DIR] ...")
    return parser.parse_args(argv)


def split_config_args(args: list[str]) -> tuple[Path | None, list[str]]:
    """The first argument is a config file unless it is a key=value override."""
    if args and "=" not in args[0]:
        return Path(args[0]), args[1:]
    return None, args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    own_parser = {"report": cmd_report, "paper": cmd_paper, "ray-check": cmd_ray_check}
    if argv[:1] and argv[0] in own_parser:  # options such as --help go to them, not to saerl's
        try:
            own_parser[argv[0]](argv[1:])
        except (ValueError, FileNotFoundError, LookupError, RayClusterError) as exc:
            print(f"saerl {argv[0]}: error: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:
            if (why := write_failure(exc)) is None:
                raise
            print(f"saerl {argv[0]}: error: {why}", file=sys.stderr)
            return 2
        return 0
    ns = parse_args(argv)
    where = ""  # the folders this command writes, once known (named when a write is refused)
    try:
        if ns.command == "study":
            cmd_study(Path(ns.args[0]), ns.args[1:])
            return 0
        if ns.command in SWEEP_COMMANDS:
            SWEEP_COMMANDS[ns.command](Path(ns.args[0]), ns.args[1:])
            return 0
        path, overrides = split_config_args(ns.args)
        if ns.command == "plan":
            if ns.verify:
                from saerl import fingerprint

                fingerprint.VERIFY = True
            cmd_plan(path, overrides)
            return 0
        cfg = load_experiment(path, overrides)
        where = f"{cfg.store_dir} (store) or {cfg.runs_dir} (runs)"
        executor = LocalExecutor(
            ArtifactStore(cfg.store_dir), cfg.device, [m.name for m in cfg.models.family]
        )
        COMMANDS[ns.command](cfg, StageGraph(cfg), executor)
    except (
        ConfigError,
        DataError,
        ModelError,
        RunConflict,
        ValueError,
        FileNotFoundError,
        LookupError,
    ) as exc:
        print(f"saerl {ns.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if (why := write_failure(exc, where)) is None:
            raise
        kept = "nothing was published (the store keeps whole artifacts only)"
        print(f"saerl {ns.command}: error: {why}; {kept}", file=sys.stderr)
        return 2
    return 0


DISK_ERRNOS = {"ENOSPC", "EROFS", "EDQUOT", "EFBIG", "EACCES", "EPERM", "EIO"}


def write_failure(exc: BaseException, where: str = "") -> str | None:
    """One line for a write the file system refused (full disk, quota, read-only store, a file too
    large), from an OSError or from the error safetensors raises for the same causes; None for any
    other exception (a bug: its traceback is shown)."""
    import errno

    if isinstance(exc, OSError) and errno.errorcode.get(exc.errno or 0) in DISK_ERRNOS:
        target = exc.filename or (f"under {where}" if where else "")
        what = f"could not write {target}".rstrip()
        return f"{what}: {exc.strerror or exc} [{errno.errorcode[exc.errno or 0]}]"
    if type(exc).__name__ == "SafetensorError":  # Rust's io::Error, as text
        text = str(exc)
        for cause in (
            "No space left on device",
            "Read-only file system",
            "Disk quota exceeded",
            "File too large",
        ):
            if cause in text:
                return f"could not write model weights{' under ' + where if where else ''}: {cause}"
    return None


if __name__ == "__main__":
    sys.exit(main())
