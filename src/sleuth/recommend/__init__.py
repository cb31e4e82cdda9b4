"""Recommendations learned from events: interactions, candidate sources, fusion."""

from sleuth.recommend.idtable import IdTable
from sleuth.recommend.interactions import History, Interactions
from sleuth.recommend.source import Batch, Source
from sleuth.recommend.sources import EASE, CoVisit, ItemKNN, Popularity

__all__ = [
    "EASE",
    "Batch",
    "CoVisit",
    "History",
    "IdTable",
    "Interactions",
    "ItemKNN",
    "Popularity",
    "Source",
]
