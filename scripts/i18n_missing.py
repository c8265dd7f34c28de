"""List the public msgids each language's catalog does not translate; exit 1 if any.

Public msgids are those extracted (messages.pot) from the public pages' sources
(openhotline.i18n.PUBLIC_SOURCES). Empty and fuzzy entries count as missing.
Usage: python scripts/i18n_missing.py [--locale-dir DIR] [LANG ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from openhotline import i18n


def main(argv: list[str] | None = None) -> int:
    """Print the untranslated public msgids per language; return 1 if there are any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("languages", nargs="*", help="languages to check (default: all)")
    parser.add_argument("--locale-dir", type=Path, default=i18n.LOCALE_DIR)
    args = parser.parse_args(argv)
    languages = args.languages or [x for x in i18n.LANGUAGES if x != i18n.DEFAULT_LANGUAGE]
    unknown = [x for x in languages if x not in i18n.LANGUAGES]
    if unknown:
        print(f"unknown language(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    template = args.locale_dir / f"{i18n.DOMAIN}.pot"
    if not template.is_file():
        print(f"no {template}: run `make translations` first", file=sys.stderr)
        return 2
    msgids = i18n.public_msgids(template)
    total = 0
    for language in languages:
        missing = i18n.missing_translations(language, msgids, args.locale_dir)
        total += len(missing)
        print(f"{language}: {len(missing)} of {len(msgids)} public messages untranslated")
        for msgid in missing:
            print(f"  {msgid!r}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
