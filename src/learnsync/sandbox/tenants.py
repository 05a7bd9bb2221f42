"""A fleet of tenants for the simulators: many Coursera organizations and 360Learning companies.

A benchmark of many integrations needs many tenants at once. :class:`Fleet` derives them from a
seed and a count: tenant ``i`` is a Coursera organization of its own (its org id, OAuth client
and refresh token, its catalog and enrollment report, all from its own :class:`World`) and a
360Learning company (credentials, group, author, users). A stated share of the tenants share a
360Learning company with one or two others (a company with several Coursera organizations): each
keeps its own API credential and its own group, into which its integration synchronizes; the
company's author and users are common to them (same e-mail domain, so a learner of either
organization is a user of the company).

Sizes follow :data:`SIZE_MIX` (most small, some medium, few large), assigned by a seeded shuffle so
the totals are exact for a count (:meth:`Fleet.totals`, :meth:`Fleet.describe_mix`). Nothing here
is heavy: a tenant is a few frozen dataclasses; the simulators generate catalogs and reports from
the worlds on demand.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from learnsync.sandbox.world import World, digest, fraction

FLEET_DOMAIN = "example.net"  # tenants' e-mail domains: c0001.example.net, …


@dataclass(frozen=True)
class SizeTier:
    """One size of tenant: its share of the fleet and the sizes of its world."""

    name: str
    share: float
    catalog_size: int
    learners: int
    enrollments: int


# A realistic morning for 500 integrations (the totals for 500 in docs/simulators.md): about
# 100,000 catalog items and 480,000 enrollment rows in all.
SIZE_MIX: tuple[SizeTier, ...] = (
    SizeTier("small", 0.80, catalog_size=150, learners=400, enrollments=500),
    SizeTier("medium", 0.16, catalog_size=300, learners=1_500, enrollments=2_000),
    SizeTier("large", 0.04, catalog_size=800, learners=4_000, enrollments=6_000),
)
# share of tenants whose 360Learning company is shared with other tenants, and the sizes of the
# shared companies (cycled: 2 tenants, 3 tenants, 2, 3, …)
SHARED_COMPANY_SHARE = 0.2
SHARED_COMPANY_SIZES = (2, 3)


def _seed(*parts: object) -> int:
    """A 48-bit seed for a tenant's or a company's world."""
    return int.from_bytes(digest(*parts)[:6], "big")


def tier_counts(count: int, mix: tuple[SizeTier, ...] = SIZE_MIX) -> list[int]:
    """How many tenants of each tier among ``count`` (largest remainder: they sum to ``count``)."""
    total = sum(t.share for t in mix)
    exact = [count * t.share / total for t in mix]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(mix)), key=lambda k: (-(exact[k] - counts[k]), k))
    for k in by_remainder[: count - sum(counts)]:
        counts[k] += 1
    return counts


@dataclass(frozen=True)
class Company:
    """One simulated 360Learning company: its identities (author, users, primary group)."""

    index: int
    world: World  # catalog_size and enrollments 0: the company side only
    members: tuple[int, ...]  # tenant indexes, in order

    @property
    def company_id(self) -> str:
        return self.world.company_id

    @property
    def key(self) -> str:
        return f"c{self.index:04d}"

    @property
    def shared(self) -> bool:
        return len(self.members) > 1


@dataclass(frozen=True)
class Tenant:
    """One integration's pair: a Coursera organization and its place in a 360Learning company."""

    index: int
    tier: SizeTier
    world: World  # the Coursera organization (and the tenant's own 360Learning ids)
    company: Company

    @property
    def key(self) -> str:
        return f"t{self.index:04d}"

    # --- Coursera --------------------------------------------------------------------------
    @property
    def coursera_org_id(self) -> str:
        return self.world.coursera_org_id

    @property
    def coursera_org_name(self) -> str:
        return f"Tenant {self.key} ({self.tier.name})"

    # --- 360Learning -------------------------------------------------------------------------
    @property
    def company_id(self) -> str:
        return self.company.company_id

    @property
    def threesixty_client_id(self) -> str:
        """The tenant's own API credential in its company (shared companies have several)."""
        return self.world.threesixty_client_id

    @property
    def threesixty_client_secret(self) -> str:
        return self.world.threesixty_client_secret

    @property
    def group_id(self) -> str:
        """The tenant's own group in its company, which its integration synchronizes into."""
        return self.world.group_id

    @property
    def group_name(self) -> str:
        return f"Learning – {self.key}"

    @property
    def author_id(self) -> str:
        return self.company.world.author_id

    def describe(self) -> dict[str, Any]:
        """Everything a benchmark needs to configure one integration (secrets included)."""
        w = self.world
        return {
            "key": self.key,
            "index": self.index,
            "tier": self.tier.name,
            "catalog_size": w.catalog_size,
            "learners": w.learners,
            "enrollments": w.enrollments,
            "coursera": {
                "org_id": w.coursera_org_id,
                "org_name": self.coursera_org_name,
                "client_id": w.coursera_client_id,
                "client_secret": w.coursera_client_secret,
                "refresh_token": w.coursera_refresh_token,
                "program_ids": w.coursera_program_ids,
            },
            "threesixty": {
                "company_id": self.company_id,
                "company_key": self.company.key,
                "shared_company": self.company.shared,
                "client_id": self.threesixty_client_id,
                "client_secret": self.threesixty_client_secret,
                "group_id": self.group_id,
                "author_id": self.author_id,
            },
        }


@dataclass(frozen=True)
class Fleet:
    """``count`` tenants derived from ``seed``; the same arguments always give the same fleet."""

    seed: int = 1
    count: int = 500
    mix: tuple[SizeTier, ...] = SIZE_MIX
    shared_company_share: float = SHARED_COMPANY_SHARE
    unknown_learner_ratio: float = World.unknown_learner_ratio
    clean_report: bool = False

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("a fleet has zero or more tenants")
        if not 0.0 <= self.shared_company_share <= 1.0:
            raise ValueError("shared_company_share is a share, between 0 and 1")

    # --- layout ----------------------------------------------------------------------------
    def _order(self, what: str) -> list[int]:
        """The tenant indexes in a seeded order (a shuffle by hash)."""
        return sorted(range(self.count), key=lambda i: fraction(self.seed, what, i))

    def _tiers(self) -> list[SizeTier]:
        tiers: list[SizeTier] = [self.mix[0]] * self.count
        order = iter(self._order("tier"))
        for tier, n in zip(self.mix, tier_counts(self.count, self.mix), strict=True):
            for _ in range(n):
                tiers[next(order)] = tier
        return tiers

    def _company_members(self) -> list[tuple[int, ...]]:
        """The members of each company, companies ordered by their first member."""
        shared = sorted(self._order("shared")[: round(self.count * self.shared_company_share)])
        groups: list[tuple[int, ...]] = []
        position, k = 0, 0
        while position < len(shared):
            size = SHARED_COMPANY_SIZES[k % len(SHARED_COMPANY_SIZES)]
            group = tuple(shared[position : position + size])
            position, k = position + size, k + 1
            if len(group) > 1:
                groups.append(group)
            elif groups:  # one left over: it joins the last shared company
                groups[-1] += group
        alone = set(range(self.count)) - {i for g in groups for i in g}
        groups += [(i,) for i in alone]
        return sorted(groups)

    @functools.cached_property
    def tenants(self) -> tuple[Tenant, ...]:
        """Every tenant, by index (built once per fleet object)."""
        return tuple(self._build())

    @property
    def companies(self) -> list[Company]:
        seen: dict[int, Company] = {}
        for tenant in self.tenants:
            seen.setdefault(tenant.company.index, tenant.company)
        return [seen[k] for k in sorted(seen)]

    def _build(self) -> list[Tenant]:
        tiers = self._tiers()
        by_tenant: dict[int, Company] = {}
        for c, members in enumerate(self._company_members()):
            company = Company(
                c,
                World(
                    seed=_seed(self.seed, "company", c),
                    catalog_size=0,
                    learners=max(tiers[i].learners for i in members),
                    enrollments=0,
                    unknown_learner_ratio=self.unknown_learner_ratio,
                    email_domain=f"c{c:04d}.{FLEET_DOMAIN}",
                    clean_report=self.clean_report,
                ),
                members,
            )
            for i in members:
                by_tenant[i] = company
        return [
            Tenant(
                i,
                tiers[i],
                World(
                    seed=_seed(self.seed, "tenant", i),
                    catalog_size=tiers[i].catalog_size,
                    learners=tiers[i].learners,
                    enrollments=tiers[i].enrollments,
                    unknown_learner_ratio=self.unknown_learner_ratio,
                    email_domain=by_tenant[i].world.email_domain,
                    clean_report=self.clean_report,
                ),
                by_tenant[i],
            )
            for i in range(self.count)
        ]

    # --- look-ups ----------------------------------------------------------------------------
    @functools.cached_property
    def _by_org(self) -> dict[str, Tenant]:
        return {t.coursera_org_id: t for t in self.tenants}

    @functools.cached_property
    def _by_client(self) -> dict[str, Tenant]:
        return {t.threesixty_client_id: t for t in self.tenants}

    def tenant_by_org(self, org_id: str) -> Tenant | None:
        return self._by_org.get(org_id)

    def tenant_by_threesixty_client(self, client_id: str) -> Tenant | None:
        return self._by_client.get(client_id)

    # --- the size mix --------------------------------------------------------------------------
    def totals(self) -> dict[str, Any]:
        """Per tier and in all: tenants, catalog items, learners, enrollment rows; companies."""
        tiers: dict[str, dict[str, int]] = {
            t.name: {"tenants": 0, "catalog_items": 0, "learners": 0, "enrollments": 0}
            for t in self.mix
        }
        for tenant in self.tenants:
            row = tiers[tenant.tier.name]
            row["tenants"] += 1
            row["catalog_items"] += tenant.world.catalog_size
            row["learners"] += tenant.world.learners
            row["enrollments"] += tenant.world.enrollments
        everything = {
            key: sum(row[key] for row in tiers.values())
            for key in ("tenants", "catalog_items", "learners", "enrollments")
        }
        companies = self.companies
        return {
            "tiers": tiers,
            "total": everything,
            "companies": len(companies),
            "shared_companies": sum(1 for c in companies if c.shared),
            "tenants_in_shared_companies": sum(len(c.members) for c in companies if c.shared),
        }

    def describe_mix(self) -> str:
        """The size mix and its totals for this fleet, as a small printable table."""
        totals = self.totals()
        lines = [
            f"fleet of {self.count} tenants (seed {self.seed})",
            f"{'tier':<8}{'share':>7}{'catalog':>9}{'learners':>10}{'rows':>8}"
            f"{'tenants':>9}{'items':>10}{'rows total':>12}",
        ]
        for tier in self.mix:
            row = totals["tiers"][tier.name]
            lines.append(
                f"{tier.name:<8}{tier.share:>7.0%}{tier.catalog_size:>9,}{tier.learners:>10,}"
                f"{tier.enrollments:>8,}{row['tenants']:>9,}{row['catalog_items']:>10,}"
                f"{row['enrollments']:>12,}"
            )
        total = totals["total"]
        lines.append(
            f"{'total':<42}{total['tenants']:>9,}{total['catalog_items']:>10,}"
            f"{total['enrollments']:>12,}"
        )
        lines.append(
            f"360Learning: {totals['companies']} companies, {totals['shared_companies']} of them "
            f"shared by {totals['tenants_in_shared_companies']} tenants"
        )
        return "\n".join(lines)
