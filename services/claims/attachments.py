"""A claim's documents (出院小结, 医疗费用结算单, 认定工伤决定书 …): which it may carry is the
plugin's benefit list (plus 其他材料, other supporting material); what a file is, and whether
it is small enough, is rules.attachment_type's (its first bytes, then the whole file parsed as
that type; 10 MB). One file may serve several documents (one PDF holding 出院小结 and 费用清单).
Each file is kept once, with its SHA-256 and a safe name (rules.stored_name), in the row or in
an external store under the key ``store`` returns. Documents change only while the claim is a
draft or returned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.claims import rules
from services.claims.claims import benefit_of, get_claim, transition
from services.claims.exceptions import NotFound, WorkflowError
from services.claims.models import Attachment, AttachmentDocument
from services.kernel.policy import CityPolicy
from services.messaging.database import utc_now
from services.messaging.offload import off_hub

Store = Callable[[bytes, str, str], str]  # (data, sha256, content type) -> storage key
OTHER_DOCUMENT = "其他材料"  # supporting material beyond the benefit's list


def add_attachment(
    session: Session,
    policy: CityPolicy,
    *,
    claim_id: str,
    documents: str | Sequence[str],
    filename: str,
    data: bytes,
    actor: str,
    store: Store | None = None,
) -> Attachment:
    """Attach a file as one or more documents (names from the benefit's list, or 其他材料): a
    JPEG, PNG or PDF by its whole content, at most 10 MB, kept in the row or, with ``store``,
    under the key it returns. The same file again is the attachment already there, now also
    serving the documents named this time.

    ``data`` is the one copy of the upload: it is hashed, checked and stored as it is."""
    wanted = [documents] if isinstance(documents, str) else list(documents or ())
    if not wanted or not all(isinstance(d, str) and d.strip() for d in wanted):
        raise WorkflowError("document 应为材料名称，或几项材料名称的列表")
    wanted = list(dict.fromkeys(wanted))
    # parsing the whole file is CPU work: a worker thread, before the claim is locked
    content_type = off_hub(lambda _: rules.attachment_type(data, filename))
    claim = get_claim(session, claim_id, lock=True)
    rules.require_editable(claim.status)
    listed = benefit_of(policy, claim.year, claim.benefit).attachments
    unknown = [d for d in wanted if d not in (*listed, OTHER_DOCUMENT)]
    if unknown:
        names = "、".join((*listed, OTHER_DOCUMENT))
        raise WorkflowError(f"「{'、'.join(unknown)}」不是这项补助的材料；可上传: {names}")
    digest = hashlib.sha256(data).hexdigest()
    attachment = session.scalar(
        select(Attachment).where(Attachment.claim_id == claim.id, Attachment.sha256 == digest)
    )
    if attachment is None:
        attachment = Attachment(
            claim_id=claim.id,
            filename=rules.stored_name(filename, content_type),
            content_type=content_type,
            size=len(data),
            sha256=digest,
            content=None if store else data,
            storage_key=store(data, digest, content_type) if store else None,
            uploaded_by=actor,
            uploaded_at=utc_now(),
        )
        session.add(attachment)
    serving = set(attachment.document_names)
    added = [d for d in wanted if d not in serving]
    attachment.documents.extend(AttachmentDocument(document=d) for d in added)
    session.flush()
    return attachment


def remove_attachment(
    session: Session, *, attachment_id: str, actor: str, claim_id: str | None = None
) -> None:
    """Remove a document of a draft or returned claim (of ``claim_id``, when given)."""
    attachment = session.get(Attachment, attachment_id)
    if attachment is None or (claim_id is not None and attachment.claim_id != claim_id):
        raise NotFound(f"没有附件 {attachment_id}")
    claim = get_claim(session, attachment.claim_id, lock=True)
    rules.require_editable(claim.status)
    session.delete(attachment)
    transition(
        session,
        claim,
        claim.status,
        actor,
        f"删除材料「{'、'.join(attachment.document_names)}」{attachment.filename}",
    )


def list_attachments(session: Session, *, claim_id: str) -> list[dict[str, Any]]:
    """A claim's documents for the reviewer, without their bytes."""
    rows = session.scalars(
        select(Attachment)
        .where(Attachment.claim_id == claim_id)
        .order_by(Attachment.uploaded_at, Attachment.id)
    )
    return [
        {
            "attachment_id": a.id,
            "documents": a.document_names,
            "filename": a.filename,
            "content_type": a.content_type,
            "size": a.size,
            "sha256": a.sha256,
            "storage_key": a.storage_key,
            "uploaded_by": a.uploaded_by,
            "uploaded_at": a.uploaded_at.isoformat(),
        }
        for a in rows
    ]


def attachment_content(
    session: Session, *, attachment_id: str, claim_id: str | None = None
) -> tuple[Attachment, bytes | None]:
    """An attachment (of ``claim_id``, when given: access to a claim is no key to another
    claim's files) and its bytes (None when they are in the external store: ``storage_key``)."""
    attachment = session.get(Attachment, attachment_id)
    if attachment is None or (claim_id is not None and attachment.claim_id != claim_id):
        raise NotFound(f"没有附件 {attachment_id}")
    return attachment, attachment.content
