"""Short forms a model writes for names the user said: a currency's ISO 4217 code ("Euro
to Dollar" -> ``EUR``, ``USD``) and an initialism of words said in a row ("New York City"
-> ``NYC``).

Tool schemas ask for codes ("The currency code, e.g. USD") where users say names, so a
value that shares no characters with the question can still be what the user said. The
grounding checks (``repair.text_grounded``: rung ``ask``, rung ``doubt``'s held values)
would otherwise take it for an invention: on the peers benchmark's BFCL ``multiple`` the
1.5B's right call for "the conversion rate from Euro to Dollar at January 1, 2022"
(``to_currency="USD"``) became the question "I need to know the currency ...".
"""

from __future__ import annotations

import re

CURRENCIES: dict[str, tuple[str, ...]] = {
    "USD": ("dollar", "us dollar", "美元", "美金", "$"),
    "EUR": ("euro", "欧元", "€"),
    "GBP": ("pound", "sterling", "英镑", "£"),
    "JPY": ("yen", "日元", "日币"),
    "CNY": ("yuan", "renminbi", "rmb", "人民币", "¥"),
    "RMB": ("yuan", "renminbi", "人民币", "¥"),
    "HKD": ("hong kong dollar", "港币", "港元"),
    "TWD": ("taiwan dollar", "台币"),
    "KRW": ("korean won", "韩元"),
    "INR": ("rupee", "卢比"),
    "CAD": ("canadian dollar", "加元", "加币"),
    "AUD": ("australian dollar", "澳元", "澳币"),
    "NZD": ("new zealand dollar", "纽币"),
    "SGD": ("singapore dollar", "新加坡元", "新币"),
    "CHF": ("swiss franc", "franc", "瑞士法郎"),
    "SEK": ("swedish krona", "krona", "瑞典克朗"),
    "NOK": ("norwegian krone", "挪威克朗"),
    "DKK": ("danish krone", "丹麦克朗"),
    "RUB": ("ruble", "rouble", "卢布"),
    "BRL": ("brazilian real", "reais", "雷亚尔"),
    "MXN": ("mexican peso", "墨西哥比索"),
    "ZAR": ("rand", "兰特"),
    "THB": ("baht", "泰铢"),
    "AED": ("dirham", "迪拉姆"),
    "BTC": ("bitcoin", "比特币"),
}
"""ISO 4217 codes (and the common ``RMB``, ``BTC``) with the names users call them by."""

_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
_INITIALISM = re.compile(r"[A-Z]{2,6}")
_GLUE = {"a", "an", "the", "of", "and", "in", "on", "at", "to", "for", "is", "it", "by", "my", "me", "i"}


def _names_said(names: tuple[str, ...], evidence: str) -> bool:
    text = evidence.lower()
    for name in names:
        if re.fullmatch(r"[a-z ]+", name):
            if re.search(rf"\b{re.escape(name)}s?\b", text):  # "dollars" too
                return True
        elif name in text:
            return True
    return False


def currency_said(value: str, evidence: str) -> bool:
    """Whether ``value`` is the ISO 4217 code of a currency ``evidence`` names."""
    names = CURRENCIES.get(value.strip().upper())
    return names is not None and _names_said(names, evidence)


def initialism_said(value: str, evidence: str) -> bool:
    """Whether ``value`` (2-6 capital letters) is the initials of words said in a row
    ("New York City" -> NYC, "United States of America" -> USA). Small words are
    skipped: "of" is not in USA, and "in the" makes no ``IT``."""
    code = value.strip()
    if not _INITIALISM.fullmatch(code):
        return False
    words = [w for w in _WORD.findall(evidence) if w.lower() not in _GLUE]
    return any("".join(w[0] for w in words[i:i + len(code)]).upper() == code
               for i in range(len(words) - len(code) + 1))


def abbreviates(value: str, evidence: str) -> bool:
    """Whether ``value`` is a short form of a name ``evidence`` says (``currency_said``,
    ``initialism_said``)."""
    return currency_said(value, evidence) or initialism_said(value, evidence)
