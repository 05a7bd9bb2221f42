"""The seeded Coursera catalog: ``contents`` elements exactly as the simulator serves them.

Everything derives from ``(world.seed, index)``, so a world always has the same catalog. The
proportions (languages, content types, partners, durations) imitate a large Coursera for Business
tenant, and a small deterministic share of items carry the defects the mapping must cope with
(docs/simulators.md#data-generators): a blank name, no program (so no launch URL), an empty
description, a ``definition`` without its optional keys, an unknown ``contentType``, a language
360Learning does not support. Item ``i`` is an edge item when ``i % 50 == 17``; the kind cycles
through :data:`EDGE_KINDS`, so any catalog of 300 items or more has every kind.
"""

from __future__ import annotations

import re
from typing import Any

from learnsync.sandbox.world import World, coursera_id, fraction

# (code, weight): `en` dominates; region variants included; the last three (~1 %) are languages
# 360Learning does not support (docs/api-notes.md#language-codes), to exercise
# `unsupported_language`.
LANGUAGES: list[tuple[str, float]] = [
    ("en", 60.0), ("es", 8.0), ("fr", 4.5), ("pt-BR", 4.0), ("de", 3.0), ("zh-CN", 3.0),
    ("es-419", 2.0), ("ru", 2.0), ("ja", 2.0), ("ar", 1.5), ("ko", 1.2), ("zh-TW", 1.0),
    ("it", 1.0), ("tr", 1.0), ("id", 1.0), ("vi", 0.8), ("hi", 0.7), ("pl", 0.5), ("nl", 0.5),
    ("uk", 0.4), ("th", 0.4), ("en-GB", 0.3), ("fa", 0.4), ("az", 0.3), ("ka", 0.3),
]  # fmt: skip
UNSUPPORTED_LANGUAGES = frozenset({"fa", "az", "ka"})

# (contentType, weight). Guided projects, projects and professional certificates are generated
# under their own names although Coursera probably reports them as Course / Specialization
# (docs/api-notes.md#coursera-enums): the product's content-type table maps them, so the sandbox
# must exercise it.
CONTENT_TYPES: list[tuple[str, float]] = [
    ("Course", 70.0), ("Specialization", 10.0), ("GuidedProject", 10.0),
    ("ProfessionalCertificate", 6.0), ("Project", 2.0), ("Video", 2.0),
]  # fmt: skip
SPECIALIZATION_TYPES = frozenset({"Specialization", "ProfessionalCertificate"})
DIFFICULTIES: list[tuple[str | None, float]] = [
    ("BEGINNER", 45.0),
    ("INTERMEDIATE", 30.0),
    ("ADVANCED", 10.0),
    ("MIXED", 5.0),
    (None, 10.0),
]
EDGE_KINDS = (
    "blank_name",
    "no_programs",
    "empty_description",
    "missing_definition_keys",
    "unknown_content_type",
    "partner_without_name",
)
UNKNOWN_CONTENT_TYPE = "LearningPath"

_PARTNERS: list[tuple[str, bool]] = [
    ("Yale University", True), ("Google", True), ("IBM", True), ("University of Michigan", True),
    ("Stanford University", True), ("DeepLearning.AI", True), ("Meta", True),
    ("Duke University", False), ("HEC Paris", True), ("École Polytechnique", False),
    ("Universidad Nacional Autónoma de México", True), ("Peking University", False),
    ("Coursera Project Network", False), ("Johns Hopkins University", True),
    ("Imperial College London", True), ("University of Tokyo", False),
]  # fmt: skip
_SUBJECTS = [
    "Data Analysis", "Python Programming", "Leadership", "Project Management", "Machine Learning",
    "Cloud Computing", "Negotiation", "Public Speaking", "Financial Accounting", "Marketing",
    "Cybersecurity", "SQL", "UX Design", "Supply Chain", "Statistics", "Well-Being",
    "Agile", "Excel", "Communication", "Deep Learning",
]  # fmt: skip
_TITLE_FORMS = [
    "Introduction to {s}", "{s} Fundamentals", "Advanced {s}", "{s} for Everyone",
    "Applied {s}", "{s} in Practice", "Mastering {s}", "{s}: From Zero to Hero",
]  # fmt: skip
_PROGRAM_NAMES = ["Leadership Academy", "Data & Technology Skills", "Sales Excellence"]
_PROGRAM_SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

# catalog `lastUpdatedAt` values are 10-digit epoch seconds (docs/api-notes.md#coursera-timestamps)
# between these dates
_UPDATED_FROM = 1_546_300_800  # 2019-01-01
_UPDATED_TO = 1_735_689_600  # 2025-01-01


def pick(options: list[tuple[Any, float]], u: float) -> Any:
    """The option whose cumulative weight band contains ``u`` in [0, 1)."""
    total = sum(weight for _, weight in options)
    acc = 0.0
    for value, weight in options:
        acc += weight / total
        if u < acc:
            return value
    return options[-1][0]


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def program_name(world: World, n: int) -> str:
    return _PROGRAM_NAMES[n % len(_PROGRAM_NAMES)]


def program_slug(world: World, n: int) -> str:
    """Program slugs end in a 5-character suffix, as live ones do."""
    suffix = "".join(
        _PROGRAM_SUFFIX_ALPHABET[int(fraction(world.seed, "program-slug", n, k) * 36)]
        for k in range(5)
    )
    return f"{slugify(program_name(world, n))}-{suffix}"


def content_url(program_slug_: str, content_id: str, content_type: str) -> str:
    """The program-scoped deep link (docs/api-notes.md#coursera-contents)."""
    product_type = "s12n" if content_type in SPECIALIZATION_TYPES else "course"
    return (
        f"https://www.coursera.org/programs/{program_slug_}"
        f"?productId={content_id}&productType={product_type}&showMiniModal=true"
    )


def edge_kind(index: int) -> str | None:
    """The defect item ``index`` carries, if any (about 2 % of the catalog)."""
    if index % 50 != 17:
        return None
    return EDGE_KINDS[(index // 50) % len(EDGE_KINDS)]


def generate_catalog(world: World) -> list[dict[str, Any]]:
    """``world.catalog_size`` raw ``contents`` elements, deterministic for the world's seed."""
    items = [_item(world, i) for i in range(world.catalog_size)]
    course_ids = [it["contentId"] for it in items if it["contentType"] == "Course"]
    for i, item in enumerate(items):  # specializations list some of the catalog's courses
        definition = item["extraMetadata"]["definition"]
        if "courseIds" in definition and course_ids:
            start = int(fraction(world.seed, "s12n-courses", i) * len(course_ids))
            count = 3 + int(fraction(world.seed, "s12n-count", i) * 4)
            definition["courseIds"] = [
                course_ids[(start + k) % len(course_ids)] for k in range(count)
            ]
    return items


def _item(world: World, i: int) -> dict[str, Any]:
    seed = world.seed

    def u(*what: object) -> float:
        return fraction(seed, "content", i, *what)

    edge = edge_kind(i)
    content_type = pick(CONTENT_TYPES, u("type"))
    if edge == "unknown_content_type":
        content_type = UNKNOWN_CONTENT_TYPE
    content_id = coursera_id(seed, "content", i)
    subject = _SUBJECTS[int(u("subject") * len(_SUBJECTS))]
    name = _TITLE_FORMS[int(u("title") * len(_TITLE_FORMS))].format(s=subject)
    if content_type in SPECIALIZATION_TYPES:
        name += (
            " Specialization" if content_type == "Specialization" else " Professional Certificate"
        )
    name = f"{name} {i}" if u("numbered") < 0.5 else name
    description = (
        f"Learn {subject.lower()} with hands-on exercises.\n"
        f"This {content_type} takes you from the basics to practical, job-ready skills."
    )
    language = pick(LANGUAGES, u("lang"))
    slug = slugify(name)

    n_programs = len(world.coursera_program_ids)
    programs: list[dict[str, str]] = []
    membership = u("programs")
    for p, program_id in enumerate(world.coursera_program_ids):
        # every item is in program 0 or 1 (or both); a third+ program gets a fifth of them
        in_program = (
            (p == 0 and membership < 0.75)
            or (p == 1 and membership >= 0.5)
            or (p >= 2 and u("in-program", p) < 0.2)
        )
        if n_programs == 1 or in_program:
            programs.append(
                {
                    "programId": program_id,
                    "contentUrl": content_url(program_slug(world, p), content_id, content_type),
                }
            )

    partners: list[dict[str, Any]] = []
    if u("no-partner") >= 0.02:
        for k in range(1 + (u("partner-count") < 0.1)):
            pname, has_logo = _PARTNERS[int(u("partner", k) * len(_PARTNERS))]
            partner: dict[str, Any] = {"name": pname}
            if has_logo:
                partner["logoUrl"] = (
                    f"https://coursera-university-assets.example/{slugify(pname)}.png"
                )
            elif u("null-logo", k) < 0.5:
                partner["logoUrl"] = None
            partners.append(partner)

    skills = [
        {"skillName": s, "skillId": slugify(s)}
        for s in {_SUBJECTS[int(u("skill", k) * len(_SUBJECTS))]: None for k in range(3)}
    ]
    definition: dict[str, Any] = {
        "promoPhoto": f"https://coursera-course-photos.example/{content_id}/promo.png"
    }
    if content_type in SPECIALIZATION_TYPES:
        type_name = "specializationMetadata"
        definition.update({"courseIds": [], "tagline": f"Master {subject.lower()}."})
        seconds = int(40 + u("hours") * 200) * 3600
    elif content_type == "Video":
        type_name = "clipMetadata"
        definition.update({"parentLessonName": f"{subject} basics", "skillTags": skills})
        seconds = int(60 + u("hours") * 900)
    else:
        type_name = "courseMetadata"
        definition["skills"] = skills
        hours = (
            1 + u("hours") * 3
            if content_type in ("GuidedProject", "Project")
            else 5 + u("hours") * 60
        )
        seconds = int(hours * 3600)
    if u("no-duration") >= 0.05:  # sometimes missing (as on Coursera)
        definition["estimatedLearningTime"] = seconds

    difficulty = pick(DIFFICULTIES, u("difficulty"))
    if edge == "blank_name":
        name = "   " if i % 100 < 50 else ""
    elif edge == "no_programs":
        programs = []
    elif edge == "empty_description":
        description = ""
    elif edge == "missing_definition_keys":
        definition = {}
    elif edge == "partner_without_name":
        partners = [{"name": " ", "logoUrl": None}]

    return {
        "id": f"{content_type}~{content_id}",
        "contentId": content_id,
        "contentType": content_type,
        "name": name,
        "slug": slug,
        "description": description,
        "languageCode": language,
        "subtitleLanguageCodes": sorted({language, "en"}),
        "difficultyLevel": difficulty,
        "lastUpdatedAt": _UPDATED_FROM + int(u("updated") * (_UPDATED_TO - _UPDATED_FROM)),
        "partners": partners,
        "instructors": [
            {
                "name": world.learner_name(int(u("instructor") * 10_000) + 10_000_000),
                "title": "Professor",
                "department": subject,
                "photoUrl": f"https://coursera-instructor-photos.example/{content_id}.jpg",
            }
        ],
        "programs": programs,
        "extraMetadata": {"typeName": type_name, "definition": definition},
    }
