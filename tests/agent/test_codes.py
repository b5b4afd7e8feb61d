"""Short forms of said names count as said: currency codes and initialisms."""

from __future__ import annotations

import pytest

from kapibara.agent.codes import abbreviates, currency_said, initialism_said
from kapibara.agent.repair import missing_required, parameter_label, text_grounded
from kapibara.models.base import ToolCall
from kapibara.tools import ToolSet, tool


@pytest.mark.parametrize(("code", "said"), [
    ("USD", "Find the conversion rate from Euro to Dollar at January 1, 2022"),
    ("EUR", "Find the conversion rate from Euro to Dollar at January 1, 2022"),
    ("usd", "convert 200 dollars"),
    ("CNY", "100美元换多少人民币"),
    ("JPY", "How many yen is that?"),
    ("GBP", "500 pounds to euros"),
])
def test_a_currency_named_grounds_its_code(code, said):
    assert currency_said(code, said) and text_grounded(code, said)


@pytest.mark.parametrize(("code", "said"), [
    ("JPY", "Find the conversion rate from Euro to Dollar"),  # a currency nobody named
    ("USD", "Book a table for two"),
    ("KRW", "Who won the game?"),  # "won" the verb is no currency
    ("XYZ", "convert dollars"),  # no such code
])
def test_a_code_for_a_currency_not_named_is_not_grounded(code, said):
    assert not currency_said(code, said)


@pytest.mark.parametrize(("code", "said", "expected"), [
    ("NYC", "Search for famous contemporary sculptures in New York City.", True),
    ("US", "How many veterans were there in the United States in 1954?", True),
    ("LA", "flights to los angeles", True),
    ("USA", "the population of the United States of America", True),
    ("IT", "what's in the box?", False),  # small words make no initials
    ("NY", "Find restaurants near me", False),
    ("NYC", "new york", False),  # two words cannot make three letters
    ("Nyc", "New York City", False),  # not an initialism: capital letters only
])
def test_an_initialism_of_words_said_in_a_row(code, said, expected):
    assert initialism_said(code, said) is expected
    assert abbreviates(code, said) is expected


def test_a_currency_code_for_a_named_currency_is_not_asked_for():
    @tool
    def get_rate(from_currency: str, to_currency: str, date: str) -> str:
        """Get the conversion rate between two currencies on a date.

        Args:
            from_currency: The currency that you want to convert from.
            to_currency: The currency that you want to convert to.
            date: The date of the rate.
        """
        return "1.1"

    tools = ToolSet([get_rate])
    call = ToolCall(name="get_rate", arguments={"from_currency": "EUR", "to_currency": "USD", "date": "2022-01-01"})
    assert missing_required([call], tools, "Find the conversion rate from Euro to Dollar at January 1, 2022") is None
    # a currency the user never named is still an invention to ask about
    assert missing_required([call], tools, "Find the conversion rate from Euro at January 1, 2022") == \
        ("get_rate", "to_currency")
    # the question names the parameter in lower case, without the description's full stop
    assert parameter_label(tools, "get_rate", "to_currency") == "the currency that you want to convert to"
