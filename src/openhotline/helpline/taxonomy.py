"""The helpline's fixed code lists, loaded from a data file (config/helpline/taxonomy.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from openhotline.errors import InvalidError

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "config" / "helpline" / "taxonomy.toml"
UNKNOWN = "unknown"  # the trend-table column for "not recorded"
MODES = ("child", "prevention")
LISTS = (
    "channels",
    "contact_types",
    "categories",
    "age_bands",
    "genders",
    "regions",
    "outcomes",
    "referrals",
)


class TaxonomyError(InvalidError):
    """The taxonomy file is malformed."""


@dataclass(frozen=True)
class Taxonomy:
    """Code → label maps for every list, and which modes may use each contact type."""

    channels: dict[str, str]
    contact_types: dict[str, str]
    categories: dict[str, str]
    age_bands: dict[str, str]
    genders: dict[str, str]
    regions: dict[str, str]
    outcomes: dict[str, str]
    referrals: dict[str, str]
    type_modes: dict[str, frozenset[str]]

    def contact_types_for(self, mode: str) -> dict[str, str]:
        """Return the contact types a helpline mode may record."""
        return {c: lbl for c, lbl in self.contact_types.items() if mode in self.type_modes[c]}

    def labels(self, name: str) -> dict[str, str]:
        """Return one list by name (e.g. 'channels')."""
        if name not in LISTS:
            raise KeyError(name)
        value: dict[str, str] = getattr(self, name)
        return value


def parse_taxonomy(text: str) -> Taxonomy:
    """Parse and check taxonomy TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyError(f"taxonomy is not valid TOML: {exc}") from exc
    lists: dict[str, dict[str, str]] = {}
    modes: dict[str, frozenset[str]] = {}
    for name in LISTS:
        entries = data.get(name)
        if not isinstance(entries, list) or not entries:
            raise TaxonomyError(f"taxonomy needs a non-empty [[{name}]] list")
        out: dict[str, str] = {}
        for entry in entries:
            code, label = entry.get("code"), entry.get("label")
            if not isinstance(code, str) or not isinstance(label, str) or not code:
                raise TaxonomyError(f"{name}: every entry needs a code and a label")
            if code in out or code == UNKNOWN:
                raise TaxonomyError(f"{name}: code {code!r} is duplicated or reserved")
            out[code] = label
            if name == "contact_types":
                entry_modes = frozenset(entry.get("modes", MODES))
                if not entry_modes <= set(MODES):
                    raise TaxonomyError(f"contact type {code!r}: modes must be in {MODES}")
                modes[code] = entry_modes
        lists[name] = out
    return Taxonomy(**lists, type_modes=modes)


@lru_cache(maxsize=4)
def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Load (once) the taxonomy from path, or the packaged default."""
    return parse_taxonomy((path or DEFAULT_PATH).read_text(encoding="utf-8"))
