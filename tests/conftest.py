"""Shared test configuration: the Hypothesis profiles and a private card cache."""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, settings

# Validated cards are cached on disk (attribution._cardcache). Tests, and the CLI
# subprocesses they start, use a cache of their own rather than the user's.
os.environ.setdefault("ATTRIBUTION_CACHE_DIR", tempfile.mkdtemp(prefix="attribution-test-cache-"))

# Pricing the first record loads the bundled cards; that one-off cost is not a
# slow test, so there is no per-example deadline. CI can ask for more examples
# with HYPOTHESIS_PROFILE=ci.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
