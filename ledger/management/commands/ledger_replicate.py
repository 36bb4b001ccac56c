"""Pull another node's checkpoints and entries, verify them, keep our own copy.

    manage.py ledger_replicate --from https://node.example --token TOKEN --trust-key NAME+HASH+BASE64
    manage.py ledger_replicate --from https://node --username regulator --otp 123456 --trust-source-keys --follow
    manage.py ledger_replicate --from-tiles https://cdn.example/ledger --token TOKEN --trust-key NAME=BASE64

``--trust-key`` takes a verifier key as ``ledger_keys``, the key list and C2SP's signed notes write it
(``name+hash+base64``), or the key's name and its 32 bytes in base64 (``NAME=BASE64``), as the offline verifier's
``--key`` does.

Only supervisors (a regulator, an auditor, the exchange's or depository's operators) read the entries in
bulk, and each logs in with a second factor: ``--otp`` is the current code of the user's authenticator (or
one of their recovery codes), the password ``--password`` or ``REPLICA_PASSWORD``. The login gives an API
token good for ``API_TOKEN_TTL`` (8 hours by default); when it ends, the command exits and says so.

``--from-tiles`` syncs from the C2SP tlog-tiles (``<prefix>/checkpoint`` and ``<prefix>/tile/entries/…``,
which a static server or a CDN may serve) instead of the JSON API; the entry bundles need a supervisor's
token unless the server in front serves them itself.

``--follow`` also compares, each round, the next 500 entries the replica holds (one bundle of 256 from
tiles) with the bytes the source serves now, wrapping to leaf 0 after the last: an entry changed at the
source is found within ceil(N / 500) answered rounds, N the entries held. Where the turn has reached is kept
in the replica's database (``ledger_replicarecheck``): a restarted follower goes on from there, not from
leaf 0. ``--recheck`` first compares every entry held.

Exit status 1, with one line saying why, and nothing stored of the bad block: a rewritten or forked history
or an entry held that the source now serves otherwise (``REFUSED``, naming the first leaf that differs), a
refused login, a token the source refuses (expired or revoked: log in again). With ``--follow``, the source
not answering (a 5xx, a timeout, a lost connection) and the replica's own database going away are logged
and the round is tried again after ``--interval``; without it they end the run too.
"""

from __future__ import annotations

import argparse
import base64
import os
from time import sleep

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.db import InterfaceError, OperationalError, connections

from ledger.models import ReplicaKey
from ledger.replica import (
    RECHECK_PAGE,
    RECHECK_PAGE_TILES,
    LoginRefused,
    RecheckResult,
    ReplicationRefused,
    SourceAccessDenied,
    SourceUnavailable,
    http_fetcher,
    http_tile_fetcher,
    http_token,
    replica_recheck,
    replica_recheck_round,
    replica_recheck_round_tiles,
    replica_recheck_tiles,
    replica_sync,
    replica_sync_tiles,
    trust_keys,
)
from ledger.verifier import load_trusted


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """``--help`` shows the docstring as written: its example commands one a line."""


class Command(BaseCommand):
    help = __doc__

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = _HelpFormatter
        return parser

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--from", dest="url", help="the source node's base URL (its JSON API)")
        source.add_argument(
            "--from-tiles", dest="tiles", help="the source's tlog-tiles prefix, e.g. https://node.example/ledger"
        )
        parser.add_argument("--token", default=os.environ.get("REPLICA_TOKEN"), help="API token (or REPLICA_TOKEN)")
        parser.add_argument("--username", help="log in as this user (a regulator or auditor) instead of --token")
        parser.add_argument("--password", default=os.environ.get("REPLICA_PASSWORD"), help="(or REPLICA_PASSWORD)")
        parser.add_argument(
            "--otp",
            help="with --username: the current code of the user's authenticator (or a recovery code); every "
            "role that may read the ledger logs in with a second factor",
        )
        parser.add_argument(
            "--trust-key",
            action="append",
            default=[],
            help="a verifier key name+hash+base64, or NAME=BASE64 (repeatable)",
        )
        parser.add_argument(
            "--trust-source-keys",
            action="store_true",
            help="on first use, trust the keys the source publishes (trust on first use)",
        )
        parser.add_argument(
            "--follow",
            action="store_true",
            help=f"keep pulling every --interval seconds; each round also compares {RECHECK_PAGE} of the entries "
            f"held ({RECHECK_PAGE_TILES} from tiles) with the source's, in turn",
        )
        parser.add_argument(
            "--recheck",
            action="store_true",
            help="first compare every entry this replica holds with the bytes the source serves now",
        )
        parser.add_argument("--interval", type=float, default=2.0)

    def handle(
        self,
        *args,
        url,
        tiles,
        token,
        username,
        password,
        otp,
        trust_key,
        trust_source_keys,
        follow,
        interval,
        recheck,
        **kw,
    ):
        source = (url or tiles).rstrip("/")
        if tiles and trust_source_keys:
            raise CommandError("tiles publish no key list: give the source's keys with --trust-key")
        if not token and not tiles:
            if not (username and password):
                raise CommandError("give --token, or --username, --password and --otp")
            token = self._log_in(source, username, password, otp)
        if tiles:
            fetch_tiles = http_tile_fetcher(source, token)

            def sync():
                return replica_sync_tiles(source=source, fetch=fetch_tiles)

            def compare_all() -> RecheckResult:
                return replica_recheck_tiles(source=source, fetch=fetch_tiles)

            def compare_next() -> RecheckResult:
                return replica_recheck_round_tiles(source=source, fetch=fetch_tiles, limit=RECHECK_PAGE_TILES)
        else:
            fetch = http_fetcher(source, token)

            def sync():
                return replica_sync(source=source, fetch=fetch)

            def compare_all() -> RecheckResult:
                return replica_recheck(source=source, fetch=fetch)

            def compare_next() -> RecheckResult:
                return replica_recheck_round(source=source, fetch=fetch, limit=RECHECK_PAGE)

        # As the offline verifier's --key reads them: a verifier key (name+hash+base64, what `ledger_keys` and the
        # key list print, the form C2SP's notes use) or NAME=BASE64.
        try:
            keys = [(name, public, None) for name, public, _ in load_trusted(trust_key, None, required=False)]
        except SystemExit as exc:
            message = str(exc)
            if "cosignature/v1" in message:  # the verifier's advice (--witness) is not this command's
                message = message.split(";")[0] + ", not the log's: give the log's own key"
            raise CommandError(message.replace("--key", "--trust-key")) from None

        def trust() -> None:
            if trust_source_keys and not ReplicaKey.objects.filter(source=source).exists():
                published = fetch("keys/")
                keys.extend(
                    (k["name"], base64.b64decode(k["public_key"]), k.get("retired_in_block")) for k in published
                )
                self.stdout.write(f"trusting {len(published)} key(s) published by {source} (first use)")
            trust_keys(source, keys)

        trusted, rechecked = False, not recheck
        while True:
            try:
                if not trusted:
                    trust()
                    trusted = True
                # Before the sync, so that a round that finds a rewritten entry stores nothing new.
                if not rechecked:
                    compared = compare_all().compared
                    rechecked = True
                    self.stdout.write(f"rechecked {compared} entries: the source serves them as this replica holds")
                elif follow:  # one page a round, round-robin over the entries held, from where it last stopped
                    compare_next()
                result = sync()
            except ReplicationRefused as exc:
                self.stderr.write(self.style.ERROR(f"REFUSED: {exc}"))
                raise CommandError(f"replication from {source} refused: {exc}") from exc
            except SourceAccessDenied as exc:
                # Not transient: the same token will be refused every time, so say it and stop.
                raise CommandError(_access_refused(exc, token=token)) from exc
            except SourceUnavailable as exc:
                if not follow:
                    raise CommandError(f"source unavailable: {exc}") from exc
                self.stderr.write(f"source unavailable, retrying: {exc}")
            except DATABASE_LOST as exc:
                # Our own database restarted or dropped the connection: a new one is opened at the next query.
                # A block being stored was rolled back with the connection, so the next round fetches it again.
                connections.close_all()
                reason = _one_line(exc)
                if not follow:
                    raise CommandError(f"the replica's database is unavailable: {reason}") from exc
                self.stderr.write(f"the replica's database is unavailable, retrying: {reason}")
            else:
                if result.blocks or not follow:
                    self.stdout.write(
                        f"replicated {result.blocks} block(s), {result.entries} entries; "
                        f"holding height {result.height}, tree size {result.tree_size}"
                    )
            if not follow:
                return
            sleep(interval)

    def _log_in(self, source: str, username: str, password: str, otp: str | None) -> str:
        try:
            return http_token(source, username, password, otp)
        except LoginRefused as exc:
            hint = {
                "otp_required": " Give the current code of the user's authenticator with --otp.",
                "otp_invalid": " Give the code the authenticator shows now with --otp.",
            }.get(exc.code or "", "")
            raise CommandError(f"the source refused the login of {username}: {exc}{hint}") from exc
        except SourceUnavailable as exc:
            raise CommandError(f"source unavailable: {exc}") from exc


def _access_refused(exc: SourceAccessDenied, *, token: str | None) -> str:
    if not token:
        return f"the source wants a token ({exc}): give a supervisor's with --token (or REPLICA_TOKEN)"
    if exc.status == 403:
        return (
            f"the source does not let this token's user read the ledger ({exc}): use a regulator's or auditor's account"
        )
    return (
        f"the source refused the token ({exc}): it has expired (API_TOKEN_TTL, 8 hours by default) or was "
        "revoked. Get a new one: run again with --username, --password and --otp (the current code of the "
        "user's authenticator), or pass one from POST /api/v1/auth/token/ with --token"
    )


# A lost connection (a restart, a failover, a terminated session) is an OperationalError; the next use of the
# dead connection, an InterfaceError ("connection already closed").
DATABASE_LOST = (OperationalError, InterfaceError)


def _one_line(exc: Exception) -> str:
    """psycopg's message has a hint on further lines (``This probably means the server terminated …``)."""
    return " ".join(str(exc).split()) or type(exc).__name__
