"""The domain cases name the "demo" tool set; importing kapibara.demo registers it."""

import kapibara.demo  # noqa: F401
