"""Changes made through another replica or the command line, brought into this one.

Every replica serves from memory (the FAQ index, the bundle's models, the routing table) and
pushes live updates to open pages from in-process wake-ups. ``Follower`` polls the database and
the bundle store twice a second and catches up with what changed elsewhere:

- the FAQ revision (``FaqStore.kb_revision``): an edit through another replica, the console or
  ``supportbot kb``: the index is brought up to date (only changed entries re-encoded) and
  swapped;
- the bundle the ``current`` pointer names (``supportbot bundles activate``, a retrain that
  published, ``/admin/reload`` on another replica): loaded and verified against its manifest's
  checksums beside the running one, then swapped; a bundle that fails verification is logged
  and the replica keeps serving the one it has (it tries again when the pointer moves);
- the staff routes (``RouteStore.revision``): the routing table is rebuilt;
- handoff activity (staff messages, customers' relayed messages): the pages watching those
  conversations are woken, as they are for changes made through this replica.

Each poll is a few indexed queries (``max(id)``-style) and one ``readlink``: about a
millisecond, so polling costs nothing worth a message bus, and a change reaches every replica
within ``every_s`` plus the rebuild (re-encoding an edited entry: milliseconds). The same code
runs on SQLite and PostgreSQL.

Example::

    follower = Follower(settings, store, keeper, responder, desk, metrics)
    await follower.start()
    await follower.close()
"""
from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from bot.console.routing import routing_table
from bot.core.brain import BrainKeeper, BundleModel
from bot.core.handoff import INBOX, HandoffDesk
from bot.core.periodic import Periodic
from bot.core.responder import Responder
from bot.metrics import Metrics
from bot.models.bundle import load_bundle
from bot.models.manifest import BundleError
from bot.models.store import current_version
from bot.settings import Settings
from knowledge.faq.store import FaqStore
from knowledge.routing import RouteStore

log = logging.getLogger(__name__)
EVERY_S = 0.5


class Follower(Periodic):
    """Polls for changes made elsewhere; see the module docstring."""

    def __init__(self, settings: Settings, store: FaqStore, keeper: BrainKeeper, responder: Responder,
                 desk: HandoffDesk, metrics: Metrics, every_s: float = EVERY_S) -> None:
        super().__init__(every_s, "follower")
        self.settings = settings
        self.store = store
        self.keeper = keeper
        self.responder = responder
        self.desk = desk
        self.metrics = metrics
        self.routes = RouteStore(store.database)
        self._pointer: str | None = None
        self._routes: str = ""
        self._handoffs = (-1, -1)  # newest handoff event and turn seen

    async def start(self, routes_seen: str | None = None) -> None:
        """``routes_seen``: the staff routes' revision the replica's routing table was built from
        (default: the current one)."""
        # What this replica started with counts as seen: only later changes are followed.
        self._pointer = self._bundle_pointer()
        self._routes = routes_seen if routes_seen is not None else await asyncio.to_thread(self.routes.revision)
        newest_event, newest_turn, _ = await asyncio.to_thread(self.desk.handoffs.activity_after, -1, -1)
        self._handoffs = (newest_event, newest_turn)
        self.begin()

    async def catch_up(self) -> None:
        """One poll: bring in every change made elsewhere since the last."""
        if await asyncio.to_thread(self.store.kb_revision) != self.keeper.current.index.header.faq_revision:
            revision = await self.keeper.faq_changed()
            log.info("FAQ changed elsewhere: now serving revision %d", revision)
        await self._follow_bundle()
        routes = await asyncio.to_thread(self.routes.revision)
        if routes != self._routes:
            self._routes = routes  # tried once per change, whatever comes of it
            mapping = await asyncio.to_thread(self.routes.mapping)
            self.responder.routing = routing_table(mapping, self.responder.handlers)
            log.info("routes changed elsewhere: routing table rebuilt")
        newest_event, newest_turn, sessions = await asyncio.to_thread(self.desk.handoffs.activity_after,
                                                                      *self._handoffs)
        self._handoffs = (newest_event, newest_turn)
        if sessions:
            self.desk.wakeups.ring(INBOX, *sessions)

    async def _follow_bundle(self) -> None:
        pointer = self._bundle_pointer()
        if pointer == self._pointer:
            return
        self._pointer = pointer  # tried once per move of the pointer, whatever comes of it
        if pointer is None or pointer == self.keeper.current.version:
            return
        try:
            bundle = await self.keeper.in_background(load_bundle, self.settings.bundles_dir / pointer,
                                                     self.settings.threads)
        except (BundleError, OSError, ValueError) as error:
            log.error("bundle %s was activated but does not verify; still serving %s: %s",
                      pointer, self.keeper.current.version, error)
            return
        brain = await self.keeper.replace_model(BundleModel(bundle))
        self.metrics.set_bundle(brain.version)
        log.info("bundle %s activated elsewhere: now serving it", brain.version)

    def _bundle_pointer(self) -> str | None:
        """The activated version, unless this replica was started on a bundle of its own."""
        if self.settings.bundle is not None:
            return None
        try:
            return current_version(self.settings.bundles_dir)
        except OSError:
            return None

    async def step(self) -> None:
        try:
            await self.catch_up()
        except (SQLAlchemyError, OSError) as error:  # the database is away: try again next time
            log.warning("could not look for changes made elsewhere (%s); trying again", type(error).__name__)
        except Exception:  # e.g. routes another release stored: this loop must outlive one bad poll
            log.exception("could not apply a change made elsewhere; trying again")
