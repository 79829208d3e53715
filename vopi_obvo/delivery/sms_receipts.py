"""SMS delivery receipts in OBVO's tables: parts handed to an SMSC, receipts, final states.

A notification goes `sent` → `delivered` when the network confirms every part, or
`undelivered` (with the receipt's state and the network's error code in `delivery_error`) as
soon as one part failed for good. Receipts can overtake the dispatcher (the SMSC answers the
submit, the receipt follows at once, the dispatcher has not yet marked the message sent), so
`settle_recent` looks again at the receipts of the last few minutes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import structlog

from vopi_obvo.queries import q
from vopi_obvo.senders.smpp_text import Receipt

log = structlog.get_logger("vopi_obvo.sms")

SETTLE_WINDOW = 600.0  # seconds of receipts looked at again by settle_recent


class ReceiptStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def parts_submitted(
        self, gateway: str, notification_id: int, message_ids: Sequence[str]
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                q("sms_parts_submitted"),
                [
                    {
                        "gateway": gateway,
                        "message_id": message_id,
                        "notification_id": notification_id,
                        "part": number,
                        "parts": len(message_ids),
                    }
                    for number, message_id in enumerate(message_ids, start=1)
                ],
            )

    def receipt(self, gateway: str, receipt: Receipt) -> None:
        """Store one receipt and settle its notification if the receipt completes it."""
        with self.engine.begin() as conn:
            notification_id = conn.execute(
                q("sms_receipt"),
                {
                    "gateway": gateway,
                    "message_id": receipt.message_id,
                    "state": receipt.state,
                    "error_code": receipt.error_code,
                },
            ).scalar_one()
            if notification_id is not None:
                self._settle(conn, notification_id)

    def settle_recent(self) -> None:
        with self.engine.begin() as conn:
            self._settle(conn, None)

    def _settle(self, conn: sa.Connection, notification_id: int | None) -> None:
        rows = conn.execute(
            q("settle_sms_deliveries"),
            {"notification_id": notification_id, "window": SETTLE_WINDOW},
        ).all()
        for row in rows:
            log.info(
                f"notification.{row.status}",
                notification_id=row.id,
                channel="sms",
                error=row.delivery_error,
            )
