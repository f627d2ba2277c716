import pytest

from iniparse import IniError, parse_ini


def test_crlf_and_bare_cr_line_endings():
    assert parse_ini("[a]\r\nx = 1\r\ny = 2\rz = 3") == {"a": {"x": "1", "y": "2", "z": "3"}}


def test_keys_before_any_section():
    assert parse_ini("debug = true\n[a]\nx = 1\n") == {"": {"debug": "true"}, "a": {"x": "1"}}


def test_repeated_section_merges_and_empty_sections_exist():
    text = "[a]\nx = 1\n[b]\n[a]\ny = 2\n"
    assert parse_ini(text) == {"a": {"x": "1", "y": "2"}, "b": {}}


def test_hash_inside_value_and_colon_before_equals():
    text = "[a]\ncolor = #ff0000\ntime: 12:30 = noon\n"
    assert parse_ini(text) == {"a": {"color": "#ff0000", "time": "12:30 = noon"}}


@pytest.mark.parametrize(("text", "lineno"), [("[]\n", 1), ("[a]\n = 3\n", 2),
                                              ("[a]\nx = 1\n[b\n", 3)])
def test_more_errors(text, lineno):
    with pytest.raises(IniError) as err:
        parse_ini(text)
    assert err.value.lineno == lineno


def test_empty_text_and_empty_value():
    assert parse_ini("") == {}
    assert parse_ini('[a]\nx =\ny = ""\n') == {"a": {"x": "", "y": ""}}
