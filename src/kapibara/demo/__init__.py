"""The grocery-assistant demo domain: a SQLite catalog (products, promotions, recipes,
weather) and the seven tools an agent uses over it.

    from kapibara.demo import demo_toolset, demo_prompt

    tools = demo_toolset()      # recommend_products, get_product_info, get_promotions,
                                # recommend_recipes, add_to_cart, view_cart, get_weather

The data is YAML in ``data/source/`` (``source.py`` reads it, ``build.py`` builds
``data/catalog.db``). Importing this package registers the tools and prompt as the tool
set ``"demo"`` (``kapibara.toolsets``), the name eval case files use.
"""

from kapibara.demo.agent import demo_agent_options
from kapibara.demo.catalog import Catalog, Product
from kapibara.demo.tools import TOOL_FUNCTIONS, demo_prompt, demo_toolset, get_catalog, set_catalog
from kapibara.toolsets import register_toolset

__all__ = [
    "TOOL_FUNCTIONS",
    "Catalog",
    "Product",
    "demo_agent_options",
    "demo_prompt",
    "demo_toolset",
    "get_catalog",
    "set_catalog",
]

# ``"tools": "demo"`` in case files (the domain eval set, the smoke set) means these tools,
# this prompt and this default agent once kapibara.demo is imported.
register_toolset("demo", lambda: demo_toolset().specs(), toolset_factory=demo_toolset, prompt_factory=demo_prompt,
                 agent_options=demo_agent_options)
