"""Content-addressed artifact store for stage outputs.

An artifact lives in ``<root>/<stage>/<key>/`` where ``key`` hashes the stage name, the stage's code
version, its config and the keys of its inputs. A stage builds into a temporary folder; the manifest
(config, inputs, package versions, git sha, wall and accelerator seconds, and the size and sha256 of
every file) is written last and the folder is renamed into place in one step. Readers only accept a
folder whose manifest exists and matches its files, so a crash at any point leaves nothing that is
read: the next call rebuilds. A stage that saves partial work as it goes (the features stage writes
shards) keeps it in ``<root>/<stage>/.partial-<key>/``, which outlives a failed or killed build and
is removed once the artifact is published: the next build of that key resumes from it.

Many processes (Slurm jobs on a shared filesystem) may ask for one key at once: a builder holds a
lock per key (``flock`` on ``.locks/<stage>-<key>``); the others wait, then find the published
artifact and reuse it. A published artifact that passes its check is never deleted or replaced;
build folders carry the builder's host and pid, and only those of dead processes on this host are
removed (at the next build of that stage).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
TRACKED_PACKAGES = (
    "saerl",
    "torch",
    "transformers",
    "datasets",
    "tokenizers",
    "sae-lens",
    "scikit-learn",
    "numpy",
    "trl",
    "math-verify",
    "wandb",
)


class StoreError(RuntimeError):
    """An artifact that cannot be used, naming its folder."""


class Artifact(NamedTuple):
    stage: str
    key: str
    path: Path
    manifest: dict[str, Any]


@dataclass
class BuildContext:
    """Handed to a stage's build function: write outputs under ``path``."""

    path: Path
    accelerator_seconds: float = 0.0
    """Set by stages that use GPUs (device-seconds summed over accelerators)."""
    info: dict[str, Any] = field(default_factory=dict)
    """Extra facts for the manifest (metrics, counts); must be JSON-serialisable."""
    scratch: Path | None = None
    """A folder that survives a failed or killed build of this key (and only this key; the key's lock
    is held while building): partial results a resumed build may trust. Removed after publishing."""


def artifact_key(stage: str, version: str, config: Any, inputs: Sequence[str] = ()) -> str:
    blob = json.dumps(
        {"stage": stage, "version": version, "config": config, "inputs": list(inputs)},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class ArtifactStore:
    def __init__(self, root: str | Path, verify_hashes: bool = True) -> None:
        self.root = Path(root)
        self.verify_hashes = verify_hashes
        # Artifacts verified by this process, by folder, with a stat signature of their files: a
        # folder is hashed once per process, and again only if a file's size or mtime changed.
        self._verified: dict[Path, tuple[tuple[Any, ...], Artifact]] = {}

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def find(self, stage: str, key: str) -> Artifact | None:
        """The complete artifact, or None if absent; an incomplete or corrupt one is removed."""
        path = self.path(stage, key)
        known = self._verified.get(path)
        if known is not None and known[0] == _stat_signature(path, known[1].manifest):
            return known[1]
        if not path.exists():
            return None
        problem = self._check(path)
        if problem is None:
            manifest = json.loads((path / MANIFEST).read_text())
            art = Artifact(stage, key, path, manifest)
            self._verified[path] = (_stat_signature(path, manifest), art)
            return art
        log.warning("artifact %s is unusable (%s); it will be rebuilt", path, problem)
        return None  # replaced by the next build, under the key's lock

    def get_or_build(
        self,
        stage: str,
        version: str,
        config: Any,
        build: Callable[[BuildContext], None],
        inputs: Sequence[str] = (),
    ) -> Artifact:
        """Return the artifact for (stage, version, config, inputs), building it if needed."""
        key = artifact_key(stage, version, config, inputs)
        found = self.find(stage, key)
        if found is not None:
            log.debug("%s: reusing %s", stage, found.path)
            return found
        with self._key_lock(stage, key):
            found = self.find(stage, key)  # built by another process while we waited
            if found is not None:
                log.info("%s: %s was built by another process; reusing it", stage, key)
                return found
            self.clean_temporaries(stage)
            log.info("%s: building %s", stage, key)
            return self._build(stage, key, version, config, inputs, build)

    @contextlib.contextmanager
    def _key_lock(self, stage: str, key: str) -> Iterator[None]:
        import fcntl

        lock_path = self.root / ".locks" / f"{stage}-{key}"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("%s: %s is being built by another process; waiting for it", stage, key)
                fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _build(
        self,
        stage: str,
        key: str,
        version: str,
        config: Any,
        inputs: Sequence[str],
        build: Callable[[BuildContext], None],
    ) -> Artifact:
        final = self.path(stage, key)
        tmp = final.parent / f".tmp-{key}-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        ctx = BuildContext(path=tmp, scratch=final.parent / f".partial-{key}")
        try:
            start = time.perf_counter()
            build(ctx)
            wall = time.perf_counter() - start
            manifest = {
                "stage": stage,
                "key": key,
                "version": version,
                "config": config,
                "inputs": list(inputs),
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "wall_seconds": round(wall, 3),
                "accelerator_seconds": round(ctx.accelerator_seconds, 3),
                "git_sha": git_sha(),
                "packages": package_versions(),
                "info": ctx.info,
                "files": _describe_files(tmp),
            }
            atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=2, default=str))
            _publish(tmp, final)
            if ctx.scratch is not None:
                shutil.rmtree(ctx.scratch, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # only left behind when build() raised
        found = self.find(stage, key)
        if found is None:
            raise StoreError(f"{final}: artifact vanished right after it was written")
        return found

    def _check(self, path: Path) -> str | None:
        """None if the folder is a complete artifact, else what is wrong with it."""
        try:
            manifest = json.loads((path / MANIFEST).read_text())
            files: Mapping[str, Any] = manifest["files"]
        except FileNotFoundError:
            return "no manifest"
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            return f"unreadable manifest: {exc}"
        for rel, meta in files.items():
            f = path / rel
            if not f.is_file():
                return f"missing file {rel}"
            if f.stat().st_size != meta["size"]:
                return f"size of {rel} changed"
            if self.verify_hashes and sha256_file(f) != meta["sha256"]:
                return f"checksum of {rel} changed"
        return None

    def clean_temporaries(self, stage: str = "*") -> int:
        """Remove build folders of dead processes on this host; returns how many. A live builder's
        folder, or one from another host (whose processes cannot be checked), is left alone."""
        n = 0
        for tmp in self.root.glob(f"{stage}/.tmp-*"):
            host, pid = _builder_of(tmp.name)
            if host == _HOST and pid is not None and not _alive(pid):
                shutil.rmtree(tmp, ignore_errors=True)
                n += 1
        return n


_HOST = socket.gethostname().replace("-", "_")


def _builder_of(name: str) -> tuple[str, int | None]:
    """(host, pid) from a build folder name `.tmp-<key>-<host>-<pid>-<rand>`."""
    parts = name.split("-")
    if len(parts) != 5 or not parts[3].isdigit():
        return "", None
    return parts[2], int(parts[3])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stat_signature(path: Path, manifest: Mapping[str, Any]) -> tuple[Any, ...]:
    """(size, mtime) of the manifest and every file it lists; None for a missing file."""

    def sig(f: Path) -> tuple[int, int] | None:
        try:
            st = f.stat()
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns)

    return (sig(path / MANIFEST), *(sig(path / rel) for rel in sorted(manifest.get("files", {}))))


def _publish(tmp: Path, final: Path) -> None:
    """Rename the finished build into place (the caller holds the key's lock)."""
    if final.exists():  # an unusable leftover (find() said so): moved aside whole, then removed
        trash = final.parent / f".tmp-{final.name}-{_HOST}-{os.getpid()}-old"
        os.rename(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.exists():
            raise
        # Another process published the same key first; theirs is as good as ours.


def _describe_files(root: Path) -> dict[str, dict[str, Any]]:
    return {
        str(f.relative_to(root)): {"size": f.stat().st_size, "sha256": sha256_file(f)}
        for f in sorted(root.rglob("*"))
        if f.is_file() and f.name != MANIFEST
    }


def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink() if tmp.is_file() else shutil.rmtree(tmp)


@functools.cache
def git_sha() -> str:
    """HEAD of the saerl checkout (with '-dirty' if it has local changes), or 'unknown'."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


@functools.cache
def package_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out
