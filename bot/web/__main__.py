"""`python -m bot.web`: the web app (imported as bot.web.app, so its keys are shared)."""

from bot.web.app import main

main()
