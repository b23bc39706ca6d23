"""The objects users hold: :mod:`.library` (a loaded module and its slots) makes :mod:`.token`\\ s, a token opens
:mod:`.session`\\ s (and its pool), a session makes :mod:`.objects` (keys, certificates, data objects), and
:mod:`.uris` gives each of them its RFC 7512 URI.

Each module imports only the ones after it in that list (``objects <- session <- token <- library``); a back-reference
(an object's session, a session's token, a token's library) is typed through :mod:`p11.api.owners`, and the
operations reach the token through a session's :mod:`.channel`. The package is internal: its public names are
re-exported by :mod:`p11` itself (``p11.Token``, ``p11.Session``, ``p11.PrivateKey`` …), which is where to import them
from; nothing here is public by its path.
"""

__all__: list[str] = []
