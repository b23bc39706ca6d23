"""Throwaway SoftHSM2 tokens for tests: ours and our users'.

``with SoftHSM() as hsm:`` gives a private token store in a temp dir, its own ``softhsm2.conf`` exported as
``SOFTHSM2_CONF`` for this process (and children), an initialised token, and cleanup afterwards. The pytest plugin
(:mod:`p11.testing.plugin`, registered as an entry point) exposes it as fixtures.
"""

from p11.testing.softhsm import SoftHSM, SoftHSMNotFound, TokenSpec, find_softhsm_module

__all__ = ["SoftHSM", "SoftHSMNotFound", "TokenSpec", "find_softhsm_module"]
