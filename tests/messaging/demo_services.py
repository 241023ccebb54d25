"""Two small services built the way the real ones are: claims records an event with its
change; payments handles it once, however often it arrives."""

from nameko.events import event_handler
from nameko.rpc import RpcProxy, rpc
from sqlalchemy import String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.messaging.dependencies import Database, Outbox
from services.messaging.idempotency import first_time, processed_events_table
from services.messaging.outbox import outbox_table


class ClaimsBase(DeclarativeBase):
    pass


outbox_table(ClaimsBase.metadata)


class Approval(ClaimsBase):
    __tablename__ = "approvals"

    claim_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class PaymentsBase(DeclarativeBase):
    pass


processed_events_table(PaymentsBase.metadata)


class Payout(PaymentsBase):
    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(String(36))


class ClaimsService:
    name = "claims"

    db = Database(ClaimsBase.metadata)
    outbox = Outbox()

    @rpc
    def approve(self, claim_id):
        self.db.session.add(Approval(claim_id=claim_id))
        return self.outbox.record("claim_approved", {"v": 1, "claim_id": claim_id})

    @rpc
    def approve_then_fail(self, claim_id):
        self.approve(claim_id)
        raise ValueError("refused after recording")

    @rpc
    def is_approved(self, claim_id):
        return self.db.session.get(Approval, claim_id) is not None


class PaymentsService:
    name = "payments"

    db = Database(PaymentsBase.metadata)
    claims = RpcProxy("claims")

    @event_handler("claims", "claim_approved")
    def on_claim_approved(self, event):
        if not first_time(self.db.session, "payments.on_claim_approved", event["event_id"]):
            return False
        self.db.session.add(Payout(claim_id=event["claim_id"]))
        return True

    @rpc
    def payouts(self):
        return list(self.db.session.scalars(select(Payout.claim_id).order_by(Payout.id)))

    @rpc
    def payout_count(self):
        return self.db.session.scalar(select(func.count()).select_from(Payout))

    @rpc
    def check_claim(self, claim_id):
        return self.claims.is_approved(claim_id)
