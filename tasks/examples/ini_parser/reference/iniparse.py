"""A small, strict INI parser."""

import re

_SECTION = re.compile(r"\[(?P<name>[^\]]*)\]")
_SPLIT = re.compile(r"[=:]")


class IniError(ValueError):
    """A line that is neither a comment, a section header nor a key/value pair."""

    def __init__(self, lineno: int, message: str) -> None:
        super().__init__(f"line {lineno}: {message}")
        self.lineno = lineno


def parse_ini(text: str) -> dict[str, dict[str, str]]:
    """Parse INI ``text`` into ``{section: {key: value}}``."""
    result: dict[str, dict[str, str]] = {}
    section = ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        header = _SECTION.fullmatch(line)
        if header:
            section = header["name"].strip()
            if not section:
                raise IniError(lineno, "empty section name")
            result.setdefault(section, {})
            continue
        match = _SPLIT.search(line)
        if match is None:
            raise IniError(lineno, f"expected [section] or key = value, got {raw!r}")
        key = line[: match.start()].strip().lower()
        if not key:
            raise IniError(lineno, "empty key")
        value = line[match.end() :].strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        result.setdefault(section, {})[key] = value
    return result
