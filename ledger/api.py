"""Ledger API: checkpoints, blocks, entries, proofs, keys (DESIGN.md §4, §8).

Hashes travel as hex, bytes (canonical entries, signatures, public keys) as
base64. Anyone signed in may read checkpoints and proofs (they are hashes
only); the bytes of an entry are shown to supervisors and to the parties of
the trade it records.
"""

from __future__ import annotations

import base64

from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core.api.pagination import BIGINT_MAX, whole_param, whole_parameter
from core.api.schema import ErrorSerializer
from core.permissions import require_role
from core.roles import SUPERVISORS

from . import checkpoint, hooks, selectors, witnessing
from .models import Block, EntryKind, Leaf, SigningKey
from .services import signed_note


class NotSealed(err.DomainError):
    code = "not_sealed"
    status = 409
    default_message = gettext_lazy("The entry is not sealed in a block yet.")


class NotACheckpoint(err.DomainError):
    code = "not_a_checkpoint"
    status = 400
    default_message = gettext_lazy("No signed checkpoint has that tree size.")


class LeafNotInTree(err.DomainError):
    """A signed checkpoint, but of a tree that ends before the leaf: its own code, not ``not_a_checkpoint`` (found
    by an outside tester: tree size 388 for leaf 388 was told it was no checkpoint)."""

    code = "leaf_not_in_tree"
    status = 400
    default_message = gettext_lazy("That checkpoint's tree does not contain the leaf.")


PROOF_ERRORS = {
    400: OpenApiResponse(
        ErrorSerializer,
        description=(
            "`not_a_checkpoint`: no signed checkpoint has that tree_size; `leaf_not_in_tree`: the checkpoint of that "
            "tree_size does not contain the leaf (tree_size ≤ its leaf index); or a malformed parameter."
        ),
    ),
    404: ErrorSerializer,
    409: OpenApiResponse(ErrorSerializer, description="`not_sealed`: the entry is not sealed in a block yet."),
}


def _b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode()


def size_param(request, name: str, default: int | None = None) -> int | None:
    """A leaf index, a height or a tree size from the query string (``default`` when absent); a 400 otherwise."""
    return whole_param(request, name, 0, BIGINT_MAX, default)


# --------------------------------------------------------------------------
# The shapes of the answers, for the schema (the views build their JSON with block_json, entry_json, …)


class SignatureOutput(serializers.Serializer):
    key_id = serializers.CharField()
    name = serializers.CharField()
    signature = serializers.CharField(help_text="base64")


class BlockOutput(serializers.Serializer):
    height = serializers.IntegerField()
    first_leaf_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    root = serializers.CharField(help_text="hex")
    prev_hash = serializers.CharField(help_text="hex")
    block_hash = serializers.CharField(help_text="hex")
    sealed_at = serializers.DateTimeField()
    checkpoint = serializers.CharField(help_text="the signed note")


class BlockFullOutput(BlockOutput):
    header = serializers.CharField(help_text="base64")
    signatures = SignatureOutput(many=True)


class BlockListOutput(serializers.Serializer):
    results = BlockFullOutput(many=True)


class EntryOutput(serializers.Serializer):
    leaf_index = serializers.IntegerField()
    leaf_hash = serializers.CharField(help_text="hex")
    block_height = serializers.IntegerField()
    entry_id = serializers.IntegerField(required=False, help_text="only for whoever may read the entry")
    kind = serializers.ChoiceField(
        choices=EntryKind.choices, required=False, help_text="only for whoever may read the entry"
    )
    recorded_at = serializers.DateTimeField(required=False, help_text="only for whoever may read the entry")
    canonical = serializers.CharField(required=False, help_text="base64; only for whoever may read the entry")


class EntryFullOutput(serializers.Serializer):
    leaf_index = serializers.IntegerField()
    leaf_hash = serializers.CharField(help_text="hex")
    block_height = serializers.IntegerField()
    entry_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=EntryKind.choices)
    recorded_at = serializers.DateTimeField()
    canonical = serializers.CharField(help_text="base64")


class EntryListOutput(serializers.Serializer):
    results = EntryFullOutput(many=True)


class KeyOutput(serializers.Serializer):
    key_id = serializers.CharField()
    name = serializers.CharField()
    algorithm = serializers.ChoiceField(choices=["ed25519"])
    public_key = serializers.CharField(help_text="base64")
    status = serializers.ChoiceField(choices=SigningKey.Status.choices)
    local = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    retired_in_block = serializers.IntegerField(allow_null=True)
    verifier_key = serializers.CharField(
        allow_null=True,
        help_text="C2SP signed-note verifier key <name>+<key hash hex>+<base64(0x01 ‖ public key)>, "
        "as golang.org/x/mod/sumdb/note reads it (null for a name the format cannot carry)",
    )


class InclusionOutput(serializers.Serializer):
    type = serializers.ChoiceField(choices=["inclusion"])
    leaf_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    leaf_hash = serializers.CharField(help_text="hex")
    proof = serializers.ListField(child=serializers.CharField(), help_text="hex hashes")
    checkpoint = serializers.CharField()
    keys = KeyOutput(many=True)
    entry = serializers.CharField(required=False, help_text="base64; only for whoever may read the entry")


class ConsistencyOutput(serializers.Serializer):
    type = serializers.ChoiceField(choices=["consistency"])
    to = serializers.IntegerField()
    proof = serializers.ListField(child=serializers.CharField(), help_text="hex hashes")
    from_checkpoint = serializers.CharField()
    to_checkpoint = serializers.CharField()

    def get_fields(self):
        # "from" is a Python keyword, so it cannot be a class attribute.
        fields = super().get_fields()
        return {"type": fields.pop("type"), "from": serializers.IntegerField(), **fields}


def block_json(block: Block, *, full: bool = False) -> dict:
    out = {
        "height": block.height,
        "first_leaf_index": block.first_leaf_index,
        "tree_size": block.tree_size,
        "root": bytes(block.root).hex(),
        "prev_hash": bytes(block.prev_hash).hex(),
        "block_hash": bytes(block.block_hash).hex(),
        "sealed_at": block.sealed_at,
        "checkpoint": signed_note(block),
    }
    if full:
        out["header"] = _b64(block.header)
        signatures = getattr(block, "signatures_by_key_id", None)  # prefetched by selectors.blocks_signed
        if signatures is None:
            signatures = block.signatures.select_related("key").order_by("key_id")
        out["signatures"] = [
            {"key_id": s.key_id, "name": s.key.name, "signature": _b64(s.signature)} for s in signatures
        ]
    return out


def checkpoint_block(tree_size: int | None) -> Block:
    if tree_size is None:
        block = selectors.head()
        if block is None:
            raise NotSealed(gettext("Nothing is sealed yet."))
        return block
    block = selectors.block_at_size(tree_size)
    if block is None:
        raise NotACheckpoint()
    return block


class HeadApi(APIView):
    """The latest signed checkpoint."""

    @extend_schema(responses={200: BlockOutput, 409: ErrorSerializer})
    def get(self, request):
        return Response(block_json(checkpoint_block(None)))


class BlockListApi(APIView):
    @extend_schema(
        parameters=[
            whole_parameter("after", 0, BIGINT_MAX),
            whole_parameter("limit", 1, 1000, "blocks (100 unless given)"),
        ],
        responses={200: BlockListOutput, 400: ErrorSerializer},
        operation_id="ledger_blocks_list",
    )
    def get(self, request):
        after = size_param(request, "after")
        limit = whole_param(request, "limit", 1, 1000, 100)
        blocks = Block.objects.order_by("height")
        if after is not None:
            blocks = blocks.filter(height__gt=after)
        return Response({"results": [block_json(b, full=True) for b in selectors.blocks_signed(blocks[:limit])]})


class BlockDetailApi(APIView):
    @extend_schema(responses={200: BlockFullOutput, 404: ErrorSerializer})
    def get(self, request, height):
        block = Block.objects.filter(height=height).first()
        if block is None:
            raise err.NotFound(gettext("No such block."))
        return Response(block_json(block, full=True))


def may_read_entry(user, entry_id: int) -> bool:
    """Supervisors read every entry; anyone else what an app above grants (``ledger.hooks.entry_readers``:
    the parties of a trade read its TRADE entry, its gross SETTLEMENT entry and its holds, releases and
    refusals). A net batch's entry lists every participant's position, so only supervisors read it."""
    if user.role in SUPERVISORS:
        return True
    return any(reader(user, entry_id) for reader in hooks.entry_readers)


def entry_json(leaf: Leaf, *, with_bytes: bool) -> dict:
    """A leaf as the reader may see it. Whoever may not read the entry's bytes gets only what checking its
    inclusion needs (index, salted leaf hash, block): not its kind, time or database id, which would say who
    did what when (docs/ledger.md, "Privacy")."""
    entry = leaf.entry
    out = {
        "leaf_index": leaf.leaf_index,
        "leaf_hash": bytes(entry.leaf_hash).hex(),
        "block_height": leaf.block_id,
    }
    if with_bytes:
        out.update(entry_id=entry.pk, kind=entry.kind, recorded_at=entry.recorded_at, canonical=_b64(entry.canonical))
    return out


class EntryDetailApi(APIView):
    @extend_schema(responses={200: EntryOutput, 404: ErrorSerializer})
    def get(self, request, index):
        leaf = Leaf.objects.select_related("entry").filter(leaf_index=index).first()
        if leaf is None:
            raise err.NotFound(gettext("No entry has that leaf index."))
        return Response(entry_json(leaf, with_bytes=may_read_entry(request.user, leaf.entry_id)))


class EntryListApi(APIView):
    """Entries in leaf order, for replicas and auditors."""

    @extend_schema(
        parameters=[
            whole_parameter("from", 0, BIGINT_MAX),
            whole_parameter("limit", 1, 5000, "entries (500 unless given)"),
        ],
        responses={200: EntryListOutput, 400: ErrorSerializer, 403: ErrorSerializer},
        operation_id="ledger_entries_list",
    )
    def get(self, request):
        require_role(request.user, SUPERVISORS, gettext("Only supervisors and replicas read the ledger in bulk."))
        start = size_param(request, "from", 0)
        limit = whole_param(request, "limit", 1, 5000, 500)
        leaves = Leaf.objects.select_related("entry").filter(leaf_index__gte=start).order_by("leaf_index")[:limit]
        return Response({"results": [entry_json(leaf, with_bytes=True) for leaf in leaves]})


def inclusion_bundle(leaf: Leaf, block: Block, *, with_bytes: bool) -> dict:
    """Everything an offline verifier needs: the checkpoint, the leaf, its proof, the node's keys."""
    if block.tree_size <= leaf.leaf_index:
        raise LeafNotInTree(
            gettext(
                "The checkpoint of tree size %(size)s does not contain leaf %(leaf)s: its leaves are 0 to %(last)s."
            )
            % {"size": block.tree_size, "leaf": leaf.leaf_index, "last": block.tree_size - 1}
        )
    proof = selectors.inclusion_proof(leaf.leaf_index, block.tree_size)
    bundle = {
        "type": "inclusion",
        "leaf_index": leaf.leaf_index,
        "tree_size": block.tree_size,
        "leaf_hash": bytes(leaf.entry.leaf_hash).hex(),
        "proof": [h.hex() for h in proof],
        "checkpoint": signed_note(block),
        "keys": keys_json(),
    }
    if with_bytes:
        bundle["entry"] = _b64(leaf.entry.canonical)
    return bundle


class EntryProofApi(APIView):
    @extend_schema(
        parameters=[whole_parameter("tree_size", 0, BIGINT_MAX, "prove against this checkpoint (default: the newest)")],
        responses={200: InclusionOutput, **PROOF_ERRORS},
    )
    def get(self, request, index):
        tree_size = size_param(request, "tree_size")  # a bad parameter is a 400 before anything is looked up
        leaf = Leaf.objects.select_related("entry").filter(leaf_index=index).first()
        if leaf is None:
            raise err.NotFound(gettext("No entry has that leaf index."))
        block = checkpoint_block(tree_size)
        return Response(inclusion_bundle(leaf, block, with_bytes=may_read_entry(request.user, leaf.entry_id)))


class ConsistencyApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX}, required=True),
            whole_parameter("to", 0, BIGINT_MAX, "the latest checkpoint unless given"),
        ],
        responses={200: ConsistencyOutput, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def get(self, request):
        old_size, new_size = size_param(request, "from"), size_param(request, "to")
        if old_size is None or old_size == 0:
            raise err.InvalidInput(gettext("from must be the tree size of a checkpoint (at least 1)."))
        old = checkpoint_block(old_size)
        new = checkpoint_block(new_size)
        if new.tree_size < old.tree_size:
            raise err.InvalidInput(gettext("to must not be smaller than from."))
        proof = selectors.consistency_proof(old.tree_size, new.tree_size)
        return Response(
            {
                "type": "consistency",
                "from": old.tree_size,
                "to": new.tree_size,
                "proof": [h.hex() for h in proof],
                "from_checkpoint": signed_note(old),
                "to_checkpoint": signed_note(new),
            }
        )


def _verifier_key(key: SigningKey) -> str | None:
    if not checkpoint.valid_key_name(key.name):
        return None
    return checkpoint.verifier_key(key.name, bytes(key.public_key))


def keys_json() -> list[dict]:
    return [
        {
            "key_id": k.key_id,
            "name": k.name,
            "algorithm": "ed25519",
            "public_key": _b64(k.public_key),
            "status": k.status,
            "local": k.local,
            "created_at": k.created_at.isoformat(),
            "retired_in_block": k.retired_in_block,
            "verifier_key": _verifier_key(k),
        }
        for k in SigningKey.objects.order_by("created_at", "key_id")
    ]


class WitnessOutput(serializers.Serializer):
    name = serializers.CharField()
    verifier_key = serializers.CharField(help_text="C2SP verifier key of type 0x04 (cosignature/v1)")
    cosigned_size = serializers.IntegerField(help_text="the tree size it last co-signed")


class WitnessesOutput(serializers.Serializer):
    final_cosignatures = serializers.IntegerField(help_text="how many witness co-signatures make a checkpoint final")
    final_tree_size = serializers.IntegerField(allow_null=True, help_text="the newest final checkpoint's tree size")
    witnesses = WitnessOutput(many=True)


class WitnessListApi(APIView):
    """The witnesses that co-sign this ledger's checkpoints, and how far the checkpoints are final. Public, as
    the checkpoint and the tiles are: a verifier needs the witnesses' keys to check the cosignatures."""

    permission_classes = [AllowAny]

    @extend_schema(responses=WitnessesOutput)
    def get(self, request):
        height = witnessing.final_height()
        block = selectors.block_at_height(height) if height is not None else None
        return Response(
            {
                "final_cosignatures": witnessing.required(),
                "final_tree_size": block.tree_size if block else None,
                "witnesses": [
                    {"name": w["name"], "verifier_key": w["verifier_key"], "cosigned_size": w["cosigned_size"]}
                    for w in witnessing.status()
                ],
            }
        )


class KeyListApi(APIView):
    """The ledger's signing keys (verifier-key strings, with their history). Public, as the checkpoint and the
    tiles are (C2SP: keys are published): without them no one outside could check a checkpoint's signature."""

    permission_classes = [AllowAny]

    @extend_schema(responses=KeyOutput(many=True))
    def get(self, request):
        return Response(keys_json())
