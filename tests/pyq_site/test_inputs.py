"""pyq_site.inputs: numbers and JSON from requests, strictly and within bounds."""

from __future__ import annotations

import pytest

from pyq_site.inputs import InputError, depth_exceeds, load_json, optional_int, parse_int


@pytest.mark.parametrize(
    "text", ["²", "١", "٣", "０", "1²", " 1", "1 ", "1.0", "", "+", "1e3", None, 3]
)
def test_only_ascii_digits_are_whole_numbers(text):
    with pytest.raises(InputError, match="not a whole number"):
        parse_int(text)
    assert optional_int(text) is None


def test_whole_numbers_within_their_bounds():
    assert parse_int("42") == 42
    assert parse_int("-7") == -7
    assert parse_int("9223372036854775807") == 2**63 - 1
    assert optional_int("9223372036854775808") is None  # past a database id
    assert optional_int("99999999999999999999999") is None
    assert optional_int("0", minimum=1) is None
    assert optional_int("11", maximum=10) is None
    with pytest.raises(InputError, match="less than 1"):
        parse_int("0", minimum=1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "The body is nested too deeply: at most 32 levels"),
        ("[" * 33 + "]" * 33, "The body is nested too deeply: at most 32 levels"),
        ('{"a": 1e400}', "The body holds a number too large to use."),
        ("[NaN]", "The body holds a number too large to use."),
        ("-Infinity", "The body holds a number too large to use."),
        ("1" * 5000, "The body holds a number too large to use."),
        ("{oops", "The body is not valid JSON: Expecting property name enclosed in double quotes."),
        (b"\xff\xfe\xfa", "The body is not valid JSON"),
        ("x" * 20, "The body is too large: at most 10 bytes of JSON."),
    ],
)
def test_json_past_its_bounds_is_an_input_error(data, message):
    with pytest.raises(InputError) as caught:
        load_json(data, max_bytes=10 if len(data) == 20 else 1024 * 1024)
    assert str(caught.value).startswith(message)


def test_json_within_its_bounds_is_read():
    assert load_json("[" * 32 + "]" * 32) is not None
    assert load_json('{"a": [1, 2.5, "x", null, true]}', what="'pipeline'") == {
        "a": [1, 2.5, "x", None, True]
    }
    assert load_json("1" + "0" * 400) == 10**400  # conditions refuse it by its size


def test_depth_is_measured_without_recursion():
    value: list = []
    for _ in range(100_000):
        value = [value]
    assert depth_exceeds(value, 32)
    assert not depth_exceeds({"a": [{"b": 1}]}, 3)
    assert depth_exceeds({"a": [{"b": []}]}, 3)
