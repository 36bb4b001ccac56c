"""ID documents move from files on the web host into the database, encrypted (DESIGN.md §7).

Before, each upload was a plain file in ``KYC_DOCUMENT_DIR`` on the host that received it: personal data in the
clear, and a document uploaded through one web host could not be opened through another. Each document's file
is now read, checked against the SHA-256 and size its row recorded, and stored in ``content_enc``, encrypted with
the personal-data key ring (``core.crypto``, so ``migrate`` needs the keys) and bound to its document.

A file that is missing, unreadable or whose SHA-256 differs stops the migration, with every such document
named and nothing changed (it runs in one transaction): restore those files from a backup and migrate again.
A document whose file is lost for good must be settled by hand before (uploaded again by the investor, and its
row deleted). The files are left where they are (a migration deletes no one's data): once it has run, and the
database is backed up, ``KYC_DOCUMENT_DIR`` can be deleted (docs/operations.md).

Reversible: going back writes each document's decrypted file into ``KYC_DOCUMENT_DIR`` again (where a file of
the same name is already there, it must hold the same bytes), then drops the column, so the code of before finds
every document, those uploaded since included.
"""

import hashlib
import os
from pathlib import Path

import django.db.models.functions.text
import django.db.models.lookups
from django.conf import settings
from django.db import migrations, models


def _context(document) -> bytes:
    # Frozen copy of kyc.services.document_context, as of this migration.
    return f"kyc_document\x00{document.stored_name}\x00{document.profile_id}\x00{document.sha256}".encode()


def _folder() -> Path:
    return Path(settings.KYC_DOCUMENT_DIR)


def _matches(data: bytes, document) -> bool:
    return len(data) == document.size and hashlib.sha256(data).hexdigest() == document.sha256


def files_into_database(apps, schema_editor):
    from core import crypto

    KycDocument = apps.get_model("kyc", "KycDocument")
    if not KycDocument.objects.exists():
        return
    ring = crypto.ring()
    folder = _folder()
    refused = []
    for document in KycDocument.objects.order_by("pk").iterator(chunk_size=10):
        path = folder / document.stored_name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            refused.append(f"document {document.pk}: {path} is missing")
            continue
        except OSError as exc:
            refused.append(f"document {document.pk}: {path} cannot be read ({exc.strerror})")
            continue
        if not _matches(data, document):
            refused.append(
                f"document {document.pk}: {path} has SHA-256 {hashlib.sha256(data).hexdigest()} and {len(data)}"
                f" bytes, its row {document.sha256} and {document.size}"
            )
            continue
        content = ring.encrypt_bytes(data, context=_context(document))
        KycDocument.objects.filter(pk=document.pk).update(content_enc=content)
    if refused:
        raise RuntimeError(
            f"kyc 0006 moves the ID documents from KYC_DOCUMENT_DIR ({folder}) into the database, and refused "
            f"{len(refused)} of them; nothing was changed:\n  "
            + "\n  ".join(refused)
            + "\nRestore these files from a backup (a file's SHA-256 must be its row's), then migrate again."
        )


def files_out_of_database(apps, schema_editor):
    from core import crypto

    KycDocument = apps.get_model("kyc", "KycDocument")
    if not KycDocument.objects.exists():
        return
    ring = crypto.ring()
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    refused = []
    for document in KycDocument.objects.order_by("pk").iterator(chunk_size=10):
        try:
            data = ring.decrypt_bytes(document.content_enc, context=_context(document))
        except crypto.DecryptionFailed as exc:
            refused.append(f"document {document.pk}: does not decrypt ({exc})")
            continue
        if not _matches(data, document):
            refused.append(f"document {document.pk}: its bytes do not match its SHA-256")
            continue
        path = folder / document.stored_name
        if path.exists():
            if not _matches(path.read_bytes(), document):
                refused.append(f"document {document.pk}: {path} exists and holds other bytes")
            continue
        partial = path.with_name(path.name + ".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        partial.replace(path)
    if refused:
        # The files written so far are exact copies, skipped by the next attempt.
        raise RuntimeError(
            f"kyc 0006 cannot be reversed: {len(refused)} documents cannot be written back to {folder}:\n  "
            + "\n  ".join(refused)
        )


class Migration(migrations.Migration):
    dependencies = [("kyc", "0005_name_masked_check")]

    operations = [
        migrations.AddField(model_name="kycdocument", name="content_enc", field=models.BinaryField(null=True)),
        migrations.RunPython(files_into_database, files_out_of_database),
        migrations.AlterField(model_name="kycdocument", name="content_enc", field=models.BinaryField()),
        migrations.AddConstraint(
            model_name="kycdocument",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    django.db.models.lookups.Exact(
                        django.db.models.functions.text.Substr("content_enc", 1, 2),
                        models.Value(b"d1", output_field=models.BinaryField()),
                    ),
                    django.db.models.lookups.GreaterThanOrEqual(
                        django.db.models.functions.text.Length("content_enc"), 38
                    ),
                ),
                name="kyc_document_encrypted",
            ),
        ),
    ]
