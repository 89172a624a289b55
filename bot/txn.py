"""Transaction ids derived from the event that caused a message.

Resending ``PUT /send/{type}/{txnId}`` with the same id and access token returns
the original event, so a reply retried after a crash can never appear twice.
"""

import hashlib


def txn_id_for(event_id: str, purpose: str = "reply") -> str:
    digest = hashlib.sha256(f"{event_id}\x00{purpose}".encode()).hexdigest()[:40]
    return f"fk1.{purpose}.{digest}"
