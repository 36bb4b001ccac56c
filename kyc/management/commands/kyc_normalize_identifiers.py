"""Normalize the ID numbers and phones stored before identifiers were normalized (one form, one blind index).

Run once after upgrading; running it again changes nothing. Profiles whose stored identity is invalid even
normalized are listed by id for staff to review; they are left as they are.
"""

from django.core.management.base import BaseCommand

from kyc.services import kyc_identifiers_normalize


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        result = kyc_identifiers_normalize()
        self.stdout.write(self.style.SUCCESS(f"{len(result.rewritten)} KYC records normalized"))
        if result.refused:
            ids = ", ".join(map(str, result.refused))
            self.stdout.write(self.style.WARNING(f"{len(result.refused)} records to review (invalid identity): {ids}"))
