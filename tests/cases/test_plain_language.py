"""Plain Danish: the LIX readability index of each demo case's explanation page.

LIX = words / sentences + 100 * long words / words, where a long word has more than six
letters. It is counted on the visible text of <main>, the way a reader meets it: a
sentence ends at ``. ! ? :`` and also at the end of a heading, paragraph, list item or
table cell (a cell or heading is read as a unit of its own). Numbers are not words.
Below 40 is "easy" text (newspapers for everyone); we keep every demo page at or below 40.
"""

from __future__ import annotations

import re

import pytest
from factories_cases import demo_citizens

LIX_LIMIT = 40
BLOCKS = r"</?(?:h[1-6]|p|li|td|th|dt|dd|caption|div|section|ol|ul|table|tr|a|button)\b[^>]*>"
WORD = re.compile(r"[A-Za-zÆØÅæøåÉéÜü]+(?:-[A-Za-zÆØÅæøå]+)*")


def main_blocks(html: str) -> list[str]:
    main = html.split('<main id="main-content"', 1)[1].split("</main>", 1)[0]
    main = re.sub(r"<svg.*?</svg>", " ", main, flags=re.S)
    main = re.sub(BLOCKS, "\n", main)
    text = re.sub(r"<[^>]+>", " ", main)
    return [b.strip() for b in re.split(r"\n+", text) if b.strip()]


def lix(blocks: list[str]) -> tuple[float, int, int, int]:
    words = long_words = sentences = 0
    for block in blocks:
        parts = [p for p in re.split(r"[.!?:]+(?:\s|$)", block) if WORD.search(p)]
        sentences += len(parts)
        for part in parts:
            found = WORD.findall(part)
            words += len(found)
            long_words += sum(1 for w in found if len(w.replace("-", "")) > 6)
    return words / sentences + 100 * long_words / words, words, sentences, long_words


def test_lix_counts_as_documented():
    # 6 words, 2 sentences, 2 long words ("afgørelsen", "sagsbehandler"): 3 + 33.3
    value, words, sentences, long_words = lix(["Vi traf afgørelsen.", "En sagsbehandler hjalp."])
    assert (words, sentences, long_words) == (6, 2, 2)
    assert value == pytest.approx(6 / 2 + 100 * 2 / 6)


CASES = [(c.name, i) for c in demo_citizens() for i in range(len(c.cases))]


@pytest.mark.parametrize(("name", "index"), CASES)
def test_explanation_page_is_plain_danish(client, citizens, cases_of, login_citizen, name, index):
    citizen = next(c for c in citizens.values() if c.name == name)
    decisions = cases_of(citizen)
    login_citizen(citizen)
    html = client.get(f"/mine-sager/{decisions[index].public_id}?lang=da").get_data(as_text=True)
    value, words, sentences, long_words = lix(main_blocks(html))
    print(f"LIX {value:.1f} ({words} words, {sentences} sentences, {long_words} long): {name}")
    assert words > 300  # the whole page was counted
    assert value <= LIX_LIMIT
