"""The hypothesis profiles of the property tests, registered once for every module that uses them.

`ci`, the default, is small and derandomized, so CI runs the same examples every time;
`nightly` runs many more programs with a fresh seed. Select one with
FLUSHGUARD_HYPOTHESIS_PROFILE=nightly; each test module says how many examples each profile
runs.
"""

from __future__ import annotations

import os
from typing import Mapping

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "nightly", derandomize=False, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])

PROFILE = os.environ.get("FLUSHGUARD_HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "nightly"):
    raise ValueError(f"FLUSHGUARD_HYPOTHESIS_PROFILE={PROFILE!r}: use 'ci' or 'nightly'")


def profile_settings(examples: Mapping[str, int]) -> settings:
    """The selected profile, running ``examples[PROFILE]`` examples."""
    return settings(settings.get_profile(PROFILE), max_examples=examples[PROFILE])
