"""Which legal-aid centre is competent (《法律援助法》第三十八条) and which one received it.

Litigation: the centre where the case-handling organ (办案机关) sits. Non-litigation:
where the dispute-handling organ sits or where the matter arose. Where the applicant
lives does not decide competence; under 全域受理、全域通办 any centre receives the
application and transfers it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import knowledge

CITY = "city"
LITIGATION_STAGES = {"court", "police", "procuratorate"}


def centre_for(place: str | None) -> str | None:
    """The centre key for a county name or alias as a citizen types it (息县, 固始 …)."""
    if not place:
        return None
    place = place.strip()
    for key, centre in knowledge.centres().items():
        if place in {centre.get("county"), centre["name"], *centre.get("aliases", [])}:
            return key
    return None


@dataclass(frozen=True)
class Route:
    competent: str | None  # centre key; None when the organ's county is unknown
    receiving: str  # centre key where the application was received
    basis: str  # litigation | non_litigation

    @property
    def transfer(self) -> bool:
        return self.competent is not None and self.competent != self.receiving


def route(
    stage: str | None,
    organ_place: str | None,
    event_place: str | None,
    residence: str | None,
) -> Route:
    """stage: court | police | procuratorate (litigation) | arbitration | none."""
    litigation = stage in LITIGATION_STAGES
    competent = (
        centre_for(organ_place)
        if litigation
        else (centre_for(organ_place) or centre_for(event_place))
    )
    receiving = centre_for(residence) or CITY
    return Route(competent, receiving, "litigation" if litigation else "non_litigation")
