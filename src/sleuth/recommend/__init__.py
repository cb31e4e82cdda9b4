"""Recommendations learned from events: interactions, candidate sources, fusion."""

from sleuth.recommend.interactions import History, Interactions
from sleuth.recommend.sources import EASE, CoVisit, ItemKNN, Popularity, Source

__all__ = ["EASE", "CoVisit", "History", "Interactions", "ItemKNN", "Popularity", "Source"]
