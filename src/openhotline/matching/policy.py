"""What a match in a bank may do: the per-bank policy and its classification mapping.

A bank's policy decides what a capture's match does: `auto_assess` records an automatic
assessment, `review_with_hint` queues the item for analysts with the match shown as a hint,
`report_only` records the match and changes nothing. A bank's entries carry classifications
in that bank's scheme; only the own confirmed bank speaks the local scheme. Any other bank
needs a mapping to the local scheme, and a match whose classification has no mapping never
auto-assesses (it falls back to a hint), so a partner's label never becomes ours unchecked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from openhotline.errors import InvalidError


class BankPolicy(StrEnum):
    """What a match in a bank does to the matched item."""

    AUTO_ASSESS = "auto_assess"
    REVIEW_WITH_HINT = "review_with_hint"
    REPORT_ONLY = "report_only"


class BankSource(StrEnum):
    """Where a bank's entries come from; decides the default policy."""

    OWN = "own"  # this hotline's four-eyes confirmed items, in the local scheme
    IMPORTED = "imported"  # a file an operator imported
    PARTNER = "partner"  # a partner's list


def default_policy(source: BankSource) -> BankPolicy:
    """Only the own confirmed bank auto-assesses until an admin marks a bank trusted."""
    return BankPolicy.AUTO_ASSESS if source == BankSource.OWN else BankPolicy.REVIEW_WITH_HINT


def parse_policy(value: str) -> BankPolicy:
    """A policy from its name, or InvalidError naming the choices."""
    try:
        return BankPolicy(value.strip().lower())
    except ValueError:
        choices = ", ".join(p.value for p in BankPolicy)
        raise InvalidError(f"unknown bank policy {value!r}; choose one of {choices}") from None


def load_mapping(text: str) -> dict[str, str]:
    """The stored mapping (bank code -> local "<scheme>:<code>"); empty when unset."""
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def dump_mapping(mapping: dict[str, str]) -> str:
    """The mapping as stored (sorted, so equal mappings store equal text)."""
    return json.dumps(dict(sorted(mapping.items())), separators=(",", ":"))


def split_classification(value: str) -> tuple[str, str]:
    """("scheme", "code") from "scheme:code"; ("", value) when there is no scheme."""
    scheme, sep, code = value.partition(":")
    return (scheme, code) if sep else ("", value)


@dataclass(frozen=True)
class Decision:
    """What one match may do, with its classification in the local scheme (if known)."""

    policy: BankPolicy  # the effective policy (auto_assess downgraded when unmapped)
    bank_policy: BankPolicy  # the bank's configured policy
    local: str | None  # local "<scheme>:<code>", None when the bank's code has no mapping

    @property
    def auto(self) -> bool:
        """True when this match may assess the item without a human."""
        return self.policy == BankPolicy.AUTO_ASSESS


def local_classification(
    source: BankSource, mapping: dict[str, str], classification: str
) -> str | None:
    """The local classification for a bank entry's, or None when it cannot be trusted."""
    if source == BankSource.OWN:
        return classification if split_classification(classification)[0] else None
    return mapping.get(classification)


def decide(
    policy: BankPolicy, source: BankSource, mapping: dict[str, str], classification: str
) -> Decision:
    """The effective decision for a match: unmapped classifications never auto-assess."""
    local = local_classification(source, mapping, classification)
    effective = policy
    if policy == BankPolicy.AUTO_ASSESS and local is None:
        effective = BankPolicy.REVIEW_WITH_HINT
    return Decision(policy=effective, bank_policy=policy, local=local)
