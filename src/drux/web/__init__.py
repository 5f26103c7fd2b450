"""The web app: the Hub, "Ask the AIs", live side-by-side answers and shareable results.

    from drux.web.app import create_app
    app = create_app(Services.from_settings(), WebSettings())   # drux serve does this

Layout (FastAPI-template style):

- ``app.py``        ``create_app``: state, middleware, error handlers, routers
- ``deps.py``       ``Annotated`` dependencies handlers receive (services, runner, hub, ...)
- ``routes/``       ``pages.py`` (server-rendered Jinja2) and ``api.py`` (JSON + SSE)
- ``runner.py``     ``AskRunner``: starts asks as jobs (here or on `drux worker`), SSE readers follow
                    their events in ``drux.state.events``
- ``views.py``      what the pages show of a stored ask; ``svg.py`` the gauge and heatmap
- ``middleware.py`` security headers (strict CSP), body size cap, quiet shutdown
- ``ratelimit.py``  per-client moving windows on starting asks and signing in; ``settings.py`` their limits
- ``templates/``, ``static/``  Jinja2 templates, one CSS file, two small scripts (no build step)

Untrusted text (model answers, articles) is rendered by ``drux.hub.render`` and only
ever reaches a page as sanitized HTML or as escaped text.
"""
