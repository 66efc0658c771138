"""Content fingerprints of external inputs (data files, model folders, pretrained SAE folders).

A stage key must change when an input's *contents* change, not only its path: the fingerprint is the
sha256 over every (relative path, file sha256) of a file or folder (hidden files and folders, such
as caches, left out). File digests are cached by (absolute path, size, mtime, inode, ctime) in one
JSON file, so a large unchanged folder is hashed once, not at every plan. mtime alone can be put back
after an edit (`touch -r`); ctime cannot be set by a user and changes with every write or rename,
and a file replaced by another gets another inode. ``verify=True`` (`saerl plan --verify`) rehashes
every file regardless of the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

from saerl.store import sha256_file


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(s.startswith(".") for s in p.relative_to(root).parts)
    )


VERIFY = False
"""Set by `saerl plan --verify`: every cache of this process rehashes every file."""


class FingerprintCache:
    """File digests by (path, size, mtime_ns, inode, ctime_ns); saved atomically, shared by
    concurrent planners. ``verify``: trust no cached digest (each file is hashed again)."""

    def __init__(self, path: Path | None, verify: bool | None = None) -> None:
        self.path = path
        self.verify = VERIFY if verify is None else verify
        self._data: dict[str, str] = {}
        self._dirty = False
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text())
            except (json.JSONDecodeError, OSError, UnicodeDecodeError):
                loaded = {}
            # A torn or foreign cache (not a mapping of strings) is only a cache: start again.
            if isinstance(loaded, dict) and all(isinstance(v, str) for v in loaded.values()):
                self._data = loaded
            else:
                self._dirty = True

    def digest(self, f: Path) -> str:
        st = f.stat()
        key = f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"
        if self.verify or key not in self._data:
            self._data[key] = sha256_file(f)
            self._dirty = True
        return self._data[key]

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}")
        tmp.write_text(json.dumps(self._data))
        os.replace(tmp, self.path)
        self._dirty = False


def fingerprint(path: str | Path, cache: FingerprintCache | None = None) -> str:
    """sha256 (16 hex digits) of a file's or folder's contents; the same bytes give the same print
    wherever they live."""
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or folder")
    cache = cache or FingerprintCache(None)
    h = hashlib.sha256()
    for f in _files(root):
        rel = "." if f == root else str(f.relative_to(root))
        h.update(f"{rel}:{cache.digest(f)}\n".encode())
    cache.save()
    return h.hexdigest()[:16]


def hub_revision(repo_id: str, kind: str = "model") -> str | None:
    """The commit a hub id resolves to: from the local HF cache (``refs/main``, no network), else
    from the hub when one is reachable (not HF_HUB_OFFLINE), else None (the id alone is the key)."""
    cache = Path(
        os.environ.get("HF_HUB_CACHE")
        or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    )
    ref = cache / f"{kind}s--{repo_id.replace('/', '--')}" / "refs" / "main"
    if ref.is_file():
        return ref.read_text().strip() or None
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return None
    try:
        from huggingface_hub import HfApi

        info = HfApi().repo_info(repo_id, repo_type=kind, timeout=10)
        return getattr(info, "sha", None)
    except Exception:  # unreachable, unknown or private: the id alone keys it, as offline
        return None
