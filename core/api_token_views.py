"""The user's API tokens page (``settings/api-tokens/``, core.tokens): the tokens that still work, a form to
create a named system token (its key shown once, with a copy button), and revocation with a confirmation.

Every signed-in user may use the API, so every one has the page (staff once past the second factor, as for
every page). Creating here is the web session's privilege: the API refuses a token that asks for a token.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import errors as err
from . import tokens
from .audit import client_ip
from .forms import IntegerField
from .settings_forms import CurrentPasswordMixin, current_password
from .settings_views import wrong_password

BIGINT_MAX = 2**63 - 1


class ApiTokenForm(CurrentPasswordMixin, forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=tokens.NAME_MAX_LENGTH,
        help_text=gettext_lazy("What the token is for, such as the back-office system that will use it."),
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        top = settings.API_TOKEN_MAX_DAYS  # read now: the operator's setting, not the one at import
        self.fields["days"] = IntegerField(
            label=gettext("Lifetime (days)"),
            min_value=1,
            max_value=top,
            initial=min(30, top),
            help_text=gettext("From 1 to %(max)s days.") % {"max": top},
            # The form's own words, not Django's generic bound (found by a probe).
            error_messages={
                key: gettext("The lifetime is a whole number of days from 1 to %(max)s.") % {"max": top}
                for key in ("min_value", "max_value", "invalid")
            },
        )
        # The password again, as a change of email or password asks for it: a session taken over would otherwise
        # mint itself a key that outlives the session's logout (found by a review).
        self.fields["password"] = current_password()


def _page(request, form: ApiTokenForm, created: tokens.Issued | None = None, status: int = 200):
    context = {
        "form": form,
        "tokens": [(t, tokens.token_expires_at(t)) for t in tokens.tokens_live(user=request.user)],
        "created": created,
    }
    return render(request, "core/api_tokens.html", context, status=status)


@never_cache
@login_required
def api_tokens(request):
    if request.method != "POST":
        return _page(request, ApiTokenForm(user=request.user))
    form = ApiTokenForm(request.POST, user=request.user)
    if not form.is_valid():
        if form.wrong_password and (ended := wrong_password(request, "api_token")) is not None:
            return ended
        return _page(request, form, status=400)
    try:
        created = tokens.token_create(
            user=request.user, name=form.cleaned_data["name"], days=form.cleaned_data["days"], ip=client_ip(request)
        )
    except err.DomainError as exc:
        form.add_error(None, exc.message)
        return _page(request, form, status=exc.status)
    # The key is in this answer only (no-store, as every signed-in page): reloading the page does not show it.
    return _page(request, ApiTokenForm(user=request.user), created=created)


@never_cache
@login_required
@require_POST
def api_token_revoke(request, token_id: int):
    try:
        if token_id > BIGINT_MAX:  # no such row, and beyond PostgreSQL's bigint
            raise err.NotFound(gettext("There is no such API token of yours, or it has already ended."))
        token = tokens.token_revoke(
            user=request.user, token_id=token_id, reason="page", actor=request.user, ip=client_ip(request)
        )
    except err.NotFound as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, gettext("The token “%(name)s” is revoked.") % {"name": token.name})
    return redirect("api-tokens-page")
