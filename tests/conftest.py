"""Shared test configuration: the Hypothesis profiles."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Pricing the first record loads the bundled cards; that one-off cost is not a
# slow test, so there is no per-example deadline. CI can ask for more examples
# with HYPOTHESIS_PROFILE=ci.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
