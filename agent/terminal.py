"""Asking a person at a terminal: one prompt code for the escalation prompt of ``solve`` and
every prompt of a ``repair`` session.

Input goes through prompt_toolkit (line editing, history); output through rich. The prompt
text is prompt_toolkit formatted text, never rich markup, so a menu such as ``[h] hint`` is
shown exactly as written (rich would take ``[h]`` for a style tag and print ``int``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.output import create_output
from rich.console import Console
from rich.markup import escape


@dataclass(frozen=True)
class Option:
    """One key of a menu: typed as ``key``, shown as ``[key] label``."""

    key: str
    label: str


@dataclass(frozen=True)
class Menu:
    """The keys a prompt accepts, plus words that take an argument (``goto N``)."""

    options: tuple[Option, ...]
    words: tuple[str, ...] = ()
    """Commands typed as a word, shown after the keys: ``history``, ``goto N``."""
    default: str | None = None

    def text(self) -> str:
        """The menu as plain text (what the screen shows before the cursor)."""
        keys = "  ".join(f"[{o.key}] {o.label}" for o in self.options)
        words = "".join(f"  {w}" for w in self.words)
        default = f" (default {self.default})" if self.default else ""
        return f"{keys}{words}{default} > "

    def formatted(self) -> FormattedText:
        parts: list[tuple[str, str]] = []
        for i, o in enumerate(self.options):
            parts += [("", "  " if i else ""), ("", "["), ("bold", o.key), ("", f"] {o.label}")]
        parts += [("", f"  {w}") for w in self.words]
        if self.default:
            parts.append(("", f" (default {self.default})"))
        parts.append(("", " > "))
        return FormattedText(parts)

    def parse(self, typed: str) -> tuple[str, str] | None:
        """``(key or word, argument)`` for a valid answer, else None."""
        text = typed.strip()
        if not text and self.default:
            return self.default, ""
        head, _, arg = text.partition(" ")
        if any(o.key == head for o in self.options) and not arg:
            return head, ""
        if head in {w.split()[0] for w in self.words}:
            return head, arg.strip()
        return None

    def expected(self) -> str:
        words = ", ".join(self.words)
        return ", ".join(o.key for o in self.options) + (f" or {words}" if words else "")


ESCALATION = Menu((Option("h", "hint"), Option("m", "more iterations"), Option("e", "edit"),
                   Option("a", "accept best"), Option("s", "stop (stay paused)"),
                   Option("b", "abort")), default="s")
"""The escalation prompt of ``solve`` (and of a repair session that escalates)."""


class Terminal:
    """A person at a terminal: rich for what they read, prompt_toolkit for what they type.

    Ctrl-C and Ctrl-D at a prompt raise ``KeyboardInterrupt``; callers leave the run
    resumable and exit 130.
    """

    def __init__(self, console: Console, history_file: Path | None = None) -> None:
        self.console = console
        history: History = InMemoryHistory()
        if history_file is not None:
            try:
                history_file.parent.mkdir(parents=True, exist_ok=True)
                history_file.touch()
                history = FileHistory(str(history_file))
            except OSError:
                pass  # no history across sessions; editing still works
        stream = sys.stderr if console.file is sys.stderr else sys.stdout
        self.session: PromptSession[str] = PromptSession(
            history=history, output=create_output(stdout=stream))

    def say(self, markup: str) -> None:
        self.console.print(markup, highlight=False, soft_wrap=True)

    def line(self, question: str, default: str = "") -> str:
        """One line of free text (Enter alone gives ``default``)."""
        try:
            answer = self.session.prompt(f"{question} > ")
        except EOFError:
            raise KeyboardInterrupt from None
        return answer.strip() or default

    def choose(self, menu: Menu) -> tuple[str, str]:
        """Ask until the answer is one of the menu's keys or words."""
        while True:
            try:
                typed = self.session.prompt(menu.formatted())
            except EOFError:
                raise KeyboardInterrupt from None
            parsed = menu.parse(typed)
            if parsed is not None:
                return parsed
            self.say(f"[yellow]type one of {escape(menu.expected())}[/]")
