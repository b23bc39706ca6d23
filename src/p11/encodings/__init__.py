"""Encodings every layer above shares, touching no token: the one DER encoder (:mod:`.der`), named curves and their
parameters (:mod:`.curves`), and the Python side of attribute values (:mod:`.attributes`: names, markers, templates;
the codecs themselves are :mod:`p11._native`'s table).

Imports only :mod:`p11.constants`, :mod:`p11.errors` and the compiled modules: see docs/architecture.md. Internal:
nothing here is public by its path.
"""

__all__: list[str] = []
