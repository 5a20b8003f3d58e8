"""The staff console: a web page where support staff edit the FAQ, try the bot and review
what it could not answer (mounted by ``bot.console.site.add_console``)."""
