"""Manifests of the two demo models, and the JSON-row to DataFrame conversion.

The manifests follow the "Model manifest" contract in DESIGN.md. The parts that can
only be known after training (``model_card.metrics`` and ``model_card.fairness``) are
filled in by :mod:`portal.demo.training`; everything written here is fixed text.

Representation of values (the same everywhere in this package):

* ``number`` and ``integer`` features are JSON numbers and float64 / int64 columns.
* ``category`` features are the category key as a string (``"videregaaende"``).
* ``boolean`` features are JSON ``true`` / ``false``; in the background CSV they are
  written as ``true`` / ``false`` too, and the model receives them as 0 / 1.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

MODEL_VERSION = "2026.1"
LEDIGHED = "ledighedsrisiko"
BYGGESAG = "byggesagsscreening"


def _t(da: str, en: str) -> dict[str, str]:
    return {"da": da, "en": en}


# --------------------------------------------------------------------------- ledighed

BYDELE: dict[str, tuple[str, str]] = {
    "indre_by": ("Indre By", "Indre By (city centre)"),
    "oesterbro": ("Østerbro", "Østerbro"),
    "noerrebro": ("Nørrebro", "Nørrebro"),
    "vesterbro_kgs_enghave": ("Vesterbro/Kongens Enghave", "Vesterbro/Kongens Enghave"),
    "valby": ("Valby", "Valby"),
    "vanloese": ("Vanløse", "Vanløse"),
    "broenshoej_husum": ("Brønshøj-Husum", "Brønshøj-Husum"),
    "bispebjerg": ("Bispebjerg", "Bispebjerg"),
    "amager_oest": ("Amager Øst", "Amager East"),
    "amager_vest": ("Amager Vest", "Amager West"),
}

UDDANNELSER: dict[str, tuple[str, str]] = {
    "grundskole": ("Grundskole (folkeskole)", "Primary and lower secondary school"),
    "gymnasial": ("Gymnasial uddannelse", "Upper secondary school"),
    "erhvervsfaglig": ("Erhvervsuddannelse", "Vocational education"),
    "videregaaende": ("Videregående uddannelse", "Higher education"),
}

DANSK_NIVEAUER: dict[str, tuple[str, str]] = {
    "modersmaal": ("Dansk er mit modersmål", "Danish is my first language"),
    "flydende": ("Flydende", "Fluent"),
    "mellem": ("Mellem", "Intermediate"),
    "begynder": ("Begynder", "Beginner"),
}


def _labels(table: Mapping[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    return {key: _t(da, en) for key, (da, en) in table.items()}


_LEDIGHED: dict[str, Any] = {
    "name": LEDIGHED,
    "version": MODEL_VERSION,
    "title": _t("Risiko for langvarig ledighed", "Risk of long-term unemployment"),
    "purpose": _t(
        "Jobcentret bruger modellen til at finde de ledige, der har størst risiko for "
        "at blive ledige i lang tid. De får tilbudt mere hjælp tidligt, fx en fast "
        "jobkonsulent. Modellen giver et bud. Den træffer ikke afgørelsen.",
        "The job centre uses the model to find the unemployed people who are most at "
        "risk of long-term unemployment, so they can be offered more help early, for "
        "example a dedicated job consultant. The model gives an estimate. It does not "
        "make the decision.",
    ),
    "legal_basis": _t(
        "Lov om en aktiv beskæftigelsesindsats. Reglerne om jobsamtaler og om tilbud "
        "til ledige. Databeskyttelsesforordningen artikel 6, stk. 1, litra e.",
        "The Danish Act on an Active Employment Effort (rules on job interviews and "
        "offers to unemployed people). GDPR Article 6(1)(e).",
    ),
    "responsible_unit": "Beskæftigelses- og Integrationsforvaltningen",
    "human_oversight": _t(
        "En sagsbehandler i jobcentret træffer altid afgørelsen. Sagsbehandleren ser "
        "modellens bud, men taler med dig og vurderer selv din situation. "
        "Sagsbehandleren kan altid vælge noget andet end modellen.",
        "A caseworker at the job centre always makes the decision. The caseworker sees "
        "the model's estimate, but talks to you and assesses your situation. The "
        "caseworker can always decide differently from the model.",
    ),
    "output": {
        "kind": "probability",
        "positive_class": 1,
        "threshold": 0.5,
        "label": _t(
            "Sandsynlighed for at være ledig i mere end et år",
            "Probability of being unemployed for more than a year",
        ),
    },
    "considerations": [
        {
            "key": "beskaeftigelse",
            "label": _t("Tilknytning til arbejdsmarkedet", "Attachment to the labour market"),
            "legal_basis": _t(
                "Lov om en aktiv beskæftigelsesindsats: jobcentret skal tage "
                "udgangspunkt i den lediges forudsætninger for at få et job.",
                "Act on an Active Employment Effort: the job centre must start from "
                "the person's prospects of finding a job.",
            ),
        },
        {
            "key": "uddannelse_kompetencer",
            "label": _t("Uddannelse og kompetencer", "Education and skills"),
            "legal_basis": _t(
                "Lov om en aktiv beskæftigelsesindsats: indsatsen skal passe til den "
                "lediges uddannelse og kompetencer.",
                "Act on an Active Employment Effort: support must match the person's "
                "education and skills.",
            ),
        },
        {
            "key": "helbred",
            "label": _t("Helbred", "Health"),
            "legal_basis": _t(
                "Lov om en aktiv beskæftigelsesindsats: jobcentret skal tage hensyn "
                "til helbred, der kan gøre det svært at arbejde.",
                "Act on an Active Employment Effort: the job centre must take account "
                "of health issues that can make work difficult.",
            ),
        },
        {
            "key": "personlige_forhold",
            "label": _t("Personlige forhold", "Personal circumstances"),
            "legal_basis": _t(
                "Lov om en aktiv beskæftigelsesindsats og forvaltningsloven: personlige "
                "forhold må kun indgå, når de er saglige. Alder og bopæl overvåges for "
                "forskelsbehandling.",
                "Act on an Active Employment Effort and the Public Administration Act: "
                "personal circumstances may only count when relevant. Age and place of "
                "residence are monitored for discrimination.",
            ),
        },
    ],
    "features": [
        {
            "key": "ledighed_uger",
            "type": "number",
            "label": _t("Antal uger som ledig", "Weeks unemployed"),
            "unit": _t("uger", "weeks"),
            "source": _t("Det Fælles Datagrundlag (STAR)", "The Joint Data Base (STAR)"),
            "consideration": "beskaeftigelse",
            "actionable": False,
            "sensitive": False,
            "min": 0,
            "max": 520,
        },
        {
            "key": "tidligere_forloeb",
            "type": "integer",
            "label": _t(
                "Antal tidligere forløb i jobcentret",
                "Earlier job centre programmes",
            ),
            "unit": _t("forløb", "programmes"),
            "source": _t("Det Fælles Datagrundlag (STAR)", "The Joint Data Base (STAR)"),
            "consideration": "beskaeftigelse",
            "actionable": False,
            "sensitive": False,
            "min": 0,
            "max": 20,
        },
        {
            "key": "jobsoeg_aktivitet",
            "type": "integer",
            "label": _t("Jobansøgninger pr. måned", "Job applications per month"),
            "unit": _t("ansøgninger", "applications"),
            "source": _t("Jobnet (din joblog)", "Jobnet (your job log)"),
            "consideration": "beskaeftigelse",
            "actionable": True,
            "sensitive": False,
            "min": 0,
            "max": 60,
        },
        {
            "key": "a_kasse",
            "type": "boolean",
            "label": _t("Medlem af en a-kasse", "Member of an unemployment fund"),
            "source": _t("Det Fælles Datagrundlag (STAR)", "The Joint Data Base (STAR)"),
            "consideration": "beskaeftigelse",
            "actionable": True,
            "sensitive": False,
        },
        {
            "key": "uddannelse",
            "type": "category",
            "label": _t("Højeste fuldførte uddannelse", "Highest completed education"),
            "source": _t(
                "Uddannelsesregisteret (Danmarks Statistik)",
                "Education register (Statistics Denmark)",
            ),
            "consideration": "uddannelse_kompetencer",
            "actionable": True,
            "sensitive": False,
            "categories": list(UDDANNELSER),
            "category_labels": _labels(UDDANNELSER),
        },
        {
            "key": "dansk_niveau",
            "type": "category",
            "label": _t("Hvor godt du taler dansk", "How well you speak Danish"),
            "source": _t(
                "Din jobsamtale (oplyst af dig)",
                "Your job interview (stated by you)",
            ),
            "consideration": "uddannelse_kompetencer",
            "actionable": True,
            "sensitive": False,
            "categories": list(DANSK_NIVEAUER),
            "category_labels": _labels(DANSK_NIVEAUER),
        },
        {
            "key": "sygedage_12m",
            "type": "integer",
            "label": _t(
                "Sygedage de seneste 12 måneder",
                "Days of sickness in the last 12 months",
            ),
            "unit": _t("dage", "days"),
            "source": _t(
                "Det Fælles Datagrundlag (STAR), sygedagpenge",
                "The Joint Data Base (STAR), sickness benefit",
            ),
            "consideration": "helbred",
            "actionable": False,
            "sensitive": False,
            "min": 0,
            "max": 365,
        },
        {
            "key": "alder",
            "type": "integer",
            "label": _t("Alder", "Age"),
            "unit": _t("år", "years"),
            "source": _t("CPR-registret", "Civil Registration System (CPR)"),
            "consideration": "personlige_forhold",
            "actionable": False,
            "sensitive": True,
            "min": 18,
            "max": 67,
        },
        {
            "key": "bydel",
            "type": "category",
            "label": _t("Bydel, hvor du bor", "District where you live"),
            "source": _t("CPR-registret (adresse)", "Civil Registration System (address)"),
            "consideration": "personlige_forhold",
            "actionable": False,
            "sensitive": True,
            "categories": list(BYDELE),
            "category_labels": _labels(BYDELE),
        },
    ],
    "model_card": {
        "training_data": _t(
            "Syntetiske data, lavet til demonstration. 4.000 opdigtede ledige i "
            "København. Ingen rigtige personer indgår. 75 % blev brugt til at træne "
            "modellen og 25 % til at teste den. Modellen er en gradient boosting-model "
            "med 100 små beslutningstræer.",
            "Synthetic data made for demonstration: 4,000 fictional unemployed people "
            "in Copenhagen. No real people are included. 75% was used for training and "
            "25% for testing. The model is a gradient-boosted ensemble of 100 small "
            "decision trees.",
        ),
        "metrics": {},
        "fairness": {},
        "dpia_reference": "KK-BIF-DPIA-2026-007 (demo)",
        "contact": "Beskæftigelses- og Integrationsforvaltningen, Data og Analyse, "
        "algoritmer@bif.kk.example",
    },
}

# --------------------------------------------------------------------------- byggesag

BYGGERI_TYPER: dict[str, tuple[str, str]] = {
    "enfamiliehus": ("Enfamiliehus", "Detached house"),
    "raekkehus": ("Rækkehus", "Terraced house"),
    "etagebolig": ("Etageboliger", "Block of flats"),
    "erhverv": ("Erhvervsbyggeri", "Commercial building"),
    "tilbygning": ("Tilbygning", "Extension"),
    "carport_garage": ("Carport eller garage", "Carport or garage"),
}

ANSOEGER_TYPER: dict[str, tuple[str, str]] = {
    "privat": ("Privat ansøger", "Private applicant"),
    "professionel": ("Professionel (fx arkitekt)", "Professional (e.g. architect)"),
}

_BYGGESAG: dict[str, Any] = {
    "name": BYGGESAG,
    "version": MODEL_VERSION,
    "title": _t(
        "Screening af byggeansøgninger for manglende dokumentation",
        "Screening of building applications for missing documents",
    ),
    "purpose": _t(
        "Modellen vurderer, om en ansøgning om byggetilladelse sandsynligvis mangler "
        "dokumenter. Så kan vi bede om dem med det samme i stedet for senere. Det "
        "giver kortere ventetid. Modellen afgør ikke, om du får tilladelse.",
        "The model estimates whether an application for a building permit is likely "
        "to be missing documents, so we can ask for them at once rather than later. "
        "This shortens waiting times. The model does not decide whether you get a "
        "permit.",
    ),
    "legal_basis": _t(
        "Byggeloven og bygningsreglementet (BR18), reglerne om ansøgning om "
        "byggetilladelse og om den dokumentation, der skal sendes med.",
        "The Danish Building Act and Building Regulations (BR18), the rules on "
        "applying for a building permit and the documents that must be included.",
    ),
    "responsible_unit": "Teknik- og Miljøforvaltningen",
    "human_oversight": _t(
        "En byggesagsbehandler gennemgår altid ansøgningen. Sagsbehandleren ser "
        "modellens bud og beslutter selv, om der mangler noget.",
        "A building caseworker always reviews the application. The caseworker sees "
        "the model's estimate and decides whether anything is missing.",
    ),
    "output": {
        "kind": "probability",
        "positive_class": 1,
        "threshold": 0.5,
        "label": _t(
            "Sandsynlighed for, at ansøgningen mangler dokumentation",
            "Probability that the application is missing documents",
        ),
    },
    "considerations": [
        {
            "key": "dokumentation",
            "label": _t("Dokumentation i ansøgningen", "Documents in the application"),
            "legal_basis": _t(
                "Bygningsreglementet (BR18): ansøgningen skal indeholde de "
                "oplysninger og tegninger, der er nødvendige for at behandle sagen.",
                "Building Regulations (BR18): the application must contain the "
                "information and drawings needed to process the case.",
            ),
        },
        {
            "key": "byggeriets_omfang",
            "label": _t("Byggeriets type og størrelse", "Type and size of the building"),
            "legal_basis": _t(
                "Bygningsreglementet (BR18): større og mere komplekst byggeri kræver "
                "mere dokumentation, fx om konstruktion og brand.",
                "Building Regulations (BR18): larger and more complex buildings need "
                "more documentation, e.g. on structure and fire safety.",
            ),
        },
        {
            "key": "planforhold",
            "label": _t("Lokalplan og bevaring", "Local plan and preservation"),
            "legal_basis": _t(
                "Planloven og lokalplanen for området: byggeri i fredede eller "
                "bevaringsværdige områder kræver flere oplysninger.",
                "The Planning Act and the local plan: building in protected or "
                "conservation areas requires more information.",
            ),
        },
        {
            "key": "sagens_forloeb",
            "label": _t("Ansøger og tidligere sager", "Applicant and earlier cases"),
            "legal_basis": _t(
                "Forvaltningsloven: myndigheden skal sørge for, at sagen er tilstrækkeligt oplyst.",
                "Public Administration Act: the authority must make sure the case is "
                "sufficiently investigated.",
            ),
        },
    ],
    "features": [
        {
            "key": "antal_bilag",
            "type": "integer",
            "label": _t("Antal vedhæftede bilag", "Number of attached documents"),
            "unit": _t("bilag", "documents"),
            "source": _t("Byg og Miljø (din ansøgning)", "Byg og Miljø (your application)"),
            "consideration": "dokumentation",
            "actionable": True,
            "sensitive": False,
            "min": 0,
            "max": 40,
        },
        {
            "key": "statisk_dokumentation",
            "type": "boolean",
            "label": _t(
                "Statisk dokumentation (beregning af konstruktionen) er vedlagt",
                "Structural documentation (calculations) attached",
            ),
            "source": _t("Byg og Miljø (din ansøgning)", "Byg og Miljø (your application)"),
            "consideration": "dokumentation",
            "actionable": True,
            "sensitive": False,
        },
        {
            "key": "situationsplan",
            "type": "boolean",
            "label": _t(
                "Situationsplan (tegning af grunden) er vedlagt",
                "Site plan attached",
            ),
            "source": _t("Byg og Miljø (din ansøgning)", "Byg og Miljø (your application)"),
            "consideration": "dokumentation",
            "actionable": True,
            "sensitive": False,
        },
        {
            "key": "byggeri_type",
            "type": "category",
            "label": _t("Type af byggeri", "Type of building work"),
            "source": _t("Byg og Miljø (din ansøgning)", "Byg og Miljø (your application)"),
            "consideration": "byggeriets_omfang",
            "actionable": False,
            "sensitive": False,
            "categories": list(BYGGERI_TYPER),
            "category_labels": _labels(BYGGERI_TYPER),
        },
        {
            "key": "etageareal_m2",
            "type": "number",
            "label": _t("Etageareal", "Floor area"),
            "unit": _t("m²", "m²"),
            "source": _t(
                "BBR (Bygnings- og Boligregistret)",
                "BBR (Danish Building and Dwelling Register)",
            ),
            "consideration": "byggeriets_omfang",
            "actionable": False,
            "sensitive": False,
            "min": 5,
            "max": 20000,
        },
        {
            "key": "fredet_omraade",
            "type": "boolean",
            "label": _t(
                "Grunden ligger i et fredet eller bevaringsværdigt område",
                "The plot is in a protected or conservation area",
            ),
            "source": _t("Plandata.dk", "Plandata.dk"),
            "consideration": "planforhold",
            "actionable": False,
            "sensitive": False,
        },
        {
            "key": "ansoeger_type",
            "type": "category",
            "label": _t("Hvem der har sendt ansøgningen", "Who submitted the application"),
            "source": _t("Byg og Miljø (din ansøgning)", "Byg og Miljø (your application)"),
            "consideration": "sagens_forloeb",
            "actionable": False,
            "sensitive": False,
            "categories": list(ANSOEGER_TYPER),
            "category_labels": _labels(ANSOEGER_TYPER),
        },
        {
            "key": "tidligere_afslag",
            "type": "integer",
            "label": _t(
                "Antal tidligere afslag på samme adresse",
                "Earlier refusals at the same address",
            ),
            "unit": _t("afslag", "refusals"),
            "source": _t("Kommunens byggesagsarkiv", "The municipality's building case archive"),
            "consideration": "sagens_forloeb",
            "actionable": False,
            "sensitive": False,
            "min": 0,
            "max": 10,
        },
    ],
    "model_card": {
        "training_data": _t(
            "Syntetiske data, lavet til demonstration. 3.000 opdigtede ansøgninger om "
            "byggetilladelse i København. Ingen rigtige sager indgår. 75 % blev brugt "
            "til at træne modellen og 25 % til at teste den. Modellen er en logistisk "
            "regression.",
            "Synthetic data made for demonstration: 3,000 fictional building permit "
            "applications in Copenhagen. No real cases are included. 75% was used for "
            "training and 25% for testing. The model is a logistic regression.",
        ),
        "metrics": {},
        "fairness": {},
        "dpia_reference": "KK-TMF-DPIA-2026-003 (demo)",
        "contact": "Teknik- og Miljøforvaltningen, Byggeri, algoritmer@tmf.kk.example",
    },
}

_MANIFESTS = {LEDIGHED: _LEDIGHED, BYGGESAG: _BYGGESAG}


def base_manifest(name: str) -> dict[str, Any]:
    """A fresh copy of a demo manifest without the training-time metrics."""
    return copy.deepcopy(_MANIFESTS[name])


def feature_frame(manifest: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Turn JSON feature rows into the DataFrame the demo pipelines were trained on.

    Columns follow the manifest's feature order. ``number`` becomes float64,
    ``integer`` int64, ``boolean`` int64 0/1 (so ``True``, ``"true"`` and ``1`` agree),
    ``category`` object strings. Missing keys raise ``KeyError``.
    """
    rows = list(rows)
    columns: dict[str, Any] = {}
    for feature in manifest["features"]:
        key, kind = feature["key"], feature["type"]
        values = [row[key] for row in rows]
        if kind == "number":
            columns[key] = np.asarray(values, dtype="float64")
        elif kind == "integer":
            columns[key] = np.asarray(values, dtype="int64")
        elif kind == "boolean":
            columns[key] = np.asarray([_as_bool(v) for v in values], dtype="int64")
        elif kind == "category":
            columns[key] = np.asarray([str(v) for v in values], dtype=object)
        else:  # pragma: no cover - the demo manifests use no other types
            raise ValueError(f"unsupported feature type {kind!r} for {key!r}")
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


def _as_bool(value: Any) -> int:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "1"}:
            return 1
        if lowered in {"false", "0"}:
            return 0
        raise ValueError(f"not a boolean: {value!r}")
    return int(bool(value))
