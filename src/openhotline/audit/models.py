"""Tables of the audit domain: the hash-chained log and its head."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, UTCDateTime, utcnow

GENESIS_HASH = "0" * 64


class AuditAction(StrEnum):
    """Every action the audit log records; stored as these strings in audit_log.action."""

    APPEAL_DECIDE = "appeal.decide"
    APPEAL_FILE = "appeal.file"
    APPEAL_REPLY = "appeal.reply"
    ASSESSMENT_AUTOMATIC = "assessment.automatic"
    ASSESSMENT_CASE = "assessment.case"
    ASSESSMENT_CONFIRM = "assessment.confirm"
    ASSESSMENT_DISAGREE = "assessment.disagree"
    ASSESSMENT_GRADE = "assessment.grade"
    ASSESSMENT_RESOLVE = "assessment.resolve"
    BANK_ADMIT = "bank.admit"
    BANK_MAPPING = "bank.mapping"
    BANK_POLICY = "bank.policy"
    BANK_SETTINGS = "bank.settings"
    BANK_SUBSCRIBE = "bank.subscribe"
    BANK_SYNC = "bank.sync"
    CAPTURE_AUTO_ASSESSED = "capture.auto_assessed"
    CAPTURE_ARTIFACT_DOWNLOAD = "capture.artifact_download"
    CAPTURE_RENDER_REQUEST = "capture.render_request"
    CASE_LIST_EXPORT = "case.list_export"
    CASE_NOTE = "case.note"
    CASE_VIEW = "case.view"
    EVIDENCE_UPLOAD = "evidence.upload"
    EXPORT_CYBERTIP = "export.cybertip"
    EXPORT_NCMEC_FILE = "export.ncmec_file"  # a case's file uploaded to NCMEC's CyberTipline
    EXPORT_NCMEC_REPORT = "export.ncmec_report"  # a CyberTipline report finished (submitted)
    EXPORT_POLICE = "export.police"
    HELPLINE_ANNUAL_EXPORTED = "helpline.annual.exported"
    HELPLINE_CHI_EXPORTED = "helpline.chi.exported"
    HELPLINE_CONTACT_RECORDED = "helpline.contact.recorded"
    HELPLINE_CONTACT_VIEWED = "helpline.contact.viewed"
    HELPLINE_DEMO_LOADED = "helpline.demo.loaded"
    HELPLINE_DISCLOSURE_VIEWED = "helpline.disclosure.viewed"
    HELPLINE_ESCALATION_DECIDED = "helpline.escalation.decided"
    HELPLINE_ESCALATION_RAISED = "helpline.escalation.raised"
    HELPLINE_HANDOFF = "helpline.handoff"
    HELPLINE_RESOURCE_SAVED = "helpline.resource.saved"
    HELPLINE_RETENTION_ANONYMISED = "helpline.retention.anonymised"
    HELPLINE_TRENDS_EXPORTED = "helpline.trends.exported"
    HELPLINE_CASE_OPENED = "helpline.case.opened"
    HELPLINE_CASE_UPDATED = "helpline.case.updated"
    HELPLINE_CASE_VIEWED = "helpline.case.viewed"
    HELPLINE_CASE_CONTACT_ADDED = "helpline.case.contact_added"
    HELPLINE_CASE_TASK = "helpline.case.task"
    HELPLINE_CASE_REFERRAL = "helpline.case.referral"
    HELPLINE_CONVERSATION_PICKED_UP = "helpline.conversation.picked_up"
    HELPLINE_CONVERSATION_REPLIED = "helpline.conversation.replied"
    HELPLINE_CONVERSATION_VIEWED = "helpline.conversation.viewed"
    HELPLINE_CONVERSATION_ENDED = "helpline.conversation.ended"
    HELPLINE_CALL_MISSED = "helpline.call.missed"
    HOST_SAVE = "host.save"
    ITEM_CLAIM = "item.claim"
    JOB_CANCEL = "job.cancel"
    JOB_RETRY = "job.retry"
    ITEM_HIDE = "item.hide"
    ITEM_RELEASE = "item.release"
    ITEM_REVEAL = "item.reveal"
    ITEM_REVEAL_REFUSED = "item.reveal_refused"
    ITEM_VIEW = "item.view"
    LIST_DOWNLOAD = "list.download"
    LIST_PUBLISH = "list.publish"
    LOGIN_FAILURE = "login.failure"
    LOGIN_SUCCESS = "login.success"
    LOGOUT = "logout"
    PARTNER_KEY_CREATE = "partner.key.create"
    PARTNER_KEY_REVOKE = "partner.key.revoke"
    PARTNER_ORG_CREATE = "partner.org.create"
    POLICE_ACKNOWLEDGE = "police.acknowledge"
    POLICE_CHANNEL = "police.channel"
    REFERRAL_RECEIVE = "referral.receive"
    REFERRAL_SEND = "referral.send"
    REFERRAL_STATUS = "referral.status"
    REMOVAL_DECLINED = "removal.declined"
    REMOVAL_EXPIRED = "removal.expired"
    REMOVAL_HIDE = "removal.hide"
    REMOVAL_IDENTITY_CONFIRMED = "removal.identity_confirmed"
    REMOVAL_IMAGE_DELETED = "removal.image_deleted"
    REMOVAL_RECEIVED = "removal.received"
    REMOVAL_REJECTED = "removal.rejected"
    REMOVAL_REVEAL = "removal.reveal"
    REMOVAL_REVEAL_REFUSED = "removal.reveal_refused"
    REMOVAL_SHARED = "removal.shared"
    REMOVAL_VIEW = "removal.view"
    REPORTER_CONTACT_ERASED = "reporter.contact.erased"
    REPORTER_FEEDBACK_SENT = "reporter.feedback.sent"
    RETENTION_HOLD = "retention.hold"
    RETENTION_PURGE = "retention.purge"
    RETENTION_REKEY = "retention.rekey"
    SETTING_CHANGE = "setting.change"
    TAKEDOWN_CONTACT_OVERRIDE = "takedown.contact_override"
    TAKEDOWN_HOST_CONFIRMED = "takedown.host_confirmed"
    TAKEDOWN_NOTICE_CHANGED = "takedown.notice_changed"
    TAKEDOWN_NOT_REMOVED = "takedown.not_removed"
    TAKEDOWN_POLICE_HELD = "takedown.police_held"
    TAKEDOWN_NOTICE_SENT = "takedown.notice_sent"
    TAKEDOWN_NOTICE_RESENT = "takedown.notice_resent"
    TAKEDOWN_POLICE_CLEARED = "takedown.police_cleared"
    TAKEDOWN_REMOVED = "takedown.removed"
    TAKEDOWN_VIEW = "takedown.view"
    USER_ACTIVATE = "user.activate"
    USER_CREATE = "user.create"
    USER_DEACTIVATE = "user.deactivate"
    USER_RECOVERY_CODES = "user.recovery_codes"
    USER_PASSWORD_RESET = "user.password_reset"  # noqa: S105 - an action name, not a secret
    USER_ROLE = "user.role"
    USER_TOTP_RESET = "user.totp_reset"
    USER_UNLOCK = "user.unlock"
    VICTIMID_ALERT = "victimid.alert"
    VICTIMID_CLUES_VIEW = "victimid.clues_view"
    VICTIMID_EXPORT = "victimid.export"
    VICTIMID_IMPORT = "victimid.import"
    VICTIMID_ITEM_ADD = "victimid.item_add"
    VICTIMID_ITEM_REMOVE = "victimid.item_remove"
    VICTIMID_KNOWN_IMPORT = "victimid.known_import"
    VICTIMID_PACKAGE_FETCHED = "victimid.package_fetched"
    VICTIMID_SERIES_CREATE = "victimid.series_create"
    VICTIMID_SERIES_MERGE = "victimid.series_merge"
    VICTIMID_SERIES_UPDATE = "victimid.series_update"
    VICTIMID_SUGGESTION = "victimid.suggestion"


class AuditEntry(Base):
    """One audited event; `hash` = sha256(prev_hash + canonical JSON of the row)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who: "user:<name>", "system", "partner:<key prefix>", "anonymous".
    actor: Mapped[str] = mapped_column(String(200), index=True)
    # What: dotted verb, e.g. "login.success", "item.reveal", "assessment.create".
    # A plain string on purpose: verify() must read back whatever a tampered row holds and
    # report it, so writers are typed (record() takes an AuditAction) and the column is not.
    action: Mapped[str] = mapped_column(String(80), index=True)
    # On what: "item:12", "case:3", "user:alice", "setting:exposure_budget".
    target: Mapped[str | None] = mapped_column(String(200), index=True)
    # Canonical JSON text (sorted keys) so the hashed bytes are exactly what is stored.
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The single row naming the chain's last entry; appends lock it, so the chain never forks.

    It also lets verify notice rows deleted from the end of the log.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
