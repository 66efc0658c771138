"""The config loader every section shares: defaults <- YAML file <- ``key=value`` overrides.

Each component owns a small frozen dataclass (``DataConfig`` in ``saerl.data.config``, ...);
``saerl.config.SaerlConfig`` composes them at the top. This module knows nothing about any of them:
``load_config(cls, ...)`` checks every key and type against ``cls``'s annotations, so a typo or a
wrong type fails with the dotted key that caused it, and configs are read-only once loaded.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config problem, always naming the dotted key (and the file, when there is one)."""


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (PyYAML keeps
    the last silently: a second `rl:` section would drop the first one's keys)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping (lines {seen[key] + 1} and "
                    f"{key_node.start_mark.line + 1}); merge them", key_node.start_mark,
                )  # fmt: skip
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """YAML as every saerl file is read: safe (no tags that run code), duplicate keys refused."""
    return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no tags that run code


def load_config(
    cls: type[T],
    path: str | Path | None = None,
    overrides: typing.Sequence[str] = (),
    base: dict[str, Any] | None = None,
) -> T:
    """Build ``cls`` from its defaults, then the YAML file at ``path`` (or the mapping ``base``),
    then ``key=value`` overrides."""
    tree: dict[str, Any] = copy.deepcopy(base) if base else {}
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from exc
        try:
            loaded = load_yaml(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping, got {type(loaded).__name__}")
        tree = loaded
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value")
        _set_dotted(tree, key.strip(), yaml.safe_load(raw) if raw.strip() else "")
    try:
        return _build(cls, tree, prefix="")
    except ConfigError as exc:
        if path is None:
            raise
        raise ConfigError(f"{path}: {exc}") from None


NOT_IN_KEY = {"key": False}
"""Field metadata of settings that change how fast a stage runs, never what it produces (chunk sizes,
shard sizes): `to_dict(cfg, keyed=True)` leaves them out, so tuning them reuses built artifacts."""


def to_dict(cfg: Any, keyed: bool = False) -> dict[str, Any]:
    """Plain nested dict (tuples become lists) for YAML/JSON dumps; with ``keyed``, what artifact
    keys hash (fields marked `NOT_IN_KEY` left out)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {
                f.name: plain(getattr(v, f.name))
                for f in dataclasses.fields(v)
                if not keyed or f.metadata.get("key", True)
            }
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(cfg)


def flat_dict(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """``{"data.arith.n_train": 4000, ...}``: the flat keys shared by W&B, run dirs and analysis."""
    out: dict[str, Any] = {}
    for key, value in to_dict(cfg).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_dict(value, prefix=f"{name}."))
        else:
            out[name] = value
    return out


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def _build(cls: type[T], tree: Any, prefix: str) -> T:
    if not isinstance(tree, dict):
        raise ConfigError(f"{prefix.rstrip('.') or '<root>'}: expected a mapping, got {tree!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for key in tree:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            raise ConfigError(f"unknown key {prefix}{key}{hint}")
    kwargs = {key: _coerce(value, hints[key], f"{prefix}{key}") for key, value in tree.items()}
    try:
        return cls(**kwargs)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        where, text = prefix.rstrip("."), str(exc)
        if where and text.split(":", 1)[0] in names:  # "lr: ..." -> "rl.lr: ..."
            raise ConfigError(f"{where}.{text}") from None
        raise ConfigError(f"{where + ': ' if where else ''}{text}") from None


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against annotation ``tp``; convert lists to tuples and dicts to dataclasses."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, prefix=f"{key}.")  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arm in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arm, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: {value!r} matches none of {tp}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: expected one of {list(args)}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        item_tp = args[0] if args else Any
        return tuple(_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        val_tp = args[1] if args else Any
        return {str(k): _coerce(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # PyYAML (YAML 1.1) reads '3e-5' as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(value):  # .nan / .inf pass every range check written with < and >
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{key}: unsupported annotation {tp!r}")  # a schema bug, not a user error


def check_path_component(key: str, value: str) -> None:
    """``value`` names one folder inside a root (runs/<name>, reports/<sweep>): never a path that
    leaves the root (``..``, ``/abs``, ``a/b``) or one a file system cannot hold."""
    if (
        not value
        or value in (".", "..")
        or any(c in value for c in "/\\\x00")
        or value != value.strip()
        or len(value.encode("utf-8", "replace")) > 200
    ):
        raise ValueError(
            f"{key}: {value!r} is not a plain folder name (one path component: no '/', no '..', "
            "not empty, at most 200 bytes)"
        )


def check_range(
    obj: Any,
    names: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ValueError naming the first of the space-separated field ``names`` outside [low, high]
    (``low_open``/``high_open``: that end excluded). For the __post_init__ checks of config sections."""
    for name in names.split():
        v = getattr(obj, name)
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{name}: expected a finite number, got {v!r}")
        bad_low = low is not None and (v <= low if low_open else v < low)
        bad_high = high is not None and (v >= high if high_open else v > high)
        if bad_low or bad_high:
            lo = "" if low is None else f"{low:g} {'<' if low_open else '<='} "
            hi = "" if high is None else f" {'<' if high_open else '<='} {high:g}"
            raise ValueError(f"{name}: expected {lo}{name}{hi}, got {v!r}")
