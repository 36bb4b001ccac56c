"""The API's message rates per participant (``REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]``), as an exchange limits
each member's messages: one limit a logged-in user (by token or session, the same count) for each kind of request,
and one an address for the requests made without a login.

| scope | what counts | rate (setting) |
|---|---|---|
| ``trading`` | a write to orders, quotes, requests for quote, negotiated transfers | ``API_RATE_TRADING`` |
| ``write`` | any other write (POST, PUT, PATCH, DELETE) | ``API_RATE_WRITE`` |
| ``read`` | a GET, HEAD or OPTIONS | ``API_RATE_READ`` |
| ``anon`` | no login (the login, the ledger's public reads), by address (``address_ident``) | ``API_RATE_ANON`` |

A view whose writes are trading says so: ``throttle_scope = "trading"``.

Rates are "N/second|minute|hour|day", as ``KYC_REGISTRATION_RATE`` (kyc.throttles, which online registration keeps
in place of this one). A request over its rate is answered 429 ``throttled`` with ``Retry-After`` before its view
runs: nothing is written, and it may be sent again (an idempotency key makes that safe).

DRF's ``SimpleRateThrottle`` (its rates, scopes, cache keys and 429) with one step of its own: the count.
DRF keeps a list of the request times of the window (a sliding log) and reads then writes it back whole, two round
trips to Redis and a list as long as the rate (100 a second: 100 timestamps unpickled and pickled on every request).
Here one ``EVAL`` counts the request, starts the window with the first and reads what is left of it: one round trip,
atomic, a few bytes. The window is fixed (from a scope's first request to ``duration`` later), so a client can
send up to twice the rate across one window's end, never more; the limits are there against a runaway system, not
as a fine pacing. A refused request counts too, but never prolongs the window. Redis unreachable: the request goes
through, and those after it for ``PAUSE_AFTER_FAILURE`` (logged once), as trading must not stop with the cache;
with another cache than Redis DRF's own count is used.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from weakref import WeakKeyDictionary

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import RequestDataTooBig
from django.utils.translation import gettext, ngettext
from rest_framework import exceptions as drf
from rest_framework.throttling import SimpleRateThrottle

from core.audit import SAFE_METHODS, client_ip
from core.errors import DomainError

log = logging.getLogger(__name__)

TRADING = "trading"
RATE_SETTINGS = {
    TRADING: "API_RATE_TRADING",
    "write": "API_RATE_WRITE",
    "read": "API_RATE_READ",
    "anon": "API_RATE_ANON",
}

# KEYS[1] the count, ARGV[1] the window in seconds, ARGV[2] what the request counts for (a batch: its orders):
# the count after this request, and the window's milliseconds left.
_COUNT = """
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  left = ARGV[1] * 1000
end
return {n, left}
"""
# A count without an expiry (the first request's, or one left by anything else) gets one: a key that never expired
# would refuse its user for good.

# Redis out of reach: requests go through uncounted for this long before it is tried again, so that a Redis that
# does not answer (a client's socket timeout, seconds) slows one request a process in that time, not every one;
# the warning is logged once a pause.
PAUSE_AFTER_FAILURE = 10.0
_paused_until = float("-inf")


def address_ident(request) -> str:
    """The address a request without a login counts against: ``REMOTE_ADDR`` (``core.audit.client_ip``), an IPv6
    one by its /64. One client holds a whole /64 (a subscriber's, a host's): counted by the full address, it sent
    each request from a new one of its 2^64 addresses and was never limited."""
    ip = client_ip(request)
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:  # not an address (a test client's, a proxy's odd REMOTE_ADDR): counted as it is
        return ip
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))


def scope_of(request, view) -> str:
    """The rate a request counts against (the table above)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return "anon"
    if request.method in SAFE_METHODS:
        return "read"
    return TRADING if getattr(view, "throttle_scope", None) == TRADING else "write"


class RateLimited(drf.Throttled):
    """429 ``throttled``: the scope's rate is spent; ``wait``: the seconds left of its window (``Retry-After``)."""

    def __init__(self, *, scope: str, rate: str, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        what = {
            TRADING: gettext(
                "Too many trading requests (orders, quotes, requests for quote, negotiated transfers) from this "
                "user: the limit is %(rate)s."
            ),
            "write": gettext("Too many write requests from this user: the limit is %(rate)s."),
            "read": gettext("Too many read requests from this user: the limit is %(rate)s."),
            "anon": gettext("Too many requests without a login from this address: the limit is %(rate)s."),
        }[scope] % {"rate": rate}
        again = ngettext(
            "Nothing was done; try again in %(seconds)d second.",
            "Nothing was done; try again in %(seconds)d seconds.",
            seconds,
        ) % {"seconds": seconds}
        super().__init__(detail=f"{what} {again}")  # not DRF's "Expected available in…", which is never translated
        self.wait = seconds


class ApiRateThrottle(SimpleRateThrottle):
    cache_format = "throttle:%(scope)s:%(ident)s"

    def __init__(self) -> None:  # the rate is the request's scope's, chosen in allow_request
        self.cache = caches["default"]  # the cache itself, where DRF's ``cache`` is a proxy to it
        self.wait_seconds = 0.0

    def get_rate(self) -> str:
        return getattr(settings, RATE_SETTINGS[self.scope])

    def get_cache_key(self, request, view) -> str:
        if self.scope == "anon":
            ident = address_ident(request)
        else:
            ident = request.user.pk
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        self.scope = scope_of(request, view)
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if not isinstance(self.cache, RedisCache):
            return super().allow_request(request, view)
        global _paused_until
        if time.monotonic() < _paused_until:
            return True
        key = self.cache.make_key(self.get_cache_key(request, view))
        try:
            weight, unreadable = self.weight(request, view), None
        except (drf.APIException, DomainError, RequestDataTooBig) as exc:
            # A body the weight could not be read from (not JSON, malformed, too large, another media type): the
            # request counts as one, and its error is the answer once it is within the rate (or Redis is out of
            # reach). Raised before the count, it went uncounted (a runaway client's bad bodies were never
            # limited); and the view cannot raise it again, as DRF leaves an empty body after a failed parse
            # ("orders: required" in place of the cause).
            weight, unreadable = 1, exc
        try:
            count, left_ms = _counted(self.cache, key, self.duration, weight)
        except redis.RedisError as exc:
            _paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
            log.warning(
                "API rates not counted for %.0f s (Redis unreachable: %s); requests let through",
                PAUSE_AFTER_FAILURE,
                exc,
            )
            count = left_ms = 0
        if count <= self.num_requests:
            if unreadable is not None:
                raise unreadable
            return True
        self.wait_seconds = max(left_ms, 0) / 1000 or self.duration
        # Raised, not returned False: DRF's own 429 would name neither the scope nor its rate.
        raise RateLimited(scope=self.scope, rate=self.rate, wait=self.wait_seconds)

    def weight(self, request, view) -> int:
        """What the request counts for: 1, or what its view says (``throttle_weight(request)``: a batch of orders,
        each a trading message), never more than the whole rate, so that a batch the rate allows at all can pass."""
        weigh = getattr(view, "throttle_weight", None)
        return max(1, min(weigh(request) if weigh else 1, self.num_requests))

    def wait(self) -> float | None:
        if not isinstance(self.cache, RedisCache):
            return super().wait()
        return self.wait_seconds


# The cache's Redis client, one per cache object (a thread's): Django's ``get_client`` builds a new one on every
# call, which took about as long as the round trip itself (0.18 ms).
_clients: WeakKeyDictionary = WeakKeyDictionary()


def _counted(cache: RedisCache, key: str, duration: int, weight: int = 1) -> tuple[int, int]:
    client = _clients.get(cache)
    if client is None:
        client = _clients[cache] = cache._cache.get_client(write=True)
    count, left_ms = client.eval(_COUNT, 1, key, duration, weight)
    return int(count), int(left_ms)
