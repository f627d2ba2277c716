"""Where a SEARCH goes in a file, matched whole lines at a time and only when unique.

The ladder, first rung with a match wins: the exact lines; the lines less trailing blanks;
the lines shifted by one uniform indentation (the REPLACE is shifted by the same amount);
for a tab-indented file, the SEARCH's leading spaces read as tabs. Then, if nothing
matched, the same ladder on the SEARCH without blank lines at its ends, and on the parts of
a SEARCH that elides lines with ``...`` (in order; the whole span is replaced). More than
one place on a rung is refused, naming the candidate lines; nothing is ever applied at a
place that is not unique.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from codemend.agent.repo.edit_text import is_placeholder

Shift = tuple[int, str]
"""How the file's indentation differs from the SEARCH's: (+1, p) the file has ``p`` more,
(-1, p) less, (0, "") none."""


class NoMatch(ValueError):
    """The SEARCH is nowhere in the file."""


class Ambiguous(ValueError):
    def __init__(self, lines: list[int]) -> None:
        super().__init__(lines)
        self.lines = lines


@dataclass
class Hit:
    start: int
    end: int
    shift: Shift
    convert: Callable[[list[str]], list[str]]
    """Turns the REPLACE's lines into the file's (tabs for spaces, when the rung did)."""
    exact: bool = False


def _same(x: list[str]) -> list[str]:
    return x


def _lead(line: str) -> tuple[str, str]:
    body = line.lstrip(" \t")
    return line[:len(line) - len(body)], body


def _shift_of(f: str, s: str) -> Shift | None:
    (fl, fb), (sl, sb) = _lead(f.rstrip()), _lead(s.rstrip())
    if fb != sb:
        return None
    if fl.startswith(sl):
        return (1, fl[len(sl):]) if fl != sl else (0, "")
    if sl.startswith(fl):
        return -1, sl[len(fl):]
    return None


def _at(file: list[str], search: list[str], i: int, rung: str) -> Shift | None:
    if rung == "exact":
        return (0, "") if file[i:i + len(search)] == search else None
    if rung == "trailing":
        ok = all(f.rstrip() == s.rstrip() for f, s in zip(file[i:], search, strict=False))
        return (0, "") if ok else None
    shift: Shift | None = None
    for f, s in zip(file[i:i + len(search)], search, strict=True):
        if not s.strip() or not f.strip():
            if s.strip() or f.strip():
                return None
            continue
        mine = _shift_of(f, s)
        if mine is None or (shift is not None and mine != shift):
            return None
        shift = mine
    return shift if shift and shift[0] else None


def _spots(file: list[str], search: list[str], rung: str) -> list[tuple[int, Shift]]:
    n = len(search)
    k = next((k for k, x in enumerate(search) if x.strip()), None)
    if k is None:
        starts = range(len(file) - n + 1)
    else:  # every rung keeps a line's text: only where the first text line is can it match
        want = search[k].strip()
        starts = [i - k for i, x in enumerate(file) if k <= i <= len(file) - n + k
                  and x.strip() == want]
    out = []
    for i in starts:
        shift = _at(file, search, i, rung)
        if shift is not None:
            out.append((i, shift))
    return out


def _tabbed(lines: list[str], unit: int) -> list[str]:
    out = []
    for line in lines:
        lead, body = _lead(line)
        if "\t" in lead or not body:
            out.append(line)
        else:
            out.append("\t" * (len(lead) // unit) + " " * (len(lead) % unit) + body)
    return out


def _rungs(file: list[str], search: list[str], tabs: bool
           ) -> Iterator[list[Hit]]:
    for rung in ("exact", "trailing", "shift"):
        yield [Hit(i, i + len(search), s, _same, rung == "exact")
               for i, s in _spots(file, search, rung)]
    counts = {len(_lead(x)[0]) for x in search if x.strip() and "\t" not in _lead(x)[0]}
    if tabs and counts - {0}:
        g = math.gcd(*counts)
        for unit in dict.fromkeys(u for u in (4, g, 8, 2) if u and g % u == 0):
            def conv(lines: list[str], unit: int = unit) -> list[str]:
                return _tabbed(lines, unit)
            tabbed = conv(search)
            for rung in ("exact", "trailing", "shift"):
                yield [Hit(i, i + len(search), s, conv) for i, s in _spots(file, tabbed, rung)]


def _first(file: list[str], search: list[str], tabs: bool) -> list[Hit]:
    for hits in _rungs(file, search, tabs):
        if hits:
            return hits
    return []


def holds(file: list[str], lines: list[str], start: int, end: int, tabs: bool) -> bool:
    """``lines`` are in ``file`` (on any rung of the ladder) around ``[start, end)``."""
    if not any(x.strip() for x in lines):
        return False
    return any(h.start <= start and h.end >= end
               for hits in _rungs(file, lines, tabs) for h in hits)


def reindent(lines: list[str], shift: Shift) -> list[str]:
    """The REPLACE's lines moved by the SEARCH's shift; raise ``ValueError`` when a line is
    less indented than a shift to remove."""
    sign, pre = shift
    if not sign:
        return lines
    if sign > 0:
        return [pre + x if x.strip() else x for x in lines]
    out = []
    for x in lines:
        if x.strip() and not x.startswith(pre):
            raise ValueError("its REPLACE is indented less than the shift from its SEARCH to "
                             "the file; send both with the file's own indentation")
        out.append(x[len(pre):] if x.strip() else x)
    return out


@dataclass
class Found:
    """The lines ``[start, end)`` of the file are to become ``new``."""

    start: int
    end: int
    new: list[str]


def _one(hits: list[Hit]) -> Hit:
    if len(hits) > 1:
        raise Ambiguous([h.start + 1 for h in hits])
    return hits[0]


def find(file: list[str], search: list[str], replace: list[str], tabs: bool) -> Found:
    """Where ``search`` is in ``file`` and what it becomes; raise ``NoMatch`` or
    ``Ambiguous`` (or ``ValueError`` for a REPLACE that cannot follow the match)."""
    if [x.strip() for x in search] == [x.strip() for x in replace]:
        hits = [h for h in _first(file, search, tabs) if h.exact]
        if not hits:  # matched only by a tolerance, it would change whitespace anywhere
            raise NoMatch()
        h = _one(hits)
        return Found(h.start, h.end, replace)
    hits = _first(file, search, tabs)
    if hits:
        h = _one(hits)
        if any(is_placeholder(x) for x in search):
            _same_span(file, search, h, tabs)
        return Found(h.start, h.end, reindent(h.convert(replace), h.shift))
    trimmed, rep = _trim(search, replace)
    if trimmed != search and trimmed:
        hits = _first(file, trimmed, tabs)
        if hits:
            h = _one(hits)
            return Found(h.start, h.end, reindent(h.convert(rep), h.shift))
    edged, rep = _edges(search, replace)
    if edged != search:
        return find(file, edged, rep, tabs)
    if any(is_placeholder(x) for x in search):
        return _elided(file, search, replace, tabs)
    raise NoMatch()


def _edges(search: list[str], replace: list[str]) -> tuple[list[str], list[str]]:
    """Without ``...`` lines at the ends of the SEARCH, which bound nothing (nor those at
    the same end of the REPLACE)."""
    def cut(x: list[str], from_end: bool) -> tuple[list[str], bool]:
        y = list(reversed(x)) if from_end else list(x)
        k = 0
        while k < len(y) and (not y[k].strip() or is_placeholder(y[k])):
            k += 1
        cutting = any(is_placeholder(v) for v in y[:k])
        y = y[k:] if cutting else y
        return (list(reversed(y)) if from_end else y), cutting
    for end in (False, True):
        search, cut_search = cut(search, end)
        if cut_search:
            replace = cut(replace, end)[0]
    return search, replace


def _same_span(file: list[str], search: list[str], hit: Hit, tabs: bool) -> None:
    """A SEARCH found word for word though it holds ``...`` lines: refused unless read as
    elided parts it matches that span only (the two readings agree on the place)."""
    try:
        found = _elided(file, search, search, tabs)
    except NoMatch:
        return
    except Ambiguous as exc:
        raise Ambiguous(sorted({hit.start + 1, *exc.lines})) from None
    except ValueError:
        return  # read as elided parts, its REPLACE could not follow: word for word it is
    if (found.start, found.end) != (hit.start, hit.end):
        raise Ambiguous(sorted({hit.start + 1, found.start + 1}))


def _trim(search: list[str], replace: list[str]) -> tuple[list[str], list[str]]:
    """Without blank lines at the ends of the SEARCH (and as many at the REPLACE's)."""
    def ends(x: list[str]) -> tuple[int, int]:
        a = next((i for i, v in enumerate(x) if v.strip()), len(x))
        b = next((i for i, v in enumerate(reversed(x)) if v.strip()), len(x))
        return a, b
    a, b = ends(search)
    ra, rb = ends(replace)
    ra, rb = min(a, ra), min(b, rb)
    return search[a:len(search) - b], replace[ra:len(replace) - rb]


def _parts(lines: list[str]) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for x in lines:
        if is_placeholder(x):
            parts.append([])
        else:
            parts[-1].append(x)
    return parts


def _elided(file: list[str], search: list[str], replace: list[str], tabs: bool) -> Found:
    parts = _parts(search)
    if any(not "".join(p).strip() for p in parts):
        raise NoMatch()  # ``...`` at an end, or two in a row: nothing bounds the span
    per_part = [_first(file, p, tabs) for p in parts]
    if any(not hs for hs in per_part):
        raise NoMatch()
    combos = _ordered(per_part, lambda c: _inside(file, c))
    if not combos:
        raise NoMatch()
    if len(combos) != 1:
        raise Ambiguous(sorted({c[0].start + 1 for c in combos}))
    chosen = combos[0]
    shifts = {h.shift for h in chosen}
    convert = chosen[0].convert
    reps = _parts(replace)
    if len(reps) == 1:
        if len(shifts) != 1:
            raise ValueError("the parts of its SEARCH are indented differently from the file")
        return Found(chosen[0].start, chosen[-1].end, reindent(convert(replace), shifts.pop()))
    if len(reps) != len(parts):
        raise ValueError(f"its REPLACE elides {len(reps) - 1} parts with `...`, its SEARCH "
                         f"{len(parts) - 1}; write the same `...` lines in both, or none in "
                         "the REPLACE to replace the whole span")
    new: list[str] = []
    for k, (hit, rep) in enumerate(zip(chosen, reps, strict=True)):
        new += reindent(convert(rep), hit.shift)
        if k + 1 < len(chosen):
            new += file[hit.end:chosen[k + 1].start]
    return Found(chosen[0].start, chosen[-1].end, new)


def _depth(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def _inside(file: list[str], chosen: list[Hit]) -> bool:
    """The elided lines stay in the block the parts outline: none is indented less than the
    shallowest matched line, nor as little when the span opens with a block (``def f():``)."""
    floor = min(_depth(x) for h in chosen for x in file[h.start:h.end] if x.strip())
    first = next(x for x in file[chosen[0].start:chosen[0].end] if x.strip())
    opens = _depth(first) == floor and first.rstrip().endswith((":", "{"))
    return all(_depth(x) > floor or (_depth(x) == floor and not opens)
               for a, b in zip(chosen, chosen[1:], strict=False)
               for x in file[a.end:b.start] if x.strip())


STEPS = 20_000
"""Choices of elided parts looked at before an elision counts as ambiguous."""


def _ordered(per_part: list[list[Hit]],
             keep: Callable[[list[Hit]], bool] = lambda c: True) -> list[list[Hit]]:
    """Every choice of one hit per part in file order without overlap that ``keep`` keeps
    (at most two); raise ``Ambiguous`` when there are too many to look at."""
    out: list[list[Hit]] = []
    steps = [0]

    def walk(k: int, after: int, chosen: list[Hit]) -> None:
        steps[0] += 1
        if steps[0] > STEPS:
            raise Ambiguous(sorted({h.start + 1 for h in per_part[0]}))
        if len(out) > 1:
            return
        if k == len(per_part):
            if keep(chosen):
                out.append(list(chosen))
            return
        for h in per_part[k]:
            if h.start > after or (k == 0 and h.start >= after):  # `...` stands for a line
                walk(k + 1, h.end, [*chosen, h])
    walk(0, 0, [])
    return out


def nearest(file: list[str], search: list[str], budget: int = 700) -> str:
    """The file's lines closest to a SEARCH that is not there (numbered, at most ``budget``
    characters), or "" when nothing is close."""
    want = [x.strip() for x in search if x.strip() and not is_placeholder(x)]
    if not want or not file:
        return ""
    n = max(1, min(len(search), 12))
    have = [x.strip() for x in file]
    starts: set[int] = set()
    for j, s in enumerate(search[:n]):
        w = s.strip()
        if not w or is_placeholder(s):
            continue
        starts |= {max(0, i - j) for i, x in enumerate(have)
                   if x == w or (x and difflib.SequenceMatcher(None, w, x).quick_ratio() > 0.8
                                 and difflib.SequenceMatcher(None, w, x).ratio() > 0.7)}
    target = "\n".join(want[:n])
    best, best_at = 0.0, -1
    for start in sorted(starts)[:300]:
        window = "\n".join(x for x in have[start:start + n] if x)
        ratio = difflib.SequenceMatcher(None, target, window).ratio()
        if ratio > best:
            best, best_at = ratio, start
    if best < 0.5:
        return ""
    shown, used = [], 0
    for k, line in enumerate(file[best_at:best_at + n], best_at + 1):
        row = f"{k:>5} | {line}"
        if used + len(row) > budget:
            break
        shown.append(row)
        used += len(row) + 1
    return "\n".join(shown)
