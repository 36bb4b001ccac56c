"""How many online registrations one address may make: ``KYC_REGISTRATION_RATE`` (20 an hour by default).

Opening an account online needs no login, so nothing else stops a script from opening thousands. DRF's
``SimpleRateThrottle`` keeps the count in the cache (Redis), keyed by the client's address as the audit trail
and django-axes read it (``core.audit.client_ip``: ``REMOTE_ADDR``), an IPv6 one by its /64 as the API's rate
without a login (``core.api.throttles.address_ident``). Behind a proxy that does not pass the
client's address through, every client shares the proxy's, so one bucket holds every registration: raise
``KYC_REGISTRATION_RATE`` there (docs/operations.md; the same known limit as the login lock). The API answers
429 ``throttled``; the page shows the form again with the reason. Every attempt counts, a refused one too; a
request that is no attempt (a GET or OPTIONS of the API's address, answered 405 or its description) does not: it
spent the address's registrations and was then answered 429 instead of 405.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from core.api.throttles import address_ident


class RegistrationThrottle(SimpleRateThrottle):
    scope = "kyc_register"

    def get_rate(self) -> str:
        return settings.KYC_REGISTRATION_RATE

    def get_cache_key(self, request, view) -> str | None:
        if request.method != "POST":  # None: not counted, not refused
            return None
        return self.cache_format % {"scope": self.scope, "ident": address_ident(request)}
