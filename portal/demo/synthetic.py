"""Synthetic populations for the demo models.

Each generator draws features with plausible correlations and a label that is a noisy
logistic function of them, so the trained models learn sensible directions (more weeks
unemployed -> higher risk; more attached documents -> lower risk of missing ones).
Rows are JSON-native dicts (int, float, bool, str), exactly what a decision webhook
carries. Everything comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from portal.demo.manifests import BYGGESAG, LEDIGHED, categories

Row = dict[str, Any]

# Share of residents with higher education differs by district: this makes the district
# a proxy for education, which is why it is flagged as sensitive.
_BYDEL_WEIGHTS = np.array([0.06, 0.11, 0.14, 0.11, 0.10, 0.07, 0.08, 0.10, 0.11, 0.12])
_BYDEL_EDU_SHIFT = np.array([0.9, 0.8, 0.1, 0.5, 0.0, 0.1, -0.4, -0.6, 0.4, -0.3])
# A small direct effect standing in for local labour-market conditions.
_BYDEL_RISK = np.array([-0.1, -0.15, 0.15, 0.0, 0.0, -0.05, 0.1, 0.25, -0.05, 0.15])
_EDU_RISK = np.array([0.85, 0.25, 0.0, -0.6])
_DANSK_RISK = np.array([0.0, 0.1, 0.45, 0.9])


def _ordered_choice(rng: np.random.Generator, latent: np.ndarray, cuts: list[float]) -> np.ndarray:
    return np.searchsorted(np.asarray(cuts), latent + rng.normal(0.0, 1.0, latent.shape))


def ledighed_population(
    rng: np.random.Generator, n: int
) -> tuple[list[Row], np.ndarray, np.ndarray]:
    """Draw ``n`` fictional unemployed residents.

    Returns the rows, the 0/1 label "still unemployed after a year" and the true
    probability behind each label.
    """
    bydele = categories(LEDIGHED, "bydel")
    bydel_idx = rng.choice(len(bydele), size=n, p=_BYDEL_WEIGHTS / _BYDEL_WEIGHTS.sum())
    alder = np.clip(np.round(rng.normal(39.0, 12.0, n)), 18, 67).astype(int)

    edu_latent = _BYDEL_EDU_SHIFT[bydel_idx] + 0.01 * (alder - 40)
    edu_idx = _ordered_choice(rng, edu_latent, [-0.9, -0.3, 0.6])  # 0..3, 3 = videregående

    dansk_idx = rng.choice(4, size=n, p=[0.72, 0.13, 0.09, 0.06])
    # Weeks unemployed: most spells are short, a long tail reaches several years.
    uger_raw = rng.gamma(shape=1.1, scale=22.0, size=n) * np.exp(0.15 * (1.5 - edu_idx))
    ledighed_uger = np.clip(np.round(uger_raw), 0, 520).astype(int)
    tidligere_forloeb = np.clip(rng.poisson(0.5 + ledighed_uger / 40.0), 0, 20).astype(int)
    syg_mean = 4.0 + 0.25 * np.maximum(alder - 45, 0) + rng.gamma(1.0, 4.0, n)
    sygedage = np.clip(np.round(rng.exponential(syg_mean)), 0, 365).astype(int)
    a_kasse = rng.random(n) < (0.55 + 0.08 * edu_idx)
    jobsoeg = np.clip(rng.poisson(np.maximum(7.0 - 0.02 * ledighed_uger, 1.5)), 0, 60)

    z = (
        -1.6
        + 1.25 * np.log1p(ledighed_uger / 13.0)
        + _EDU_RISK[edu_idx]
        + _DANSK_RISK[dansk_idx]
        + 0.22 * np.minimum(tidligere_forloeb, 6)
        + 0.45 * np.log1p(sygedage / 10.0)
        - 0.45 * a_kasse
        - 0.07 * np.minimum(jobsoeg, 20)
        + 0.05 * np.maximum(alder - 50, 0)
        + 0.03 * np.maximum(25 - alder, 0)
        + _BYDEL_RISK[bydel_idx]
        + rng.normal(0.0, 0.4, n)
    )
    prob = 1.0 / (1.0 + np.exp(-1.3 * z))
    label = (rng.random(n) < prob).astype(int)

    uddannelser = categories(LEDIGHED, "uddannelse")  # least to most education
    niveauer = categories(LEDIGHED, "dansk_niveau")
    rows = [
        {
            "ledighed_uger": int(ledighed_uger[i]),
            "tidligere_forloeb": int(tidligere_forloeb[i]),
            "jobsoeg_aktivitet": int(jobsoeg[i]),
            "a_kasse": bool(a_kasse[i]),
            "uddannelse": uddannelser[int(edu_idx[i])],
            "dansk_niveau": niveauer[int(dansk_idx[i])],
            "sygedage_12m": int(sygedage[i]),
            "alder": int(alder[i]),
            "bydel": bydele[int(bydel_idx[i])],
        }
        for i in range(n)
    ]
    return rows, label, prob


_TYPE_WEIGHTS = np.array([0.22, 0.10, 0.10, 0.08, 0.28, 0.22])
_TYPE_AREA_LOG_MEAN = np.log(np.array([160.0, 120.0, 1800.0, 1200.0, 35.0, 40.0]))
_TYPE_NEEDS_DOCS = np.array([0.2, 0.3, 0.6, 0.7, 0.0, -0.6])
_TYPE_BILAG = np.array([7.0, 7.0, 14.0, 13.0, 5.0, 3.0])


def byggesag_population(
    rng: np.random.Generator, n: int
) -> tuple[list[Row], np.ndarray, np.ndarray]:
    """Draw ``n`` fictional building permit applications.

    Returns the rows, the 0/1 label "documents were missing" and the true probability.
    """
    typer = categories(BYGGESAG, "byggeri_type")
    ansoegere = categories(BYGGESAG, "ansoeger_type")  # privat, professionel
    type_idx = rng.choice(len(typer), size=n, p=_TYPE_WEIGHTS / _TYPE_WEIGHTS.sum())
    area = np.exp(_TYPE_AREA_LOG_MEAN[type_idx] + rng.normal(0.0, 0.45, n))
    etageareal = np.clip(np.round(area, 1), 5.0, 20000.0)
    professionel = rng.random(n) < np.where(type_idx >= 2, 0.55, 0.25)
    professionel = professionel | (type_idx == 2) & (rng.random(n) < 0.5)
    bilag = rng.poisson(_TYPE_BILAG[type_idx] * np.where(professionel, 1.35, 1.0))
    antal_bilag = np.clip(bilag, 0, 40).astype(int)
    statisk = rng.random(n) < np.where(professionel, 0.85, 0.5)
    situationsplan = rng.random(n) < np.where(professionel, 0.92, 0.7)
    fredet = rng.random(n) < 0.12
    afslag = np.clip(rng.poisson(np.where(professionel, 0.2, 0.35)), 0, 10).astype(int)

    z = (
        1.6
        + _TYPE_NEEDS_DOCS[type_idx]
        + 0.45 * np.log(etageareal / 100.0)
        - 0.17 * np.minimum(antal_bilag, 20)
        - 1.1 * statisk
        - 0.9 * situationsplan
        - 0.6 * professionel
        + 0.7 * fredet
        + 0.35 * np.minimum(afslag, 4)
        + rng.normal(0.0, 0.4, n)
    )
    prob = 1.0 / (1.0 + np.exp(-1.3 * z))
    label = (rng.random(n) < prob).astype(int)

    rows = [
        {
            "antal_bilag": int(antal_bilag[i]),
            "statisk_dokumentation": bool(statisk[i]),
            "situationsplan": bool(situationsplan[i]),
            "byggeri_type": typer[int(type_idx[i])],
            "etageareal_m2": float(etageareal[i]),
            "fredet_omraade": bool(fredet[i]),
            "ansoeger_type": ansoegere[int(professionel[i])],
            "tidligere_afslag": int(afslag[i]),
        }
        for i in range(n)
    ]
    return rows, label, prob
