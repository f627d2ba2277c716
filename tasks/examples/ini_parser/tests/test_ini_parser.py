import pytest

from iniparse import IniError, parse_ini


def test_sections_and_keys():
    text = "[server]\nhost = example.org\nport=8080\n\n[client]\nretries: 3\n"
    assert parse_ini(text) == {
        "server": {"host": "example.org", "port": "8080"},
        "client": {"retries": "3"},
    }


def test_comments_and_blank_lines_are_ignored():
    text = "# top comment\n\n[a]\n; another\n  # indented\nx = 1\n"
    assert parse_ini(text) == {"a": {"x": "1"}}


def test_keys_are_lowercased_and_last_value_wins():
    assert parse_ini("[a]\nName = one\nNAME = two\n") == {"a": {"name": "two"}}


def test_split_at_first_separator():
    assert parse_ini("[a]\nurl = http://x.org/?q=1\n") == {"a": {"url": "http://x.org/?q=1"}}


def test_quoted_values_keep_spaces():
    assert parse_ini('[a]\npad = "  two spaces "\n') == {"a": {"pad": "  two spaces "}}


def test_malformed_line_reports_its_number():
    with pytest.raises(IniError) as err:
        parse_ini("[a]\nx = 1\nthis is wrong\n")
    assert err.value.lineno == 3
    assert "line 3" in str(err.value)
    assert isinstance(err.value, ValueError)
