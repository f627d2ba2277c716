"""agent.extract: code out of model replies, by example and by fuzzing."""

from __future__ import annotations

import re

import pytest
from codemend.agent.extract import MAX_REPLY_CHARS, FormatError, extract_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SOL = ["slugify.py"]
PAIR = ["textstats/tokenize.py", "textstats/stats.py"]
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def test_single_block_gets_a_trailing_newline():
    reply = "Here it is:\n```python\ndef f():\n    return 1\n```\nDone."
    assert extract_files(reply, SOL) == {"slugify.py": "def f():\n    return 1\n"}


@pytest.mark.parametrize("tag", ["python", "py", "python3", "", "Python", "python title=x"])
def test_accepted_tags(tag):
    assert extract_files(f"```{tag}\nx = 1\n```", SOL) == {"slugify.py": "x = 1\n"}


def test_other_languages_are_ignored():
    reply = "```python\nx = 1\n```\n```bash\npytest -q\n```\n```text\nok\n```"
    assert extract_files(reply, SOL) == {"slugify.py": "x = 1\n"}


def test_last_usable_block_wins_and_empty_blocks_are_skipped():
    reply = "```python\nx = 1\n```\nbetter:\n```python\nx = 2\n```\n```python\n  \n```"
    assert extract_files(reply, SOL) == {"slugify.py": "x = 2\n"}


def test_a_block_labelled_with_the_solution_wins_and_the_label_is_dropped():
    reply = ("```python\n# file: slugify.py\nx = 1\n```\nUsage:\n```python\n"
             "print(slugify('a'))\n```")
    assert extract_files(reply, SOL) == {"slugify.py": "x = 1\n"}


def test_a_block_for_another_file_is_skipped_in_single_file_mode():
    reply = "```python\nx = 1\n```\n```python\n# file: tests/test_slugify.py\ndef test(): ...\n```"
    assert extract_files(reply, SOL) == {"slugify.py": "x = 1\n"}


def test_tilde_and_long_backtick_fences():
    assert extract_files("~~~python\nx = 1\n~~~", SOL) == {"slugify.py": "x = 1\n"}
    inner = 's = """\n```\nnot a fence\n```\n"""'
    assert extract_files(f"````python\n{inner}\n````", SOL) == {"slugify.py": inner + "\n"}


def test_a_shorter_or_other_fence_does_not_close():
    reply = "~~~~python\nx = 1\n~~~\n```\ny = 2\n~~~~"
    assert extract_files(reply, SOL) == {"slugify.py": "x = 1\n~~~\n```\ny = 2\n"}


def test_crlf_is_normalised():
    reply = "Text\r\n```python\r\ndef f():\r\n    return 1\r\n```\r\n"
    assert extract_files(reply, SOL) == {"slugify.py": "def f():\n    return 1\n"}


def test_indented_fence_in_a_list_item_is_dedented():
    reply = "1. Write this:\n   ```python\n   def f():\n       return 1\n   ```\n"
    assert extract_files(reply, SOL) == {"slugify.py": "def f():\n    return 1\n"}


def test_prose_only_is_a_format_error_with_advice():
    with pytest.raises(FormatError) as err:
        extract_files("Sure! You should use re.sub to slugify the text.", SOL)
    assert "slugify.py" in err.value.message
    assert "```python" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_unclosed_final_fence_is_not_usable_code():
    with pytest.raises(FormatError, match="cut off"):
        extract_files("```python\nx = 1\n```\nNow the full file:\n```python\ndef f(", SOL)


def test_a_stray_empty_fence_at_the_end_is_harmless():
    assert extract_files("```python\nx = 1\n```\n```", SOL) == {"slugify.py": "x = 1\n"}


def test_inline_triple_backticks_are_not_a_fence():
    with pytest.raises(FormatError):
        extract_files("Use ```slugify(x)``` here.", SOL)


def test_huge_reply_is_scanned_without_crashing():
    reply = "```python\nx = 1\n```\n" + "a" * (MAX_REPLY_CHARS + 10)
    assert extract_files(reply, SOL) == {"slugify.py": "x = 1\n"}
    with pytest.raises(FormatError, match="longer than"):
        extract_files("b\n" * (MAX_REPLY_CHARS // 2 + 5), SOL)


def test_multi_file_reply():
    reply = ("Two files:\n```python\n# file: textstats/tokenize.py\ndef tokenize(t):\n"
             "    return t.split()\n```\n\n```python\n# textstats/stats.py\n"
             "from textstats.tokenize import tokenize\n```\n")
    assert extract_files(reply, PAIR) == {
        "textstats/tokenize.py": "def tokenize(t):\n    return t.split()\n",
        "textstats/stats.py": "from textstats.tokenize import tokenize\n",
    }


def test_multi_file_last_block_per_path_wins_and_labels_are_normalised():
    reply = ("```python\n# file: textstats/stats.py\nold = 1\n```\n"
             "```py\n# File: `./textstats/tokenize.py`\nt = 1\n```\n"
             "```python\n#file:textstats/stats.py\nnew = 1\n```\n"
             "```python\nprint('an unlabelled usage example is ignored')\n```")
    assert extract_files(reply, PAIR) == {"textstats/tokenize.py": "t = 1\n",
                                          "textstats/stats.py": "new = 1\n"}


def test_multi_file_missing_files_are_named():
    reply = "```python\n# file: textstats/stats.py\nx = 1\n```"
    with pytest.raises(FormatError, match=re.escape("textstats/tokenize.py")) as err:
        extract_files(reply, PAIR)
    assert "# file: <path>" in err.value.message


def test_multi_file_unknown_path_is_an_error():
    reply = ("```python\n# file: textstats/stats.py\nx = 1\n```\n"
             "```python\n# file: textstats/tokenize.py\ny = 1\n```\n"
             "```python\n# file: textstats/helpers.py\nz = 1\n```")
    with pytest.raises(FormatError, match="helpers.py"):
        extract_files(reply, PAIR)


def test_multi_file_without_labels():
    with pytest.raises(FormatError, match="no ```python block for textstats/tokenize.py"):
        extract_files("```python\nx = 1\n```\n```python\ny = 1\n```", PAIR)


def test_no_solution_files_is_a_programming_error():
    with pytest.raises(ValueError, match="at least one"):
        extract_files("```python\nx = 1\n```", [])


_PIECES = ["```", "```python\n", "```py ", "````", "~~~", "~~~python\n", "\n", "\r\n", "\r",
           "  ", "\t", "# file: ", "# ", "textstats/stats.py", "textstats/tokenize.py",
           "slugify.py", "x = 1\n", "def f(:\n", "\x00", "é"]
_replies = st.lists(st.sampled_from(_PIECES) | st.text(max_size=8), max_size=60).map("".join)


@FUZZ
@given(_replies | st.text(max_size=400), st.sampled_from([SOL, PAIR]))
def test_fuzz_arbitrary_text_only_raises_format_error(reply, files):
    try:
        out = extract_files(reply, files)
    except FormatError as exc:
        assert exc.message and "\n" not in exc.message
    else:
        assert set(out) == set(files)
        assert all(code.endswith("\n") and code.strip() for code in out.values())


_body = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r"),
                max_size=300)


@FUZZ
@given(_body, st.sampled_from(["python", "py", "python3", "", "PYTHON"]),
       st.sampled_from(["`", "~"]), st.sampled_from(["", "  "]), st.booleans())
def test_fuzz_fenced_code_round_trips(body, tag, char, indent, crlf):
    code = f"a{body}z"  # first and last lines are never blank, nor a `# file:` label
    longest = max((len(r) for r in re.findall(f"{re.escape(char)}+", code)), default=0)
    fence = char * max(3, longest + 1)
    text = "\n".join(indent + line for line in code.split("\n"))
    reply = f"Here you go.\n\n{indent}{fence}{tag}\n{text}\n{indent}{fence}\n\nHope it helps!"
    if crlf:
        reply = reply.replace("\n", "\r\n")
    assert extract_files(reply, SOL) == {"slugify.py": code + "\n"}


@FUZZ
@given(_body, _body)
def test_fuzz_multi_file_round_trips(first, second):
    codes = [f"a{first}z", f"b{second}y"]
    fences = ["`" * max(3, 1 + max((len(r) for r in re.findall("`+", c)), default=0))
              for c in codes]
    reply = "\n".join(f"{f}python\n# file: {p}\n{c}\n{f}" for f, p, c in zip(fences, PAIR, codes,
                                                                             strict=True))
    assert extract_files(reply, PAIR) == {p: c + "\n" for p, c in zip(PAIR, codes, strict=True)}
