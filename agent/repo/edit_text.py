"""A file as lines (keeping its line ends), and the placeholder lines models write for code
they leave out (``...``, ``# ... rest of the module unchanged ...``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMMENT = re.compile(r"^\s*(?:#+|//+|--|;+|<!--|/\*+|\*)\s*(?P<body>.*?)\s*(?:-->|\*/)?\s*$")
_DOTS = re.compile(r"\.{3,}|…")
_PHRASE = re.compile(
    r"(?:the )?rest of (?:the )?(?:file|code|module|class|function|method|body|imports?|tests?)"
    r"(?: (?:is |are |remains? )?(?:unchanged|the same|as (?:before|is)|omitted))?"
    r"|(?:(?:all|the|other|previous|remaining) )*existing (?:code|methods|functions|imports|"
    r"tests|content)(?: here| (?:is |remains? )?unchanged| as before)?"
    r"|(?:everything else|the rest|other code|remaining code|other methods|other functions)"
    r" (?:is |are |remains? )?(?:unchanged|the same|as (?:before|is)|omitted)"
    r"|(?:code|content|lines) (?:unchanged|omitted|elided)|unchanged(?: code)?")
_VOCAB = re.compile(r"[\w\s,'()-]*")


@dataclass
class Text:
    """A file's lines without their ends; ``nl`` is its line end, ``final`` whether its last
    line has one."""

    lines: list[str]
    nl: str = "\n"
    final: bool = True

    @classmethod
    def of(cls, text: str) -> Text:
        nl = "\r\n" if "\r\n" in text and text.count("\r\n") == text.count("\n") else "\n"
        if not text:
            return cls([], nl, True)
        parts = text.split(nl)
        final = parts[-1] == ""
        return cls(parts[:-1] if final else parts, nl, final)

    def render(self) -> str:
        if not self.lines:
            return ""
        return self.nl.join(self.lines) + (self.nl if self.final else "")

    def uses_tabs(self) -> bool:
        """Most indented lines start with a tab."""
        tabs = sum(x.startswith("\t") for x in self.lines)
        spaces = sum(x.startswith(" ") for x in self.lines)
        return tabs > spaces


def lines_of(text: str) -> list[str]:
    """The lines of a block written by the model (``\\n`` ends, no final empty line)."""
    return Text.of(text.replace("\r\n", "\n")).lines


def is_placeholder(line: str) -> bool:
    """A line that stands for code left out: ``...``, ``…`` or a comment saying so."""
    s = line.strip()
    if s in ("...", "…", "....", "[...]", "(...)"):
        return True
    m = _COMMENT.match(line)
    if m is None or not s:
        return False
    body = m["body"].strip().lower()
    if _DOTS.search(body):
        words = _DOTS.sub(" ", body).strip(" .,:;()[]")
        return not words or bool(_PHRASE.search(words)) or (
            len(words.split()) <= 6 and bool(_VOCAB.fullmatch(words)) and
            any(w in words for w in ("code", "unchanged", "same", "rest", "omitted",
                                     "existing", "other", "more", "etc")))
    return bool(_PHRASE.fullmatch(body.strip(" .:;()[]")))


def placeholder_line(lines: list[str], path: str) -> tuple[int, str] | None:
    """The first line (1-based) of new text that stands for left-out code: a placeholder
    comment, or in Python a bare ``...`` that is not a block's body (a stub's ``...``)."""
    last = ""
    for n, line in enumerate(lines, 1):
        s = line.strip()
        if s in ("...", "…") and path.endswith(".py"):
            if not last.rstrip().endswith(":"):
                return n, s
        elif s not in ("...", "…") and is_placeholder(line):
            return n, s
        if s:
            last = line
    return None
