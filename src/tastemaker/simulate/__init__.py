"""The listener world: synthetic listeners, catalog and listening, for generating data and closed-loop runs.

Example:
    >>> from tastemaker.simulate import World, WorldConfig
    >>> world = World(WorldConfig(n_users=100, n_tracks=500, days=2))
    >>> sum(t.num_rows for t in world.generate_events()) > 0
    True
"""

from tastemaker.simulate.behaviour import Behaviour
from tastemaker.simulate.config import WorldConfig
from tastemaker.simulate.export import WorldSummary, write_world
from tastemaker.simulate.world import Outcomes, World

__all__ = ["Behaviour", "Outcomes", "World", "WorldConfig", "WorldSummary", "write_world"]
