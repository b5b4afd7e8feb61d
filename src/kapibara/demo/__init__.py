"""The grocery-assistant demo domain: a SQLite catalog (products, promotions, recipes,
weather) and the seven tools an agent uses over it.

    from kapibara.demo import demo_toolset, demo_prompt

    tools = demo_toolset()      # recommend_products, get_product_info, get_promotions,
                                # recommend_recipes, add_to_cart, view_cart, get_weather

The data is YAML in ``data/source/`` (``source.py`` reads it, ``build.py`` builds
``data/catalog.db``). Importing this package registers the tools and prompt as the tool
set ``"demo"`` (``kapibara.toolsets``), the name eval case files use.
"""

from kapibara.demo.catalog import Catalog, Product
from kapibara.demo.tools import TOOL_FUNCTIONS, demo_prompt, demo_toolset, get_catalog, set_catalog

__all__ = [
    "TOOL_FUNCTIONS",
    "Catalog",
    "Product",
    "demo_prompt",
    "demo_toolset",
    "get_catalog",
    "set_catalog",
]
