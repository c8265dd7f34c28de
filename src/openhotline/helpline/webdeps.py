"""Web helpers of the helpline: its cipher and taxonomy, and reading the contact form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData

from openhotline.helpline.crypto import FieldCipher
from openhotline.helpline.schemas import ContactBase
from openhotline.helpline.taxonomy import Taxonomy
from openhotline.web.deps import services_of

LIST_FIELDS = frozenset({"categories", "referrals", "resources"})
BOOL_FIELDS = frozenset({"immediate_risk"})
OPTIONAL_FIELDS = frozenset({"age_band", "gender", "region", "caller_name", "caller_contact"})
FORM_ONLY = frozenset({"csrf_token", "mode"})


def get_cipher(request: Request) -> FieldCipher:
    """Return the helpline's field cipher (wired in app.py)."""
    return services_of(request).helpline_cipher


def get_taxonomy(request: Request) -> Taxonomy:
    """Return the helpline taxonomy (wired in app.py)."""
    return services_of(request).helpline_taxonomy


CipherDep = Annotated[FieldCipher, Depends(get_cipher)]
TaxonomyDep = Annotated[Taxonomy, Depends(get_taxonomy)]


def contact_input_of_form(form: FormData) -> dict[str, Any]:
    """Turn the posted form into raw contact input; unknown fields are kept (and refused)."""
    raw: dict[str, Any] = {}
    for key in dict.fromkeys(form.keys()):
        if key in FORM_ONLY:
            continue
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        if key in LIST_FIELDS:
            raw[key] = [v for v in values if v]
        elif key in BOOL_FIELDS:
            raw[key] = any(v for v in values)
        else:
            value = values[-1] if values else ""
            raw[key] = None if (key in OPTIONAL_FIELDS and not value.strip()) else value
    return raw


def form_values(data: dict[str, Any]) -> dict[str, Any]:
    """Values to refill the form with after an error."""
    base: dict[str, Any] = dict.fromkeys(ContactBase.model_fields, "")
    base.update({"categories": [], "referrals": [], "resources": [], "immediate_risk": False})
    base.update({k: v for k, v in data.items() if v is not None})
    return base
