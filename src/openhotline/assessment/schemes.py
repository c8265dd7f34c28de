"""Classification schemes, loaded from TOML files (config/schemes/<name>.toml), not code."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from openhotline.errors import InvalidError

SCHEME_DIR = Path(__file__).resolve().parent.parent / "config" / "schemes"
FIELD_KINDS = frozenset({"choice", "bool", "text"})
MAX_TEXT = 500


class SchemeError(InvalidError):
    """A scheme file is invalid, or a grade does not fit the scheme; the message says why."""


@dataclass(frozen=True)
class Classification:
    """One class of a scheme; `illegal` classes need four eyes and feed the confirmed bank."""

    code: str
    label: str
    illegal: bool
    description: str = ""


@dataclass(frozen=True)
class GradingField:
    """An extra per-item field the analyst fills in (age band, site type, commercial...)."""

    name: str
    label: str
    kind: str
    choices: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class Scheme:
    """A named list of classes and grading fields."""

    name: str
    title: str
    classes: tuple[Classification, ...]
    fields: tuple[GradingField, ...]

    def get(self, code: str) -> Classification | None:
        """Return the class with this code, or None."""
        return next((c for c in self.classes if c.code == code), None)

    def label(self, code: str | None) -> str:
        """Return the label of a code (the code itself when unknown)."""
        cls = self.get(code or "")
        return cls.label if cls else (code or "")

    def validate(self, code: str, values: dict[str, str]) -> tuple[Classification, dict[str, Any]]:
        """Check a grade against the scheme; return the class and the cleaned field values."""
        cls = self.get(code)
        if cls is None:
            raise SchemeError(f"choose a classification ({code!r} is not in scheme {self.name})")
        cleaned: dict[str, Any] = {}
        problems: list[str] = []
        for f in self.fields:
            raw = (values.get(f.name) or "").strip()
            if f.kind == "bool":
                cleaned[f.name] = raw.lower() in ("1", "on", "true", "yes")
                continue
            if not raw:
                if f.required:
                    problems.append(f"{f.label}: required")
                continue
            if f.kind == "choice" and raw not in f.choices:
                problems.append(f"{f.label}: not one of the choices")
                continue
            cleaned[f.name] = raw[:MAX_TEXT]
        if problems:
            raise SchemeError("; ".join(problems))
        return cls, cleaned


def _parse(data: dict[str, Any], origin: str) -> Scheme:
    try:
        classes = tuple(
            Classification(
                code=str(c["code"]),
                label=str(c["label"]),
                illegal=bool(c["illegal"]),
                description=str(c.get("description", "")),
            )
            for c in data["classes"]
        )
        fields = tuple(
            GradingField(
                name=str(f["name"]),
                label=str(f["label"]),
                kind=str(f.get("kind", "choice")),
                choices=tuple(str(x) for x in f.get("choices", ())),
                required=bool(f.get("required", False)),
            )
            for f in data.get("fields", ())
        )
        scheme = Scheme(str(data["name"]), str(data.get("title", data["name"])), classes, fields)
    except (KeyError, TypeError) as exc:
        raise SchemeError(f"{origin}: missing or invalid entry {exc}") from exc
    codes = [c.code for c in classes]
    if len(set(codes)) != len(codes):
        raise SchemeError(f"{origin}: class codes must be unique")
    if not any(c.illegal for c in classes) or all(c.illegal for c in classes):
        raise SchemeError(f"{origin}: needs at least one illegal and one other class")
    for f in fields:
        if f.kind not in FIELD_KINDS:
            raise SchemeError(
                f"{origin}: field {f.name}: kind must be one of {sorted(FIELD_KINDS)}"
            )
        if f.kind == "choice" and not f.choices:
            raise SchemeError(f"{origin}: field {f.name}: a choice field needs choices")
    return scheme


def parse_scheme(text: str, origin: str = "scheme") -> Scheme:
    """Parse and validate scheme TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SchemeError(f"{origin}: not valid TOML: {exc}") from exc
    return _parse(data, origin)


@lru_cache(maxsize=16)
def load_scheme(name_or_path: str) -> Scheme:
    """Load a shipped scheme by name ('default', 'uk', 'industry') or a .toml file path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        if not name_or_path.replace("_", "").replace("-", "").isalnum():
            raise SchemeError(f"invalid scheme name {name_or_path!r}")
        path = SCHEME_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise SchemeError(f"no classification scheme {name_or_path!r} ({path})")
    return parse_scheme(path.read_text(encoding="utf-8"), str(path.name))


def shipped_schemes() -> list[str]:
    """Return the names of the schemes shipped with openhotline."""
    return sorted(p.stem for p in SCHEME_DIR.glob("*.toml"))
