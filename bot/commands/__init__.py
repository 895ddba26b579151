"""CLI command groups; each module registers its commands on the root app."""

from bot.commands import database

COMMAND_MODULES = (database,)
