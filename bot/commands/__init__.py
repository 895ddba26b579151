"""CLI command groups; each module registers its commands on the root app."""

from bot.commands import database, delivery, demo, invites, packs, reports, roster, teams

COMMAND_MODULES = (database, packs, roster, teams, invites, delivery, reports, demo)
