"""Dropping optional numeric arguments the user never gave (a 0.5B habit: it invents a
budget, e.g. max_price=1000 for "有推荐吗？", and then finds nothing)."""

from __future__ import annotations

import pytest

from kapibara.agent.repair import bounds_in, drop_ungrounded, fill_bounds, fill_counts, numbers_in
from kapibara.models.base import ToolCall
from kapibara.tools import ToolSet, tool


@tool
def recommend_products(category: str, scenario: str = "", max_price: float | None = None, limit: int = 3) -> str:
    """Recommend products.

    Args:
        category: category
        scenario: scenario
        max_price: budget
        limit: how many
    """
    return "ok"


@tool
def buy(product: str, quantity: int) -> str:
    """Buy.

    Args:
        product: name
        quantity: how many
    """
    return "ok"


TOOLS = ToolSet([recommend_products, buy])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("预算3000以内", {3000.0}),
        ("两千块以内的手机", {2000.0}),
        ("1.5万左右", {15000.0}),
        ("under 2k please", {2000.0}),
        ("五百元", {500.0}),
        ("一千二百元", {1200.0}),
        ("来十二瓶", {12.0}),
        ("我想买一款拍照好的手机", {1.0}),
        ("一千五以内的", {1500.0}),  # said in the next place down, not 1005
        ("两千五", {2500.0}),
        ("一万二", {12000.0}),
        ("两百五", {250.0}),
        ("一百零五", {105.0}),
        ("十五", {15.0}),
        ("价格别超2k5", {2500.0}),
        ("1w2左右", {12000.0}),
        ("revenue of $200,000 and 1,234,567 items", {200000.0, 1234567.0}),  # thousands separated
        ("3,14 and 1,5", {3.0, 14.0, 1.0, 5.0}),  # not three digits after the comma: a list
        ("100 million outstanding shares and 2.5 billion USD", {100.0, 100_000_000.0, 2.5e9}),  # scale words
        ("5 thousand units", {5.0, 5000.0}),
        ("an annual rate of 5% and 2.5 %", {5.0, 0.05, 2.5, 0.025}),  # a percentage is also its fraction
    ],
)
def test_numbers_in_reads_digits_and_chinese_numerals(text, expected):
    assert expected <= numbers_in(text)


def test_a_scale_word_must_follow_the_number():
    assert 5_000_000.0 not in numbers_in("5 people, a million reasons")


def test_invented_budget_is_dropped():
    calls = [ToolCall("recommend_products", {"category": "手机", "scenario": "拍照", "max_price": 1000, "limit": 3})]
    fixed, dropped = drop_ungrounded(calls, TOOLS, "我想买一款拍照好的手机，有推荐吗？")
    assert fixed[0].arguments == {"category": "手机", "scenario": "拍照", "limit": 3}  # 3 is the default
    assert dropped == ["recommend_products: max_price=1000 is not in the user's words"]


def test_stated_budget_is_kept_in_any_spelling():
    calls = [ToolCall("recommend_products", {"category": "手机", "max_price": 2000})]
    for text in ("两千以内的手机", "2000以内的手机", "2k以内的手机"):
        fixed, dropped = drop_ungrounded(calls, TOOLS, text)
        assert fixed[0].arguments["max_price"] == 2000 and dropped == []


@tool
def game_rewards(game: str, mission: str = "", season: str = "", mode: str = "easy") -> str:
    """Rewards of a game.

    Args:
        game: the game
        mission: the mission
        season: the season
        mode: the mode
    """
    return "ok"


game_rewards.parameters["properties"]["mode"]["enum"] = ["easy", "hard", "level 2"]
GAMES = ToolSet([game_rewards])


def test_an_optional_text_with_only_unsaid_numbers_is_dropped():
    calls = [ToolCall("game_rewards", {"game": "Fortnite 2", "mission": "Mission 1", "season": "2023-2024"})]
    fixed, dropped = drop_ungrounded(calls, GAMES, "Rewards for Fortnite 2 with different missions")
    assert fixed[0].arguments == {"game": "Fortnite 2"}  # a required value is never dropped
    assert dropped == ["game_rewards: mission='Mission 1' has no number the user said",
                       "game_rewards: season='2023-2024' has no number the user said"]


def test_an_optional_text_keeps_a_number_the_user_said_or_none_at_all():
    calls = [ToolCall("game_rewards", {"game": "Fortnite", "mission": "Mission 3", "season": "summer 2024-05-01",
                                       "mode": "level 2"})]
    fixed, dropped = drop_ungrounded(calls, GAMES, "Fortnite rewards of mission three on May 1, 2024")
    assert fixed[0].arguments == calls[0].arguments and dropped == []  # an enum value is left too
    calls = [ToolCall("game_rewards", {"game": "Fortnite", "mission": "the last one"})]
    assert drop_ungrounded(calls, GAMES, "Fortnite")[1] == []


def test_required_arguments_are_never_dropped():
    calls = [ToolCall("buy", {"product": "牛奶", "quantity": 7})]
    fixed, dropped = drop_ungrounded(calls, TOOLS, "买点牛奶")
    assert fixed[0].arguments == {"product": "牛奶", "quantity": 7} and dropped == []


@pytest.mark.parametrize(
    ("text", "args", "expected"),
    [
        ("给我推荐5款零食", {"category": "零食", "limit": 3}, 5),  # left at the default
        ("牛奶哪个牌子好？推荐两款", {"category": "牛奶"}, 2),  # left out
        ("办公室提神用的咖啡，一百以内，推荐一款", {"category": "咖啡", "max_price": 100, "limit": 3}, 1),
        ("聚会用的零食来5款，每款不超过40元", {"category": "零食", "max_price": 40}, 5),  # 40元 is a price
        ("I need cheap snacks for kids, under 20 yuan, show me 2", {"category": "零食", "max_price": 20}, 2),
    ],
)
def test_a_count_the_user_said_fills_the_count_left_at_its_default(text, args, expected):
    fixed, notes = fill_counts([ToolCall("recommend_products", args)], TOOLS, text)
    assert fixed[0].arguments["limit"] == expected
    assert notes == [f"recommend_products: limit={args.get('limit')!r} -> {expected} (said)"]


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("5000以内续航最好的手机推荐3个", {"category": "手机", "max_price": 5000, "limit": 3}),  # already right
        ("推荐手机", {"category": "手机", "limit": 3}),  # no count said
        ("我想买一款拍照好的手机", {"category": "手机", "limit": 3}),  # "一款" as "a"
        ("预算3000以内的手机", {"category": "手机", "max_price": 3000}),  # a budget is not a count
        ("推荐4个或者5个零食", {"category": "零食"}),  # two counts: not guessed
        ("推荐5款零食", {"category": "零食", "limit": 4}),  # the model chose a value: kept
        ("两个人吃的火锅食材推荐", {"category": "火锅"}),  # people, not items
        ("来2.5斤五花肉做法", {"category": "肉"}),  # a weight, not 5 of anything
        ("a phone under 4000 please", {"category": "手机"}),  # no limit of 4000
        ("第二款再推荐几个类似的", {"category": "手机"}),  # an ordinal, not two items
    ],
)
def test_counts_are_left_alone_when_nothing_is_clear(text, args):
    fixed, notes = fill_counts([ToolCall("recommend_products", args)], TOOLS, text)
    assert fixed[0].arguments == args and notes == []


@tool
def add_to_cart(product_name: str, quantity: int = 1) -> str:
    """Add to the cart.

    Args:
        product_name: name
        quantity: how many
    """
    return "ok"


def test_a_number_inside_another_argument_is_not_a_count():
    # "15" belongs to the product name; the count the user said is 2.
    cart = ToolSet([add_to_cart])
    call = ToolCall("add_to_cart", {"product_name": "iPhone 15", "quantity": 1})
    fixed, _ = fill_counts([call], cart, "来2台iPhone 15")
    assert fixed[0].arguments["quantity"] == 2
    fixed, notes = fill_counts([call], cart, "买个iPhone 15")
    assert fixed[0].arguments["quantity"] == 1 and notes == []
    fixed, _ = fill_counts([ToolCall("add_to_cart", {"product_name": "Nongfu Spring"})], cart,
                           "Add two bottles of Nongfu Spring to my cart")
    assert fixed[0].arguments["quantity"] == 2


def test_a_required_count_the_model_gave_is_kept():
    fixed, notes = fill_counts([ToolCall("buy", {"product": "牛奶", "quantity": 1})], TOOLS, "来3箱牛奶")
    assert fixed[0].arguments["quantity"] == 1 and notes == []


# -- bounds: a price ceiling the user said fills the call's one price-bound parameter --


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("有没有适合小孩吃的零食，五十块钱以内", [50]),
        ("露营带的饮料推荐几款，单价20以内", [20]),
        ("价格别超2k5，拍照要好，手机", [2500]),
        ("推荐两款100元以下适合早餐的牛奶", [100]),
        ("夏天解暑的饮料，十块以内", [10]),
        ("预算2000块，想要个打游戏流畅的手机", [2000]),
        ("想要个1000块左右的备用机", [1000]),
        ("给爷爷买个字大声音大的手机，八百以内", [800]),
        ("想要一台一千五以内的手机", [1500]),
        ("I need cheap snacks for kids, under 20 yuan, show me 2", [20]),
        ("Recommend a phone under 4000 yuan that is good for taking photos", [4000]),
        ("a phone for at most $300", [300]),
        ("推荐3款手机", []),  # a count
        ("最多推荐3款", []),  # a count, not a price
        ("三天以内能到吗", []),  # days
        ("10公里以内的店", []),  # a distance
        ("within 3 days please", []),
        ("iPhone 15有优惠吗", []),
    ],
)
def test_bounds_in_reads_price_ceilings_only(text, expected):
    assert bounds_in(text) == expected


@pytest.mark.parametrize(
    ("text", "args", "expected"),
    [
        ("有没有适合小孩吃的零食，五十块钱以内", {"category": "零食", "scenario": "小孩"}, 50),  # left out
        ("价格别超2k5，拍照要好，手机", {"category": "手机", "scenario": "拍照"}, 2500),  # dropped as unsaid
        ("推荐两款100元以下适合早餐的牛奶", {"category": "牛奶", "max_price": 2, "limit": 2}, 100),  # a count put there
    ],
)
def test_a_bound_the_user_said_fills_the_price_bound(text, args, expected):
    fixed, notes = fill_bounds([ToolCall("recommend_products", args)], TOOLS, text)
    assert fixed[0].arguments["max_price"] == expected
    assert notes == [f"recommend_products: max_price={args.get('max_price')!r} -> {expected} (said)"]


def test_the_latest_messages_bound_replaces_an_earlier_one():
    said = "三千以内拍照好的手机有哪些\n还有没有更便宜的，一千五以内的"
    call = ToolCall("recommend_products", {"category": "手机", "max_price": 3000})
    fixed, _ = fill_bounds([call], TOOLS, said, latest="还有没有更便宜的，一千五以内的")
    assert fixed[0].arguments["max_price"] == 1500
    # the latest message says no bound: the one said before stands
    fixed, notes = fill_bounds([call], TOOLS, "三千以内拍照好的手机有哪些\n第一个呢", latest="第一个呢")
    assert fixed[0].arguments["max_price"] == 3000 and notes == []


def test_the_ceiling_copied_into_the_count_is_dropped_there():
    """"不要超过30块" -> ``max_price: 30, limit: 30``: the tuned 0.5B copied the price into
    the count; the default count applies. A count the user said keeps it."""
    call = ToolCall("recommend_products", {"category": "零食", "max_price": 30, "limit": 30})
    fixed, notes = fill_bounds([call], TOOLS, "减肥能吃的零食，不要超过30块")
    assert fixed[0].arguments == {"category": "零食", "max_price": 30}
    assert notes == ["recommend_products: limit=30 is the price ceiling, not a count"]
    fixed, notes = fill_bounds([call], TOOLS, "推荐30款零食，不要超过30块")
    assert fixed[0].arguments["limit"] == 30 and notes == []


@tool
def find_hotel(city: str, max_distance_km: float | None = None, max_results: int = 5) -> str:
    """Find hotels.

    Args:
        city: city
        max_distance_km: how far from the centre at most
        max_results: how many
    """
    return "ok"


@tool
def shop(item: str, min_price: float | None = None, max_price: float | None = None,
         budget: float | None = None) -> str:
    """Shop.

    Args:
        item: item
        min_price: lowest price
        max_price: highest price
        budget: total budget
    """
    return "ok"


@pytest.mark.parametrize(
    ("tools", "call", "text"),
    [
        (TOOLS, ToolCall("recommend_products", {"category": "手机"}), "推荐手机"),  # no bound said
        (TOOLS, ToolCall("recommend_products", {"category": "手机"}), "3000以内或者2000以内的手机"),  # two
        (TOOLS, ToolCall("recommend_products", {"category": "手机", "max_price": 3000}), "3000以内的手机"),  # right
        (ToolSet([find_hotel]), ToolCall("find_hotel", {"city": "Paris"}), "hotels in Paris under 200 euros"),  # no price parameter
        (ToolSet([shop]), ToolCall("shop", {"item": "shoes"}), "shoes under 100 dollars"),  # two price bounds: ambiguous
    ],
)
def test_bounds_are_left_alone_when_nothing_is_clear(tools, call, text):
    fixed, notes = fill_bounds([call], tools, text)
    assert fixed[0].arguments == call.arguments and notes == []
