"""Fill missing translations in a catalog from a JSON file of {msgid: msgstr}.

Usage: python scripts/po_fill.py da translations.json
Only empty entries are filled; existing translations are left alone. Prints what is
still untranslated. Writes the catalog back without wrapping (stable diffs).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent


def main(language: str, source: str) -> int:
    path = ROOT / "translations" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    texts = json.loads(Path(source).read_text(encoding="utf-8"))
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key in texts and not message.string:
            message.string = texts[key]
            message.flags.discard("fuzzy")
    with path.open("wb") as fh:
        write_po(fh, catalog, width=0, omit_header=True, no_location=True, sort_output=True)
    missing = [m.id for m in catalog if m.id and not m.string]
    for m in missing:
        print("untranslated:", m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
