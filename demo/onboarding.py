"""Demo investors: the whole counter onboarding of an investor in one call, through the real services.

Staff member ``maker`` opens the account and fills in the application, a
second staff member ``checker`` approves it. Used by the demo data, the
benchmarks and the tests, so that every investor they make is KYC-approved the
way a real one would be.
"""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import Account, Broker, User
from kyc import services
from kyc.idcard import check_character
from kyc.questionnaire import LEVEL_BOUNDS, QUESTIONS, score

# A one-pixel PNG, standing in for a scanned ID card: a whole one, its chunks' lengths and CRCs right, as an
# upload is checked (the one before had a wrong IDAT length and CRC).
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\x0bIDATx\xdac\xf8\x0f\x04\x00\t\xfb\x03\xfdh\xfa\x1c\xcc\x00\x00\x00\x00IEND\xaeB`\x82"
)


def resident_id(seq: int) -> str:
    """A valid (checksummed) resident ID number, distinct for each ``seq`` below 365,000."""
    day = 1 + (seq // 1000) % 28
    month = 1 + (seq // 28000) % 12
    first17 = f"110105{1980 + seq // 336000:04d}{month:02d}{day:02d}{seq % 1000:03d}"
    return first17 + check_character(first17)


def answers_for_level(level: int) -> dict[str, str]:
    """Questionnaire answers that score to at least ``level`` (5: the top answer everywhere)."""
    if level >= 5:
        return {q["key"]: max(q["options"], key=lambda o: o[2])[0] for q in QUESTIONS}
    best = {q["key"]: max(q["options"], key=lambda o: o[2])[0] for q in QUESTIONS}
    worst = {q["key"]: min(q["options"], key=lambda o: o[2])[0] for q in QUESTIONS}
    answers = dict(worst)
    for q in QUESTIONS:  # raise answers one question at a time until the level is reached
        if score(answers)[1] >= level:
            break
        answers[q["key"]] = best[q["key"]]
    total, got = score(answers)
    assert got >= level and (level == 1 or total > LEVEL_BOUNDS[level - 2])
    return answers


def approved_investor(
    *,
    username: str,
    broker: Broker,
    maker: User,
    checker: User,
    seq: int,
    password: str | None = None,
    real_name: str | None = None,
    level: int = 5,
    qualified: bool = False,
) -> Account:
    identity = services.Identity(
        real_name=real_name or f"Investor {seq}",
        id_type="resident_id",
        id_number=resident_id(seq),
        phone=f"139{seq:08d}",
        address=f"{seq} Renmin Road, Shanghai",
    )
    profile = services.kyc_register(
        username=username, password=password, broker=broker, identity=identity, entered_by=maker
    )
    services.kyc_assess(actor=maker, profile_id=profile.pk, answers=answers_for_level(level))
    if qualified:
        # In Chinese first, as a regional market's counter records it, then in English (the demo's names are so).
        evidence = "金融资产 500 万元以上（银行资产证明） Financial assets over CNY 5m (bank statement)"
        services.kyc_qualify(actor=maker, profile_id=profile.pk, qualified=True, evidence=evidence)
    services.kyc_document_add(
        actor=maker, profile_id=profile.pk, kind="id_front", upload=SimpleUploadedFile("id.png", PNG)
    )
    services.kyc_submit(staff=maker, profile_id=profile.pk)
    services.kyc_approve(staff=checker, profile_id=profile.pk)
    return Account.objects.select_related("broker", "owner").get(owner=profile.user)
